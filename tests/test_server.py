"""imgframe.server over real HTTP, row by row against nova-34-observed.md.

The `observed` fixture rebuilds the data set the observations were made on (300 images,
status cycling active x6, queued, saving, killed, deactivated, importing, uploading;
min_ram = [0, 512, 1024, 2048, 4096][i % 5]; updated between 2020-01-01 and 2020-03-15), so
the observed counts (275 listed, 150 ACTIVE, 25 SAVING, 55 with minRam=512, ...) must come
back; other expectations are computed from the records themselves.
"""

import datetime as dt
import json
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests

from imgframe.server import DEFAULT_PROJECT_ID, serve

UTC = dt.timezone.utc
CYCLE = ["active"] * 6 + ["queued", "saving", "killed", "deactivated", "importing", "uploading"]
NOT_LISTED = {"killed", "deleted", "pending_delete"}
CHANGES_MSG = ("HTTP 400 Bad Request: Bad &quot;updated_at&quot; query filter format. "
               "Use ISO 8601 DateTime notation.")


def observed_records():
    start = dt.datetime(2020, 1, 1, tzinfo=UTC)
    span = (dt.datetime(2020, 3, 15, 23, 59, tzinfo=UTC) - start).total_seconds()
    families = ["cirros", "ubuntu", "debian", "centos", "windows"]
    records = []
    for i in range(300):
        updated = start + dt.timedelta(seconds=int(span * i / 299))
        props = {"os_distro": families[i % 5], "architecture": "x86_64" if i % 3 else "aarch64"}
        if i % 11 == 0:
            props.update(image_type="snapshot", instance_uuid=f"00000000-0000-4000-8000-{i:012d}")
        if i % 7 == 0:
            props["auto_disk_config"] = "True" if i % 14 else "False"
        records.append({
            "id": f"{(i * 7919) % 65536:04x}{i:04x}-0000-4000-8000-{i:012x}",
            "name": f"{families[i % 5]}-{i:04d}",
            "status": CYCLE[i % 12],
            "created_at": updated - dt.timedelta(hours=6 + i % 4),
            "updated_at": updated,
            "min_ram": [0, 512, 1024, 2048, 4096][i % 5],
            "min_disk": [0, 10, 20, 40, 80][(i + 3) % 5],
            "size": None if i % 9 == 0 else 1000 * i,
            "properties": props,
        })
    return records


def listed(records, **where):
    """What Glance lists, newest first, filtered by exact field equality."""
    out = [r for r in records if r["status"] not in NOT_LISTED
           and all(r.get(k) == v for k, v in where.items())]
    return sorted(out, key=lambda r: (r["created_at"], r["id"]), reverse=True)


def ids(images):
    return [i["id"] for i in images]


@pytest.fixture(scope="module")
def records():
    return observed_records()


@pytest.fixture(scope="module")
def srv(records, module_image_server):
    return module_image_server(records)


@pytest.fixture(params=["v2", "v2.1"])
def base(request, srv):
    """Both API versions, with the project id in the path."""
    return f"{srv.url}/{request.param}/{srv.project_id}"


def get(url, **params):
    return requests.get(url, params=params, timeout=10)


def next_href(body):
    links = body.get("images_links")
    if not links:
        return None
    assert [link["rel"] for link in links] == ["next"]
    return links[0]["href"]


# --- the observed table, row by row ----------------------------------------------------------

def test_limit_5_newest_first_with_next_link(srv, records, base):
    r = get(f"{base}/images", limit=5)
    assert r.status_code == 200
    expected = listed(records)
    assert ids(r.json()["images"]) == ids(expected[:5])
    assert next_href(r.json()) == f"{base}/images?limit=5&marker={expected[4]['id']}"
    follow = requests.get(next_href(r.json()), timeout=10).json()
    assert ids(follow["images"]) == ids(expected[5:10])
    assert next_href(follow) == f"{base}/images?limit=5&marker={expected[9]['id']}"


def test_no_limit_returns_everything_without_links(srv, records, base):
    body = get(f"{base}/images").json()
    assert len(body["images"]) == 275 == len(listed(records))
    assert "images_links" not in body


@pytest.mark.parametrize("value, glance", [("ACTIVE", ["active"]), ("active", ["active"]),
                                           ("SAVING", ["saving"]), ("queued", ["queued"]),
                                           ("in:active,saving", ["active", "saving"]),
                                           ("IN:QUEUED,Uploading", ["queued", "uploading"])])
def test_status_filter_uses_lowercased_glance_words(srv, records, base, value, glance):
    body = get(f"{base}/images", status=value).json()
    expected = [r for r in listed(records) if r["status"] in glance]
    assert ids(body["images"]) == ids(expected)
    if value == "ACTIVE":
        assert len(expected) == 150
    if value == "SAVING":
        assert len(expected) == 25


@pytest.mark.parametrize("value", ["deleted", "bogus", "", "killed", "ERROR", "pending_delete"])
def test_status_filter_unknown_or_unlisted_gives_empty(srv, base, value):
    r = get(f"{base}/images", status=value)
    assert r.status_code == 200
    assert r.json() == {"images": []}


@pytest.mark.parametrize("value", ["2020-03-01T00:00:00Z", "2020-03-01T00:00:00", "2020-03-01",
                                   "2020-03-01T01:00:00+01:00", "2020-02-29T19:00:00-05:00",
                                   "20200301T000000Z"])
def test_changes_since_is_updated_at_gte(srv, records, base, value):
    cutoff = dt.datetime(2020, 3, 1, tzinfo=UTC)
    body = get(f"{base}/images/detail", **{"changes-since": value}).json()
    expected = [r for r in listed(records) if r["updated_at"] >= cutoff]
    assert ids(body["images"]) == ids(expected)
    assert 0 < len(expected) < 275


def test_changes_since_is_inclusive(srv, records, base):
    newest = max(listed(records), key=lambda r: r["updated_at"])
    stamp = newest["updated_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
    body = get(f"{base}/images", **{"changes-since": stamp}).json()
    assert ids(body["images"]) == [newest["id"]]


@pytest.mark.parametrize("raw", ["changes-since=2020-03-01T00:00:00+01:00",   # raw + is a space
                                 "changes-since=garbage", "changes-since=",
                                 "changes-since=2020-13-01", "changes-since=yesterday"])
def test_changes_since_bad_format_is_400_with_glance_message(srv, base, raw):
    r = requests.get(f"{base}/images?{raw}", timeout=10)
    assert r.status_code == 400
    assert r.json() == {"badRequest": {"code": 400, "message": CHANGES_MSG}}


@pytest.mark.parametrize("param, field", [("minRam", "min_ram"), ("minDisk", "min_disk")])
@pytest.mark.parametrize("value", [512, 10, 0, 4096])
def test_min_ram_and_min_disk_are_exact_equality(srv, records, base, param, field, value):
    body = get(f"{base}/images/detail", **{param: value}).json()
    expected = listed(records, **{field: value})
    assert ids(body["images"]) == ids(expected)
    assert all(i[param] == value for i in body["images"])
    if (param, value) in (("minRam", 512), ("minDisk", 10)):
        assert len(expected) == 55


@pytest.mark.parametrize("value", ["1000", "abc", "-1", "", "5.5"])
def test_min_ram_unvalidated_values_match_nothing(srv, base, value):
    for param in ("minRam", "minDisk"):
        r = get(f"{base}/images", **{param: value})
        assert r.status_code == 200
        assert r.json() == {"images": []}


def test_min_ram_leading_zero_compares_as_number(srv, base):
    assert get(f"{base}/images", minRam="0512").json() == get(f"{base}/images", minRam=512).json()


def test_name_is_exact_match(srv, records, base):
    target = listed(records)[17]
    assert ids(get(f"{base}/images", name=target["name"]).json()["images"]) == [target["id"]]
    assert ids(get(f"{base}/images", name=f"eq:{target['name']}").json()["images"]) == \
        [target["id"]]
    prefix = target["name"].split("-")[0]
    assert get(f"{base}/images", name=prefix).json() == {"images": []}
    other = listed(records)[3]
    body = get(f"{base}/images", name=f"in:{target['name']},{other['name']}").json()
    assert set(ids(body["images"])) == {target["id"], other["id"]}


def test_name_with_unknown_operator_is_400(srv, base):
    r = get(f"{base}/images", name="foo:bar")
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == (
        "HTTP 400 Bad Request: Unable to filter by unknown operator &#x27;foo&#x27;.")


def test_filtered_detail_next_link_sorts_params_marker_last(srv, records, base):
    body = get(f"{base}/images/detail", status="active", minRam=512, limit=3).json()
    expected = listed(records, status="active", min_ram=512)
    assert ids(body["images"]) == ids(expected[:3])
    assert next_href(body) == (f"{base}/images/detail?limit=3&minRam=512&status=active"
                               f"&marker={expected[2]['id']}")


def test_type_snapshot_and_server_filters(srv, records, base):
    snaps = [r for r in listed(records) if r["properties"].get("image_type") == "snapshot"]
    assert ids(get(f"{base}/images", type="snapshot").json()["images"]) == ids(snaps)
    uuid = snaps[2]["properties"]["instance_uuid"]
    assert ids(get(f"{base}/images", server=uuid).json()["images"]) == [snaps[2]["id"]]
    as_url = f"http://nova.example.com/v2.1/servers/{uuid}"
    assert ids(get(f"{base}/images", server=as_url).json()["images"]) == [snaps[2]["id"]]


def test_property_filter_kept_in_next_link(srv, records, base):
    body = get(f"{base}/images", **{"property-architecture": "x86_64", "limit": 3}).json()
    expected = [r for r in listed(records) if r["properties"]["architecture"] == "x86_64"]
    assert ids(body["images"]) == ids(expected[:3])
    assert next_href(body) == (f"{base}/images?limit=3&property-architecture=x86_64"
                               f"&marker={expected[2]['id']}")


def test_property_os_distro_hits_novas_lstrip_bug(srv, base):
    assert get(f"{base}/images", **{"property-os_distro": "ubuntu"}).json() == {"images": []}


@pytest.mark.parametrize("param", ["limit", "page_size", "offset"])
@pytest.mark.parametrize("value, reason", [
    ("abc", "'abc' does not match '^[0-9]*$'"),
    ("-1", "'-1' does not match '^[0-9]*$'"),
    ("0", "0 is less than the minimum of 1"),
    ("", "'' should be non-empty"),
])
def test_paging_integers_are_validated(srv, base, param, value, reason):
    r = get(f"{base}/images", **{param: value})
    assert r.status_code == 400
    assert r.json() == {"badRequest": {"code": 400, "message":
                        f"Invalid input for query parameters {param}. Value: {value}. {reason}"}}


@pytest.mark.parametrize("marker", ["00000000-0000-0000-0000-000000000000", "garbage"])
def test_unknown_marker_is_400(srv, base, marker):
    r = get(f"{base}/images", limit=5, marker=marker)
    assert r.status_code == 400
    assert r.json() == {"badRequest": {"code": 400, "message":
                                       f"HTTP 400 Bad Request: No image found with ID {marker}"}}


def test_killed_marker_pages_on_in_order(records, image_server):
    killed = next(r for r in records if r["status"] == "killed")
    server = image_server(records)
    body = get(f"{server.endpoint}/images", limit=4, marker=killed["id"]).json()
    order = sorted(records, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    after = order[order.index(killed) + 1:]
    assert ids(body["images"]) == ids([r for r in after if r["status"] not in NOT_LISTED][:4])


def test_repeated_params_last_wins(srv, records, base):
    r = requests.get(f"{base}/images?limit=5&limit=7", timeout=10).json()
    expected = listed(records)
    assert ids(r["images"]) == ids(expected[:7])
    assert next_href(r) == f"{base}/images?limit=7&marker={expected[6]['id']}"
    r = requests.get(f"{base}/images?status=ACTIVE&status=SAVING", timeout=10).json()
    assert ids(r["images"]) == ids(listed(records, status="saving"))


def test_unknown_params_ignored_and_stripped(srv, records, base):
    body = get(f"{base}/images", limit=1, foo="bar", sort_key="name", sort_dir="asc").json()
    first = listed(records)[0]
    assert ids(body["images"]) == [first["id"]]
    assert next_href(body) == f"{base}/images?limit=1&marker={first['id']}"


def test_offset_ignored_but_echoed_page_size_echoed(srv, records, base):
    expected = listed(records)
    body = get(f"{base}/images", offset=5, limit=2).json()
    assert ids(body["images"]) == ids(expected[:2])
    assert next_href(body) == f"{base}/images?limit=2&offset=5&marker={expected[1]['id']}"
    body = get(f"{base}/images", page_size=2, limit=3).json()
    assert ids(body["images"]) == ids(expected[:3])
    assert next_href(body) == f"{base}/images?limit=3&page_size=2&marker={expected[2]['id']}"


def test_marker_keeps_its_sorted_slot(srv, records, base):
    expected = listed(records)
    body = get(f"{base}/images", status="active", marker=expected[0]["id"], limit=2,
               name="in:" + ",".join(r["name"] for r in expected[:40])).json()
    href = next_href(body)
    assert [k for k, _ in parse_qsl(urlsplit(href).query)] == ["limit", "marker", "name",
                                                               "status"]


def test_show_returns_detail_fields(srv, records, base):
    rec = listed(records)[0]
    r = get(f"{base}/images/{rec['id']}")
    assert r.status_code == 200
    image = r.json()["image"]
    assert image == get(f"{base}/images/detail", limit=1).json()["images"][0]
    assert image["created"] == rec["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")


def test_show_missing_is_404(srv, base):
    r = get(f"{base}/images/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    assert r.json() == {"itemNotFound": {"code": 404, "message": "Image not found."}}


@pytest.mark.parametrize("header", ["OpenStack-API-Version", "X-OpenStack-Nova-API-Version"])
def test_microversion_cutoff_at_2_35(srv, header):
    value = "compute {}" if header == "OpenStack-API-Version" else "{}"
    url = f"{srv.endpoint}/images"
    ok = requests.get(url, params={"limit": 1}, headers={header: value.format("2.35")})
    assert ok.status_code == 200
    assert ok.headers["OpenStack-API-Version"] == "compute 2.35"
    for version in ("2.36", "2.90", "latest"):
        r = requests.get(url, params={"limit": 1}, headers={header: value.format(version)})
        assert r.status_code == 404
        assert r.json() == {"itemNotFound": {"code": 404,
                                             "message": "The resource could not be found."}}
    r = requests.get(f"{srv.endpoint}/images/{srv.images[0]['id']}",
                     headers={header: value.format("2.36")})
    assert r.status_code == 404


def test_v2_ignores_microversion_headers(srv):
    r = requests.get(f"{srv.url}/v2/{srv.project_id}/images", params={"limit": 1},
                     headers={"OpenStack-API-Version": "compute 2.60",
                              "X-OpenStack-Nova-API-Version": "latest"})
    assert r.status_code == 200
    assert "OpenStack-API-Version" not in r.headers


def test_bad_microversion_strings(srv):
    r = requests.get(f"{srv.endpoint}/images", headers={"OpenStack-API-Version": "compute x"})
    assert r.status_code == 400
    r = requests.get(f"{srv.endpoint}/images", headers={"OpenStack-API-Version": "compute 3.0"})
    assert r.status_code == 406


def test_response_headers(srv):
    r = get(f"{srv.endpoint}/images", limit=1)
    assert r.headers["OpenStack-API-Version"] == "compute 2.1"
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    assert set(v.strip() for v in r.headers["Vary"].split(",")) == {
        "OpenStack-API-Version", "X-OpenStack-Nova-API-Version"}
    assert r.headers["x-openstack-request-id"].startswith("req-")
    assert r.headers["x-compute-request-id"] == r.headers["x-openstack-request-id"]
    assert r.headers["Content-Type"] == "application/json"
    other = get(f"{srv.endpoint}/images", limit=1)
    assert other.headers["x-openstack-request-id"] != r.headers["x-openstack-request-id"]


@pytest.mark.parametrize("version", ["v2", "v2.1"])
def test_no_project_in_url(srv, records, version):
    body = get(f"{srv.url}/{version}/images", limit=1).json()
    first = listed(records)[0]
    assert ids(body["images"]) == [first["id"]]
    assert next_href(body) == f"{srv.url}/{version}/images?limit=1&marker={first['id']}"
    links = {link["rel"]: link["href"] for link in body["images"][0]["links"]}
    assert links["self"] == f"{srv.url}/{version}/images/{first['id']}"
    assert links["bookmark"] == f"{srv.url}/images/{first['id']}"


def test_project_mismatch_and_non_hex_project(srv):
    r = get(f"{srv.url}/v2.1/abcdef/images")
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == (
        f"Malformed request URL: URL's project_id 'abcdef' doesn't match Context's "
        f"project_id '{DEFAULT_PROJECT_ID}'")
    assert get(f"{srv.url}/v2.1/not-a-project/images").status_code == 404
    assert get(f"{srv.url}/v3/{srv.project_id}/images").status_code == 404


# --- views ---------------------------------------------------------------------------------

def test_list_items_have_only_id_name_links(srv, records, base):
    for item in get(f"{base}/images", limit=20).json()["images"]:
        assert list(item) == ["id", "name", "links"]
        rid = item["id"]
        version = base.split("/")[3]
        assert item["links"] == [
            {"rel": "self", "href": f"{srv.url}/{version}/{srv.project_id}/images/{rid}"},
            {"rel": "bookmark", "href": f"{srv.url}/{srv.project_id}/images/{rid}"},
            {"rel": "alternate", "type": "application/vnd.openstack.image",
             "href": f"{srv.url}/images/{rid}"},
        ]


STATUS_VIEW = {"active": ("ACTIVE", 100), "queued": ("SAVING", 25), "saving": ("SAVING", 50),
               "killed": ("ERROR", 0), "deleted": ("DELETED", 0),
               "pending_delete": ("DELETED", 0), "deactivated": ("UNKNOWN", 0),
               "importing": ("UNKNOWN", 0), "uploading": ("UNKNOWN", 0)}


def test_detail_items_match_records(srv, records, base):
    by_id = {r["id"]: r for r in records}
    required = ["id", "name", "minRam", "minDisk", "metadata", "created", "updated", "status",
                "progress", "OS-EXT-IMG-SIZE:size", "links"]
    for item in get(f"{base}/images/detail").json()["images"]:
        rec = by_id[item["id"]]
        assert list(item)[:len(required)] == required
        assert set(item) - set(required) <= {"server", "OS-DCF:diskConfig"}
        assert (item["status"], item["progress"]) == STATUS_VIEW[rec["status"]]
        assert item["minRam"] == rec["min_ram"] and item["minDisk"] == rec["min_disk"]
        assert item["OS-EXT-IMG-SIZE:size"] == (rec["size"] or 0)
        assert item["metadata"] == rec["properties"]
        assert item["updated"] == rec["updated_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
        server = rec["properties"].get("instance_uuid")
        if server:
            version = base.split("/")[3]
            assert item["server"] == {"id": server, "links": [
                {"rel": "self", "href": f"{base}/servers/{server}"},
                {"rel": "bookmark", "href": f"{srv.url}/{srv.project_id}/servers/{server}"}]}
            assert version in item["server"]["links"][0]["href"]
        else:
            assert "server" not in item
        adc = rec["properties"].get("auto_disk_config")
        if adc is None:
            assert "OS-DCF:diskConfig" not in item
        else:
            assert item["OS-DCF:diskConfig"] == ("AUTO" if adc == "True" else "MANUAL")


def test_every_status_by_id(records, image_server):
    statuses = list(STATUS_VIEW)
    recs = [dict(records[i], status=s, id=f"00000000-0000-4000-8000-{i:012d}")
            for i, s in enumerate(statuses)]
    server = image_server(recs)
    for rec in recs:
        image = get(f"{server.endpoint}/images/{rec['id']}").json()["image"]
        assert (image["status"], image["progress"]) == STATUS_VIEW[rec["status"]]
    listed_ids = ids(get(f"{server.endpoint}/images/detail").json()["images"])
    assert set(listed_ids) == {r["id"] for r in recs if r["status"] not in NOT_LISTED}


def test_null_updated_and_null_name(records, image_server):
    recs = [dict(records[0], name=None, updated_at=None, size=None)]
    server = image_server(recs)
    image = get(f"{server.endpoint}/images/detail").json()["images"][0]
    assert image["name"] is None and image["updated"] is None
    assert image["OS-EXT-IMG-SIZE:size"] == 0
    assert get(f"{server.endpoint}/images").json()["images"][0]["name"] is None
    cutoff = "2000-01-01T00:00:00Z"
    assert get(f"{server.endpoint}/images", **{"changes-since": cutoff}).json() == \
        {"images": []}


# --- paging ----------------------------------------------------------------------------------

def walk(url, **params):
    """Follow next links; returns (pages, request count)."""
    pages = []
    body = get(url, **params).json()
    pages.append(body["images"])
    while (href := next_href(body)) is not None:
        body = requests.get(href, timeout=10).json()
        pages.append(body["images"])
        assert len(pages) < 1000
    return pages


@pytest.mark.parametrize("collection", ["images", "images/detail"])
def test_walk_all_pages_in_order(srv, records, base, collection):
    pages = walk(f"{base}/{collection}", limit=7)
    assert [i["id"] for p in pages for i in p] == ids(listed(records))
    assert all(len(p) == 7 for p in pages[:-1]) and len(pages[-1]) < 7


def test_walk_filtered(srv, records, base):
    pages = walk(f"{base}/images/detail", status="in:active,deactivated", limit=20)
    expected = [r for r in listed(records) if r["status"] in ("active", "deactivated")]
    assert [i["id"] for p in pages for i in p] == ids(expected)


def test_exact_multiple_ends_with_empty_page(srv, base):
    pages = walk(f"{base}/images", limit=55)
    assert [len(p) for p in pages] == [55, 55, 55, 55, 55, 0]


@pytest.fixture(scope="module")
def small_max(module_image_server):
    """max_limit=10 over 40 listed images: the 'beyond max_limit' rows at small scale."""
    recs = [dict(r, status="active") for r in observed_records()[:40]]
    return module_image_server(recs, max_limit=10)


def test_beyond_max_limit(small_max):
    url = f"{small_max.endpoint}/images"
    body = get(url).json()
    assert len(body["images"]) == 40 and "images_links" not in body
    body = get(url, limit=10).json()
    assert len(body["images"]) == 10 and next_href(body)
    for limit in (11, 25):
        body = get(url, limit=limit).json()
        assert len(body["images"]) == limit and "images_links" not in body
    body = get(url, limit=40).json()
    assert len(body["images"]) == 40 and "images_links" not in body


def test_link_prefix_replaces_scheme_host_and_prepends_path(records, image_server):
    prefix = "https://compute.example.com:443/nova"
    s = image_server(records[:30], link_prefix=prefix, glance_url="http://glance:9292")
    body = get(f"{s.endpoint}/images", limit=2).json()
    first, second = body["images"]
    assert next_href(body) == (f"{prefix}/v2.1/{s.project_id}/images?limit=2"
                               f"&marker={second['id']}")
    assert first["links"] == [
        {"rel": "self", "href": f"{prefix}/v2.1/{s.project_id}/images/{first['id']}"},
        {"rel": "bookmark", "href": f"{prefix}/{s.project_id}/images/{first['id']}"},
        {"rel": "alternate", "type": "application/vnd.openstack.image",
         "href": f"http://glance:9292/images/{first['id']}"},
    ]


def test_links_follow_host_header(srv, records):
    r = requests.get(f"{srv.endpoint}/images", params={"limit": 1},
                     headers={"Host": "nova-internal:8774"}, timeout=10)
    first = listed(records)[0]
    assert next_href(r.json()) == (f"http://nova-internal:8774/v2.1/{srv.project_id}/images"
                                   f"?limit=1&marker={first['id']}")


def test_next_link_encodes_values_like_nova(srv, records):
    name = listed(records)[0]["name"]
    r = requests.get(f"{srv.endpoint}/images?limit=1&name=in%3A{quote(name)}%2Cx+y", timeout=10)
    href = next_href(r.json())
    assert href.endswith(f"?limit=1&name=in%3A{name}%2Cx+y&marker={listed(records)[0]['id']}")


# --- auth ---------------------------------------------------------------------------------

def test_token_required_when_configured(records, image_server):
    s = image_server(records[:20], token="secret")
    for headers in ({}, {"X-Auth-Token": "wrong"}):
        r = requests.get(f"{s.endpoint}/images", headers=headers, timeout=10)
        assert r.status_code == 401
        assert r.json() == {"error": {"code": 401, "title": "Unauthorized", "message":
                                      "The request you have made requires authentication."}}
    r = requests.get(f"{s.endpoint}/images", headers={"X-Auth-Token": "secret"}, timeout=10)
    assert r.status_code == 200
    r = requests.get(f"{s.endpoint}/images", headers={"X-Auth-Token": s.issue_token()},
                     timeout=10)
    assert r.status_code == 200


def test_serve_yields_url_and_stops(records):
    with serve(records[:10]) as url:
        assert url.startswith("http://127.0.0.1:")
        assert get(f"{url}/v2.1/images").status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v2.1/images", timeout=2)


def test_version_documents(srv):
    assert get(f"{srv.url}/").json()["versions"][1]["id"] == "v2.1"
    assert get(f"{srv.url}/v2.1/{srv.project_id}").json()["version"]["id"] == "v2.1"


def test_bodies_are_plain_json(srv, base):
    r = get(f"{base}/images/detail", limit=50)
    assert json.loads(r.content) == r.json()
    assert b"\x00" not in r.content


def test_names_with_percent_nul_and_markers_round_trip(records, image_server):
    odd = ["100% off %(S)s %s", "nul\x00byte \x00S", "\\x00G %%", 'quote " and \n newline',
           "=cmd|' /C calc'!A0", "ünïcödé, 镜像"]
    recs = [dict(records[i], name=name, properties={"note": name}) for i, name in enumerate(odd)]
    server = image_server(recs)
    detail = get(f"{server.endpoint}/images/detail").json()["images"]
    index = get(f"{server.endpoint}/images").json()["images"]
    by_name = {n: get(f"{server.endpoint}/images", name=n).json()["images"] for n in odd}
    assert sorted(i["name"] for i in detail) == sorted(odd)
    assert all(i["metadata"]["note"] == i["name"] for i in detail)
    assert sorted(i["name"] for i in index) == sorted(odd)
    assert all(len(found) == 1 and found[0]["name"] == n for n, found in by_name.items())
    for item in detail:
        assert item["links"][0]["href"].endswith(f"/images/{item['id']}")


def test_unknown_glance_status_lists_as_unknown(records, image_server):
    recs = [dict(records[0], status="frobnicating"), dict(records[1], status="uploading")]
    server = image_server(recs)
    detail = get(f"{server.endpoint}/images/detail").json()["images"]
    assert {(i["id"], i["status"], i["progress"]) for i in detail} == {
        (recs[0]["id"], "UNKNOWN", 0), (recs[1]["id"], "UNKNOWN", 0)}
    assert ids(get(f"{server.endpoint}/images", status="uploading").json()["images"]) == \
        [recs[1]["id"]]


def test_exported_members():
    import imgframe.server as server

    public = {name for name in vars(server) if not name.startswith("_")}
    modules = {"app", "catalog", "faults", "glance", "glance_api", "handler", "http", "ims_api",
               "inventory", "keystone", "nova_api", "views", "cloud", "servers_api",
               "volumes_api", "ecs_api", "servers_views"}
    assert set(server.__all__) == public - modules
    assert server.__all__ == sorted(server.__all__)


def test_head_requests_have_no_body(srv):
    with requests.Session() as session:     # one keep-alive connection: framing must hold
        for url in (f"{srv.url}/", f"{srv.url}/v2.1", f"{srv.endpoint}/images?limit=3",
                    f"{srv.endpoint}/images/nope", f"{srv.url}/nowhere", f"{srv.auth_url}"):
            head = session.head(url, timeout=10)
            got = session.get(url, timeout=10)
            assert head.content == b""
            assert head.status_code == got.status_code
            assert int(head.headers["Content-Length"]) == len(got.content)


def test_a_non_hex_project_id_still_routes_when_it_is_the_served_one(records, image_server):
    s = image_server(records[:12], project_id="demo_project")
    body = get(f"{s.endpoint}/images", limit=2).json()
    assert len(body["images"]) == 2
    assert next_href(body).startswith(f"{s.url}/v2.1/demo_project/images?limit=2&marker=")
    assert get(f"{s.url}/v2.1/other_project/images").status_code == 404


def test_ipv6_loopback(records, image_server):
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = image_server(records[:5], host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    assert server.url.startswith("http://[::1]:")
    body = get(f"{server.endpoint}/images", limit=1).json()
    assert next_href(body).startswith(f"{server.url}/v2.1/")
