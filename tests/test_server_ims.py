"""imgframe.server's Huawei IMS ``/v2/cloudimages`` route over real HTTP (reference
image-sources.md section 4), and one catalogue seen through Nova, Glance and IMS."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from imgframe import aksk
from imgframe.server import DEFAULT_PROJECT_ID, sample_inventory
from imgframe.server.ims_api import EMPTY_MD5

TOKEN = "ims-test-token"
H = {"X-Auth-Token": TOKEN}
LISTABLE = {"active", "queued", "saving", "deactivated", "importing", "uploading"}
ME = DEFAULT_PROJECT_ID
AK, SK = "HPUAEXAMPLEAK0000001", "exampleSecretKey0000000000000000000000001"


@pytest.fixture(scope="module")
def records():
    return sample_inventory(700, seed=12)


@pytest.fixture(scope="module")
def srv(records, module_image_server):
    return module_image_server(records, token=TOKEN, ims_max_limit=100, aksk={AK: SK})


def ims_visible(records, where=lambda r: True):
    """What IMS lists for ME: gold, own and shared; never community; hidden ones too."""
    out = [r for r in records if r["status"] in LISTABLE and r["visibility"] != "community"
           and (r["visibility"] in ("public", "shared") or r["owner"] == ME) and where(r)]
    return sorted(out, key=lambda r: (r["created_at"], r["id"]), reverse=True)


def get(srv, headers=H, **params):
    return requests.get(f"{srv.ims_endpoint}/v2/cloudimages", params=params, headers=headers,
                        timeout=30)


def walk(srv, limit, headers=H, **params):
    """Page by marker=<last id> until an empty page (a short page is not the end)."""
    out, pages, marker = [], [], None
    while True:
        extra = {"marker": marker} if marker else {}
        body = get(srv, headers, limit=limit, **params, **extra).json()
        assert "next" not in body and "first" not in body
        pages.append(len(body["images"]))
        if not body["images"]:
            return out, pages
        out += [i["id"] for i in body["images"]]
        marker = body["images"][-1]["id"]


def test_default_limit_is_500_cut_silently_to_the_maximum(srv, records):
    body = get(srv).json()
    assert list(body) == ["images"]                 # no next, no first, no page_info
    assert len(body["images"]) == 100 < len(ims_visible(records))
    assert [i["id"] for i in body["images"]] == [r["id"] for r in ims_visible(records)[:100]]


def test_walk_by_marker_finds_everything_and_short_pages_are_not_the_end(srv, records):
    got, pages = walk(srv, 300)
    assert got == [r["id"] for r in ims_visible(records)]
    assert pages[0] == 100                          # asked 300, got 100: not the end
    assert pages[-1] == 0


def test_page_info_next_marker_only_when_enabled_and_only_on_full_pages(records, image_server):
    s = image_server(records, ims_page_info=True, ims_max_limit=50)
    body = get(s, {}, limit=80).json()
    assert body["page_info"] == {"next_marker": body["images"][-1]["id"]}
    total = len(ims_visible(records))
    seen, marker = [], None
    while True:
        body = get(s, {}, limit=50, **({"marker": marker} if marker else {})).json()
        seen += [i["id"] for i in body["images"]]
        if "page_info" not in body:
            break
        marker = body["page_info"]["next_marker"]
    assert len(seen) == total == len(set(seen))


def test_item_shape_placeholders_and_huawei_strings(srv, records):
    by_id = {r["id"]: r for r in records}
    items = walk(srv, 100)[0]
    assert items
    body = get(srv, limit=100).json()
    for item in body["images"]:
        rec = by_id[item["id"]]
        assert item["size"] == 0 and item["checksum"] == EMPTY_MD5
        assert item["virtual_size"] is None
        assert "os_hidden" not in item and "os_hash_value" not in item
        if rec["size"] is None:
            assert "__image_size" not in item
        else:
            assert item["__image_size"] == str(rec["size"])
        assert item["__imagetype"] == {"public": "gold", "private": "private",
                                       "shared": "shared"}[rec["visibility"]]
        assert item["__isregistered"] == "true" and item["__support_kvm"] == "true"
        assert item["__system_support_market"] is False
        for key, value in item.items():
            if key.startswith("__") and key != "__system_support_market":
                assert isinstance(value, str), key
        for key in ("name", "status", "visibility", "owner", "protected", "min_ram",
                    "min_disk", "disk_format", "container_format", "tags"):
            assert item[key] == rec[key], key
        assert item["created_at"] == rec["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert item["self"] == f"/v2/images/{rec['id']}"
        assert item["file"] == f"/v2/images/{rec['id']}/file"


def ids(resp):
    assert resp.status_code == 200, resp.text
    return [i["id"] for i in resp.json()["images"]]


def test_filters(srv, records):
    def want(f):
        return [r["id"] for r in ims_visible(records, f)][:100]
    name = next(r["name"] for r in ims_visible(records) if r["name"])
    assert ids(get(srv, name=name)) == want(lambda r: r["name"] == name)
    assert ids(get(srv, name="name:with:colons")) == \
        want(lambda r: r["name"] == "name:with:colons")
    assert ids(get(srv, status="queued")) == want(lambda r: r["status"] == "queued")
    assert ids(get(srv, status="deleted")) == []
    for vis in ("public", "private", "shared"):
        assert ids(get(srv, visibility=vis)) == want(lambda r, v=vis: r["visibility"] == v)
    assert ids(get(srv, __imagetype="gold")) == want(lambda r: r["visibility"] == "public")
    assert ids(get(srv, owner=ME)) == want(lambda r: r["owner"] == ME)
    assert ids(get(srv, min_ram="2048")) == want(lambda r: r["min_ram"] == 2048)
    assert ids(get(srv, min_disk="40")) == want(lambda r: r["min_disk"] == 40)
    assert ids(get(srv, protected="true")) == want(lambda r: r["protected"])
    assert ids(get(srv, disk_format="zvhd2")) == want(lambda r: r["disk_format"] == "zvhd2")
    assert ids(get(srv, __platform="Ubuntu")) == \
        want(lambda r: r["properties"].get("__platform") == "Ubuntu")
    cut = dt.datetime(2025, 9, 1, tzinfo=dt.timezone.utc)
    assert ids(get(srv, created_at="gte:2025-09-01T00:00:00Z")) == \
        want(lambda r: r["created_at"] >= cut)
    assert ids(get(srv, updated_at="lt:2025-09-01 00:00:00")) == \
        want(lambda r: r["updated_at"] is not None and r["updated_at"] < cut)


@pytest.mark.parametrize("params, code", [
    ({"limit": "abc"}, "IMG.0001"), ({"limit": "0"}, "IMG.0001"),
    ({"visibility": "community"}, "IMG.0001"), ({"__imagetype": "bogus"}, "IMG.0024"),
    ({"created_at": "2025-01-01T00:00:00Z"}, "IMG.0001"),
    ({"created_at": "after:2025-01-01T00:00:00Z"}, "IMG.0001"),
    ({"min_ram": "gte:1"}, "IMG.0001"), ({"sort_key": "min_ram"}, "IMG.0001"),
    ({"marker": "00000000-0000-4000-8000-000000000000"}, "IMG.0001"),
])
def test_errors_are_huawei_shaped(srv, params, code):
    r = get(srv, **params)
    assert r.status_code == 400
    body = r.json()
    assert list(body) == ["error"] and body["error"]["code"] == code
    assert body["error"]["message"]


def test_sort_key_name_asc(srv, records):
    got, _ = walk(srv, 100, sort_key="name", sort_dir="asc")
    assert sorted(got) == sorted(r["id"] for r in ims_visible(records))


def test_token_auth(srv):
    for headers in ({}, {"X-Auth-Token": "wrong"}):
        r = get(srv, headers)
        assert r.status_code == 401
        assert r.json()["error_code"] == "APIGW.0301"
        assert r.json()["error_msg"].startswith("Incorrect IAM authentication information")


def signed(srv, params, sk=SK, when=None, project_id=DEFAULT_PROJECT_ID):
    s = aksk.sign("GET", f"{srv.ims_endpoint}/v2/cloudimages", params,
                  {"Content-Type": "application/json"}, ak=AK, sk=sk, when=when,
                  project_id=project_id)
    return s.url, s.headers


def test_aksk_signature_is_verified(srv, records):
    url, headers = signed(srv, {"limit": 5, "name": "a b:c"})
    r = requests.get(url, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    url, headers = signed(srv, {"limit": 5})
    assert [i["id"] for i in requests.get(url, headers=headers, timeout=10).json()["images"]] \
        == [r["id"] for r in ims_visible(records)[:5]]


def test_bad_aksk_signatures_are_401(srv):
    url, headers = signed(srv, {"limit": 5}, sk="wrong")
    cases = [(url, headers)]
    url, headers = signed(srv, {"limit": 5})
    cases.append((url.replace("limit=5", "limit=6"), headers))          # query changed
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    cases.append(signed(srv, {"limit": 5}, when=old))                   # too old
    cases.append(signed(srv, {"limit": 5}, project_id="someoneelse0000000000000000000000"))
    for url, headers in cases:
        r = requests.get(url, headers=headers, timeout=10)
        assert r.status_code == 401, url
        assert r.json()["error_code"] == "APIGW.0301"


def test_unknown_ims_path_is_a_gateway_404(srv):
    r = requests.get(f"{srv.ims_endpoint}/v2/nothing", headers=H, timeout=10)
    assert r.status_code == 404 and r.json()["error_code"] == "APIGW.0101"


# ------------------------------------------------------------------ one catalogue, three APIs


def test_same_catalogue_through_nova_glance_and_ims(records, image_server):
    s = image_server(records, max_limit=1000, ims_max_limit=1000)
    nova = requests.get(f"{s.endpoint}/images/detail", timeout=30).json()["images"]
    glance = []
    for hidden in ("false", "true"):
        glance += requests.get(f"{s.glance_endpoint}/v2/images", timeout=30, params={
            "limit": 1000, "visibility": "all", "os_hidden": hidden}).json()["images"]
    ims = requests.get(f"{s.ims_endpoint}/v2/cloudimages", params={"limit": 1000},
                       timeout=30).json()["images"]
    by_nova = {i["id"]: i for i in nova}
    by_glance = {i["id"]: i for i in glance}
    by_ims = {i["id"]: i for i in ims}
    # Glance (every visibility, hidden too) shows what the caller may see; Nova what Glance's
    # default listing shows (no hidden, no others' community); IMS no community, hidden too
    assert set(by_glance) == {r["id"] for r in records if r["status"] in LISTABLE
                              and (r["visibility"] != "private" or r["owner"] == ME)}
    assert set(by_nova) == {i for i, g in by_glance.items() if not g["os_hidden"]
                            and (g["visibility"] != "community" or g["owner"] == ME)}
    assert set(by_ims) == {i for i, g in by_glance.items() if g["visibility"] != "community"}
    display = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING"}
    for image_id, g in by_glance.items():
        n = by_nova.get(image_id)
        if n is not None:
            assert (n["name"], n["minRam"], n["minDisk"]) == (g["name"], g["min_ram"],
                                                              g["min_disk"])
            assert n["status"] == display.get(g["status"], "UNKNOWN")
            assert n["created"] == g["created_at"] and n["updated"] == g["updated_at"]
            assert n["OS-EXT-IMG-SIZE:size"] == (g["size"] or 0)
            assert n["metadata"]["os_distro"] == g["os_distro"]
        i = by_ims.get(image_id)
        if i is None:
            continue
        for key in ("name", "status", "visibility", "owner", "protected", "min_ram",
                    "min_disk", "disk_format", "container_format", "tags", "created_at",
                    "updated_at", "self", "file"):
            assert i[key] == g[key], key
        assert i.get("__image_size") == (None if g["size"] is None else str(g["size"]))
        assert i["__platform"] == g["__platform"]
