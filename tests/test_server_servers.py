"""imgframe.server's Nova ``/servers`` and ``/os-services`` routes over real HTTP (reference
usage.md section 1), and the consistency of the sample cloud behind them."""

from __future__ import annotations

import collections
import datetime as dt
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from imgframe.server import DEFAULT_PROJECT_ID, Faults, sample_cloud, sample_inventory

T, A = "member-token", "admin-token"
H, AH = {"X-Auth-Token": T}, {"X-Auth-Token": A}
ME = DEFAULT_PROJECT_ID
MAX = 25
LAUNCHED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
CREATED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def records():
    return sample_inventory(400, seed=5)


@pytest.fixture(scope="module")
def cloud(records):
    return sample_cloud(records, seed=5)


@pytest.fixture(scope="module")
def srv(records, cloud, module_image_server):
    return module_image_server(records, cloud=cloud, token=T, admin_token=A, max_limit=MAX)


def mv(version, headers=H):
    return {**headers, "OpenStack-API-Version": f"compute {version}"}


def get(srv, path="servers/detail", headers=H, **params):
    return requests.get(f"{srv.endpoint}/{path}", params=params, headers=headers, timeout=30)


def walk(srv, path="servers/detail", headers=H, **params):
    """Follow next links from the first page; returns (ids, page sizes)."""
    url, out, sizes = f"{srv.endpoint}/{path}", [], []
    while url:
        r = requests.get(url, params=params, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        sizes.append(len(body["servers"]))
        out += [s["id"] for s in body["servers"]]
        links = body.get("servers_links") or []
        url, params = (links[0]["href"], None) if links else (None, None)
    return out, sizes


def expected(cloud, where=lambda s: True, states=("DELETED", "SOFT_DELETED"), down=()):
    rows = [s for s in cloud.servers if s["status"] not in states and s["cell"] not in down
            and where(s)]
    return [s["id"] for s in sorted(rows, key=lambda s: (s["created_at"], s["id"]),
                                    reverse=True)]


def own(s):
    return s["project_id"] == ME


def image_id(ref):
    return ref.rstrip("/").rsplit("/", 1)[-1]


# --- the sample cloud


def test_sample_cloud_is_deterministic(records, cloud):
    again = sample_cloud(records, seed=5)
    assert [s["id"] for s in again.servers] == [s["id"] for s in cloud.servers]
    assert [v["id"] for v in again.volumes] == [v["id"] for v in cloud.volumes]
    assert [s["id"] for s in sample_cloud(records, seed=6).servers] != \
        [s["id"] for s in cloud.servers]


def test_every_server_image_is_in_the_catalogue_or_intentionally_missing(srv, cloud):
    catalogue = {img["id"] for img in srv.images}
    booted = [s for s in cloud.servers if s["image_ref"]]
    assert booted and cloud.missing_images
    for s in booted:
        ref = image_id(s["image_ref"])
        assert (ref in catalogue) != (ref in cloud.missing_images), s
    assert any(s["image_ref"].startswith("http") for s in booted)


def test_volume_backed_servers_have_no_image_and_a_bootable_root_volume(cloud):
    vbs = [s for s in cloud.servers if s["image_ref"] == "" and not s["deleted"]]
    assert len(vbs) >= 5
    for s in vbs:
        roots = [v for v in s["volumes"] if v["boot_index"] == 0]
        assert len(roots) == 1, s
        vol = cloud.volume_by_id[roots[0]["id"]]
        assert vol["bootable"] and vol["status"] == "in-use"
        assert [a["server_id"] for a in vol["attachments"]] == [s["id"]]


def test_attachments_point_at_servers_that_list_them(cloud):
    for vol in cloud.volumes:
        assert (vol["status"] == "in-use") == bool(vol["attachments"])
        for att in vol["attachments"]:
            server = cloud.server_by_id[att["server_id"]]
            assert not server["deleted"]
            assert vol["id"] in [v["id"] for v in server["volumes"]]


def test_snapshot_servers_are_alive_soft_deleted_deleted_or_absent(records, cloud):
    fates = collections.Counter()
    for img in records:
        props = img.get("properties") or {}
        if props.get("image_type") not in ("snapshot", "backup"):
            continue
        server = cloud.server_by_id.get(props["instance_uuid"])
        fates["absent" if server is None else server["status"] if server["status"] in
              ("SOFT_DELETED", "DELETED") else "alive"] += 1
    assert {"alive", "SOFT_DELETED", "DELETED", "absent"} <= set(fates), fates


def test_shelved_servers_have_their_shelved_image(srv, cloud):
    shelved = [s for s in cloud.servers if s["status"] in ("SHELVED", "SHELVED_OFFLOADED")]
    assert {s["status"] for s in shelved} == {"SHELVED", "SHELVED_OFFLOADED"}
    images = {img["name"]: img for img in srv.images}
    for s in shelved:
        img = images[f"{s['name']}-shelved"]
        assert img["properties"]["instance_uuid"] == s["id"]
        assert img["properties"]["image_type"] == "snapshot"
        assert img["owner"] == s["project_id"]
    offloaded = [s for s in shelved if s["status"] == "SHELVED_OFFLOADED"]
    assert all(s["host"] is None for s in offloaded)


def test_some_images_are_used_only_through_a_volume(cloud):
    booted = {image_id(s["image_ref"]) for s in cloud.servers if s["image_ref"]}
    through_volume = {v["image_metadata"]["image_id"] for v in cloud.volumes
                      if v["image_metadata"]}
    assert through_volume - booted
    unattached = [v for v in cloud.volumes if v["image_metadata"] and not v["attachments"]]
    assert unattached


def test_servers_span_projects_cells_and_statuses(cloud):
    assert len({s["project_id"] for s in cloud.servers}) == 4
    assert {s["cell"] for s in cloud.servers} == {"cell1", "cell2"}
    assert {"ACTIVE", "SHUTOFF", "ERROR", "BUILD", "SOFT_DELETED", "DELETED", "SHELVED",
            "SHELVED_OFFLOADED"} <= {s["status"] for s in cloud.servers}


# --- paging


def test_no_limit_is_one_max_limit_page_with_a_next_link(srv, cloud):
    body = get(srv).json()
    assert len(body["servers"]) == MAX
    href = body["servers_links"][0]["href"]
    assert href.startswith(f"{srv.endpoint}/servers/detail?")
    assert href.endswith(f"marker={body['servers'][-1]['id']}")


def test_walking_next_links_lists_every_live_own_server_once(srv, cloud):
    ids, sizes = walk(srv)
    assert ids == expected(cloud, own)
    assert all(size == MAX for size in sizes[:-1]) and sizes[-1] < MAX
    limited, sizes = walk(srv, "servers", limit=7)
    assert limited == ids and max(sizes) == 7


def test_exact_multiple_ends_on_an_empty_page(srv, cloud):
    want = expected(cloud, own)
    limit = next(k for k in range(MAX, 1, -1) if len(want) % k == 0)
    ids, sizes = walk(srv, limit=limit)
    assert ids == want
    assert sizes[-1] == 0 and sizes[-2] == limit


def test_limit_rules(srv):
    zero = get(srv, limit=0).json()
    assert zero == {"servers": []}
    assert len(get(srv, limit=1000).json()["servers"]) == MAX
    r = get(srv, limit=-1)
    assert r.status_code == 400
    assert r.json() == {"badRequest": {"code": 400, "message": "Invalid input for query "
                        "parameters limit. Value: -1. '-1' does not match '^[0-9]*$'"}}


def test_unknown_marker_is_400_but_deleted_and_foreign_markers_work(srv, cloud):
    r = get(srv, marker="bogus")
    assert r.status_code == 400
    assert r.json() == {"badRequest": {"code": 400, "message": "marker [bogus] not found"}}
    want = expected(cloud, own)
    for mark in (next(s for s in cloud.servers if s["deleted"]),
                 next(s for s in cloud.servers if s["project_id"] != ME)):
        ids, _ = walk(srv, marker=mark["id"])
        key = (mark["created_at"], mark["id"])
        assert ids == [i for i in want if (cloud.server_by_id[i]["created_at"], i) < key]


# --- scope and deleted servers


def test_all_tenants_is_403_for_a_member_and_every_project_for_an_admin(srv, cloud):
    r = get(srv, all_tenants="1")
    assert r.status_code == 403
    assert r.json() == {"forbidden": {"code": 403, "message": "Policy doesn't allow "
                        "os_compute_api:servers:detail:get_all_tenants to be performed."}}
    ids, _ = walk(srv, headers=AH, all_tenants="true")
    assert ids == expected(cloud)
    assert len({cloud.server_by_id[i]["project_id"] for i in ids}) == 4
    other = next(p for p in cloud.projects if p != ME)
    assert walk(srv, headers=AH, all_tenants="", tenant_id=other)[0] == \
        expected(cloud, lambda s: s["project_id"] == other)
    assert walk(srv, headers=AH, tenant_id=other)[0] == expected(cloud, own)   # ignored
    bogus = get(srv, headers=AH, all_tenants="bogus")
    assert bogus.status_code == 400 and "Unrecognized value 'bogus'" in bogus.text


def test_a_members_deleted_and_soft_deleted_are_dropped(srv, cloud):
    plain = walk(srv)[0]
    assert walk(srv, deleted="true")[0] == plain
    assert walk(srv, soft_deleted="true")[0] == plain


def test_an_admins_deleted_and_soft_deleted(srv, cloud):
    soft = walk(srv, headers=AH, soft_deleted="true")[0]
    assert soft == expected(cloud, own, states=("DELETED",))
    assert any(cloud.server_by_id[i]["status"] == "SOFT_DELETED" for i in soft)
    gone = walk(srv, headers=AH, deleted="true")[0]
    assert gone == expected(cloud, lambda s: own(s) and s["status"] in
                            ("DELETED", "SOFT_DELETED"), states=())
    assert walk(srv, headers=AH, status="SOFT_DELETED")[0] == []


def test_changes_since_shows_soft_deleted_and_deleted_to_anyone(srv, cloud):
    since = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    ids = walk(srv, **{"changes-since": "2026-01-01T00:00:00Z"})[0]
    assert ids == expected(cloud, lambda s: own(s) and s["updated_at"] is not None
                           and s["updated_at"] >= since, states=())
    statuses = {cloud.server_by_id[i]["status"] for i in ids}
    assert {"DELETED", "SOFT_DELETED"} <= statuses
    exact = next(s for s in cloud.servers if own(s) and s["updated_at"])
    stamp = exact["updated_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert exact["id"] in walk(srv, **{"changes-since": stamp})[0]
    r = get(srv, **{"changes-since": "garbage"})
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == (
        "Invalid input for query parameters changes-since. Value: garbage. 'garbage' is "
        "not a 'date-time'")


def test_status_filter(srv, cloud):
    assert walk(srv, status="shutoff")[0] == expected(
        cloud, lambda s: own(s) and s["status"] == "SHUTOFF")
    r = get(srv, status="DELETED")
    assert r.status_code == 403
    assert r.json()["forbidden"]["message"] == "Only administrators may list deleted instances"
    assert walk(srv, headers=AH, status="DELETED")[0] == expected(
        cloud, lambda s: own(s) and s["status"] == "DELETED", states=())
    assert get(srv, status="bogus").json() == {"servers": []}
    r = get(srv, headers=mv("2.38"), status="bogus")
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == "Invalid status value"


def test_image_filter_is_an_exact_match_on_the_stored_ref(srv, cloud):
    url_server = next(s for s in cloud.servers if s["image_ref"].startswith("http")
                      and own(s) and not s["deleted"] and s["status"] != "SOFT_DELETED"
                      and s["cell"] == "cell1")
    target = image_id(url_server["image_ref"])
    listed = walk(srv, image=target)[0]
    assert url_server["id"] not in listed
    assert listed == expected(cloud, lambda s: own(s) and s["image_ref"] == target)
    shown = get(srv, f"servers/{url_server['id']}").json()["server"]
    assert shown["image"]["id"] == target


def test_name_is_a_regex(srv, cloud):
    assert walk(srv, name="^web")[0] == expected(cloud, lambda s: own(s)
                                                 and s["name"].startswith("web"))
    r = get(srv, name="[")
    assert r.status_code == 400 and "'[' is not a 'regex'" in r.text


def test_unknown_parameters_ignored_until_2_75(srv):
    assert get(srv, headers=mv("2.74"), foo="1").status_code == 200
    r = get(srv, headers=mv("2.75"), foo="1")
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == "'foo' does not match any of the regexes: '^_'"
    assert r.headers["OpenStack-API-Version"] == "compute 2.75"


def test_project_mismatch_and_auth(srv):
    r = requests.get(f"{srv.url}/v2.1/0123abcd/servers", headers=H, timeout=10)
    assert r.status_code == 400 and "doesn't match Context's project_id" in r.text
    assert requests.get(f"{srv.endpoint}/servers", timeout=10).status_code == 401
    assert requests.get(f"{srv.url}/v2.1/servers", headers=H, timeout=10).status_code == 200


# --- views


def test_detail_fields_as_nova_shows_them(srv, cloud):
    items = {s["id"]: s for s in get(srv, limit=MAX, headers=mv("2.1")).json()["servers"]}
    items.update({s["id"]: s for s in get(srv, headers=mv("2.1"),
                                          marker=list(items)[-1]).json()["servers"]})
    assert any(s["image"] == "" for s in items.values())
    for sid, item in items.items():
        rec = cloud.server_by_id[sid]
        if rec["image_ref"]:
            ref = image_id(rec["image_ref"])
            assert item["image"] == {"id": ref, "links": [
                {"rel": "bookmark", "href": f"{srv.url}/{ME}/images/{ref}"}]}
        else:
            assert item["image"] == ""
        assert CREATED.match(item["created"]) and CREATED.match(item["updated"])
        launched = item["OS-SRV-USG:launched_at"]
        assert launched is None or LAUNCHED.match(launched)
        assert set(item["flavor"]) == {"id", "links"}
        assert all(set(v) == {"id"} for v in item["os-extended-volumes:volumes_attached"])
        assert [v["id"] for v in item["os-extended-volumes:volumes_attached"]] == \
            [v["id"] for v in rec["volumes"]]
        assert item["tenant_id"] == ME and item["metadata"] == rec["metadata"]
        assert "OS-EXT-SRV-ATTR:host" not in item and "locked" not in item


def test_microversion_gated_fields(srv):
    new = get(srv, headers=mv("2.98", AH), limit=MAX).json()["servers"]
    booted = next(s for s in new if s["image"])
    assert "properties" in booted["image"]
    assert set(new[0]["flavor"]) >= {"vcpus", "ram", "disk", "original_name", "extra_specs"}
    assert "id" not in new[0]["flavor"]
    assert all("delete_on_termination" in v for s in new
               for v in s["os-extended-volumes:volumes_attached"])
    assert {"locked", "tags", "description", "OS-EXT-SRV-ATTR:host",
            "OS-EXT-SRV-ATTR:hostname"} <= set(new[0])
    assert get(srv, headers=mv("2.101")).status_code == 406


def test_index_items_are_id_name_links(srv):
    items = get(srv, "servers", limit=3).json()["servers"]
    assert len(items) == 3 and all(set(i) == {"id", "name", "links"} for i in items)


def test_show_deleted_is_404_soft_deleted_is_200(srv, cloud):
    gone = next(s for s in cloud.servers if own(s) and s["deleted"])
    r = get(srv, f"servers/{gone['id']}", headers=AH)
    assert r.status_code == 404
    assert r.json() == {"itemNotFound": {"code": 404, "message":
                                         f"Instance {gone['id']} could not be found."}}
    soft = next(s for s in cloud.servers if own(s) and s["status"] == "SOFT_DELETED"
                and s["cell"] == "cell1")
    assert get(srv, f"servers/{soft['id']}").json()["server"]["status"] == "SOFT_DELETED"


def test_faults_apply_to_server_listings(records, cloud, image_server):
    s = image_server(records, cloud=cloud, token=T,
                     faults=Faults(schedule={1: 503, 2: 500, 3: 429}))
    first = get(s)
    assert first.status_code == 503 and "text/html" in first.headers["Content-Type"]
    assert get(s).json()["computeFault"]["code"] == 500
    assert get(s).headers["Retry-After"] == "1"
    assert get(s).status_code == 200
    assert s.stats.requests == 4


# --- cells and services


def test_down_cell_servers_vanish_except_from_a_bare_2_69_listing(records, cloud, image_server):
    live = expected(cloud, own, down=("cell2",))
    down = expected(cloud, lambda s: own(s) and s["cell"] == "cell2", states=("DELETED",))
    assert down
    s = image_server(records, cloud=cloud, token=T, admin_token=A, down_cells=("cell2",),
                     max_limit=len(live) + 2)
    assert walk(s, headers=mv("2.68"))[0] == live
    body = get(s, headers=mv("2.69")).json()["servers"]
    assert [i["id"] for i in body] == down[:2] + live
    for item in body[:2]:
        assert item["status"] == "UNKNOWN" and "image" not in item
        assert set(item) == {"id", "status", "tenant_id", "created", "links"}
    assert walk(s, headers=mv("2.69"), limit=len(live) + 2)[0] == live
    assert walk(s, headers=mv("2.69"), status="ACTIVE")[0] == expected(
        cloud, lambda x: own(x) and x["status"] == "ACTIVE", down=("cell2",))
    s = image_server(records, cloud=cloud, token=T, down_cells=("cell2",),
                     max_limit=len(live))                   # no room left: none shown
    assert [i["id"] for i in get(s, headers=mv("2.69")).json()["servers"]] == live


def test_os_services_is_admin_only_and_shows_a_down_cell_at_2_69(records, cloud, image_server):
    s = image_server(records, cloud=cloud, token=T, admin_token=A,
                     down_cells=("cell2",))
    url = f"{s.url}/v2.1/os-services"
    r = requests.get(url, headers=H, timeout=10)
    assert r.status_code == 403 and "os-services:list" in r.text
    old = requests.get(url, headers=mv("2.68", AH), timeout=10).json()["services"]
    assert old and all(x["state"] == "up" and x["status"] == "enabled" for x in old)
    assert not any("cell2" in x["host"] for x in old)
    new = requests.get(url, headers=mv("2.69", AH), timeout=10).json()["services"]
    unknown = [x for x in new if x["status"] == "UNKNOWN"]
    assert unknown and all("cell2" in x["host"] for x in unknown)
    assert len(new) == len(old) + len(unknown)
    hosts = {x["host"] for x in new}
    assert {x["host"] for x in cloud.servers if x["host"]} <= hosts


def test_keystone_admin_users_and_the_catalog(records, cloud, image_server):
    s = image_server(records, cloud=cloud, users={"root": "pw", "bob": "pw"},
                     admins=("root",))
    def login(user):
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": "pw", "domain": {"id": "default"}}}},
            "scope": {"project": {"id": s.project_id}}}}
        r = requests.post(f"{s.auth_url}/auth/tokens", json=body, timeout=10)
        return r.headers["X-Subject-Token"], r.json()["token"]

    token, body = login("root")
    assert "admin" in [role["name"] for role in body["roles"]]
    urls = {entry["type"]: entry["endpoints"][0]["url"] for entry in body["catalog"]}
    assert urls["compute"] == s.endpoint and urls["volumev3"] == s.volume_endpoint
    assert urls["block-storage"] == s.volume_endpoint and urls["ecs"] == s.ecs_endpoint
    assert urls["image"] == s.glance_endpoint and urls["ims"] == s.ims_endpoint
    assert get(s, headers={"X-Auth-Token": token}, all_tenants="1").status_code == 200
    member, body = login("bob")
    assert "admin" not in [role["name"] for role in body["roles"]]
    assert get(s, headers={"X-Auth-Token": member}, all_tenants="1").status_code == 403


def test_servers_routes_are_off_without_a_cloud(records, image_server):
    s = image_server(records[:20], users={"bob": "pw"})
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "bob", "password": "pw", "domain": {"id": "default"}}}},
        "scope": {"project": {"id": s.project_id}}}}
    r = requests.post(f"{s.auth_url}/auth/tokens", json=body, timeout=10)
    token = r.headers["X-Subject-Token"]
    types = {entry["type"] for entry in r.json()["token"]["catalog"]}
    assert {"compute", "image", "ims"} <= types
    assert not types & {"volumev3", "block-storage", "ecs"}
    r = get(s, headers={"X-Auth-Token": token})
    assert r.status_code == 404 and "itemNotFound" in r.text
    assert requests.get(f"{s.volume_endpoint}/volumes", headers={"X-Auth-Token": token},
                        timeout=10).status_code == 404


def test_next_link_carries_the_request_parameters_sorted(srv):
    body = get(srv, limit=2, name="^w", deleted="true").json()
    href = body["servers_links"][0]["href"]
    query = dict(parse_qsl(urlsplit(href).query))
    assert list(query) == ["deleted", "limit", "name", "marker"]
    assert query == {"deleted": "true", "limit": "2", "name": "^w",
                     "marker": body["servers"][-1]["id"]}


def test_servers_true_builds_the_cloud_and_adds_the_shelved_images(image_server):
    s = image_server(120, seed=2, servers=30)
    shelved = [img for img in s.images if (img["name"] or "").endswith("-shelved")]
    assert shelved and len(s.images) == 120 + len(s.cloud.images) == 120 + len(shelved)
    ids, _ = walk(s)
    assert ids == expected(s.cloud, own)
    names = {img["name"] for img in s.images}
    for server in s.cloud.servers:
        if server["status"] in ("SHELVED", "SHELVED_OFFLOADED"):
            assert f"{server['name']}-shelved" in names
