"""Query validation: refused before sending, errors name parameter, allowed and given."""

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgframe.errors import ImgframeError, InvalidQueryError
from imgframe.query import build_query, format_time, normalize_status, parse_time
from imgframe.sources import nova
from imgframe.sources.nova import images_url, parse_endpoint, parse_microversion


def requests(query):
    """Nova's request streams of ``query``: ``[(pinned display status or None, params)]``."""
    return [(s.pinned[0], dict(s.params)) for s in nova.SOURCE.streams(query)]


def test_status_expands_to_glance_words_in_order():
    q = build_query(status="saving")
    assert [(pin, p["status"]) for pin, p in requests(q)] == [
        ("SAVING", "queued"), ("SAVING", "saving")]
    assert len(requests(q)) > 1
    q = build_query(status=["unknown", "ACTIVE"])
    assert [p["status"] for _, p in requests(q)] == [
        "deactivated", "importing", "uploading", "active"]
    assert len(requests(build_query(status="Active"))) == 1


@pytest.mark.parametrize("word", ["DELETED", "error", "Deleted"])
def test_unqueryable_status_says_why(word):
    with pytest.raises(InvalidQueryError) as info:
        normalize_status(word)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, ImgframeError)
    assert err.parameter == "status" and err.given == word
    assert "cannot be queried" in str(err) and "ACTIVE, SAVING, UNKNOWN" in str(err)


def test_glance_word_gets_a_hint():
    with pytest.raises(InvalidQueryError, match="displays it as SAVING"):
        normalize_status("queued")
    with pytest.raises(InvalidQueryError, match="status=42"):
        normalize_status(42)
    with pytest.raises(InvalidQueryError, match="empty"):
        normalize_status([])


def test_params_as_sent():
    q = build_query(name="a:b", changes_since="2020-03-01T01:00:00+01:00", min_ram=512,
                    min_disk=0, page_size=5)
    [(pin, params)] = requests(q)
    assert pin is None
    assert params == {"name": "eq:a:b", "changes-since": "2020-03-01T00:00:00Z",
                      "minRam": "512", "minDisk": "0", "limit": "5"}
    assert requests(build_query(name="plain"))[0][1]["name"] == "plain"


@pytest.mark.parametrize("value, expected", [
    ("2020-03-01", "2020-03-01T00:00:00Z"),
    ("2020-03-01T12:00:00Z", "2020-03-01T12:00:00Z"),
    ("2020-03-01T12:00:00.9", "2020-03-01T12:00:01Z"),  # rounded up: >= stays exact
    ("2020-03-01T12:00:00.000001", "2020-03-01T12:00:01Z"),
    ("0001-01-01", "0001-01-01T00:00:00Z"),  # zero-padded year
    ("0999-12-31T23:59:59", "0999-12-31T23:59:59Z"),
    (dt.date(2021, 5, 6), "2021-05-06T00:00:00Z"),
    (dt.datetime(2021, 5, 6, 7, 8, 9), "2021-05-06T07:08:09Z"),
    (dt.datetime(2021, 5, 6, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=-2))),
     "2021-05-06T09:08:09Z"),
    (pd.Timestamp("2021-05-06 07:08", tz="Europe/Paris"), "2021-05-06T05:08:00Z"),
])
def test_parse_time(value, expected):
    assert format_time(parse_time(value, "changes_since")) == expected


@pytest.mark.parametrize("value", ["garbage", "", "2020-13-01", 12, None, True, pd.NaT,
                                   "yesterday"])
def test_parse_time_refuses(value):
    with pytest.raises(InvalidQueryError) as info:
        parse_time(value, "changes_since")
    assert info.value.parameter == "changes_since"
    assert "ISO 8601" in str(info.value)


@pytest.mark.parametrize("kwargs, parameter", [
    ({"min_ram": -1}, "min_ram"), ({"min_ram": True}, "min_ram"), ({"min_disk": 1.5}, "min_disk"),
    ({"min_disk": "10"}, "min_disk"), ({"page_size": 0}, "page_size"),
    ({"page_size": 1001}, "page_size"), ({"max_items": 0}, "max_items"),
    ({"name": 5}, "name"), ({"detail": "yes"}, "detail"), ({"marker": "a/b"}, "marker"),
    ({"changes_since": "nope"}, "changes_since"),
])
def test_build_query_refuses(kwargs, parameter):
    with pytest.raises(InvalidQueryError) as info:
        build_query(**kwargs)
    assert info.value.parameter == parameter
    assert repr(list(kwargs.values())[0]) in str(info.value)


def test_endpoint_forms():
    e = parse_endpoint("https://c.example:8774/", "p1")
    assert (e.root, e.api_version, e.project_id) == ("https://c.example:8774", "v2.1", "p1")
    assert images_url(e, True) == "https://c.example:8774/v2.1/p1/images/detail"
    e = parse_endpoint("http://h/compute/v2/abc", api_version="v2.1")
    assert (e.root, e.api_version, e.project_id) == ("http://h/compute", "v2", "abc")
    assert images_url(e, False) == "http://h/compute/v2/abc/images"
    e = parse_endpoint("http://h/v2.1")
    assert e.project_id is None and images_url(e, False) == "http://h/v2.1/images"
    assert parse_endpoint("http://h", "p", api_version="2").api_version == "v2"


@pytest.mark.parametrize("endpoint, project, parameter", [
    ("ftp://h", None, "endpoint"), ("h:8774", None, "endpoint"), (None, None, "endpoint"),
    ("http://u:pw@h", None, "endpoint"), ("http://h?x=1", None, "endpoint"),
    ("http://h", "a b", "project_id"), ("http://h", "a/b", "project_id"),
    ("http://h", "a%2F", "project_id"), ("http://h", "a?", "project_id"),
    ("http://h", "", "project_id"), ("http://h/v2.1/p1", "p2", "project_id"),
    ("http://h:99999", None, "endpoint"),
])
def test_endpoint_refused(endpoint, project, parameter):
    with pytest.raises(InvalidQueryError) as info:
        parse_endpoint(endpoint, project)
    assert info.value.parameter == parameter
    assert "pw" not in str(info.value)


def test_microversion():
    assert parse_microversion(None) is None
    assert parse_microversion("2.35") == "2.35"
    assert parse_microversion("2.1") == "2.1"
    for bad in ("2.36", "latest", "3.0", "2.0", 2):
        with pytest.raises(InvalidQueryError, match="microversion"):
            parse_microversion(bad)


# --- properties -------------------------------------------------------------------------

@settings(deadline=None)
@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                 st.lists(st.text(max_size=10), max_size=3)))
def test_status_validation_never_crashes(value):
    try:
        out = normalize_status(value)
    except InvalidQueryError as err:
        assert err.parameter == "status"
        return
    assert set(out) <= {"ACTIVE", "SAVING", "UNKNOWN"}
    assert len(out) == len(set(out))


@settings(deadline=None)
@given(st.one_of(st.none(), st.booleans(), st.integers(-5, 2000), st.floats(),
                 st.text(max_size=5)))
def test_page_size_property(value):
    try:
        q = build_query(page_size=value)
    except InvalidQueryError as err:
        assert err.parameter == "page_size"
        assert not (type(value) is int and 1 <= value <= 1000)
        return
    assert type(value) is int and 1 <= value <= 1000
    assert requests(q)[0][1]["limit"] == str(value)


@settings(deadline=None)
@given(st.one_of(st.integers(), st.booleans(), st.floats(), st.none()))
def test_min_ram_property(value):
    try:
        q = build_query(min_ram=value)
    except InvalidQueryError as err:
        assert err.parameter == "min_ram"
        assert type(value) is not int or value < 0
        return
    if value is None:
        assert "minRam" not in requests(q)[0][1]
    else:
        assert requests(q)[0][1]["minRam"] == str(value)


@settings(deadline=None)
@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
       st.sampled_from([None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=5, minutes=30))]))
def test_changes_since_roundtrip(moment, tz):
    value = moment.replace(tzinfo=tz)
    sent = requests(build_query(changes_since=value))[0][1]["changes-since"]
    expected = value if tz else value.replace(tzinfo=dt.timezone.utc)
    back = dt.datetime.strptime(sent, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    want = expected.astimezone(dt.timezone.utc)
    if want.microsecond:  # sub-second times are rounded up to the next whole second
        want = want.replace(microsecond=0) + dt.timedelta(seconds=1)
    assert back == want
    # and the ISO string form gives the same
    assert requests(build_query(changes_since=value.isoformat()))[0][1]["changes-since"] == sent


@settings(deadline=None)
@given(st.text(max_size=30))
def test_project_id_property(value):
    try:
        e = parse_endpoint("http://h:1", value)
    except InvalidQueryError as err:
        assert err.parameter == "project_id"
        assert not value or any(c in value for c in "/?#%") or any(c.isspace() for c in value)
        return
    assert e.project_id == value


@pytest.mark.parametrize("value", ["now", "today", "Now", " today ", "tomorrow"])
def test_parse_time_refuses_words_pandas_would_take(value):
    with pytest.raises(InvalidQueryError) as info:
        parse_time(value, "cutoff")
    assert info.value.parameter == "cutoff" and "ISO 8601" in str(info.value)


@pytest.mark.parametrize("value", [2.10, 2.1, 2.35, float("nan")])
def test_float_microversion_is_refused(value):
    with pytest.raises(InvalidQueryError, match="microversion") as info:
        parse_microversion(value)
    assert "'2.10'" in str(info.value) and info.value.parameter == "microversion"
    assert parse_microversion("2.10") == "2.10"


def test_format_time_zero_pads_and_rounds_up():
    assert format_time(pd.Timestamp("0001-01-01", tz="UTC")) == "0001-01-01T00:00:00Z"
    assert format_time(pd.Timestamp("0099-05-06 07:08:09", tz="UTC")) == "0099-05-06T07:08:09Z"
    assert format_time(pd.Timestamp("2020-12-31 23:59:59.5", tz="UTC")) == "2021-01-01T00:00:00Z"
    assert format_time(pd.Timestamp("2020-03-01 12:00:00", tz="UTC")) == "2020-03-01T12:00:00Z"
