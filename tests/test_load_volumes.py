"""imgframe.load_volumes over real HTTP against the embedded Cinder: every volume once
against the server's own records, paging edges, faults, and the scope it really got."""

from __future__ import annotations

import pandas as pd
import pytest

import imgframe
from imgframe.errors import APIError, InvalidQueryError
from imgframe.server import DEFAULT_PROJECT_ID, Faults, sample_cloud, sample_inventory
from imgframe.sources import volumes as V
from imgframe.sources.resources import Scope

T, A = "member-token", "admin-token"
ME = DEFAULT_PROJECT_ID
FAST = {"backoff": 0.01, "budget": 5, "progress": False}


@pytest.fixture(scope="module")
def records():
    return sample_inventory(300, seed=5)


@pytest.fixture(scope="module")
def srv(records, module_image_server):
    return module_image_server(records, cloud=sample_cloud(records, seed=5), token=T,
                               admin_token=A, max_limit=25)


def ids_of(cloud, where=lambda v: True) -> set:
    return {v["id"] for v in cloud.volumes if where(v)}


def own(v) -> bool:
    return v["project_id"] == ME


def test_member_gets_every_own_volume_once(srv):
    df = imgframe.load_volumes(srv.volume_endpoint, token=T, page_size=10, **FAST)
    assert df["id"].is_unique and set(df["id"]) == ids_of(srv.cloud, own)
    assert list(df.columns[:len(V.COLUMNS)]) == V.COLUMNS
    assert {c: df[c].dtype for c in V.COLUMNS} == V.DTYPES
    by_id = {v["id"]: v for v in srv.cloud.volumes}
    for row in df.itertuples():
        assert row.project_id == by_id[row.id]["project_id"]
    assert df["image_id"].notna().any() and df["attached_servers"].map(len).gt(0).any()
    scope = Scope.of(df)
    assert scope.resource == "volumes" and scope.projects == (ME,)
    assert not scope.all_projects and scope.every_page and scope.cells is None


def test_admin_all_projects_every_volume(srv):
    df = imgframe.load_volumes(srv.volume_endpoint, token=A, all_projects=True, **FAST)
    assert df["id"].is_unique and set(df["id"]) == ids_of(srv.cloud)
    scope = Scope.of(df)
    assert scope.all_projects and scope.projects is None and scope.admin is True


def test_member_all_projects_is_recorded_honestly(srv):
    """Cinder ignores a non-admin's all_tenants without an error: the scope recorded is
    the one the items show, never every project."""
    df = imgframe.load_volumes(srv.volume_endpoint, token=T, all_projects=True, **FAST)
    assert set(df["id"]) == ids_of(srv.cloud, own)
    scope = Scope.of(df)
    assert not scope.all_projects and scope.projects == (ME,)
    assert any("ignores all_tenants" in n for n in scope.notes)
    assert df.attrs["imgframe"]["queries"][0]["all_tenants"] == "1"


def test_endpoint_and_parameters_checked_first(srv):
    before = srv.stats.requests
    with pytest.raises(InvalidQueryError) as info:
        imgframe.load_volumes(f"{srv.url}/volume/v3", token=T)
    assert info.value.parameter == "project_id"
    with pytest.raises(InvalidQueryError) as info:
        imgframe.load_volumes("not a url", token=T)
    assert info.value.parameter == "volume_endpoint"
    with pytest.raises(InvalidQueryError) as info:
        imgframe.load_volumes(srv.volume_endpoint, token=T, page_size=1001)
    assert info.value.parameter == "page_size"
    assert srv.stats.requests == before
    root = imgframe.load_volumes(f"{srv.url}/volume", ME, token=T, **FAST)
    assert set(root["id"]) == ids_of(srv.cloud, own)


def test_exact_multiple_ends_on_an_empty_page(records, image_server):
    s = image_server(records, cloud=sample_cloud(records, seed=5), token=T, max_limit=25)
    mine = ids_of(s.cloud, own)
    size = next(d for d in range(2, 26) if len(mine) % d == 0)
    df = imgframe.load_volumes(s.volume_endpoint, token=T, page_size=size, **FAST)
    assert set(df["id"]) == mine and len(df) == len(mine)
    assert df.attrs["imgframe"]["requests"] == len(mine) // size + 1


def test_vanished_marker_is_a_404_and_steps_back(records, image_server):
    s = image_server(records, cloud=sample_cloud(records, seed=5), token=T, max_limit=25)
    gone = []

    def on_page(progress):
        if progress.pages == 1:
            mine = sorted((v for v in s.cloud.volumes if own(v)),
                          key=lambda v: (v["created_at"], v["id"]), reverse=True)
            s.cloud.volumes.remove(mine[4])
            s.cloud.index()
            gone.append(mine[4]["id"])

    df = imgframe.load_volumes(s.volume_endpoint, token=T, page_size=5, max_items=10_000,
                               on_page=on_page, **FAST)
    assert df["id"].is_unique and set(df["id"]) == ids_of(s.cloud, own) | set(gone)
    assert df.attrs["imgframe"]["marker_recoveries"] == 1


def test_a_503_is_retried_and_a_persistent_500_gives_partial(records, image_server):
    s = image_server(records, cloud=sample_cloud(records, seed=5), token=T, max_limit=25,
                     faults=Faults(schedule={2: 503}, retry_after="0"))
    df = imgframe.load_volumes(s.volume_endpoint, token=T, page_size=10, **FAST)
    assert set(df["id"]) == ids_of(s.cloud, own) and df.attrs["imgframe"]["retries"] >= 1
    s.faults = Faults(schedule={n: 500 for n in range(2, 40)})
    with pytest.raises(APIError) as info:
        imgframe.load_volumes(s.volume_endpoint, token=T, page_size=10, retries=1, **FAST)
    err = info.value
    assert err.status == 500 and len(err.partial) == 10
    assert err.resume_marker == err.partial["id"].iloc[-1]
    assert not Scope.of(err.partial).every_page
    s.faults = Faults()
    rest = imgframe.load_volumes(s.volume_endpoint, token=T, page_size=10,
                                 marker=err.resume_marker, **FAST)
    both = pd.concat([err.partial, rest], ignore_index=True)
    assert both["id"].is_unique and set(both["id"]) == ids_of(s.cloud, own)
    assert {c: both[c].dtype for c in V.COLUMNS} == V.DTYPES
