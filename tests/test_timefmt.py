"""imgframe.timefmt: the one way imgframe stamps a time (``loaded_at``, ``generated_at``)."""

import datetime as dt
import doctest
import re
from pathlib import Path

import pandas as pd
import pytest

import imgframe
import imgframe.timefmt
from imgframe.timefmt import STAMP_FORMAT, utc_stamp

PACKAGE = Path(imgframe.__file__).resolve().parent
#: a "now" formatted by hand, as main formatted loaded_at in four places
BY_HAND = re.compile(r"\.now\([^)]*\)\s*\.strftime\(")
NOT_YET: set = set()   # every module stamps with utc_stamp


def test_doctests():
    assert doctest.testmod(imgframe.timefmt).failed == 0


@pytest.mark.parametrize("when", [
    pd.Timestamp("2026-01-02 03:04:05.999999999", tz="UTC"),
    pd.Timestamp("2026-12-31 23:59:59", tz="UTC"),
    pd.Timestamp("2026-06-01 02:00:00", tz="Europe/Berlin"),
    pd.Timestamp("2024-02-29 12:00:00"),
    dt.datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=dt.timezone.utc),
])
def test_the_stamp_is_what_pandas_wrote_in_utc(when):
    ts = pd.Timestamp(when)
    utc = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    assert utc_stamp(when) == utc.strftime("%Y-%m-%dT%H:%M:%SZ") == utc.strftime(STAMP_FORMAT)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", utc_stamp(when))


def test_now_is_the_current_second():
    before = pd.Timestamp.now(tz="UTC").floor("s")
    stamp = utc_stamp()
    after = pd.Timestamp.now(tz="UTC")
    assert before <= pd.Timestamp(stamp) <= after


@pytest.mark.parametrize("bad", ["2026-01-01", 1767225600, dt.date(2026, 1, 1)])
def test_a_non_datetime_is_refused(bad):
    with pytest.raises(TypeError, match="utc_stamp"):
        utc_stamp(bad)


def test_no_module_stamps_now_by_hand():
    found = [f"{path.relative_to(PACKAGE)}:{n}"
             for path in PACKAGE.rglob("*.py") if path.name != "timefmt.py"
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if BY_HAND.search(line) and str(path.relative_to(PACKAGE)) not in NOT_YET]
    assert not found, f"use imgframe.timefmt.utc_stamp: {found}"
    assert BY_HAND.search('pd.Timestamp.now(tz="UTC").strftime("%Y")')
