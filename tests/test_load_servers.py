"""imgframe.load_servers over real HTTP against the embedded Nova and ECS: every server
once against the server's own records, paging edges, faults, and the scope it records."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import pytest

import imgframe
from imgframe.errors import APIError, AuthError, InvalidQueryError
from imgframe.export import json_text
from imgframe.server import DEFAULT_PROJECT_ID, Faults, sample_cloud, sample_inventory
from imgframe.sources import servers as S
from imgframe.sources.resources import Scope

T, A = "member-token", "admin-token"
ME = DEFAULT_PROJECT_ID
AK, SK = "AKSERVERS000000001", "servers-secret-key-0123"
FAST = {"backoff": 0.01, "budget": 5, "progress": False}
HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None


@pytest.fixture(scope="module")
def records():
    return sample_inventory(300, seed=5)


@pytest.fixture(scope="module")
def srv(records, module_image_server):
    return module_image_server(records, cloud=sample_cloud(records, seed=5), token=T,
                               admin_token=A, aksk={AK: SK}, max_limit=25)


def ids_of(cloud, where=lambda s: True) -> set:
    return {s["id"] for s in cloud.servers if where(s)}


def own(s) -> bool:
    return s["project_id"] == ME


def test_member_gets_every_own_server_once_with_soft_deleted(srv):
    df = imgframe.load_servers(srv.endpoint, token=T, **FAST)
    assert df["id"].is_unique and set(df["id"]) == ids_of(srv.cloud, own)
    assert {"SOFT_DELETED", "DELETED"} <= set(df["status"])
    assert list(df.columns[:len(S.COLUMNS)]) == S.COLUMNS
    assert {c: df[c].dtype for c in S.COLUMNS} == S.DTYPES
    scope = Scope.of(df)
    assert scope.projects == (ME,) and not scope.all_projects and scope.admin is False
    assert scope.every_page and scope.soft_deleted and scope.deleted
    assert scope.cells == "unverified"   # a member cannot prove every cell answered
    meta = df.attrs["imgframe"]
    assert meta["resource"] == "servers" and meta["pages"] >= len(df) // 25
    assert T not in repr(meta)
    by_id = {s["id"]: s for s in srv.cloud.servers}
    for row in df.head(40).itertuples():
        rec = by_id[row.id]
        assert row.status == rec["status"] and row.project_id == rec["project_id"]
        assert (row.boot == "volume") == pd.isna(row.image_id)


def test_without_soft_deleted_the_scope_says_so(srv):
    df = imgframe.load_servers(srv.endpoint, token=T, soft_deleted=False, check_cells=False,
                               **FAST)
    live = ids_of(srv.cloud, lambda s: own(s) and s["status"] not in ("DELETED",
                                                                      "SOFT_DELETED"))
    assert set(df["id"]) == live and len(df) == len(live)
    scope = Scope.of(df)
    assert not scope.soft_deleted and not scope.deleted and scope.admin is None


def test_admin_all_projects_every_server_and_cells_up(srv):
    df = imgframe.load_servers(srv.endpoint, token=A, all_projects=True, **FAST)
    assert df["id"].is_unique and set(df["id"]) == ids_of(srv.cloud)
    assert df["project_id"].nunique() > 1
    scope = Scope.of(df)
    assert scope.all_projects and scope.projects is None and scope.admin is True
    assert scope.cells == "up" and scope.every_page


def test_non_admin_all_projects_is_a_clear_error(srv):
    with pytest.raises(AuthError, match="all_projects=True needs the admin role") as info:
        imgframe.load_servers(srv.endpoint, token=T, all_projects=True, **FAST)
    assert info.value.status == 403 and T not in str(info.value)


def test_bad_parameters_refused_before_anything_is_sent(srv):
    before = srv.stats.requests if hasattr(srv.stats, "requests") else None
    for kw, name in (({"page_size": 0}, "page_size"), ({"source": "glance"}, "source"),
                     ({"all_projects": "yes"}, "all_projects"),
                     ({"max_items": -1}, "max_items"), ({"marker": "a b"}, "marker")):
        with pytest.raises(InvalidQueryError) as info:
            imgframe.load_servers(srv.endpoint, token=T, **kw)
        assert info.value.parameter == name
    with pytest.raises(InvalidQueryError) as info:
        imgframe.load_servers("ftp://nowhere", token=T)
    assert info.value.parameter == "compute_endpoint"
    with pytest.raises(InvalidQueryError) as info:
        imgframe.load_servers(srv.ecs_endpoint, ME, source="ecs", all_projects=True, ak=AK,
                              sk=SK)
    assert info.value.parameter == "all_projects"
    if before is not None:
        assert srv.stats.requests == before


def test_exact_multiple_ends_on_an_empty_page(records, image_server):
    s = image_server(records, cloud=sample_cloud(records, seed=5), token=T, max_limit=25)
    live = ids_of(s.cloud, lambda r: own(r) and r["status"] not in ("DELETED",
                                                                    "SOFT_DELETED"))
    size = next(d for d in range(2, len(live) + 1) if len(live) % d == 0 and d <= 25)
    df = imgframe.load_servers(s.endpoint, token=T, soft_deleted=False, check_cells=False,
                               page_size=size, **FAST)
    assert set(df["id"]) == live and len(df) == len(live)
    meta = df.attrs["imgframe"]
    assert meta["requests"] == len(live) // size + 1   # the last, empty page ends it
    assert Scope.of(df).every_page


def test_no_limit_still_pages_at_max_limit(records, image_server):
    s = image_server(records, cloud=sample_cloud(records, seed=5), token=T, max_limit=7)
    df = imgframe.load_servers(s.endpoint, token=T, check_cells=False, **FAST)
    assert set(df["id"]) == ids_of(s.cloud, own)   # limit=1000 capped at 7: every page read


def test_vanished_marker_steps_back(records, image_server):
    s = image_server(records, cloud=sample_cloud(records, seed=5), token=T, max_limit=25)
    gone = []

    def on_page(progress):
        if progress.pages == 1:   # the marker server is deleted for good, mid-listing
            first = sorted((r for r in s.cloud.servers if own(r) and r["status"] not in
                            ("DELETED", "SOFT_DELETED")),
                           key=lambda r: (r["created_at"], r["id"]), reverse=True)[9]
            s.cloud.servers.remove(first)
            s.cloud.index()
            gone.append(first["id"])

    # max_items: no prefetch, so the second page is asked for after the removal
    df = imgframe.load_servers(s.endpoint, token=T, soft_deleted=False, check_cells=False,
                               page_size=10, max_items=10_000, on_page=on_page, **FAST)
    live = ids_of(s.cloud, lambda r: own(r) and r["status"] not in ("DELETED",
                                                                    "SOFT_DELETED"))
    assert set(df["id"]) == live | set(gone) and df["id"].is_unique
    assert df.attrs["imgframe"]["marker_recoveries"] == 1


def test_a_503_is_retried(records, image_server):
    s = image_server(records, cloud=sample_cloud(records, seed=5), token=T, max_limit=25,
                     faults=Faults(schedule={2: 503}, retry_after="0"))
    df = imgframe.load_servers(s.endpoint, token=T, check_cells=False, **FAST)
    assert set(df["id"]) == ids_of(s.cloud, own)
    assert df.attrs["imgframe"]["retries"] >= 1 and Scope.of(df).every_page


def test_a_persistent_500_gives_partial_and_resume_marker(records, image_server):
    s = image_server(records, cloud=sample_cloud(records, seed=5), token=T, max_limit=25,
                     faults=Faults(schedule={n: 500 for n in range(3, 60)}))
    with pytest.raises(APIError) as info:
        imgframe.load_servers(s.endpoint, token=T, soft_deleted=False, check_cells=False,
                              page_size=10, retries=1, **FAST)
    err = info.value
    assert err.status == 500 and len(err.partial) == 20
    assert err.resume_marker == err.partial["id"].iloc[-1]
    assert not Scope.of(err.partial).every_page and err.partial.attrs["imgframe"]["partial"]
    s.faults = Faults()
    rest = imgframe.load_servers(s.endpoint, token=T, soft_deleted=False, check_cells=False,
                                 page_size=10, marker=err.resume_marker, **FAST)
    assert not Scope.of(rest).every_page   # resumed: the earlier pages are not in it
    both = pd.concat([err.partial, rest], ignore_index=True)
    live = ids_of(s.cloud, lambda r: own(r) and r["status"] not in ("DELETED",
                                                                    "SOFT_DELETED"))
    assert both["id"].is_unique and set(both["id"]) == live


def test_down_cell_noticed_for_admin_and_not_verifiable_for_member(records, image_server):
    s = image_server(records, cloud=sample_cloud(records, seed=5), token=T, admin_token=A,
                     max_limit=25, down_cells=("cell2",))
    admin = imgframe.load_servers(s.endpoint, token=A, all_projects=True, **FAST)
    assert Scope.of(admin).cells == "down" and Scope.of(admin).admin is True
    assert any("UNKNOWN" in n for n in Scope.of(admin).notes)
    member = imgframe.load_servers(s.endpoint, token=T, **FAST)
    assert Scope.of(member).cells in ("down", "unverified")   # never "up"
    up = image_server(records, cloud=sample_cloud(records, seed=5), token=T, max_limit=25)
    member_up = imgframe.load_servers(up.endpoint, token=T, **FAST)
    assert Scope.of(member_up).cells == "unverified"
    assert any("not verifiable" in n for n in Scope.of(member_up).notes)


def test_ecs_with_aksk(srv):
    df = imgframe.load_servers(srv.ecs_endpoint, ME, source="ecs", ak=AK, sk=SK,
                               page_size=10, **FAST)
    listed = ids_of(srv.cloud, lambda s: own(s) and s["status"] not in ("DELETED",
                                                                        "SOFT_DELETED"))
    assert df["id"].is_unique and set(df["id"]) == listed
    assert {c: df[c].dtype for c in S.COLUMNS} == S.DTYPES
    scope = Scope.of(df)
    assert scope.source == "ecs" and scope.cells is None and scope.projects == (ME,)
    assert scope.every_page and SK not in repr(df.attrs)
    assert df["root_volume_id"].notna().any()


def test_frames_survive_concat_merge_and_parquet(srv, tmp_path):
    member = imgframe.load_servers(srv.endpoint, token=T, check_cells=False, **FAST)
    admin = imgframe.load_servers(srv.endpoint, token=A, all_projects=True,
                                  check_cells=False, **FAST)
    both = pd.concat([member, admin], ignore_index=True)
    assert {c: both[c].dtype for c in S.COLUMNS} == S.DTYPES
    joined = member.merge(admin[["id", "status"]], on="id", suffixes=("", "_admin"))
    assert len(joined) == len(member) and (joined["status"] == joined["status_admin"]).all()
    if not HAVE_PYARROW:
        return
    out = admin.copy()
    for col in ("volume_ids", "metadata"):
        out[col] = pd.array([None if x is None else json_text(x) for x in out[col]],
                            dtype="string")
    out.to_parquet(tmp_path / "servers.parquet", index=False)
    back = pd.read_parquet(tmp_path / "servers.parquet")
    for col in ("volume_ids", "metadata"):
        back[col] = pd.Series([None if pd.isna(x) else json.loads(x) for x in back[col]],
                              dtype=object)
    pd.testing.assert_frame_equal(back, admin, check_like=False)


def test_from_a_clouds_yaml(records, image_server, tmp_path, monkeypatch):
    s = image_server(records, cloud=sample_cloud(records, seed=5), max_limit=25,
                     users={"alice": "pw-alice", "root": "pw-root"}, admins=("root",))
    (tmp_path / "clouds.yaml").write_text(f"""
clouds:
  member:
    auth: {{auth_url: "{s.auth_url}", username: alice, password: pw-alice,
            project_id: {s.project_id}, user_domain_id: default}}
    region_name: RegionOne
  admin:
    auth: {{auth_url: "{s.auth_url}", username: root, password: pw-root,
            project_id: {s.project_id}, user_domain_id: default}}
    region_name: RegionOne
""")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    for var in ("OS_CLOUD", "OS_AUTH_URL", "OS_PASSWORD", "OS_TOKEN", "OS_AUTH_TYPE"):
        monkeypatch.delenv(var, raising=False)
    member = imgframe.load_servers(cloud="member", **FAST)
    assert set(member["id"]) == ids_of(s.cloud, own)
    admin = imgframe.load_servers(cloud="admin", all_projects=True, **FAST)
    assert set(admin["id"]) == ids_of(s.cloud) and Scope.of(admin).cells == "up"
    volumes = imgframe.load_volumes(cloud="admin", all_projects=True, **FAST)
    assert set(volumes["id"]) == {v["id"] for v in s.cloud.volumes}
    assert "pw-root" not in repr(admin.attrs) + repr(volumes.attrs)
    with pytest.raises(InvalidQueryError) as info:
        imgframe.load_servers(s.endpoint, cloud="member")
    assert info.value.parameter == "compute_endpoint"


def test_usage_end_to_end_admin_complete_member_never_unused(srv):
    images = imgframe.load(srv.glance_endpoint, source="glance", token=A, progress=False)
    servers = imgframe.load_servers(srv.endpoint, token=A, all_projects=True, **FAST)
    volumes = imgframe.load_volumes(srv.volume_endpoint, token=A, all_projects=True, **FAST)
    complete = imgframe.usage(images, servers, volumes)
    assert (complete["verdict"] == "unused").any()
    assert (complete["verdict"] == "in use").any()
    used = {i for ids in servers.loc[servers["status"] != "DELETED", "image_id"].dropna()
            for i in [ids]}
    assert not complete.loc[complete["id"].isin(used), "verdict"].eq("unused").any()
    m_images = imgframe.load(srv.glance_endpoint, source="glance", token=T, progress=False)
    m_servers = imgframe.load_servers(srv.endpoint, token=T, **FAST)
    m_volumes = imgframe.load_volumes(srv.volume_endpoint, token=T, **FAST)
    member = imgframe.usage(m_images, m_servers, m_volumes)
    assert len(member) and not (member["verdict"] == "unused").any()
    assert (member["verdict"] == "unknown").any()
