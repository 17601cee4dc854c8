"""df.images: slicing and counting checked against answers worked out by hand."""

import re
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imgframe.accessor  # noqa: F401  (registers df.images)
from imgframe.errors import InvalidQueryError
from imgframe.frame import COLUMNS, DTYPES

STATUS_DTYPE = pd.CategoricalDtype(["ACTIVE", "SAVING", "DELETED", "ERROR", "UNKNOWN"])
SNAPSHOT_NAME = 'snap, "quoted"\nline'

#       id     name                  status     created             updated              ram   disk
ROWS = [
    ("i01", "ubuntu-22.04-a",     "ACTIVE",  "2026-01-05 09:00", "2026-01-05 10:00:00", 512, 10),
    ("i02", "ubuntu-22.04-b",     "ACTIVE",  "2026-01-06 00:00", "2026-02-02 00:00:00", 1024, 20),
    ("i03", "ubuntu-20.04",       "SAVING",  "2026-01-20 08:00", "2026-01-20 08:30:00", 0, 0),
    ("i04", None,                 "UNKNOWN", "2026-02-01 00:00", None,                  0, 0),
    ("i05", SNAPSHOT_NAME,        "ACTIVE",  "2026-02-10 12:00", "2026-02-10 12:05:00", 2048, 40),
    ("i06", "débian-12 ✓",        "ERROR",   "2026-02-14 00:00", "2026-02-15 00:00:00", 512, 5),
    ("i07", "centos-7",           "DELETED", "2025-12-30 00:00", "2026-03-01 00:00:00", 1024, 8),
    ("i08", "Ubuntu-22.04-upper", "ACTIVE",  "2026-03-02 00:00", "2026-03-02 00:00:00", 4096, 80),
    ("i09", "win[2022]",          "SAVING",  "2026-03-10 00:00", "2026-03-31 23:59:59", None, None),
    ("i10", "ubuntu-24.04",       "ACTIVE",  "2026-04-01 00:00", "2026-04-01 00:00:00", 2048, 20),
]
METADATA = {
    "i01": {"os_distro": "ubuntu", "__os_type": "linux"},
    "i02": {"os_distro": "ubuntu", "block_device_mapping": [{"boot_index": 0}, {"boot_index": 1}]},
    "i03": {"os_distro": "ubuntu"},
    "i05": {"image_type": "snapshot", "instance_uuid": "srv-1", "__os_type": "linux"},
    "i06": {"os_distro": "debian", "tags": ["a", "b"]},
    "i07": {"os_distro": "centos"},
    "i08": {},
    "i10": {"os_distro": "ubuntu"},
}


def fixed_frame() -> pd.DataFrame:
    frame = _base_frame()
    for col in COLUMNS:   # the columns not set here: NA, with the loader's dtype
        if col not in frame:
            frame[col] = pd.Series([None] * len(frame), dtype=DTYPES[col])
    return frame[COLUMNS]


def _base_frame() -> pd.DataFrame:
    """Ten images with the loader's exact dtypes: every status, a null name, a snapshot,
    list metadata, hostile names, a null ``updated``, times from Dec 2025 to Apr 2026."""
    ids = [r[0] for r in ROWS]

    def s(values):
        return pd.array(values, dtype="string")

    def i(values):
        return pd.array(values, dtype="Int64")

    def t(values):
        return pd.to_datetime(pd.Series(values), utc=True).astype("datetime64[ns, UTC]").array

    status = [r[2] for r in ROWS]
    return pd.DataFrame({
        "id": s(ids),
        "name": s([r[1] for r in ROWS]),
        "status": pd.Categorical(status, dtype=STATUS_DTYPE),
        "progress": i([100 if x == "ACTIVE" else 50 if x == "SAVING" else 0 for x in status]),
        "created": t([r[3] for r in ROWS]),
        "updated": t([r[4] for r in ROWS]),
        "min_ram": i([r[5] for r in ROWS]),
        "min_disk": i([r[6] for r in ROWS]),
        "size": i([10**9 * (n + 1) if n != 2 else None for n in range(len(ROWS))]),
        "server_id": s(["srv-1" if x == "i05" else None for x in ids]),
        "disk_config": s(["AUTO" if x in ("i01", "i02") else None for x in ids]),
        "metadata": pd.Series([METADATA.get(x) for x in ids], dtype=object).array,
        "link_self": s([f"http://h/v2.1/p/images/{x}" for x in ids]),
        "link_bookmark": s([f"http://h/p/images/{x}" for x in ids]),
        "link_alternate": s([f"http://glance/images/{x}" for x in ids]),
        "visibility": s(["public", "private", "shared", "community", "public", "private",
                         "public", "public", None, "private"]),
        "owner": s(["p1", "p2", "p1", "p3", "p2", "p2", "p1", "p1", None, "p3"]),
        "protected": pd.array([True, False] * 5, dtype="boolean"),
        "hidden": pd.array([False] * 9 + [True], dtype="boolean"),
        "tags": pd.Series([["lts"], ["lts", "gpu"], [], None, ["gpu"], [], ["lts"], [],
                           ["cis"], ["lts", "cis"]], dtype=object).array,
    })


@pytest.fixture
def df():
    return fixed_frame()


def test_fixture_has_the_loaders_dtypes(df):
    frame_mod = pytest.importorskip("imgframe.frame")
    assert list(df.columns) == frame_mod.COLUMNS
    assert df.dtypes.to_dict() == frame_mod.DTYPES
    pd.testing.assert_frame_equal(df.iloc[:0].reset_index(drop=True),
                                  frame_mod.empty_frame(), check_index_type=False)


def ids(frame):
    return list(frame["id"])


# -- select ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, expected", [
    ({}, [f"i{n:02d}" for n in range(1, 11)]),
    ({"status": "saving"}, ["i03", "i09"]),
    ({"status": "SAVING"}, ["i03", "i09"]),
    ({"status": ["active", "Error"]}, ["i01", "i02", "i05", "i06", "i08", "i10"]),
    ({"status": ("DELETED",)}, ["i07"]),
    ({"name": "ubuntu-20.04"}, ["i03"]),
    ({"name": "ubuntu-22.04*"}, ["i01", "i02"]),
    ({"name": "*22.04*"}, ["i01", "i02", "i08"]),
    ({"name": "ubuntu-2?.04"}, ["i03", "i10"]),
    ({"name": "win[2022]"}, ["i09"]),                 # an exact name with glob characters
    ({"name": SNAPSHOT_NAME}, ["i05"]),
    ({"name": "débian-12 ✓"}, ["i06"]),
    ({"name": "nothing-like-this"}, []),
    ({"name": re.compile(r"^ubuntu", re.I)}, ["i01", "i02", "i03", "i08", "i10"]),
    ({"name": re.compile(r"\d{2}\.04$")}, ["i03", "i10"]),
    ({"since": "2026-02-02"}, ["i02", "i05", "i06", "i07", "i08", "i09", "i10"]),
    ({"until": "2026-03-01T00:00:00Z"}, ["i01", "i02", "i03", "i05", "i06", "i07"]),
    ({"since": "2026-02-02", "until": "2026-03-01"}, ["i02", "i05", "i06", "i07"]),
    ({"since": pd.Timestamp("2026-02-02T01:00:00+01:00")}, ["i02", "i05", "i06", "i07", "i08",
                                                           "i09", "i10"]),
    ({"since": "2026-02-01", "column": "created"}, ["i04", "i05", "i06", "i08", "i09", "i10"]),
    ({"min_ram": 1024}, ["i02", "i05", "i07", "i08", "i10"]),
    ({"min_ram": 0}, ["i01", "i02", "i03", "i04", "i05", "i06", "i07", "i08", "i10"]),
    ({"min_disk": 20}, ["i02", "i05", "i08", "i10"]),
    ({"status": "active", "min_ram": 2048}, ["i05", "i08", "i10"]),
    ({"status": "active", "name": "ubuntu*", "since": "2026-02-01"}, ["i02", "i10"]),
])
def test_select_matches_hand_computed_rows(df, kwargs, expected):
    out = df.images.select(**kwargs)
    assert ids(out) == expected
    assert list(out.columns) == list(df.columns)
    assert out.dtypes.equals(df.dtypes)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab*?[]!-.", min_size=1, max_size=6))
def test_select_glob_agrees_with_fnmatchcase(pattern):
    import fnmatch

    frame = fixed_frame()
    names = ["a", "b", "ab", "a.b", "a-b", "[a]", "a*", "", "ba?", "!a"]
    frame = frame.iloc[[0] * len(names)].reset_index(drop=True)
    frame["name"] = pd.array(names, dtype="string")
    got = frame.images.select(name=pattern)["name"].tolist()
    assert got == [n for n in names if n == pattern or fnmatch.fnmatchcase(n, pattern)]


def test_select_inclusive_bounds_at_exact_times(df):
    t = "2026-03-02T00:00:00Z"
    assert ids(df.images.select(since=t, until=t)) == ["i08"]


def test_mask_is_aligned_with_index(df):
    df.index = df.index * 10
    mask = df.images.mask(status="saving")
    assert mask.index.equals(df.index)
    assert list(mask[mask].index) == [20, 80]


@pytest.mark.parametrize("kwargs, parameter", [
    ({"status": "sleeping"}, "status"),
    ({"since": "not a time"}, "since"),
    ({"until": "2026-13-45"}, "until"),
    ({"min_ram": -1}, "min_ram"),
    ({"min_ram": 1.5}, "min_ram"),
    ({"min_disk": True}, "min_disk"),
    ({"since": "2026-01-01", "column": "deleted"}, "column"),
    ({"name": 42}, "name"),
    ({"since": "2026-01-01", "until": "2025-01-01"}, "until"),
])
def test_select_rejects_bad_arguments_naming_the_parameter(df, kwargs, parameter):
    with pytest.raises(InvalidQueryError) as info:
        df.images.select(**kwargs)
    assert info.value.parameter == parameter
    assert parameter in str(info.value)


def test_frame_without_imgframe_columns_gets_a_clear_error():
    with pytest.raises(AttributeError, match=r"df\.images needs .* lacks id, name, status"):
        pd.DataFrame({"a": [1]}).images  # noqa: B018


def test_list_endpoint_frame_is_refused_rather_than_counted_as_zero(df):
    listed = df[["id", "name", "status", "created", "updated"]].copy()
    listed["status"] = pd.Categorical([None] * len(df), dtype=STATUS_DTYPE)
    listed["updated"] = pd.NaT
    listed.attrs["imgframe"] = {"detail": False}
    assert ids(listed.images.select(name="ubuntu-2?.04")) == ["i03", "i10"]
    for call in (lambda: listed.images.status_counts(),
                 lambda: listed.images.select(status="active", since="2026-01-01"),
                 lambda: listed.images.changes(),
                 lambda: listed.images.changed_since(["2026-01-01"])):
        with pytest.raises(InvalidQueryError, match="detail=False.*list endpoint") as info:
            call()
        assert info.value.parameter == "df"


# -- counts ---------------------------------------------------------------------------------


def test_status_counts_fixed_order_with_zeros(df):
    counts = df.images.status_counts()
    assert list(counts.index) == ["ACTIVE", "SAVING", "UNKNOWN", "ERROR", "DELETED"]
    assert list(counts) == [5, 2, 1, 1, 1]
    assert counts.dtype == "int64"
    only_active = df.images.select(status="active").images.status_counts()
    assert list(only_active) == [5, 0, 0, 0, 0]


def test_status_counts_tolerates_plain_string_status(df):
    df["status"] = df["status"].astype(str).str.lower()
    assert list(df.images.status_counts()) == [5, 2, 1, 1, 1]


def test_changes_monthly(df):
    out = df.images.changes(freq="M")
    assert list(out.columns) == ["period", "count"]
    assert list(out["period"].dt.strftime("%Y-%m-%d")) == [
        "2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]
    assert list(out["count"]) == [2, 3, 3, 1]
    assert str(out["period"].dtype) == "datetime64[ns, UTC]"


def test_changes_weekly_starts_on_monday_and_zero_fills(df):
    out = df.images.changes("w")
    expected = {"2026-01-05": 1, "2026-01-19": 1, "2026-02-02": 1, "2026-02-09": 2,
                "2026-02-23": 1, "2026-03-02": 1, "2026-03-30": 2}
    mondays = pd.date_range("2026-01-05", "2026-03-30", freq="7D").strftime("%Y-%m-%d")
    assert list(out["period"].dt.strftime("%Y-%m-%d")) == list(mondays)
    assert list(out["count"]) == [expected.get(m, 0) for m in mondays]
    assert (out["period"].dt.day_of_week == 0).all()


@pytest.mark.parametrize("freq, periods, images", [
    ("D", 87, 9), ("Q", 2, 9), ("Y", 1, 9), ("ME", 4, 9), ("quarter", 2, 9)])
def test_changes_other_frequencies(df, freq, periods, images):
    out = df.images.changes(freq=freq)
    assert len(out) == periods
    assert out["count"].sum() == images


def test_changes_by_status_is_tidy_and_zero_filled(df):
    out = df.images.changes(freq="M", by="status")
    assert list(out.columns) == ["period", "status", "count"]
    assert len(out) == 4 * 5
    table = out.pivot(index="period", columns="status", values="count")
    assert list(table.columns) == ["ACTIVE", "SAVING", "UNKNOWN", "ERROR", "DELETED"]
    assert table.to_numpy().tolist() == [
        [1, 1, 0, 0, 0],   # Jan: i01, i03
        [2, 0, 0, 1, 0],   # Feb: i02, i05, i06
        [1, 1, 0, 0, 1],   # Mar: i08, i09, i07
        [1, 0, 0, 0, 0],   # Apr: i10
    ]


def test_changes_by_other_column_and_created(df):
    out = df.images.changes(freq="Y", by="disk_config", column="created")
    assert out["count"].sum() == 10
    assert set(out["disk_config"].dropna()) == {"AUTO"}
    assert out.loc[out["period"].dt.year == 2026, "count"].sum() == 9


def test_changes_rejects_bad_arguments(df):
    with pytest.raises(InvalidQueryError, match="freq='fortnight'.*'W' \\(week\\)"):
        df.images.changes(freq="fortnight")
    with pytest.raises(InvalidQueryError, match="by='colour'"):
        df.images.changes(by="colour")


def test_select_since_after_until_is_refused_not_empty(df):
    with pytest.raises(InvalidQueryError) as info:
        df.images.select(since="2026-01-01", until="2025-01-01", column="created")
    message = str(info.value)
    assert info.value.parameter == "until"
    assert "until='2025-01-01'" in message and "at or after since" in message
    assert "2026-01-01T00:00:00+00:00" in message and "2025-01-01T00:00:00+00:00" in message
    df.images.select(since="2026-01-05", until="2026-01-05")  # equal ends are allowed


@pytest.mark.parametrize("by, kind", [("metadata", "dict"), ("tags", "list")])
def test_changes_by_unhashable_column_names_by_and_the_allowed_columns(df, by, kind):
    frame = df.copy()
    frame["tags"] = pd.Series([["a"]] * len(frame), index=frame.index, dtype=object)
    with pytest.raises(InvalidQueryError) as info:
        frame.images.changes(by=by)
    message = str(info.value)
    assert info.value.parameter == "by" and info.value.given == by
    assert f"by={by!r}" in message and f"holds {kind} values" in message
    assert "hashable scalar values, e.g. 'status', 'disk_config', 'server_id'" in message
    assert "'metadata'" not in info.value.allowed and "'tags'" not in info.value.allowed


def test_changes_on_empty_frame(df):
    out = df.iloc[:0].images.changes(by="status")
    assert list(out.columns) == ["period", "status", "count"]
    assert len(out) == 0


# -- changed_since --------------------------------------------------------------------------

CUTOFFS = ["2026-05-01", "2026-01-01", "2026-02-02", "2026-03-01T00:00:00Z", "2026-04-01",
           "2026-02-02T00:00:00+00:00"]


def test_changed_since_counts_inclusive_sorted_deduplicated(df):
    out = df.images.changed_since(CUTOFFS)
    assert list(out.columns) == ["cutoff", "images"]
    assert list(out["cutoff"].dt.strftime("%Y-%m-%d")) == [
        "2026-01-01", "2026-02-02", "2026-03-01", "2026-04-01", "2026-05-01"]
    assert list(out["images"]) == [9, 7, 4, 1, 0]
    assert str(out["cutoff"].dtype) == "datetime64[ns, UTC]"
    assert out["images"].dtype == "int64"


def test_changed_since_single_cutoff(df):
    out = df.images.changed_since("2026-03-31T23:59:59Z")
    assert out["images"].tolist() == [2]


def test_changed_since_per_status(df):
    out = df.images.changed_since(CUTOFFS, status=["active", "saving"])
    assert list(out.columns) == ["cutoff", "status", "images"]
    assert list(out["status"].astype(str)) == ["ACTIVE", "SAVING"] * 5
    assert list(out["images"]) == [5, 2, 4, 1, 2, 1, 1, 0, 0, 0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 100), max_size=30), st.lists(st.integers(-5, 105), max_size=8))
def test_changed_since_equals_brute_force(days, cut_days):
    base = pd.Timestamp("2026-01-01", tz="UTC")
    frame = fixed_frame().iloc[:0].reindex(range(len(days)))
    frame["id"] = pd.array([str(n) for n in range(len(days))], dtype="string")
    frame["updated"] = pd.Series([base + pd.Timedelta(days=d) for d in days],
                                 dtype="datetime64[ns, UTC]")
    cutoffs = [base + pd.Timedelta(days=d) for d in cut_days]
    out = frame.images.changed_since(cutoffs)
    expected = {c: sum(base + pd.Timedelta(days=d) >= c for d in days) for c in cutoffs}
    assert dict(zip(out["cutoff"], out["images"], strict=True)) == expected


# -- metadata, export -----------------------------------------------------------------------


def test_metadata_frame_all_keys(df):
    meta = df.images.metadata_frame()
    assert list(meta.columns) == ["__os_type", "block_device_mapping", "image_type",
                                  "instance_uuid", "os_distro", "tags"]
    assert meta.index.equals(df.index)
    assert meta.loc[1, "block_device_mapping"] == [{"boot_index": 0}, {"boot_index": 1}]
    assert meta.loc[5, "tags"] == ["a", "b"]
    assert meta.loc[3, "os_distro"] is None   # metadata None
    assert meta.loc[0, "os_distro"] == "ubuntu"


def test_metadata_frame_chosen_keys(df):
    meta = df.images.metadata_frame("os_distro")
    assert list(meta.columns) == ["os_distro"]
    assert meta["os_distro"].tolist() == ["ubuntu", "ubuntu", "ubuntu", None, None, "debian",
                                          "centos", None, None, "ubuntu"]
    both = df.images.metadata_frame(["image_type", "missing_key"])
    assert both["image_type"].tolist().count("snapshot") == 1
    assert both["missing_key"].isna().all()
    with pytest.raises(InvalidQueryError, match="keys"):
        df.images.metadata_frame([1])


def test_to_csv_delegates_to_the_loaders_export(df):
    export = pytest.importorskip("imgframe.export")
    assert df.images.to_csv() == export.to_csv(df)


# -- scale ----------------------------------------------------------------------------------


def test_a_million_rows_stay_fast():
    n = 1_000_000
    rng = np.random.default_rng(0)
    base = np.datetime64("2024-01-01T00:00:00", "ns")
    updated = base + rng.integers(0, 730 * 86400, n).astype("timedelta64[s]")
    names = np.array([f"ubuntu-{v}.04-{k}" for v in (18, 20, 22, 24) for k in range(250)])
    frame = pd.DataFrame({
        "id": pd.array(np.arange(n).astype(str), dtype="string"),
        "name": pd.array(names[rng.integers(0, len(names), n)], dtype="string"),
        "status": pd.Categorical.from_codes(rng.integers(0, 5, n), dtype=STATUS_DTYPE),
        "created": pd.Series(updated).dt.tz_localize("UTC"),
        "updated": pd.Series(updated).dt.tz_localize("UTC"),
        "min_ram": pd.array(rng.choice([0, 512, 1024, 2048], n), dtype="Int64"),
    })
    cutoffs = pd.date_range("2024-01-01", periods=104, freq="W-MON", tz="UTC")
    start = time.perf_counter()
    sel = frame.images.select(status=["active", "saving"], name="ubuntu-22.04*",
                              since="2025-01-01", min_ram=1024)
    counts = frame.images.status_counts()
    trend = frame.images.changed_since(cutoffs)
    weekly = frame.images.changes("W", by="status")
    elapsed = time.perf_counter() - start
    assert counts.sum() == n
    assert trend["images"].iloc[0] == n
    assert weekly["count"].sum() == n
    assert 0 < len(sel) < n
    assert elapsed < 5, f"took {elapsed:.2f}s"


def test_select_by_visibility_owner_and_tag(df):
    assert df.images.select(visibility="public")["id"].tolist() == ["i01", "i05", "i07", "i08"]
    assert df.images.select(visibility=["shared", "community"])["id"].tolist() == ["i03", "i04"]
    assert df.images.select(owner="p3")["id"].tolist() == ["i04", "i10"]
    assert df.images.select(tag="lts")["id"].tolist() == ["i01", "i02", "i07", "i10"]
    assert df.images.select(tag=["lts", "gpu"])["id"].tolist() == ["i02"]
    assert df.images.select(tag="lts", owner="p1", status="ACTIVE")["id"].tolist() == ["i01"]
    for bad in ({"visibility": 3}, {"owner": []}, {"tag": [1]}):
        with pytest.raises(InvalidQueryError, match=next(iter(bad))):
            df.images.select(**bad)
