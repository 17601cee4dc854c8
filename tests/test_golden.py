"""The frames every source gives are the frames main gave at 613755a (issue 21: "the frames
are identical (columns, dtypes, values, order, attrs) before and after for each source").

Each case of tests/data/make_golden.py is loaded over real HTTP from the embedded server,
serving the stored catalogue (tests/data/golden/catalogue.json, every image one that every
source lists for the caller), and compared with the stored frame: columns, index, attrs
(``loaded_at`` and the server's port normalised), every row's values as JSON text, in
order, and the dtypes this environment had (``dtypes-pyarrow.json`` or
``dtypes-python.json``). Regenerate only as make_golden.py's docstring says.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("make_golden", HERE / "data" / "make_golden.py")
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

CASES = {case: (source, options) for case, source, options in golden.CASES}
DERIVED = {case: (source, options) for case, source, options in golden.DERIVED}


@pytest.fixture(scope="module")
def srv():
    with golden.server(golden.read_catalogue()) as s:
        yield s


@pytest.fixture(scope="module")
def derived():
    """(URL, case -> frame): load_many, refresh and diff on a server of their own."""
    return golden.derived_frames(golden.read_catalogue())


@pytest.fixture(scope="module")
def dtypes():
    env = golden.environment()
    return golden.read_dtypes(golden.GOLDEN / f"dtypes-{env}.json")


def _row_diff(columns: list[str], want: list[str], got: list[str], limit: int = 5) -> str:
    """The first rows that differ, column by column (readable where a list diff is not)."""
    lines = [f"{len(got)} rows now, {len(want)} golden (golden -> now)"]
    shown = 0
    for i in range(max(len(want), len(got))):
        w = json.loads(want[i]) if i < len(want) else None
        g = json.loads(got[i]) if i < len(got) else None
        if w == g and want[i] == got[i]:
            continue
        if w is None or g is None:
            lines.append(f"row {i}: golden {w and w[0]!r}, now {g and g[0]!r}")
        else:
            diffs = [f"{c}: {a!r} -> {b!r}" for c, a, b in zip(columns, w, g, strict=True)
                     if json.dumps(a) != json.dumps(b)]
            lines.append(f"row {i} (id {w[0]}): " + "; ".join(diffs)[:600])
        shown += 1
        if shown == limit:
            break
    return "\n".join(lines)


def _without_decision(attrs: dict) -> dict:
    """``attrs`` without what a load decided about concurrency (see the module doc),
    after checking its form."""
    info = dict(attrs.get("imgframe") or {})
    decision = info.pop("concurrency", None)
    if decision is not None:
        assert decision["mode"] in ("adaptive", "pinned") and decision["most_at_once"] >= 1
        if decision["mode"] == "adaptive":
            assert info.get("workers_note", "").startswith("adaptive: ")
            info["workers_note"] = None
    elif str(info.get("workers_note")).startswith("adaptive: "):
        info["workers_note"] = None   # one walk, and why
    return {**attrs, "imgframe": info} if "imgframe" in attrs else attrs


def check_frame(case: str, df, url: str, dtypes: dict) -> None:
    """Assert `df` is the golden frame of `case`, with this environment's dtypes."""
    want = golden.read_frame(golden.GOLDEN / f"{case}.json")
    got = golden.frame_header(df, url, case in golden.PARTITIONED)
    assert got["columns"] == want["columns"], case
    now = golden.frame_dtypes(df)
    assert now == dtypes[case], f"{case}: " + "; ".join(
        f"{col}: {dtypes[case]['columns'].get(col)} -> {spec}"
        for col, spec in now["columns"].items() if dtypes[case]["columns"].get(col) != spec) \
        + f" (column labels {dtypes[case]['columns_index']} -> {now['columns_index']})"
    assert got["index"] == want["index"], case
    assert _without_decision(got["attrs"]) == want["attrs"], case
    rows = golden.frame_rows(df, url)
    assert rows == want["data"], f"{case}: " + _row_diff(want["columns"], want["data"], rows)


@pytest.mark.parametrize("case", list(CASES))
def test_frame_is_the_golden_one(srv, dtypes, case):
    source, options = CASES[case]
    stored = golden.read_frame(golden.GOLDEN / f"{case}.json")
    assert (stored["case"], stored["source"], stored["load"]) == (case, source, options)
    df = golden.load(srv, source, options)
    assert len(df) == stored["rows"] > 0
    check_frame(case, df, srv.url, dtypes)


@pytest.mark.parametrize("case", list(DERIVED))
def test_derived_frame_is_the_golden_one(derived, dtypes, case):
    source, options = DERIVED[case]
    stored = golden.read_frame(golden.GOLDEN / f"{case}.json")
    assert (stored["case"], stored["source"], stored["load"]) == (case, source, options)
    url, frames = derived
    assert len(frames[case]) == stored["rows"] > 0
    check_frame(case, frames[case], url, dtypes)


def test_golden_data_covers_every_case_and_environment():
    files = {p.stem for p in golden.GOLDEN.glob("*.json")}
    cases = set(CASES) | set(DERIVED)
    assert files == cases | {"catalogue", "dtypes-pyarrow", "dtypes-python"}
    for env in ("pyarrow", "python"):
        assert set(golden.read_dtypes(golden.GOLDEN / f"dtypes-{env}.json")) == cases
    total = sum(p.stat().st_size for p in golden.GOLDEN.iterdir())
    assert total < 700_000, f"the golden data grew to {total} bytes"


def test_the_catalogue_is_listed_whole_by_every_source(srv):
    """Every stored image is one that every source lists to the caller: no visibility rule
    of the server (issue 22 changes Nova's) can change the frames."""
    records = golden.read_catalogue()
    ids = {r["id"] for r in records}
    for case in ("nova_detail", "glance_detail", "ims_detail"):
        assert {json.loads(row)[0] for row in golden.read_frame(
            golden.GOLDEN / f"{case}.json")["data"]} == ids, case
    for rec in records:
        assert not rec["os_hidden"] and rec["status"] not in golden.NOT_LISTED
        assert rec["visibility"] == "public" or (
            rec["visibility"] in ("private", "shared") and rec["owner"] == srv.project_id)


def test_the_comparison_sees_a_changed_value_order_or_dtype(srv, dtypes):
    """A frame with one value changed, two rows swapped, a dtype changed or an attr
    changed is not the golden frame."""
    case = "nova_saving_since"
    source, options = CASES[case]
    df = golden.load(srv, source, options)
    check_frame(case, df, srv.url, dtypes)

    changed = df.copy()
    changed.attrs = df.attrs
    changed.loc[1, "min_ram"] += 1
    swapped = df.iloc[[1, 0, *range(2, len(df))]].reset_index(drop=True)
    swapped.attrs = df.attrs
    retyped = df.astype({"min_ram": "float64"})
    retyped.attrs = df.attrs
    reattr = df.copy()
    reattr.attrs = {"imgframe": {**df.attrs["imgframe"], "pages": 99}}
    metadata = df.copy()
    metadata.attrs = df.attrs
    metadata.at[0, "metadata"] = dict(reversed(list(df.at[0, "metadata"].items())))
    for bad in (changed, swapped, retyped, reattr, metadata):
        with pytest.raises(AssertionError):
            check_frame(case, bad, srv.url, dtypes)
