"""Servers (Nova, Huawei ECS) and volumes (Cinder, EVS) items as typed frames, and the
Scope record: imgframe.sources.servers, .volumes, .resources. Pure: no HTTP."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import pytest

from imgframe.errors import MalformedResponseError
from imgframe.export import json_text
from imgframe.sources import servers as S
from imgframe.sources import volumes as V
from imgframe.sources.resources import Scope, typed_frame

HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None

P = "0a1b2c3d4e5f"
IMG = "11111111-1111-1111-1111-111111111111"


def nova_server(sid, **over):
    item = {
        "id": sid, "name": f"srv-{sid}", "status": "ACTIVE", "tenant_id": P, "user_id": "u1",
        "image": {"id": IMG, "links": [{"rel": "bookmark", "href": f"http://h/{P}/images/{IMG}"}]},
        "created": "2024-01-01T10:00:00Z", "updated": "2024-01-02T10:00:00Z",
        "OS-SRV-USG:launched_at": "2024-01-01T10:00:05.123456",
        "flavor": {"id": "42", "links": []},
        "os-extended-volumes:volumes_attached": [],
        "metadata": {"role": "web"},
        "links": [{"rel": "self", "href": f"http://h/v2.1/{P}/servers/{sid}"},
                  {"rel": "bookmark", "href": f"http://h/{P}/servers/{sid}"}],
    }
    item.update(over)
    return item


def cinder_volume(vid, **over):
    item = {
        "id": vid, "name": f"vol-{vid}", "status": "in-use", "size": 10,
        "os-vol-tenant-attr:tenant_id": P, "user_id": "u1", "bootable": "true",
        "volume_image_metadata": {"image_id": IMG, "image_name": "cirros", "min_disk": "1"},
        "attachments": [{"server_id": "s1", "device": "/dev/vda", "attachment_id": "a"}],
        "created_at": "2024-01-01T10:00:00.000000", "updated_at": "2024-01-03T11:00:00.250000",
        "volume_type": "lvmdriver-1", "metadata": {},
        "links": [{"rel": "self", "href": f"http://h/v3/{P}/volumes/{vid}"},
                  {"rel": "bookmark", "href": f"http://h/{P}/volumes/{vid}"}],
    }
    item.update(over)
    return item


# -- servers -------------------------------------------------------------------------------

def test_servers_frame_has_the_fixed_columns_and_dtypes():
    df = S.frame_from_items([[nova_server("s1")]])
    assert list(df.columns) == S.COLUMNS
    assert df.dtypes.to_dict() == S.DTYPES
    empty = S.frame_from_items([])
    assert list(empty.columns) == S.COLUMNS and empty.dtypes.to_dict() == S.DTYPES


def test_image_booted_server_columns():
    row = S.frame_from_items([[nova_server("s1")]]).iloc[0]
    assert row["image_id"] == IMG and row["boot"] == "image"
    assert row["project_id"] == P and row["user_id"] == "u1" and row["flavor"] == "42"
    assert row["created"] == pd.Timestamp("2024-01-01T10:00:00Z")
    # Nova's launched_at is naive with microseconds: it is UTC
    assert row["launched_at"] == pd.Timestamp("2024-01-01T10:00:05.123456Z")
    assert row["metadata"] == {"role": "web"} and row["volume_ids"] == []
    assert row["link_self"].endswith("/servers/s1")
    assert row["link_bookmark"] == f"http://h/{P}/servers/s1"


def test_volume_booted_server_has_no_image_and_is_no_error():
    item = nova_server("s2", image="", flavor={"original_name": "m1.small", "vcpus": 1},
                       **{"os-extended-volumes:volumes_attached": [
                           {"id": "v1", "delete_on_termination": True}, {"id": "v2"}]})
    row = S.frame_from_items([[item]]).iloc[0]
    assert pd.isna(row["image_id"]) and row["boot"] == "volume"
    assert row["volume_ids"] == ["v1", "v2"]
    assert row["flavor"] == "m1.small"   # 2.47+: no flavor id, the original name
    assert pd.isna(row["root_volume_id"])   # Nova does not say which is the root


def test_down_cell_construct_keeps_its_status_and_has_no_boot():
    item = {"id": "s3", "status": "UNKNOWN", "tenant_id": P,
            "created": "2024-01-01T10:00:00Z", "links": []}
    row = S.frame_from_items([[item]]).iloc[0]
    assert row["status"] == "UNKNOWN" and pd.isna(row["boot"]) and pd.isna(row["image_id"])
    assert pd.isna(row["name"]) and pd.isna(row["launched_at"])


@pytest.mark.parametrize("status", ["SOFT_DELETED", "SHELVED_OFFLOADED", "DELETED", "SHUTOFF"])
def test_status_is_novas_word(status):
    assert S.frame_from_items([[nova_server("s", status=status)]])["status"][0] == status


def test_admin_kernel_and_ramdisk_empty_strings_are_na():
    df = S.frame_from_items([[nova_server("a", **{"OS-EXT-SRV-ATTR:kernel_id": "k1",
                                                 "OS-EXT-SRV-ATTR:ramdisk_id": ""})]])
    assert df["kernel_id"][0] == "k1" and pd.isna(df["ramdisk_id"][0])


def test_ecs_items_root_volume_and_metering_image():
    item = {"id": "e1", "name": "ecs", "status": "ACTIVE", "tenant_id": P,
            "image": {"id": "ims-1"}, "flavor": {"id": "s6.large.2", "name": "s6.large.2"},
            "created": "2024-01-01T10:00:00Z", "updated": "2024-01-01T10:00:00Z",
            "OS-SRV-USG:launched_at": "2024-01-01T10:00:19.000000",
            "metadata": {"metering.image_id": "ims-1", "image_name": "CentOS"},
            "os-extended-volumes:volumes_attached": [
                {"id": "d2", "bootIndex": "-1", "device": "/dev/vdb"},
                {"id": "d1", "bootIndex": "0", "device": "/dev/vda"}]}
    no_image = dict(item, id="e2", image=None)
    df = S.frame_from_items([[item, no_image]], source="ecs")
    assert df["image_id"].tolist() == ["ims-1", "ims-1"]
    assert df["boot"].tolist() == ["image", "image"]
    assert df["root_volume_id"].tolist() == ["d1", "d1"]
    assert df["flavor"][0] == "s6.large.2"
    assert df["launched_at"][0] == pd.Timestamp("2024-01-01T10:00:19Z")


@pytest.mark.parametrize("over, field", [
    ({"image": 5}, "image"),
    ({"image": {"id": 7}}, "image.id"),
    ({"status": 3}, "status"),
    ({"created": "yesterday"}, "created"),
    ({"os-extended-volumes:volumes_attached": "v1"}, "volumes_attached"),
    ({"metadata": ["x"]}, "metadata"),
    ({"flavor": 42}, "flavor"),
])
def test_malformed_server_fields_are_named(over, field):
    with pytest.raises(MalformedResponseError, match=field) as err:
        S.frame_from_items([[nova_server("s", **over)]])
    assert "servers" in str(err.value) and "\n" not in str(err.value)


def test_a_failing_page_adds_nothing_and_items_need_ids():
    b = S.builder()
    b.add([nova_server("ok")])
    with pytest.raises(MalformedResponseError, match="status"):
        b.add([nova_server("x"), nova_server("y", status=1)])
    with pytest.raises(MalformedResponseError, match="'id'"):
        b.add([{"name": "no id"}])
    with pytest.raises(MalformedResponseError, match="object"):
        b.add(["s1"])
    assert b.frame()["id"].tolist() == ["ok"]
    with pytest.raises(ValueError, match="source"):
        S.builder("glance")


def test_pages_with_other_link_relations_get_extra_string_columns():
    df = S.frame_from_items([[nova_server("a")],
                             [nova_server("b", links=[{"rel": "alternate", "href": "x"}])]])
    assert df.columns[-1] == "link_alternate" and df["link_alternate"].tolist()[1] == "x"
    assert pd.isna(df["link_alternate"][0]) and isinstance(df["link_alternate"].dtype,
                                                             pd.StringDtype)


# -- volumes -------------------------------------------------------------------------------

def test_volumes_frame_columns():
    plain = cinder_volume("v2", bootable="false", attachments=[], size=1)
    del plain["volume_image_metadata"]   # absent, not {}, when there is none
    df = V.frame_from_items([[cinder_volume("v1"), plain]])
    assert list(df.columns) == V.COLUMNS and df.dtypes.to_dict() == V.DTYPES
    assert df["image_id"].tolist()[0] == IMG and pd.isna(df["image_id"][1])
    assert df["image_name"][0] == "cirros"
    assert df["bootable"].tolist() == [True, False]
    assert df["attached_servers"].tolist() == [["s1"], []]
    assert df["size"].tolist() == [10, 1] and df["project_id"][0] == P
    assert df["created"][0] == pd.Timestamp("2024-01-01T10:00:00Z")
    assert df["updated"][0] == pd.Timestamp("2024-01-03T11:00:00.25Z")
    assert V.frame_from_items([]).dtypes.to_dict() == V.DTYPES


@pytest.mark.parametrize("over, field", [
    ({"bootable": "maybe"}, "bootable"),
    ({"volume_image_metadata": "img"}, "volume_image_metadata"),
    ({"volume_image_metadata": {"image_id": 3}}, "volume_image_metadata.image_id"),
    ({"attachments": [{"server_id": None}]}, "attachments"),
    ({"size": "10"}, "size"),
])
def test_malformed_volume_fields_are_named(over, field):
    with pytest.raises(MalformedResponseError, match=field.replace(".", r"\.")):
        V.frame_from_items([[cinder_volume("v", **over)]])


def test_evs_volume_type_object_and_bool_bootable():
    df = V.frame_from_items([[cinder_volume("v", volume_type={"name": "SSD"}, bootable=True)]],
                            source="evs")
    assert df["volume_type"][0] == "SSD" and bool(df["bootable"][0]) is True


# -- scope ---------------------------------------------------------------------------------

def test_scope_round_trips_through_attrs():
    scope = Scope("servers", "nova", projects=["p1"], caller="u1", admin=False,
                  every_page=True, cells="unverified", soft_deleted=True)
    df = S.frame_from_items([[nova_server("a")]])
    df.attrs["imgframe"] = {"scope": scope.as_dict()}
    assert Scope.of(df) == scope and scope.projects == ("p1",)
    assert json.loads(json.dumps(scope.as_dict()))["projects"] == ["p1"]
    assert Scope.of(df.iloc[:1]) == scope   # pandas carries attrs
    assert Scope.of(pd.DataFrame()) is None
    df.attrs["imgframe"] = {"scope": scope}
    assert Scope.of(df) is scope
    assert scope.covers("p1") and not scope.covers("p2") and not scope.covers(None)
    assert Scope("volumes", "cinder", all_projects=True).covers("any")
    other = V.frame_from_items([[cinder_volume("v")]])
    other.attrs["imgframe"] = {"source": "cinder"}
    vscope = Scope("volumes", "cinder", projects=(P,), every_page=True, cells=None)
    assert vscope.attach(other) is other and Scope.of(other) == vscope
    assert other.attrs["imgframe"]["source"] == "cinder"   # what was there stays


@pytest.mark.parametrize("kwargs", [{"resource": "images", "source": "glance"},
                                    {"resource": "servers", "source": "nova", "cells": "maybe"}])
def test_scope_refuses_unknown_words(kwargs):
    with pytest.raises(ValueError):
        Scope(**kwargs)


# -- dtypes through pandas -------------------------------------------------------------------

def frames():
    a = S.frame_from_items([[nova_server("a"), nova_server("b", image="")]])
    b = S.frame_from_items([[nova_server("c", status="SHELVED_OFFLOADED")]])
    v = V.frame_from_items([[cinder_volume("v1")]])
    return a, b, v


def test_dtypes_survive_concat_merge_isin_groupby():
    a, b, v = frames()
    both = pd.concat([a, b], ignore_index=True)
    assert both.dtypes.to_dict() == S.DTYPES and len(both) == 3
    joined = both.merge(v, left_on="image_id", right_on="image_id", how="left",
                        suffixes=("", "_volume"))
    for col in S.COLUMNS:
        assert joined[col].dtype == S.DTYPES[col], col
    assert joined.loc[joined["id"] == "a", "id_volume"].tolist() == ["v1"]
    assert both["image_id"].isin(v["image_id"]).tolist() == [True, False, True]
    counts = both.groupby("boot", dropna=False)["id"].count()
    assert counts["image"] == 2 and counts["volume"] == 1
    assert typed_frame({}, S.KINDS).dtypes.to_dict() == S.DTYPES


@pytest.mark.skipif(not HAVE_PYARROW, reason="Parquet needs pyarrow")
def test_dtypes_survive_parquet(tmp_path):
    a, b, v = frames()
    for name, df, dtypes, objects in (("servers", pd.concat([a, b], ignore_index=True),
                                       S.DTYPES, ("volume_ids", "metadata")),
                                      ("volumes", v, V.DTYPES, ("attached_servers",
                                                                 "metadata"))):
        out = df.copy()
        for col in objects:   # what imgframe's to_parquet does with dict/list cells
            out[col] = pd.array([None if x is None else json_text(x) for x in out[col]],
                                dtype="string")
        out.to_parquet(tmp_path / f"{name}.parquet", index=False)
        back = pd.read_parquet(tmp_path / f"{name}.parquet")
        for col in objects:
            back[col] = pd.Series([None if pd.isna(x) else json.loads(x) for x in back[col]],
                                  dtype=object)
        assert back.dtypes.to_dict() == dtypes
        pd.testing.assert_frame_equal(back, df)


def test_joins_lookup_and_grouped():
    import numpy as np

    from imgframe.joins import Lookup, grouped

    ids = pd.Series(["a", "b", "a", "c"], dtype="string")
    look = Lookup(ids)
    assert look.codes.tolist() == [0, 1, 0, 2]
    assert look.positions(pd.Series(["c", "x", "a"], dtype="string")).tolist() == [2, -1, 0]
    assert look.positions(np.array(["b", "zz"], dtype=object)).tolist() == [1, -1]
    out, = grouped(3, np.array([2, 0, 2]), np.array(["p", "q", "r"], dtype=object))
    assert out.tolist() == [["q"], None, ["p", "r"]]
    assert grouped(2, np.array([], dtype=np.int64), np.array([], dtype=object))[0].tolist() \
        == [None, None]
