"""imgframe.usage: which images are in use, and an ``unused`` that is never said wrongly.
Hand-built images, servers and volumes frames (no HTTP), one test per rule, and
Hypothesis properties over random catalogues and scopes."""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgframe.errors import InvalidQueryError
from imgframe.frame import COLUMNS as IMAGE_COLUMNS
from imgframe.frame import DTYPES as IMAGE_DTYPES
from imgframe.sources import servers as S
from imgframe.sources import volumes as V
from imgframe.sources.resources import Scope
from imgframe.usage import (
    COLUMNS,
    DTYPES,
    MISSING_COLUMNS,
    REASONS,
    image_kinds,
    missing_servers,
    usage,
)

HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None
P1, P2 = "project-1", "project-2"
PROJECT = Scope("servers", "nova", projects=(P1,), caller="u1", admin=False,
                every_page=True, cells="up", soft_deleted=True)
ADMIN = Scope("servers", "nova", all_projects=True, caller="admin", admin=True,
              every_page=True, cells="up", soft_deleted=True, deleted=True)
VOLUMES = Scope("volumes", "cinder", projects=(P1,), every_page=True)
VOLUMES_ADMIN = Scope("volumes", "cinder", all_projects=True, admin=True, every_page=True)


def objects(dtype) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind == "O"


def image(iid, **over):
    row = {"id": iid, "name": f"image {iid}", "status": "ACTIVE", "visibility": "private",
           "owner": P1, "size": 1024, "metadata": {}}
    row.update(over)
    return row


def images(*rows, attrs=None):
    cols = {}
    for col in IMAGE_COLUMNS:
        values = pd.Series([r.get(col) for r in rows], dtype=object)
        cols[col] = values if objects(IMAGE_DTYPES[col]) else values.astype(IMAGE_DTYPES[col])
    df = pd.DataFrame(cols)
    if attrs is not None:
        df.attrs["imgframe"] = attrs
    return df


def server(sid, image_id="i1", status="ACTIVE", project=P1, **over):
    item = {"id": sid, "name": f"srv-{sid}", "status": status, "tenant_id": project,
            "image": {"id": image_id, "links": []} if image_id else "",
            "created": "2024-01-01T10:00:00Z", "metadata": {}}
    item.update(over)
    return item


def servers(*items, scope=PROJECT):
    df = S.frame_from_items([list(items)])
    if scope is not None:
        df.attrs["imgframe"] = {"scope": scope.as_dict()}
    return df


def volume(vid, image_id="i1", server_id=None):
    item = {"id": vid, "status": "in-use" if server_id else "available", "bootable": "true",
            "attachments": [{"server_id": server_id}] if server_id else [], "size": 1}
    if image_id:
        item["volume_image_metadata"] = {"image_id": image_id}
    return item


def volumes(*items, scope=VOLUMES):
    df = V.frame_from_items([list(items)])
    if scope is not None:
        df.attrs["imgframe"] = {"scope": scope.as_dict()}
    return df


def row(result, iid):
    return result.set_index("id").loc[iid]


def codes(reasons):
    return [r.split(":", 1)[0] for r in reasons]


# -- the frame -----------------------------------------------------------------------------

def test_columns_dtypes_and_one_row_per_image_in_order():
    imgs = images(image("i2"), image("i1"), image("i3"))
    u = usage(imgs, servers(server("s1", "i1")), volumes())
    assert list(u.columns) == COLUMNS and u.dtypes.to_dict() == DTYPES
    assert u["id"].tolist() == ["i2", "i1", "i3"]
    empty = usage(images(), servers(), volumes())
    assert len(empty) == 0 and empty.dtypes.to_dict() == DTYPES
    assert missing_servers(empty).dtypes.to_dict() == MISSING_COLUMNS


def test_verdicts_referrers_and_counts():
    imgs = images(image("i1"), image("i2"), image("i3"))
    srv = servers(server("s1", "i1"), server("s2", "i1", status="SHUTOFF"))
    u = usage(imgs, srv, volumes(volume("v1", "i3")))
    r1, r2, r3 = row(u, "i1"), row(u, "i2"), row(u, "i3")
    assert r1["verdict"] == "in use" and r1["servers"] == 2 and r1["volumes"] == 0
    assert r1["referrers"] == ["s1", "s2"]
    assert r1["reasons"] == ["server:s1 ACTIVE", "server:s2 SHUTOFF"]
    assert r2["verdict"] == "unused" and r2["reasons"] == ["no_referrer"]
    assert r2["referrers"] == [] and r2["servers"] == 0
    assert r3["verdict"] == "in use" and r3["volumes"] == 1 and r3["reasons"] == ["volume:v1"]


@pytest.mark.parametrize("status", [s for s in S.STATUSES if s != "DELETED"])
def test_every_status_but_deleted_is_a_referrer(status):
    u = usage(images(image("i1")), servers(server("s1", "i1", status=status)), volumes())
    assert u["verdict"][0] == "in use" and u["reasons"][0] == [f"server:s1 {status}"]


def test_deleted_servers_never_count():
    u = usage(images(image("i1")), servers(server("s1", "i1", status="DELETED")), volumes())
    assert u["verdict"][0] == "unused" and u["servers"][0] == 0
    assert len(missing_servers(u)) == 0


def test_volume_booted_server_is_no_error_and_its_image_is_found_through_the_volume():
    srv = servers(server("s1", image_id="",
                         **{"os-extended-volumes:volumes_attached": [{"id": "v1"}]}))
    assert srv["boot"][0] == "volume"
    u = usage(images(image("i1")), srv, volumes(volume("v1", "i1", server_id="s1")))
    assert u["verdict"][0] == "in use" and u["referrers"][0] == ["v1"]
    assert u["servers"][0] == 0 and u["volumes"][0] == 1
    # without volumes the same image is never called unused
    alone = usage(images(image("i1")), srv)
    assert alone["verdict"][0] == "unknown" and "volumes_not_read" in alone["reasons"][0]
    assert pd.isna(alone["volumes"][0])


def test_join_is_on_the_displayed_image_id():
    # Nova shows an image reference stored as a URL by its parsed id: that id joins
    srv = servers(server("s1", "i1"), server("s2", "I1"))
    u = usage(images(image("i1")), srv, volumes())
    assert u["referrers"][0] == ["s1"]   # exact, case-sensitive ids


def test_kernel_and_ramdisk_of_images_and_servers():
    imgs = images(image("k1", disk_format="aki"), image("r1", disk_format="ari"),
                  image("m1", metadata={"kernel_id": "k1", "ramdisk_id": "r1"}),
                  image("k2"))
    srv = servers(server("s1", "m1", **{"OS-EXT-SRV-ATTR:kernel_id": "k2"}), scope=ADMIN)
    u = usage(imgs, srv, volumes(scope=VOLUMES_ADMIN))
    assert row(u, "k1")["reasons"] == ["image_kernel:m1"] and row(u, "k1")["images"] == 1
    assert row(u, "r1")["reasons"] == ["image_ramdisk:m1"]
    assert row(u, "k2")["reasons"] == ["server_kernel:s1"]
    assert row(u, "k2")["servers"] == 1 and row(u, "m1")["verdict"] == "in use"


# -- unused only when the scope was complete -------------------------------------------------

@pytest.mark.parametrize("scope, reason", [
    (Scope("servers", "nova", projects=(P1,), every_page=False, cells="up", soft_deleted=True),
     "servers_not_every_page"),
    (Scope("servers", "nova", projects=(P1,), every_page=True, cells="up", soft_deleted=False),
     "soft_deleted_not_listed"),
    (Scope("servers", "nova", projects=(P1,), every_page=True, cells="unverified",
           soft_deleted=True), "cells_not_verified"),
    (Scope("servers", "nova", projects=(P1,), every_page=True, soft_deleted=True),
     "cells_not_verified"),   # a Nova scope that does not say: not verified
    (Scope("servers", "nova", projects=(P1,), every_page=True, cells="down",
           soft_deleted=True), "cells_down"),
    (None, "servers_scope_unknown"),
])
def test_an_incomplete_servers_scope_gives_unknown_with_its_reason(scope, reason):
    u = usage(images(image("i1"), image("i2")), servers(server("s1", "i1"), scope=scope),
              volumes())
    assert row(u, "i1")["verdict"] == "in use"   # a referrer seen is proof anyway
    r = row(u, "i2")
    assert r["verdict"] == "unknown" and reason in codes(r["reasons"])
    assert u.attrs["imgframe"]["scope"]["complete"] is False


@pytest.mark.parametrize("vols, reason", [
    (None, "volumes_not_read"),
    ("no scope", "volumes_scope_unknown"),
    ("partial", "volumes_not_every_page"),
    ("other project", "volumes_project_not_listed"),
])
def test_an_incomplete_volumes_scope_gives_unknown(vols, reason):
    frames = {None: None, "no scope": volumes(scope=None),
              "partial": volumes(scope=Scope("volumes", "cinder", projects=(P1,))),
              "other project": volumes(scope=Scope("volumes", "cinder", projects=(P2,),
                                                   every_page=True))}
    u = usage(images(image("i1")), servers(), frames[vols])
    assert u["verdict"][0] == "unknown" and reason in codes(u["reasons"][0])


def test_down_cell_constructs_in_the_listing_are_cells_down_even_if_assumed_up():
    down = {"id": "x", "status": "UNKNOWN", "tenant_id": P1,
            "created": "2024-01-01T10:00:00Z", "links": []}
    scope = Scope("servers", "nova", projects=(P1,), every_page=True, cells="unverified",
                  soft_deleted=True)
    u = usage(images(image("i1")), servers(down, scope=scope), volumes(),
              assume_cells_up=True)
    assert u["verdict"][0] == "unknown"
    assert "cells_down:1 UNKNOWN server(s) without an image in the listing" in u["reasons"][0]
    assert u.attrs["imgframe"]["scope"]["down_cell_servers"] == 1


def test_assume_cells_up_is_recorded_and_only_lifts_unverified():
    unverified = Scope("servers", "nova", projects=(P1,), every_page=True,
                       cells="unverified", soft_deleted=True)
    u = usage(images(image("i1")), servers(scope=unverified), volumes(), assume_cells_up=True)
    assert u["verdict"][0] == "unused"
    assert u["reasons"][0] == ["no_referrer", "cells_assumed_up"]
    assert u.attrs["imgframe"]["scope"]["assume_cells_up"] is True
    assert u.attrs["imgframe"]["scope"]["cells_assumed_up"] is True
    down = Scope("servers", "nova", projects=(P1,), every_page=True, cells="down",
                 soft_deleted=True)
    u = usage(images(image("i1")), servers(scope=down), volumes(), assume_cells_up=True)
    assert u["verdict"][0] == "unknown" and "cells_down" in codes(u["reasons"][0])


@pytest.mark.parametrize("visibility", ["public", "community", "shared"])
def test_images_others_may_use_are_unknown_from_one_project_and_unused_for_an_admin(visibility):
    imgs = images(image("i1", visibility=visibility))
    u = usage(imgs, servers(), volumes())
    assert u["verdict"][0] == "unknown"
    assert f"visibility_beyond_scope:{visibility}" in u["reasons"][0]
    admin = usage(imgs, servers(scope=ADMIN), volumes(scope=VOLUMES_ADMIN))
    assert admin["verdict"][0] == "unused" and admin["reasons"][0] == ["no_referrer"]


def test_a_private_image_of_a_project_not_listed_is_unknown():
    u = usage(images(image("i1", owner=P2)), servers(), volumes())
    assert u["verdict"][0] == "unknown"
    assert "servers_project_not_listed:project-2" in u["reasons"][0]
    assert "volumes_project_not_listed:project-2" in u["reasons"][0]


def test_a_service_without_cells_needs_no_cell_check():
    ecs = Scope("servers", "ecs", projects=(P1,), every_page=True, cells=None,
                soft_deleted=True)
    u = usage(images(image("i1")), servers(scope=ecs), volumes())
    assert u["verdict"][0] == "unused" and u["reasons"][0] == ["no_referrer"]


def test_a_frame_without_visibility_and_owner_never_gives_unused():
    # the Nova images proxy's frame: no visibility, no owner; even under an admin's scope
    proxy = images(image("i1", visibility=None, owner=None))
    u = usage(proxy, servers(scope=ADMIN), volumes(scope=VOLUMES_ADMIN))
    assert u["verdict"][0] == "unknown" and u["reasons"][0] == ["visibility_unknown"]


def test_an_incomplete_images_listing_is_unknown():
    u = usage(images(image("i1"), attrs={"partial": True}), servers(), volumes())
    assert u["verdict"][0] == "unknown" and "images_incomplete" in u["reasons"][0]


# -- kinds, shelved images and orphans --------------------------------------------------------

def test_kinds_are_classified_from_properties():
    imgs = images(
        image("a"),
        image("b", metadata={"image_type": "snapshot", "instance_uuid": "s1"}),
        image("c", metadata={"image_type": "backup", "instance_uuid": "s1",
                             "backup_type": "daily"}),
        image("d", size=0, metadata={"block_device_mapping": "[]", "bdm_v2": "True",
                                     "root_device_name": "/dev/vda"}),
        image("e", name="web-shelved", metadata={"image_type": "snapshot",
                                                 "instance_uuid": "s2"}),
        image("f", metadata={"instance_uuid": "s1"}),   # informational only: an image
        image("g", size=5, metadata={"bdm_v2": "True"}),   # has data: not a bdm snapshot
        image("h", metadata={"__data_origin": "instance,ecs-1", "__imagetype": "private"}),
        image("i", metadata={"__backup_id": "cbr-1", "__data_origin": "instance,ecs-2"}),
        image("j", metadata={"__data_origin": "file,obs://b/x.qcow2"}),
        image("k", metadata={"__imagetype": "gold"}),
        image("l", server_id="s9", metadata={"image_type": "snapshot"}),   # the Nova proxy
        image("m", metadata={"__whole_image": "true"}),
    )
    kinds = image_kinds(imgs)
    assert kinds["kind"].tolist() == [
        "image", "snapshot", "backup", "volume-backed snapshot", "shelved-server image",
        "image", "image", "snapshot", "backup", "image", "image", "snapshot", "backup"]
    assert kinds["parent_server"].tolist()[:5] == [pd.NA, "s1", "s1", pd.NA, "s2"]
    assert kinds["parent_server"].tolist()[7:9] == ["ecs-1", "ecs-2"]
    assert kinds["parent_server"][11] == "s9"


@pytest.mark.parametrize("status, in_use", [("SHELVED", True), ("SHELVED_OFFLOADED", True),
                                            ("ACTIVE", False)])
def test_shelved_image_of_a_shelved_server_is_in_use(status, in_use):
    shelved = image("sh", name="web-shelved", metadata={"image_type": "snapshot",
                                                        "instance_uuid": "s1"})
    u = usage(images(image("base"), shelved), servers(server("s1", "base", status=status)),
              volumes())
    r = row(u, "sh")
    assert r["kind"] == "shelved-server image" and r["parent_server"] == "s1"
    assert (r["verdict"] == "in use") is in_use
    if in_use:
        assert r["reasons"][0] == f"shelved:s1 {status}" and r["referrers"] == ["s1"]
    assert not r["orphan"]


@pytest.mark.parametrize("present, expected, note", [
    ("SOFT_DELETED", False, "parent_present:s1 SOFT_DELETED"),
    ("ACTIVE", False, "parent_present:s1 ACTIVE"),
    ("DELETED", True, "parent_deleted:s1"),
    (None, True, "parent_absent:s1"),
])
def test_orphans_under_a_complete_scope(present, expected, note):
    snap = image("sn", metadata={"image_type": "snapshot", "instance_uuid": "s1"})
    srv = servers(*([server("s1", "other", status=present)] if present else []))
    u = usage(images(snap, image("plain")), srv, volumes())
    r = row(u, "sn")
    assert r["kind"] == "snapshot" and bool(r["orphan"]) is expected
    assert r["reasons"][-1] == note
    assert row(u, "plain")["orphan"] is False or not row(u, "plain")["orphan"]


def test_orphan_is_na_unless_the_servers_scope_is_complete():
    snap = image("sn", metadata={"image_type": "snapshot", "instance_uuid": "s1"})
    partial = Scope("servers", "nova", projects=(P1,), every_page=True, cells="up")
    u = usage(images(snap, image("plain")), servers(scope=partial), volumes())
    assert u["orphan"].isna().all()
    assert row(u, "sn")["reasons"][-1] == "parent_not_seen:s1"
    # the snapshot's server lives in a project that was not listed
    other = image("sn2", metadata={"image_type": "snapshot", "instance_uuid": "s1",
                                   "instance_owner": P2})
    u = usage(images(other), servers(), volumes())
    assert pd.isna(u["orphan"][0])


# -- servers whose image is not in the images frame --------------------------------------------

@pytest.mark.parametrize("attrs, reason", [
    ({"project_id": P1}, "another_project"),
    ({"project_id": P2}, "deleted_or_hidden"),
    ({}, "deleted_or_hidden"),
    ({"truncated": True}, "images_incomplete"),
    ({"filters": {"status": ["ACTIVE"]}}, "images_filtered"),
])
def test_servers_of_images_not_listed_are_reported_apart(attrs, reason):
    srv = servers(server("s1", "i1"), server("s2", "gone", project=P2),
                  server("s3", "gone2", status="DELETED"), server("s4", image_id=""))
    u = usage(images(image("i1"), attrs=attrs), srv, volumes())
    assert len(u) == 1   # they add no row
    miss = missing_servers(u)
    assert list(miss.columns) == list(MISSING_COLUMNS)
    assert miss["server_id"].tolist() == ["s2"] and miss["image_id"].tolist() == ["gone"]
    assert miss["reason"].tolist() == [reason] and miss["project_id"].tolist() == [P2]


def test_the_result_survives_pandas_operations():
    u = usage(images(image("i1"), image("i2")), servers(server("s1", "i1")), volumes())
    both = pd.concat([u, u], ignore_index=True)
    assert both.dtypes.to_dict() == DTYPES
    joined = u.merge(u[["id", "verdict"]], on="id", suffixes=("", "_again"))
    assert joined["verdict"].tolist() == joined["verdict_again"].tolist()
    assert len(missing_servers(u.iloc[:1])) == 0 and copy.deepcopy(u).equals(u)
    assert u["verdict"].isin(["in use"]).tolist() == [True, False]
    counts = u.groupby(["verdict", "kind"], observed=True).size()
    assert counts[("in use", "image")] == 1


@pytest.mark.skipif(not HAVE_PYARROW, reason="Parquet needs pyarrow")
def test_the_result_survives_parquet(tmp_path):
    u = usage(images(image("i1"), image("i2", size=None)),
              servers(server("s1", "i1"), server("s2", "gone")), volumes())
    u.to_parquet(tmp_path / "u.parquet", index=False)
    back = pd.read_parquet(tmp_path / "u.parquet")
    for col in COLUMNS:
        if not objects(DTYPES[col]):
            assert back[col].dtype == DTYPES[col], col
    assert [list(x) for x in back["reasons"]] == u["reasons"].tolist()
    assert back["verdict"].tolist() == ["in use", "unused"]
    assert back.attrs["imgframe"]["scope"] == u.attrs["imgframe"]["scope"]
    pd.testing.assert_frame_equal(missing_servers(back), missing_servers(u))


# -- refused up front ---------------------------------------------------------------------

def test_bad_arguments_are_refused_naming_them():
    imgs, srv = images(image("i1")), servers()
    with pytest.raises(InvalidQueryError, match="^images="):
        usage([{"id": "i1"}], srv)
    with pytest.raises(InvalidQueryError, match="^servers=.*image_id"):
        usage(imgs, srv.drop(columns="image_id"))
    with pytest.raises(InvalidQueryError, match="^volumes="):
        usage(imgs, srv, pd.DataFrame({"id": []}))
    with pytest.raises(InvalidQueryError, match="^assume_cells_up="):
        usage(imgs, srv, assume_cells_up="yes")
    with pytest.raises(InvalidQueryError, match="^images=.*null id"):
        usage(images(image(None)), srv)
    with pytest.raises(InvalidQueryError, match="^result="):
        missing_servers(imgs)


# -- properties ----------------------------------------------------------------------------

IDS = ["i0", "i1", "i2", "i3"]
_status = st.sampled_from(S.STATUSES)
_image = st.fixed_dictionaries({
    "visibility": st.sampled_from(["private", "public", "shared", "community", None]),
    "owner": st.sampled_from([P1, P2, None]),
    "parent": st.sampled_from([None, "s0", "s1", "gone"]),
})
_server = st.tuples(st.sampled_from(IDS + ["other", ""]), _status,
                    st.sampled_from([P1, P2]))
_scope = st.fixed_dictionaries({
    "present": st.booleans(), "every_page": st.booleans(), "soft_deleted": st.booleans(),
    "cells": st.sampled_from(["up", "down", "unverified", None]),
    "all_projects": st.booleans(), "volumes": st.sampled_from([None, "none", "partial",
                                                               "complete"]),
    "assume": st.booleans()})


def build(imgs, srvs, vols, sc):
    img_rows = []
    for iid, spec in zip(IDS, imgs, strict=False):
        meta = {"image_type": "snapshot", "instance_uuid": spec["parent"]} \
            if spec["parent"] else {}
        img_rows.append(image(iid, visibility=spec["visibility"], owner=spec["owner"],
                              metadata=meta))
    scope = Scope("servers", "nova", projects=None if sc["all_projects"] else (P1,),
                  all_projects=sc["all_projects"], every_page=sc["every_page"],
                  cells=sc["cells"], soft_deleted=sc["soft_deleted"]) \
        if sc["present"] else None
    srv = servers(*[server(f"s{k}", img, status=stat, project=proj)
                    for k, (img, stat, proj) in enumerate(srvs)], scope=scope)
    vol = None
    if sc["volumes"] is not None:
        vscope = None if sc["volumes"] == "none" else Scope(
            "volumes", "cinder", projects=None if sc["all_projects"] else (P1,),
            all_projects=sc["all_projects"], every_page=sc["volumes"] == "complete")
        vol = volumes(*[volume(f"v{k}", t) for k, t in enumerate(vols)], scope=vscope)
    return images(*img_rows), srv, vol


def incomplete(sc) -> bool:
    cells_ok = sc["cells"] in ("up", None) or (sc["assume"] and sc["cells"] == "unverified")
    return (not sc["present"] or not sc["every_page"] or not sc["soft_deleted"]
            or not cells_ok or sc["volumes"] != "complete")


PROPS = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(st.lists(_image, min_size=1, max_size=4), st.lists(_server, max_size=5),
       st.lists(st.sampled_from(IDS + [None]), max_size=3), _scope)
def test_properties_of_verdicts(imgs, srvs, vols, sc):
    im, srv, vol = build(imgs, srvs, vols, sc)
    u = usage(im, srv, vol, assume_cells_up=sc["assume"])
    refs = u["servers"].fillna(0) + u["volumes"].fillna(0) + u["images"]
    assert ((u["verdict"] == "in use") == (refs > 0)).all()
    if incomplete(sc):   # never unused when any part of the scope is incomplete
        assert not (u["verdict"] == "unused").any()
    servers_complete = sc["present"] and sc["every_page"] and sc["soft_deleted"] and (
        sc["cells"] in ("up", None) or (sc["assume"] and sc["cells"] == "unverified"))
    if not servers_complete:
        assert u["orphan"].isna().all()
    else:
        assert u["orphan"][im["owner"].eq(P1).fillna(False).to_numpy()].notna().all()
    for reasons in u["reasons"]:
        assert reasons and all(code in REASONS for code in codes(reasons))
    assert (u.loc[u["verdict"] == "unused", "reasons"].map(lambda r: r[0])
            == "no_referrer").all()
    assert u["referrers"].map(len).tolist() == refs.astype(int).tolist()


@PROPS
@given(st.lists(_image, min_size=1, max_size=4), st.lists(_server, max_size=4),
       st.lists(st.sampled_from(IDS + [None]), max_size=3), _scope,
       st.sampled_from(IDS), st.sampled_from([s for s in S.STATUSES if s != "DELETED"]))
def test_adding_a_referrer_never_takes_in_use_away(imgs, srvs, vols, sc, target, status):
    im, srv, vol = build(imgs, srvs, vols, sc)
    before = usage(im, srv, vol, assume_cells_up=sc["assume"])
    im2, srv2, vol2 = build(imgs, srvs + [(target, status, P2)], vols, sc)
    after = usage(im2, srv2, vol2, assume_cells_up=sc["assume"])
    was = before["verdict"] == "in use"
    assert (after.loc[was, "verdict"] == "in use").all()
    if target in set(im["id"]):
        assert row(after, target)["verdict"] == "in use"


def test_property_values_of_any_json_type_do_not_break_the_classification():
    odd = images(image("a", metadata={"__whole_image": ["x"], "bdm_v2": {"y": 1},
                                      "image_type": 3, "instance_uuid": None,
                                      "__data_origin": 5}))
    assert image_kinds(odd)["kind"].tolist() == ["image"]


def test_frames_of_every_image_source_as_the_loaders_build_them():
    from imgframe.frame import frame_from_pages
    from imgframe.sources import glance, ims
    from imgframe.sources import nova as nova_source

    t = "2024-01-01T10:00:00Z"
    nova_item = {"id": "n1", "name": "snap", "status": "ACTIVE", "progress": 100,
                 "created": t, "updated": t, "minRam": 0, "minDisk": 0,
                 "OS-EXT-IMG-SIZE:size": 5, "server": {"id": "s1", "links": []},
                 "metadata": {"image_type": "snapshot", "instance_uuid": "s1"}, "links": []}
    glance_item = {"id": "g1", "name": "vbs", "status": "active", "visibility": "private",
                   "owner": P1, "created_at": t, "updated_at": t, "size": 0,
                   "min_ram": 0, "min_disk": 0, "protected": False, "os_hidden": False,
                   "tags": [], "self": "/v2/images/g1", "schema": "/v2/schemas/image",
                   "bdm_v2": "True", "block_device_mapping": '[{"snapshot_id": "c1"}]'}
    ims_item = {"id": "h1", "name": "from-ecs", "status": "active", "visibility": "private",
                "owner": P1, "created_at": t, "updated_at": t, "min_ram": 0, "min_disk": 0,
                "protected": False, "tags": [], "self": "/v2/images/h1",
                "__image_size": "1024", "__imagetype": "private",
                "__data_origin": "instance,ecs-1"}
    srv = servers(server("s1", "n1"), server("ecs-1", "other"), scope=ADMIN)
    vols = volumes(scope=VOLUMES_ADMIN)
    nova = usage(frame_from_pages([[nova_item]], source=nova_source.SOURCE), srv, vols)
    assert nova["verdict"][0] == "in use" and nova["kind"][0] == "snapshot"
    assert nova["parent_server"][0] == "s1" and not nova["orphan"][0]
    g = usage(frame_from_pages([[glance_item]], source=glance.SOURCE), srv, vols)
    assert g["kind"][0] == "volume-backed snapshot" and g["verdict"][0] == "unused"
    h = usage(frame_from_pages([[ims_item]], source=ims.SOURCE), srv, vols)
    assert h["kind"][0] == "snapshot" and h["parent_server"][0] == "ecs-1"
    assert h["verdict"][0] == "unused" and h["size"][0] == 1024
    assert h["reasons"][0] == ["no_referrer", "parent_present:ecs-1 ACTIVE"]


def test_repeated_image_rows_share_the_verdict():
    imgs = pd.concat([images(image("i1"), image("i2")), images(image("i1"))],
                     ignore_index=True)
    u = usage(imgs, servers(server("s1", "i1")), volumes())
    assert u["id"].tolist() == ["i1", "i2", "i1"]
    assert u["verdict"].tolist() == ["in use", "unused", "in use"]
    assert u["referrers"][0] == u["referrers"][2] == ["s1"]


def test_deleted_servers_kernels_do_not_count_either():
    srv = servers(server("s1", "m1", status="DELETED", **{"OS-EXT-SRV-ATTR:kernel_id": "k1"}),
                  scope=ADMIN)
    u = usage(images(image("k1"), image("m1")), srv, volumes(scope=VOLUMES_ADMIN))
    assert u["verdict"].tolist() == ["unused", "unused"]


def test_each_listing_is_judged_on_its_own_scope():
    # servers of every project, volumes of one: a private image of another project is
    # unknown because of the volumes alone, and says so once
    u = usage(images(image("i1", owner=P2), image("i2")), servers(scope=ADMIN), volumes())
    assert row(u, "i1")["verdict"] == "unknown"
    assert row(u, "i1")["reasons"] == ["volumes_project_not_listed:project-2"]
    assert row(u, "i2")["verdict"] == "unused"


def test_the_join_gives_the_same_answer_whatever_the_string_storage():
    imgs = images(image("i1"), image("i2"), image("i3", metadata={"kernel_id": "i2"}))
    srv = servers(server("s1", "i1"), server("s2", "gone"), scope=ADMIN)
    vols = volumes(volume("v1", "i3"), scope=VOLUMES_ADMIN)
    typed = usage(imgs, srv, vols)
    plain = [f.astype({c: object for c in ("id", "image_id") if c in f}) for f in
             (imgs, srv, vols)]
    for f, orig in zip(plain, (imgs, srv, vols), strict=True):
        f.attrs = orig.attrs
    objects_ = usage(*plain)
    pd.testing.assert_frame_equal(objects_, typed)
    pd.testing.assert_frame_equal(missing_servers(objects_), missing_servers(typed))
    assert typed["verdict"].tolist() == ["in use", "in use", "in use"]
