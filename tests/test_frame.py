"""The frame builder on hand-made pages, including the reference's API samples."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgframe import frame
from imgframe.errors import MalformedResponseError
from imgframe.frame import COLUMNS, DTYPES, empty_frame
from imgframe.merge import merge_frames
from imgframe.sources import nova
from imgframe.sources.nova import link_columns
from imgframe.status import CATEGORIES

STATUSES = list(CATEGORIES)


def frame_from_pages(pages, **options):
    """The frame of pages of Nova's items."""
    return frame.frame_from_pages(pages, source=nova.SOURCE, **options)


P = "6f70656e737461636b20342065766572"


def links(iid):
    return [
        {"href": f"http://openstack.example.com/v2/{P}/images/{iid}", "rel": "self"},
        {"href": f"http://openstack.example.com/{P}/images/{iid}", "rel": "bookmark"},
        {"href": f"http://glance.openstack.example.com/images/{iid}", "rel": "alternate",
         "type": "application/vnd.openstack.image"},
    ]


def sample(iid, name="fakeimage123456", size=25165824, **extra):
    """An item of Nova's images-details-get-resp.json."""
    item = {"OS-EXT-IMG-SIZE:size": size, "created": "2011-01-01T01:02:03Z", "id": iid,
            "links": links(iid), "metadata": {"kernel_id": "nokernel", "ramdisk_id": "nokernel"},
            "minDisk": 0, "minRam": 0, "name": name, "progress": 100, "status": "ACTIVE",
            "updated": "2011-01-01T01:02:03Z"}
    item.update(extra)
    return item


DETAIL_SAMPLE = [
    sample("155d900f-4e14-4e4c-a73d-069cbf4541e6",
           metadata={"architecture": "x86_64", "kernel_id": "nokernel", "ramdisk_id": "nokernel"}),
    sample("c905cedb-7281-47e4-8a62-f26bc5fc4c77", size=26360814,
           metadata={"kernel_id": "155d900f-4e14-4e4c-a73d-069cbf4541e6", "ramdisk_id": None}),
    sample("a440c04b-79fa-479c-bed1-0b816eaec379", name="fakeimage6", size=49163826,
           **{"OS-DCF:diskConfig": "MANUAL"},
           metadata={"architecture": "x86_64", "auto_disk_config": "False"}),
    sample("70a599e0-31e7-49b7-b260-868f441e862b", name="fakeimage7", size=74185822,
           **{"OS-DCF:diskConfig": "AUTO"},
           metadata={"architecture": "x86_64", "auto_disk_config": "True"}),
]

SNAPSHOT = sample(
    "cedef40a-ed67-4d10-800e-17455edce175", name=None, status="SAVING", progress=25,
    updated=None, minRam=512, minDisk=10,
    server={"id": "aa3b1a4a-5b7c-4d5d-9f6a-1b2c3d4e5f60",
            "links": [{"rel": "self", "href": "http://x/v2.1/servers/aa3b"}]},
    metadata={"instance_uuid": "aa3b1a4a-5b7c-4d5d-9f6a-1b2c3d4e5f60", "image_type": "snapshot",
              "block_device_mapping": [{"boot_index": 0}]})


def test_columns_and_dtypes_on_the_detail_sample():
    df = frame_from_pages([DETAIL_SAMPLE[:2], DETAIL_SAMPLE[2:] + [SNAPSHOT]])
    assert list(df.columns) == COLUMNS
    assert dict(df.dtypes) == DTYPES
    assert df["id"].tolist() == [i["id"] for i in DETAIL_SAMPLE] + [SNAPSHOT["id"]]
    first = df.iloc[0]
    assert first["created"] == pd.Timestamp("2011-01-01T01:02:03Z")
    assert first["size"] == 25165824 and first["progress"] == 100 and first["min_ram"] == 0
    assert first["link_self"].endswith("/v2/" + P + "/images/155d900f-4e14-4e4c-a73d-069cbf4541e6")
    assert first["link_alternate"].startswith("http://glance.openstack.example.com/images/")
    assert df["metadata"].iloc[1] == {"kernel_id": "155d900f-4e14-4e4c-a73d-069cbf4541e6",
                                      "ramdisk_id": None}
    assert df["disk_config"].tolist()[2:4] == ["MANUAL", "AUTO"]
    assert df["disk_config"].isna().tolist() == [True, True, False, False, True]
    snap = df.iloc[-1]
    assert snap["server_id"] == "aa3b1a4a-5b7c-4d5d-9f6a-1b2c3d4e5f60"
    assert pd.isna(snap["name"]) and pd.isna(snap["updated"])
    assert snap["status"] == "SAVING" and snap["progress"] == 25 and snap["min_disk"] == 10
    assert snap["metadata"]["block_device_mapping"] == [{"boot_index": 0}]
    assert df["server_id"].isna().sum() == 4


def test_index_sample_uses_the_pinned_status():
    page = [{"id": i["id"], "name": i["name"], "links": links(i["id"])} for i in DETAIL_SAMPLE]
    df = frame_from_pages([page], detail=False, pinned_status="ACTIVE")
    assert list(df.columns) == COLUMNS and dict(df.dtypes) == DTYPES
    assert (df["status"] == "ACTIVE").all()
    assert df["progress"].isna().all() and df["created"].isna().all()
    assert df["metadata"].isna().all()
    df = frame_from_pages([page], detail=False)
    assert df["status"].isna().all()


def test_empty_frame_and_empty_pages():
    for df in (empty_frame(), frame_from_pages([]), frame_from_pages([[], []])):
        assert list(df.columns) == COLUMNS and dict(df.dtypes) == DTYPES and len(df) == 0
    assert list(df["status"].cat.categories) == STATUSES


def test_extra_link_relation_adds_a_column_after():
    item = sample("x1")
    item["links"] = item["links"] + [{"rel": "describedby", "href": "http://d/x1"}]
    df = frame_from_pages([[item, sample("x2")]])
    assert list(df.columns) == COLUMNS + ["link_describedby"]
    assert df["link_describedby"].dtype == "string"
    assert df["link_describedby"].tolist()[0] == "http://d/x1"
    assert pd.isna(df["link_describedby"].iloc[1])
    assert link_columns(item["links"])["link_describedby"] == "http://d/x1"


def test_status_words_are_mapped():
    items = [sample(f"s{k}", status=s) for k, s in
             enumerate(["ACTIVE", "saving", "DELETED", "ERROR", "UNKNOWN", "weird", None])]
    df = frame_from_pages([items])
    assert df["status"].tolist()[:6] == ["ACTIVE", "SAVING", "DELETED", "ERROR", "UNKNOWN",
                                         "UNKNOWN"]
    assert pd.isna(df["status"].iloc[6])


def test_other_iso_times_are_accepted():
    df = frame_from_pages([[sample("a", created="2011-01-01T01:02:03.5+01:00")]])
    assert df["created"].iloc[0] == pd.Timestamp("2011-01-01T00:02:03.5Z")
    assert df["created"].dtype == DTYPES["created"]


def test_merge_frames_nova_order_and_duplicates():
    a = frame_from_pages([[sample("b", created="2020-01-02T00:00:00Z"),
                           sample("a", created="2020-01-01T00:00:00Z")]])
    b = frame_from_pages([[sample("c", created="2020-01-02T00:00:00Z"),
                           sample("a", created="2020-01-01T00:00:00Z")]])
    merged, dropped = merge_frames([a, b])
    assert merged["id"].tolist() == ["c", "b", "a"] and dropped == 1
    assert dict(merged.dtypes) == DTYPES
    merged, dropped = merge_frames([empty_frame(), empty_frame()])
    assert len(merged) == 0 and dict(merged.dtypes) == DTYPES


def _sorted_by_pandas(frames):
    """merge_frames' order as pandas says it: concat, first of each id, then ``created``
    and ``id`` descending, NaT last (what merge_frames computed before its own sort)."""
    merged = pd.concat(frames, ignore_index=True).drop_duplicates("id", keep="first")
    return merged.sort_values(["created", "id"], ascending=False, na_position="last",
                              kind="stable", ignore_index=True)


_INSTANTS = [None, "2011-01-01T01:02:03Z", "2011-01-01T01:02:04Z", "1970-01-01T00:00:00Z",
             "2262-04-11T23:47:16Z"]


@st.composite
def _streams(draw):
    """Pages of (id, created) from one catalogue: an image has one creation time, whichever
    query lists it; few ids and instants, so ids repeat across pages and instants tie."""
    created = draw(st.dictionaries(st.text("ab\u00e9\u65e5\U0001d11e9Z", min_size=1,
                                           max_size=3),
                                   st.sampled_from(_INSTANTS), min_size=1, max_size=12))
    ids = sorted(created)
    pages = draw(st.lists(st.lists(st.sampled_from(ids), max_size=12, unique=True),
                          min_size=1, max_size=4))   # a pager keeps an id once per frame
    return [[(i, created[i]) for i in page] for page in pages]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_streams())
def test_merge_frames_order_is_pandas_sort(pages):
    # repeated ids across frames, ties on created, NaT, non-ASCII
    frames = [frame_from_pages([[sample(i, created=c) for i, c in page]]) for page in pages]
    merged, dropped = merge_frames(frames)
    listed = [f for f in frames if len(f)]
    if len(listed) > 1:
        pd.testing.assert_frame_equal(merged, _sorted_by_pandas(listed))
    else:   # one stream listed anything: its pager's order stands
        pd.testing.assert_frame_equal(merged, listed[0] if listed else empty_frame())
    assert dropped == sum(map(len, frames)) - len(merged)


def _named(rows):
    """A frame of (id, created, name) rows."""
    return frame_from_pages([[sample(i, name=n, created=c) for i, c, n in rows]])


def test_merge_frames_drops_an_image_repeated_at_its_instant_first_frame_wins():
    t1, t2 = _INSTANTS[1], _INSTANTS[2]
    first = _named([("b", t2, "first b"), ("a", t1, "first a"), ("n", None, "first n")])
    second = _named([("c", t2, "second c"), ("b", t2, "second b"), ("n", None, "second n"),
                     ("m", None, "second m")])
    merged, dropped = merge_frames([first, second])
    assert merged["id"].tolist() == ["c", "b", "a", "n", "m"]
    assert merged["name"].tolist() == ["second c", "first b", "first a", "first n",
                                       "second m"]
    assert dropped == 2
    assert dict(merged.dtypes) == DTYPES
    # the same rows the other way round: the second list's rows are now the first
    merged, dropped = merge_frames([second, first])
    assert merged["name"].tolist() == ["second c", "second b", "first a", "second n",
                                       "second m"]
    assert dropped == 2


def test_merge_frames_keeps_equal_string_columns_equal_and_shared():
    # Glance's self and alternate links are one list, so one Arrow chunk: still so merged
    frames = [_named([("b", _INSTANTS[1], "b"), ("a", None, "a")]),
              _named([("c", _INSTANTS[2], "c"), ("a", None, "a again")])]
    for f in frames:
        f["link_alternate"] = f["link_self"].array.copy()   # (Arrow's copy shares)
    merged, dropped = merge_frames(frames)
    pd.testing.assert_frame_equal(merged, _sorted_by_pandas(frames))
    assert dropped == 1 and merged["id"].tolist() == ["c", "b", "a"]

    from imgframe.frame import STRING

    if STRING.storage == "pyarrow":   # Arrow's buffers are immutable: one serves both
        def data(col):
            return [c.buffers()[2].address for c in merged[col].array.__arrow_array__().chunks]
        assert data("link_self") == data("link_alternate") != data("link_bookmark")
    # either way, writing one column leaves the other as it was
    merged.loc[0, "link_self"] = "changed"
    assert merged.loc[0, "link_alternate"] == frames[1].loc[0, "link_self"] != "changed"


def test_merge_frames_of_nat_rows_only_drops_repeated_ids():
    # a list view (no created at all): every row ties, so every id is compared
    first = _named([("x", None, "1x"), ("y", None, "1y")])
    second = _named([("y", None, "2y"), ("z", None, "2z"), ("x", None, "2x")])
    merged, dropped = merge_frames([first, second])
    assert merged["id"].tolist() == ["z", "y", "x"]
    assert merged["name"].tolist() == ["2z", "1y", "1x"]
    assert dropped == 2


def test_merge_frames_keeps_one_id_at_two_instants():
    # not one image listed twice (an image has one creation time): both rows are kept
    merged, dropped = merge_frames([_named([("a", _INSTANTS[2], "new")]),
                                    _named([("a", _INSTANTS[1], "old")])])
    assert merged["name"].tolist() == ["new", "old"] and dropped == 0


def test_merge_frames_in_order_already_is_their_concatenation():
    newer = _named([("b", _INSTANTS[2], "b"), ("a", _INSTANTS[2], "a")])
    older = _named([("z", _INSTANTS[1], "z"), ("y", None, "y")])
    merged, dropped = merge_frames([newer, older])
    pd.testing.assert_frame_equal(merged, pd.concat([newer, older], ignore_index=True))
    assert dropped == 0
    merged, _ = merge_frames([older, newer])   # the other way round: reordered
    assert merged["id"].tolist() == ["b", "a", "z", "y"]


def test_merge_frames_of_other_dtypes_sorts_as_pandas():
    # ids as Python objects (a frame changed by its user): pandas decides, and drops every
    # repeated id whatever its created (the first row of each id is kept)
    frames = [frame_from_pages([[sample(i, created=c) for i, c in page]]).astype({"id": object})
              for page in ([("b", _INSTANTS[1]), ("a", None)],
                           [("c", _INSTANTS[1]), ("a", _INSTANTS[2])])]
    merged, dropped = merge_frames(frames)
    assert merged["id"].tolist() == ["c", "b", "a"] and dropped == 1
    assert pd.isna(merged["created"].iloc[2])   # the first frame's row of "a"
    pd.testing.assert_frame_equal(merged, _sorted_by_pandas(frames))


@pytest.mark.parametrize("bad", [
    ["not a dict"], [None], [{"name": "no id"}], [{"id": 5}],
    [sample("a", minRam="512")], [sample("a", minRam=1.5)], [sample("a", minRam=True)],
    [sample("a", created="yesterday")], [sample("a", created=5)],
    [sample("a", metadata=["x"])], [sample("a", links="http://x")],
    [sample("a", links=[{"href": "x"}])], [sample("a", links=[["self", "x"]])],
    [sample("a", server="srv")], [sample("a", server={"id": 3})],
    [sample("a", status=["ACTIVE"])], [sample("a", status=3)], [sample("a", name=3)],
    [sample("a", size=2 ** 70)], [sample("a", created="3000-01-01T00:00:00Z")],
])
def test_malformed_items(bad):
    with pytest.raises(MalformedResponseError, match="malformed"):
        frame_from_pages([bad])


# --- properties -------------------------------------------------------------------------

uuid_ids = st.uuids().map(str)
wire_time = st.datetimes(min_value=pd.Timestamp("1970-01-01").to_pydatetime(),
                         max_value=pd.Timestamp("2200-01-01").to_pydatetime()).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
meta_values = st.one_of(st.none(), st.text(max_size=8), st.lists(st.text(max_size=3), max_size=2))


@st.composite
def good_item(draw):
    iid = draw(uuid_ids)
    item = {"id": iid, "name": draw(st.one_of(st.none(), st.text(max_size=12))),
            "status": draw(st.sampled_from(STATUSES)),
            "progress": draw(st.sampled_from([0, 25, 50, 100])),
            "created": draw(wire_time), "updated": draw(st.one_of(st.none(), wire_time)),
            "minRam": draw(st.integers(0, 2 ** 20)), "minDisk": draw(st.integers(0, 2 ** 12)),
            "OS-EXT-IMG-SIZE:size": draw(st.integers(0, 2 ** 62)),
            "metadata": draw(st.dictionaries(st.text(max_size=6), meta_values, max_size=3)),
            "links": links(iid)}
    if draw(st.booleans()):
        item["server"] = {"id": draw(uuid_ids), "links": []}
    if draw(st.booleans()):
        item["OS-DCF:diskConfig"] = draw(st.sampled_from(["AUTO", "MANUAL"]))
    return item


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(good_item(), max_size=4), max_size=4))
def test_property_well_formed_pages(pages):
    df = frame_from_pages(pages)
    items = [i for p in pages for i in p]
    assert list(df.columns) == COLUMNS and dict(df.dtypes) == DTYPES
    assert df["id"].tolist() == [i["id"] for i in items]
    assert [None if pd.isna(x) else x for x in df["name"]] == [i["name"] for i in items]
    assert df["size"].tolist() == [i["OS-EXT-IMG-SIZE:size"] for i in items]
    assert df["metadata"].tolist() == [i["metadata"] for i in items]
    assert [None if pd.isna(x) else x.strftime("%Y-%m-%dT%H:%M:%SZ") for x in df["updated"]] \
        == [i["updated"] for i in items]
    assert [None if pd.isna(x) else x for x in df["server_id"]] == \
        [i.get("server", {}).get("id") for i in items]


junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                 st.text(max_size=5), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def damaged_item(draw):
    item = draw(good_item())
    key = draw(st.sampled_from(sorted(item) + ["links.0", "server"]))
    if key == "links.0":
        item["links"][0] = draw(junk)
    elif draw(st.booleans()):
        item[key] = draw(junk)
    else:
        item.pop(key, None)
    return item


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(good_item(), damaged_item(), junk), min_size=1, max_size=5),
       st.booleans())
def test_property_malformed_pages_never_crash(items, detail):
    try:
        df = frame_from_pages([items], detail=detail)
    except MalformedResponseError:
        return
    assert list(df.columns)[:len(COLUMNS)] == COLUMNS and len(df) == len(items)
    assert all(df[c].dtype == t for c, t in DTYPES.items())
    assert np.all([isinstance(x, (dict, type(None))) for x in df["metadata"]])


ints_or_none = st.one_of(st.none(), st.integers(-(2 ** 63), 2 ** 63 - 1))


@settings(max_examples=80, deadline=None)
@given(st.lists(ints_or_none, max_size=30))
def test_property_int_chunks_equal_pandas_conversion(values):
    """The builder's int64 + mask conversion gives what ``pd.array(dtype="Int64")`` gives."""
    from imgframe.frame import _ints

    pd.testing.assert_extension_array_equal(_ints(values, "minRam"),
                                            pd.array(values, dtype="Int64"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.booleans()), max_size=30))
def test_property_bool_chunks_equal_pandas_conversion(values):
    from imgframe.frame import _bools

    pd.testing.assert_extension_array_equal(_bools(values, "protected"),
                                            pd.array(values, dtype="boolean"))


_NS_MIN, _NS_MAX = dt.datetime(1677, 9, 21, 0, 12, 44), dt.datetime(2262, 4, 11, 23, 47, 16)
edge_time = st.one_of(
    st.none(),
    st.datetimes(min_value=dt.datetime(1600, 1, 1), max_value=dt.datetime(2400, 1, 1)),
    st.sampled_from([_NS_MIN - dt.timedelta(seconds=1), _NS_MIN, _NS_MAX,
                     _NS_MAX + dt.timedelta(seconds=1)]),
).map(lambda d: d if d is None else d.strftime("%Y-%m-%dT%H:%M:%SZ"))


@settings(max_examples=80, deadline=None)
@given(st.lists(edge_time, min_size=1, max_size=8))
def test_property_time_chunks_equal_pandas_parse(values):
    """Wire times give pandas' instants in nanoseconds (through the one Arrow cast where
    pyarrow is installed), and an instant nanoseconds cannot hold is an error naming the
    field and the value."""
    from imgframe.frame import STRING, _canonical_times, _times

    stamps = [dt.datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ") for v in values if v is not None]
    odd = next((v for v, d in zip([v for v in values if v is not None], stamps, strict=True)
                if not _NS_MIN <= d <= _NS_MAX), None)
    if odd is not None:
        with pytest.raises(MalformedResponseError,
                           match=f"created is not an ISO 8601 time .*'{odd}'"):
            _times(values, "created")
        return
    want = pd.DatetimeIndex(pd.to_datetime(values, format="ISO8601", utc=True)).as_unit("ns")
    got = pd.DatetimeIndex(_times(values, "created")).tz_localize("UTC")
    pd.testing.assert_index_equal(got, want)
    if STRING.storage == "pyarrow" and stamps:   # the fast path took them
        assert _canonical_times(values) is not None


@pytest.mark.parametrize("values", [[1, None, 2 ** 63], [None, -(2 ** 63) - 1], [2 ** 64]])
def test_int_chunk_out_of_range_names_the_field(values):
    from imgframe.frame import _ints

    with pytest.raises(MalformedResponseError, match="minRam out of range"):
        _ints(values, "minRam")


def test_columns_sharing_one_list_share_a_chunk_and_keep_their_checks():
    """Glance's self link is both ``link_self`` and ``link_alternate`` (one list): with
    Arrow storage (immutable) one chunk serves both; either way, changing one column leaves
    the other as it was; ``id`` never borrows another column's chunk, so it is still
    refused null."""
    from imgframe.frame import STRING, FrameBuilder

    hrefs = ["http://h/v2/images/a", "http://h/v2/images/b"]
    b = FrameBuilder(lambda items: {"id": [i["id"] for i in items], "link_self": hrefs,
                                    "link_alternate": hrefs})
    b.add([{"id": "a"}, {"id": "b"}])
    shared = b.chunks["link_self"][0] is b.chunks["link_alternate"][0]
    assert shared == (STRING.storage == "pyarrow")
    df = b.frame()
    assert df["link_self"].tolist() == df["link_alternate"].tolist() == hrefs
    df.loc[0, "link_self"] = "changed"
    assert df["link_alternate"].tolist() == hrefs and hrefs[0] == "http://h/v2/images/a"
    ids = ["a", None]
    b = FrameBuilder(lambda items: {"name": ids, "id": ids})
    with pytest.raises(MalformedResponseError, match="id must not be null"):
        b.add([{"id": "a"}, {"id": "b"}])


def test_pure_modules_import_no_io_libraries():
    """query, pages, frame, merge and export never import requests/ipywidgets (STYLE: pure core)."""
    import ast
    import pathlib

    import imgframe

    root = pathlib.Path(imgframe.__file__).parent
    for name in ("query", "pages", "frame", "merge", "export"):
        tree = ast.parse((root / f"{name}.py").read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & {"requests", "urllib3", "ipywidgets", "keystoneauth1",
                               "openstack"}, name
