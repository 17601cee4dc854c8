"""imgframe.diff: exact rows, value semantics per dtype, refusals of incomplete frames."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

import imgframe
from imgframe import history_plots
from imgframe.diff import diff_long, query_key


@pytest.fixture(scope="module")
def loaded(module_image_server):
    """A complete 60-image load over HTTP (every column, attrs as the loader writes them)."""
    srv = module_image_server(60, seed=4)
    return imgframe.Client(srv.url, srv.project_id).load(progress=False)


def copy_of(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy(deep=True)
    out["metadata"] = [copy.deepcopy(m) for m in df["metadata"]]
    out.attrs = copy.deepcopy(df.attrs)
    return out


def test_identical_frames_have_no_diff(loaded):
    d = imgframe.diff(loaded, copy_of(loaded))
    assert d.empty
    assert list(d.columns) == ["id", "name", "status", "change", "changed", "old", "new"]
    assert d.attrs["imgframe_diff"]["counts"] == {"added": 0, "removed": 0, "modified": 0}


def test_exact_rows(loaded):
    new = copy_of(loaded)
    ids = loaded["id"].tolist()
    new.loc[2, "name"] = "renamed, with \"quotes\"\n"
    new.at[3, "metadata"] = dict(new.loc[3, "metadata"], extra=[1, 2])
    new.loc[4, "size"] = pd.NA
    removed = new.iloc[[0]]
    new = new.iloc[1:].reset_index(drop=True)
    added = copy_of(loaded.iloc[[5]]).assign(id="new-image")
    new = pd.concat([added.astype(object), new.astype(object)],
                    ignore_index=True).astype(loaded.dtypes.to_dict())
    new.attrs = copy.deepcopy(loaded.attrs)
    d = imgframe.diff(loaded, new)
    assert d["id"].tolist() == ["new-image", ids[2], ids[3], ids[4], ids[0]]
    assert d["change"].tolist() == ["added", "modified", "modified", "modified", "removed"]
    assert d["changed"].tolist() == [[], ["name"], ["metadata"], ["size"], []]
    old_name = loaded.loc[2, "name"]                 # a missing name reads as None
    assert d["old"].iloc[1] == {"name": None if pd.isna(old_name) else old_name}
    assert d["new"].iloc[1] == {"name": "renamed, with \"quotes\"\n"}
    assert d["new"].iloc[2]["metadata"]["extra"] == [1, 2]
    assert d["old"].iloc[3] == {"size": int(loaded.loc[4, "size"])}
    assert d["new"].iloc[3] == {"size": None}
    assert d["status"].iloc[4] == removed["status"].iloc[0]
    assert str(d["change"].dtype) == "category"
    long = diff_long(d)
    assert long[["column"]].astype(object)["column"].tolist() == ["name", "metadata", "size"]
    # the CSV is the spreadsheet-safe one, dicts as JSON
    text = imgframe.to_csv(d)
    assert "new-image" in text and '""name"":' in text
    summary = imgframe.diff_summary(d, by=None)
    assert summary["images"].tolist() == [1, 1, 3]


def test_na_equals_na_and_containers_by_value(loaded):
    new = copy_of(loaded)
    new["metadata"] = [None if i == 0 else dict(reversed(list(m.items())))
                       for i, m in enumerate(loaded["metadata"])]
    old = copy_of(loaded)
    old.at[0, "metadata"] = None
    assert imgframe.diff(old, new).empty        # same dicts in another key order; None == None


def test_columns_narrow_and_only_common_columns(loaded):
    new = copy_of(loaded)
    new.loc[1, "name"] = "x"
    new.loc[1, "min_ram"] = 123456
    new["extra"] = "only new"
    d = imgframe.diff(loaded, new, columns=["min_ram"])
    assert d["changed"].tolist() == [["min_ram"]]
    full = imgframe.diff(loaded, new)
    assert full["changed"].tolist() == [["name", "min_ram"]]
    assert full.attrs["imgframe_diff"]["only_in_new"] == ["extra"]
    with pytest.raises(imgframe.InvalidQueryError, match="columns="):
        imgframe.diff(loaded, new, columns=["nope"])


@pytest.mark.parametrize("change, why", [
    (lambda i: i.update(truncated=True, max_items=10), "truncated by max_items=10"),
    (lambda i: i.update(partial=True), "partial result"),
    (lambda i: i["queries"][0].update(status="active"), "not listed by the same query"),
    (lambda i: i.update(endpoint="http://elsewhere/v2.1/p"), "not listed by the same query"),
    (lambda i: i["queries"][0].update(marker="abc"), "resumed from a marker"),
])
def test_incomplete_refused_unless_allowed(loaded, change, why):
    new = copy_of(loaded).iloc[5:].reset_index(drop=True)
    new.attrs = copy.deepcopy(loaded.attrs)
    change(new.attrs["imgframe"])
    with pytest.raises(imgframe.IncompleteSnapshotError, match=why) as info:
        imgframe.diff(loaded, new)
    assert "allow_incomplete=True" in str(info.value) and info.value.reasons
    d = imgframe.diff(loaded, new, allow_incomplete=True)
    assert "removed" not in set(d["change"])     # never a false removal
    assert d.attrs["imgframe_diff"]["removals_reported"] is False


def test_a_frame_without_attrs_is_not_known_complete(loaded):
    bare = copy_of(loaded)
    bare.attrs = {}
    with pytest.raises(imgframe.IncompleteSnapshotError, match="no attrs"):
        imgframe.diff(loaded, bare)


def test_page_size_is_not_part_of_the_query(loaded):
    other = copy_of(loaded)
    other.attrs["imgframe"]["queries"] = [{"limit": "7"}]
    assert query_key(other.attrs["imgframe"]) == query_key(loaded.attrs["imgframe"])
    assert imgframe.diff(loaded, other).empty


def test_duplicate_ids_refused(loaded):
    twice = pd.concat([loaded.astype(object), loaded.iloc[:1].astype(object)],
                      ignore_index=True)
    twice.attrs = loaded.attrs
    with pytest.raises(imgframe.ImgframeError, match="more than once"):
        imgframe.diff(loaded, twice)


def test_diff_plot_returns_the_axes(loaded):
    import matplotlib.pyplot as plt

    new = copy_of(loaded).iloc[3:].reset_index(drop=True)
    new.attrs = copy.deepcopy(loaded.attrs)
    _, ax1 = plt.subplots()
    ax = history_plots.diff_plot(imgframe.diff(loaded, new), ax=ax1)
    assert ax is ax1
    assert history_plots.diff_plot(imgframe.diff(loaded, copy_of(loaded))) is not None


def test_glance_snapshots_diff_tags_booleans_and_metadata(tmp_path, image_server):
    srv = image_server(50, seed=4)
    client = imgframe.Client(srv.glance_endpoint, source="glance", token="t")
    store = imgframe.SnapshotStore(tmp_path)
    old = client.load(progress=False)
    store.save(old)
    ids = old["id"].tolist()
    srv.update_image(ids[0], tags=["new", *old["tags"].iloc[0]])
    srv.update_image(ids[1], tags=[])
    srv.update_image(ids[2], protected=not old["protected"].iloc[2])
    srv.update_image(ids[3], os_hidden=not old["hidden"].iloc[3])
    srv.update_image(ids[4], properties={"extra": "1", "nested": ["a", 2]})
    srv.update_image(ids[5], tags=list(old["tags"].iloc[5]))        # same value: only
    store.save(client.refresh(store.load()))                         # updated changes
    d = imgframe.diff(store.load(previous=1), store.load()).set_index("id")
    assert (d["change"] == "modified").all() and len(d) == 6
    changed = {i: set(c) - {"updated"} for i, c in d["changed"].items()}
    assert changed[ids[0]] == {"tags"} and changed[ids[1]] == ({"tags"} if old["tags"].iloc[1]
                                                               else set())
    assert changed[ids[2]] == {"protected"} and changed[ids[3]] == {"hidden"}
    assert changed[ids[4]] == {"metadata"} and changed[ids[5]] == set()
    assert d.loc[ids[0], "new"]["tags"] == ["new", *old["tags"].iloc[0]]
    assert d.loc[ids[0], "old"]["tags"] == list(old["tags"].iloc[0])
    assert d.loc[ids[2], "new"]["protected"] is (not old["protected"].iloc[2])
    # Glance properties are strings: a list is sent as its JSON text
    assert d.loc[ids[4], "new"]["metadata"] == {"extra": "1", "nested": '["a", 2]'}
    text = imgframe.to_csv(d.reset_index())
    assert '""tags"":[""new""' in text and '""protected"":' in text
