"""imgframe.server's Cinder ``/v3/{project_id}/volumes[/detail]`` route over real HTTP
(reference usage.md section 2.1), over the same sample cloud as the servers."""

from __future__ import annotations

import re

import pytest
import requests

from imgframe.server import DEFAULT_PROJECT_ID, Faults, sample_cloud, sample_inventory

T, A = "member-token", "admin-token"
H, AH = {"X-Auth-Token": T}, {"X-Auth-Token": A}
ME = DEFAULT_PROJECT_ID
MAX = 20
NAIVE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


@pytest.fixture(scope="module")
def cloud_and_records():
    records = sample_inventory(500, seed=8)
    return sample_cloud(records, seed=8), records


@pytest.fixture(scope="module")
def cloud(cloud_and_records):
    return cloud_and_records[0]


@pytest.fixture(scope="module")
def srv(cloud_and_records, module_image_server):
    cloud, records = cloud_and_records
    return module_image_server(records, cloud=cloud, token=T, admin_token=A, max_limit=MAX)


def get(srv, path="volumes/detail", headers=H, **params):
    return requests.get(f"{srv.volume_endpoint}/{path}", params=params, headers=headers,
                        timeout=30)


def walk(srv, path="volumes/detail", headers=H, **params):
    url, out, sizes = f"{srv.volume_endpoint}/{path}", [], []
    while url:
        r = requests.get(url, params=params, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        sizes.append(len(body["volumes"]))
        out += [v["id"] for v in body["volumes"]]
        links = body.get("volumes_links") or []
        url, params = (links[0]["href"], None) if links else (None, None)
    return out, sizes


def expected(cloud, where=lambda v: v["project_id"] == ME):
    rows = [v for v in cloud.volumes if where(v)]
    return [v["id"] for v in sorted(rows, key=lambda v: (v["created_at"], v["id"]),
                                    reverse=True)]


def test_default_is_one_max_limit_page_and_links_walk_every_own_volume(srv, cloud):
    want = expected(cloud)
    assert len(want) > MAX
    first = get(srv).json()
    assert len(first["volumes"]) == MAX
    assert first["volumes_links"][0]["rel"] == "next"
    ids, sizes = walk(srv, limit=6)
    assert ids == want and max(sizes) == 6 and sizes[-1] < 6


def test_exact_multiple_ends_on_an_empty_page(srv, cloud):
    want = expected(cloud)
    limit = next(k for k in range(MAX, 1, -1) if len(want) % k == 0)
    ids, sizes = walk(srv, limit=limit)
    assert ids == want and sizes[-1] == 0


def test_with_count_from_3_45(srv, cloud):
    want = expected(cloud)
    headers = {**H, "OpenStack-API-Version": "volume 3.45"}
    body = get(srv, headers=headers, with_count="true", limit=MAX).json()
    assert body["count"] == len(want)
    ids, sizes = walk(srv, headers=headers, with_count="true", limit=7)
    assert ids == want and sizes[-1] == 0
    assert "count" not in get(srv, with_count="true").json()          # 3.0


def test_unknown_marker_is_404_and_limit_errors_are_400(srv, cloud):
    r = get(srv, marker="bogus")
    assert r.status_code == 404
    assert r.json() == {"itemNotFound": {"code": 404,
                                         "message": "Volume bogus could not be found."}}
    foreign = next(v for v in cloud.volumes if v["project_id"] != ME)
    assert get(srv, marker=foreign["id"]).status_code == 404          # not visible
    assert get(srv, headers=AH, marker=foreign["id"], all_tenants="1").status_code == 200
    assert get(srv, limit="abc").json() == {"badRequest": {
        "code": 400, "message": "limit param must be an integer"}}
    assert get(srv, limit="-2").json()["badRequest"]["message"] == "limit param must be positive"
    assert get(srv, limit="0").json() == {"volumes": []}


def test_all_tenants_is_silently_ignored_for_a_member(srv, cloud):
    assert walk(srv, all_tenants="1")[0] == expected(cloud)
    everything = walk(srv, headers=AH, all_tenants="1")[0]
    assert everything == expected(cloud, lambda v: True)
    assert len({cloud.volume_by_id[i]["project_id"] for i in everything}) > 1
    assert walk(srv, headers=AH)[0] == expected(cloud)


def test_unknown_filters_dropped_before_3_31_and_400_after(srv, cloud):
    assert walk(srv, glance_metadata="x")[0] == expected(cloud)
    r = get(srv, headers={**H, "OpenStack-API-Version": "volume 3.31"}, glance_metadata="x")
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == \
        "Invalid filters glance_metadata are found in query options."
    member = get(srv, headers={**H, "OpenStack-API-Version": "volume 3.31"}, all_tenants="1")
    assert member.status_code == 200


def test_detail_fields(srv, cloud):
    items = [get(srv, headers=AH, all_tenants="1", limit=MAX, marker=m).json()["volumes"]
             for m in expected(cloud, lambda v: True)[::MAX][:4]]
    seen = [v for page in items for v in page]
    assert any("volume_image_metadata" in v for v in seen)
    assert any("volume_image_metadata" not in v for v in seen)
    for item in seen:
        rec = cloud.volume_by_id[item["id"]]
        assert item["bootable"] == ("true" if rec["bootable"] else "false")
        assert item["os-vol-tenant-attr:tenant_id"] == rec["project_id"]
        assert item["size"] == rec["size"] and item["status"] == rec["status"]
        assert NAIVE.match(item["created_at"]) and NAIVE.match(item["updated_at"])
        assert [a["server_id"] for a in item["attachments"]] == \
            [a["server_id"] for a in rec["attachments"]]
        if rec["image_metadata"]:
            assert item["volume_image_metadata"]["image_id"] == rec["image_metadata"]["image_id"]
            assert all(isinstance(x, str) for x in item["volume_image_metadata"].values())
        assert "os-vol-host-attr:host" in item
    member = get(srv, limit=3).json()["volumes"]
    assert all("os-vol-host-attr:host" not in v for v in member)
    summary = get(srv, "volumes", limit=3).json()["volumes"]
    assert all(set(v) == {"id", "name", "links"} for v in summary)


def test_filters_bootable_and_status(srv, cloud):
    assert walk(srv, bootable="true")[0] == expected(
        cloud, lambda v: v["project_id"] == ME and v["bootable"])
    assert walk(srv, status="available")[0] == expected(
        cloud, lambda v: v["project_id"] == ME and v["status"] == "available")


def test_auth_project_and_faults(cloud_and_records, image_server):
    cloud, records = cloud_and_records
    s = image_server(records, cloud=cloud, token=T, faults=Faults(schedule={1: 502}))
    assert get(s).status_code == 502
    assert get(s, headers={}).status_code == 401
    r = requests.get(f"{s.url}/volume/v3/abc/volumes", headers=H, timeout=10)
    assert r.status_code == 400
    assert get(s).status_code == 200
