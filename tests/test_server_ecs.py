"""imgframe.server's Huawei ECS ``/v1/{project_id}/cloudservers/detail`` route over real HTTP
(reference usage.md section 1.8), over the same sample cloud as Nova's servers."""

from __future__ import annotations

import re

import pytest
import requests

from imgframe import aksk
from imgframe.server import DEFAULT_PROJECT_ID, sample_cloud, sample_inventory

T, A = "member-token", "admin-token"
H, AH = {"X-Auth-Token": T}, {"X-Auth-Token": A}
ME = DEFAULT_PROJECT_ID
AK, SK = "HPUAEXAMPLEAK0000001", "exampleSecretKey0000000000000000000000001"
NAIVE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


@pytest.fixture(scope="module")
def cloud_and_records():
    records = sample_inventory(400, seed=3)
    return sample_cloud(records, seed=3), records


@pytest.fixture(scope="module")
def cloud(cloud_and_records):
    return cloud_and_records[0]


@pytest.fixture(scope="module")
def srv(cloud_and_records, module_image_server):
    cloud, records = cloud_and_records
    return module_image_server(records, cloud=cloud, token=T, admin_token=A, aksk={AK: SK},
                               down_cells=("cell2",))


def url(srv, project=ME):
    return f"{srv.ecs_endpoint}/v1/{project}/cloudservers/detail"


def get(srv, headers=H, **params):
    return requests.get(url(srv), params=params, headers=headers, timeout=30)


def expected(cloud, where=lambda s: True):
    rows = [s for s in cloud.servers if s["project_id"] == ME
            and s["status"] not in ("DELETED", "SOFT_DELETED") and where(s)]
    return [s["id"] for s in sorted(rows, key=lambda s: (s["created_at"], s["id"]),
                                    reverse=True)]


def test_default_page_is_25_with_the_total_count(srv, cloud):
    want = expected(cloud)
    body = get(srv).json()
    assert body["count"] == len(want) > 25
    assert [s["id"] for s in body["servers"]] == want[:25]
    assert set(body) == {"count", "servers"}                      # no links


def test_offset_is_a_page_number(srv, cloud):
    want = expected(cloud)
    assert [s["id"] for s in get(srv, offset=0, limit=10).json()["servers"]] == want[:10]
    assert [s["id"] for s in get(srv, offset=1, limit=10).json()["servers"]] == want[:10]
    assert [s["id"] for s in get(srv, offset=2, limit=10).json()["servers"]] == want[10:20]
    pages, page = [], 1
    while True:
        got = [s["id"] for s in get(srv, offset=page, limit=7).json()["servers"]]
        if not got:
            break
        pages += got
        page += 1
    assert pages == want


def test_marker_paging_and_errors(srv, cloud):
    want = expected(cloud)
    got = [s["id"] for s in get(srv, marker=want[4], limit=3).json()["servers"]]
    assert got == want[5:8]
    r = get(srv, marker="bogus")
    assert r.status_code == 400 and r.json()["error"]["code"].startswith("Ecs.")
    assert get(srv, limit=1000).status_code == 200
    assert get(srv, limit=1001).status_code == 403
    assert get(srv, limit="x").status_code == 400


def test_down_cells_do_not_apply_and_soft_deleted_are_not_listed(srv, cloud):
    ids = [s["id"] for s in get(srv, limit=1000).json()["servers"]]
    assert any(cloud.server_by_id[i]["cell"] == "cell2" for i in ids)
    assert not any(cloud.server_by_id[i]["status"] in ("SOFT_DELETED", "DELETED") for i in ids)


def test_deleted_servers_only_for_an_admin(srv, cloud):
    r = get(srv, status="DELETED")
    assert r.status_code == 403
    deleted = [s["id"] for s in get(srv, headers=AH, status="DELETED",
                                    limit=1000).json()["servers"]]
    assert deleted and deleted == [
        s["id"] for s in sorted((s for s in cloud.servers if s["project_id"] == ME
                                 and s["status"] == "DELETED"),
                                key=lambda s: (s["created_at"], s["id"]), reverse=True)]


def test_server_fields(srv, cloud):
    items = get(srv, limit=1000).json()["servers"]
    volume_backed = 0
    for item in items:
        rec = cloud.server_by_id[item["id"]]
        assert item["tenant_id"] == ME and item["status"] == rec["status"]
        assert item["metadata"]["metering.image_id"] == item["image"]["id"]
        assert set(item["flavor"]) == {"id", "name", "disk", "vcpus", "ram"}
        assert all(isinstance(v, str) for v in item["flavor"].values())
        launched = item["OS-SRV-USG:launched_at"]
        assert launched == "" or NAIVE.match(launched)
        boots = [v for v in item["os-extended-volumes:volumes_attached"]
                 if v["bootIndex"] == "0"]
        if rec["image_ref"]:
            assert item["image"]["id"] == rec["image_ref"].rsplit("/", 1)[-1]
        else:
            volume_backed += 1
            assert len(boots) == 1
            root = cloud.volume_by_id[boots[0]["id"]]
            assert item["image"]["id"] == (root["image_metadata"] or {}).get("image_id", "")
        assert {"enterprise_project_id", "sys_tags", "tags", "locked"} <= set(item)
    assert volume_backed


def test_server_id_ignores_other_filters(srv, cloud):
    want = expected(cloud)
    body = get(srv, server_id=f"{want[0]},nope", status="SHUTOFF").json()
    assert [s["id"] for s in body["servers"]] == [want[0], "nope"]
    assert set(body["servers"][1]) == {"id", "fault"}


def test_aksk_and_auth_errors(srv, cloud):
    signed = aksk.sign("GET", url(srv), {"limit": 5}, {}, ak=AK, sk=SK, project_id=ME)
    r = requests.get(signed.url, headers=signed.headers, timeout=10)
    assert r.status_code == 200, r.text
    assert [s["id"] for s in r.json()["servers"]] == expected(cloud)[:5]
    assert not srv.is_admin(None)
    bad = aksk.sign("GET", url(srv), {"limit": 5}, {}, ak=AK, sk="wrong-secret")
    r = requests.get(bad.url, headers=bad.headers, timeout=10)
    assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"
    assert get(srv, headers={}).status_code == 401
    r = requests.get(url(srv, "0123abcd"), headers=H, timeout=10)
    assert r.status_code == 403
