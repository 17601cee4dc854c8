"""imgframe.server's Glance v2 route over real HTTP, against image-sources.md section 3.

Expected lists are computed from the records with the rules Glance was observed to apply
(`expected`), so each test states the rule it checks.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from imgframe.server import DEFAULT_PROJECT_ID, Faults, sample_inventory

TOKEN = "glance-test-token"
H = {"X-Auth-Token": TOKEN}
JSON = {**H, "Accept": "application/json"}
LISTABLE = {"active", "queued", "saving", "deactivated", "importing", "uploading"}
ME = DEFAULT_PROJECT_ID


@pytest.fixture(scope="module")
def records():
    return sample_inventory(600, seed=11)


@pytest.fixture(scope="module")
def srv(records, module_image_server):
    return module_image_server(records, token=TOKEN)


def seen(rec, member=True):
    """Glance's visibility rule for a member of ME (accepted member of every shared)."""
    own = rec["owner"] == ME
    return own or rec["visibility"] in ("public", "community") or \
        (member and rec["visibility"] == "shared")


def expected(records, *, visibility=None, hidden=False, where=lambda r: True):
    out = [r for r in records if r["status"] in LISTABLE and seen(r)
           and r["os_hidden"] == hidden and where(r)]
    if visibility is None:
        out = [r for r in out if r["visibility"] != "community" or r["owner"] == ME]
    elif visibility != "all":
        out = [r for r in out if r["visibility"] == visibility]
    return sorted(out, key=lambda r: (r["created_at"], r["id"]), reverse=True)


def ids(items):
    return [i["id"] for i in items]


def get(srv, query="", headers=H, **params):
    url = f"{srv.glance_endpoint}/v2/images" + (f"?{query}" if query else "")
    return requests.get(url, params=params or None, headers=headers, timeout=30)


def walk(srv, first_query, headers=H):
    """Follow `next` links (joined with the Glance endpoint); return (ids, pages)."""
    out, pages = [], []
    r = get(srv, first_query, headers)
    while True:
        body = r.json()
        out += ids(body["images"])
        pages.append(len(body["images"]))
        if "next" not in body:
            return out, pages
        r = requests.get(srv.glance_endpoint + body["next"], headers=headers, timeout=30)


def count(srv, query):
    r = get(srv, f"limit=1000&{query}")
    assert r.status_code == 200, r.text
    return len(r.json()["images"])


# ------------------------------------------------------------------ paging and defaults


def test_default_page_is_25_newest_first_with_relative_links(srv, records):
    body = get(srv).json()
    assert list(body) == ["images", "first", "next", "schema"]
    want = expected(records)
    assert ids(body["images"]) == [r["id"] for r in want[:25]]
    assert body["first"] == "/v2/images"
    assert body["next"] == f"/v2/images?marker={want[24]['id']}"
    assert body["schema"] == "/v2/schemas/images"


def test_walk_default_is_public_own_shared_without_others_community_or_hidden(srv, records):
    got, pages = walk(srv, "limit=7")
    assert got == [r["id"] for r in expected(records)]
    assert len(got) == len(set(got))
    assert all(p == 7 for p in pages[:-1]) and pages[-1] < 7


def test_exact_multiple_ends_with_an_extra_empty_page(srv, records):
    total = len(expected(records))
    got, pages = walk(srv, f"limit={total}")
    assert pages == [total, 0] and len(got) == total
    last = get(srv, f"limit={total}&marker={got[-1]}").json()
    assert last == {"images": [], "first": f"/v2/images?limit={total}",
                    "schema": "/v2/schemas/images"}


def test_api_limit_max_is_silent_and_next_keeps_the_asked_limit(records, image_server):
    s = image_server(records, api_limit_max=10, glance_limit_default=4)
    body = get(s, "limit=100", headers={}).json()
    assert len(body["images"]) == 10
    assert body["next"] == f"/v2/images?limit=100&marker={body['images'][-1]['id']}"
    assert len(get(s, headers={}).json()["images"]) == 4


def test_limit_zero_and_invalid_limits(srv):
    body = get(srv, "limit=0").json()
    assert body["images"] == [] and "next" not in body
    for value, message in (("-1", "limit param must be positive"),
                           ("abc", "limit param must be an integer"),
                           ("1.5", "limit param must be an integer"),
                           ("", "limit param must be an integer")):
        r = get(srv, f"limit={value}", headers=JSON)
        assert r.status_code == 400
        assert r.json()["message"] == message + "<br /><br />\n\n\n"


def test_repeated_scalar_parameter_silently_empties_the_result(srv):
    r = get(srv, "limit=5&limit=7")
    assert r.status_code == 200 and r.json()["images"] == []
    assert get(srv, "marker=&limit=2").status_code == 400       # an empty marker is a marker


@pytest.mark.parametrize("query", ["foo=bar", "page_size=2", "offset=5", "is_public=true",
                                   "os_glance_importing_to_stores=x"])
def test_unknown_parameters_are_property_filters(srv, query):
    r = get(srv, f"limit=1000&{query}")
    assert r.status_code == 200 and r.json()["images"] == []


def test_deleted_true_is_ignored(srv, records):
    assert count(srv, "deleted=true") == min(1000, len(expected(records)))


# ------------------------------------------------------------------ filters


def test_name_eq_in_and_colon(srv, records):
    name = next(r["name"] for r in expected(records) if r["name"] and ":" not in r["name"])
    want = len(expected(records, where=lambda r: r["name"] == name))
    assert count(srv, f"name={name}") == want == count(srv, f"name=eq:{name}")
    assert count(srv, f"name={name.upper()}") == (want if name.upper() == name else 0)
    other = next(r["name"] for r in expected(records)
                 if r["name"] and r["name"] != name and not set(":,\"") & set(r["name"]))
    both = len(expected(records, where=lambda r: r["name"] in (name, other)))
    assert count(srv, f"name=in:{name},{other}") == both
    r = get(srv, "name=win:2019-special", headers=JSON)
    assert r.status_code == 400
    assert r.json()["message"].startswith("Unable to filter by unknown operator 'win'.")
    assert get(srv, "name=neq:x").status_code == 400


def test_name_with_colons_needs_eq(records, image_server):
    recs = [dict(r) for r in records[:40]]
    for r in recs:
        r.update(owner=ME, status="active", os_hidden=False)
    recs[3]["name"] = "win:2019-special"
    s = image_server(recs)
    assert get(s, "name=win:2019-special", headers={}).status_code == 400
    assert ids(get(s, "name=eq:win:2019-special", headers={}).json()["images"]) == \
        [recs[3]["id"]]


def test_status_is_raw_and_case_sensitive(srv, records):
    active = len(expected(records, where=lambda r: r["status"] == "active"))
    assert count(srv, "status=active") == min(1000, active)
    assert count(srv, "status=ACTIVE") == 0
    assert count(srv, "status=eq:active") == min(1000, active)
    assert count(srv, "status=in:queued,saving") == len(
        expected(records, where=lambda r: r["status"] in ("queued", "saving")))
    for word in ("killed", "deleted", "pending_delete", "bogus"):
        assert count(srv, f"status={word}") == 0
    assert get(srv, "status=neq:active").status_code == 400


@pytest.mark.parametrize("visibility", ["public", "private", "shared", "community", "all"])
def test_visibility_values(srv, records, visibility):
    assert count(srv, f"visibility={visibility}") == \
        len(expected(records, visibility=visibility))


def test_visibility_all_adds_others_community(srv, records):
    default, everything = expected(records), expected(records, visibility="all")
    extra = {r["id"] for r in everything} - {r["id"] for r in default}
    assert extra and all(r["visibility"] == "community" and r["owner"] != ME
                         for r in records if r["id"] in extra)


def test_invalid_visibility_is_400(srv):
    for value in ("ALL", "bogus"):
        r = get(srv, f"visibility={value}", headers=JSON)
        assert r.status_code == 400
        assert r.json()["message"].startswith(f"Invalid visibility value: {value}")


def test_member_status_pending_drops_others_shared(srv, records):
    want = [r for r in expected(records, visibility="shared") if r["owner"] == ME]
    assert count(srv, "visibility=shared&member_status=pending") == len(want)
    assert get(srv, "member_status=bogus").status_code == 400


def test_hidden_images_only_with_os_hidden_true(srv, records):
    hidden = expected(records, hidden=True)
    assert hidden
    got = ids(get(srv, "limit=1000&os_hidden=true").json()["images"])
    assert got == [r["id"] for r in hidden]
    assert ids(get(srv, "limit=1000&os_hidden=TRUE").json()["images"]) == got
    assert count(srv, "os_hidden=false") == len(expected(records))
    assert count(srv, "os_hidden=true&visibility=all") == \
        len(expected(records, hidden=True, visibility="all"))
    r = get(srv, "os_hidden=yes", headers=JSON)
    assert r.status_code == 400 and r.json()["message"].startswith(
        "Invalid value 'yes' for 'os_hidden' filter. Valid values are 'true' or 'false'.")


def test_owner_and_protected(srv, records):
    other = next(r["owner"] for r in records if r["owner"] not in (ME, None)
                 and r["visibility"] == "public")
    assert count(srv, f"owner={other}") == len(expected(records, where=lambda r:
                                                        r["owner"] == other))
    assert count(srv, "owner=") == 0
    assert count(srv, "protected=true") == len(expected(records, where=lambda r:
                                                        r["protected"]))
    assert count(srv, "protected=false") == len(expected(records, where=lambda r:
                                                         not r["protected"]))
    for bad in ("True", "1"):
        assert get(srv, f"protected={bad}").status_code == 400


def test_formats_checksum_and_ranges(srv, records):
    assert count(srv, "disk_format=qcow2") == len(expected(
        records, where=lambda r: r["disk_format"] == "qcow2"))
    assert count(srv, "disk_format=QCOW2") == 0
    assert count(srv, "disk_format=in:raw,vhd") == len(expected(
        records, where=lambda r: r["disk_format"] in ("raw", "vhd")))
    assert get(srv, "container_format=neq:bare").status_code == 400
    one = next(r for r in expected(records) if r["checksum"])
    assert ids(get(srv, f"checksum={one['checksum']}").json()["images"]) == [one["id"]]
    assert ids(get(srv, f"os_hash_value={one['os_hash_value']}").json()["images"]) == \
        [one["id"]]
    assert count(srv, "size_min=2147483648") == len(expected(
        records, where=lambda r: r["size"] is not None and r["size"] >= 2147483648))
    assert get(srv, "size_min=abc").status_code == 400


def test_min_ram_exact_operators_not_parsed_ranges_undocumented(srv, records):
    assert count(srv, "min_ram=1024") == len(expected(records, where=lambda r:
                                                      r["min_ram"] == 1024))
    assert count(srv, "min_ram=01024") == count(srv, "min_ram=1024")
    assert count(srv, "min_ram=gte:1024") == 0
    assert count(srv, "min_ram_min=1024") == len(expected(records, where=lambda r:
                                                          r["min_ram"] >= 1024))
    assert count(srv, "min_disk_max=1") == len(expected(records, where=lambda r:
                                                        r["min_disk"] <= 1))


def test_tags_are_anded_and_never_split(srv, records):
    lts = expected(records, where=lambda r: "lts" in r["tags"])
    both = expected(records, where=lambda r: {"lts", "cis-hardened"} <= set(r["tags"]))
    assert 2 < len(both) < len(lts)
    assert count(srv, "tag=lts") == len(lts)
    assert ids(get(srv, "limit=1000&tag=lts&tag=cis-hardened").json()["images"]) == \
        [r["id"] for r in both]
    assert count(srv, "tag=lts,cis-hardened") == 0
    assert count(srv, "tag=LTS") == 0
    assert count(srv, "tag=team:data") == len(expected(records, where=lambda r:
                                                       "team:data" in r["tags"]))


def test_next_link_keeps_only_the_last_repeated_tag(srv, records):
    both = expected(records, where=lambda r: {"lts", "cis-hardened"} <= set(r["tags"]))
    body = get(srv, "limit=2&tag=lts&tag=cis-hardened").json()
    assert ids(body["images"]) == [r["id"] for r in both[:2]]
    assert body["first"] == "/v2/images?limit=2&tag=cis-hardened"
    assert body["next"] == f"/v2/images?limit=2&tag=cis-hardened&marker={both[1]['id']}"
    got, _ = walk(srv, "limit=2&tag=lts&tag=cis-hardened")
    wrong = [i for i in got if i not in {r["id"] for r in both}]
    assert wrong                  # following the links returns images without "lts"


def test_time_filters_operators_and_one_condition_per_field(srv, records):
    cut = dt.datetime(2025, 9, 1, tzinfo=dt.timezone.utc)
    early = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
    def upd(f):
        return len(expected(records, where=lambda r: r["updated_at"] is not None
                            and f(r["updated_at"])))
    assert count(srv, "updated_at=gte:2025-09-01T00:00:00Z") == upd(lambda u: u >= cut)
    assert count(srv, "updated_at=lt:2025-09-01T00:00:00Z") == upd(lambda u: u < cut)
    assert count(srv, "updated_at=neq:2025-09-01T00:00:00Z") == upd(lambda u: u != cut)
    assert count(srv, "updated_at=gte:2025-09-01") == upd(lambda u: u >= cut)
    assert count(srv, "updated_at=gte:2025-09-01T02:00:00%2B02:00") == upd(lambda u: u >= cut)
    # a range on one field: only the last condition applies
    assert count(srv, "updated_at=gte:2025-03-01T00:00:00Z&updated_at=lt:2025-09-01T00:00:00Z") \
        == upd(lambda u: u < cut)
    assert count(srv, "updated_at=lt:2025-09-01T00:00:00Z&updated_at=gte:2025-03-01T00:00:00Z") \
        == upd(lambda u: u >= early)
    # two different fields do combine
    assert count(srv, "updated_at=gte:2025-03-01T00:00:00Z&created_at=lt:2025-09-01T00:00:00Z") \
        == len(expected(records, where=lambda r: r["updated_at"] is not None
                        and r["updated_at"] >= early and r["created_at"] < cut))
    one = expected(records)[3]
    stamp = one["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert one["id"] in ids(get(srv, f"limit=1000&created_at={stamp}").json()["images"])
    assert one["id"] in ids(get(srv, f"limit=1000&created_at=eq:{stamp}").json()["images"])


@pytest.mark.parametrize("query, message", [
    ("updated_at=gte:2021-03-01T01:00:00+01:00",
     'Bad "updated_at" query filter format. Use ISO 8601 DateTime notation.'),
    ("updated_at=garbage", 'Bad "updated_at" query filter format. Use ISO 8601 DateTime '
                           "notation."),
    ("created_at=gte:1614556800", 'Bad "created_at" query filter format. Use ISO 8601 '
                                  "DateTime notation."),
    ("updated_at=in:2021-03-01T00:00:00Z", "Unable to filter on a unknown operator."),
    ("changes-since=2021-03-01T00:00:00Z",
     'The "changes-since" filter is no longer available on v2.'),
])
def test_time_filter_errors(srv, query, message):
    r = get(srv, query, headers=JSON)
    assert r.status_code == 400
    assert r.json()["message"] == message + "<br /><br />\n\n\n"


def test_sorting(srv, records):
    got, _ = walk(srv, "limit=40&sort_key=name&sort_dir=asc")
    assert sorted(got) == sorted(r["id"] for r in expected(records))
    names = [next(r["name"] for r in records if r["id"] == i) for i in got]
    assert [n or "" for n in names] == sorted(n or "" for n in names)
    assert get(srv, "sort=name:asc&sort_key=size").status_code == 400
    r = get(srv, "sort_key=min_ram", headers=JSON)
    assert r.status_code == 400 and r.json()["message"].startswith(
        "Invalid sort key: min_ram. It must be one of the following: name, status, "
        "container_format, disk_format, size, id, created_at, updated_at.")
    assert get(srv, "sort_dir=up").status_code == 400
    assert get(srv, "sort=name:ASC").status_code == 400
    assert get(srv, "sort_key=name&sort_key=status&sort_dir=asc&sort_dir=desc&sort_dir=asc"
               ).status_code == 400


# ------------------------------------------------------------------ markers


def test_marker_errors(srv, records):
    invisible = next(r for r in records if r["visibility"] == "private" and r["owner"] != ME
                     and r["status"] == "active")
    r = get(srv, f"marker={invisible['id']}", headers=JSON)
    assert r.status_code == 403
    assert r.json()["message"].startswith(f"Forbidding request, image {invisible['id']} not "
                                          "visible")
    assert r.json()["code"] == "403 Forbidden"
    deleted = next(r for r in records if r["status"] == "deleted")
    for marker in ("00000000-0000-4000-8000-000000000000", "garbage", deleted["id"]):
        r = get(srv, f"marker={marker}", headers=JSON)
        assert r.status_code == 400
        assert r.json()["message"].startswith(f"No image found with ID {marker}")
    r = get(srv, "marker=" + "a" * 40, headers=JSON)
    assert r.status_code == 400
    assert r.json()["message"].startswith("Image with the given id %(image_id)s was not found")


def test_hidden_killed_and_community_markers_page_on(srv, records):
    order = expected(records)
    for marker in (next(r for r in records if r["os_hidden"] and r["status"] == "active"
                        and seen(r)),
                   next(r for r in records if r["status"] == "killed" and seen(r)),
                   next(r for r in records if r["visibility"] == "community"
                        and r["owner"] != ME and r["status"] == "active")):
        body = get(srv, f"limit=3&marker={marker['id']}").json()
        after = [r["id"] for r in order
                 if (r["created_at"], r["id"]) < (marker["created_at"], marker["id"])][:3]
        assert ids(body["images"]) == after


def test_vanished_marker_is_400(records, image_server):
    s = image_server(records)
    page = get(s, "limit=2", headers={}).json()
    s.remove_image(page["images"][-1]["id"])
    r = requests.get(s.glance_endpoint + page["next"], timeout=10)
    assert r.status_code == 400 and "No image found with ID" in r.text


# ------------------------------------------------------------------ bodies


def test_error_bodies_html_unless_json_is_asked_for(srv):
    r = get(srv, "limit=abc")
    assert r.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert r.text.startswith("<html>\n <head>\n  <title>400 Bad Request</title>")
    assert "limit param must be an integer<br /><br />" in r.text
    r = get(srv, "limit=abc", headers=JSON)
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"message": "limit param must be an integer<br /><br />\n\n\n",
                        "code": "400 Bad Request", "title": "Bad Request"}
    r = get(srv, "name=it's:x")
    assert "operator &#x27;it&#x27;" in r.text
    assert r.headers["x-openstack-request-id"].startswith("req-")


def test_item_shape(srv, records):
    by_id = {r["id"]: r for r in records}
    for item in get(srv, "limit=200").json()["images"]:
        rec = by_id[item["id"]]
        props = rec["properties"]
        assert list(item)[:len(props)] == list(props)
        assert list(item)[len(props):] == [
            "name", "disk_format", "container_format", "visibility", "size", "virtual_size",
            "status", "checksum", "protected", "min_ram", "min_disk", "owner", "os_hidden",
            "os_hash_algo", "os_hash_value", "id", "created_at", "updated_at", "tags", "self",
            "file", "schema"]
        for key, value in props.items():
            assert item[key] == ("" if value is None else
                                 value if isinstance(value, str) else json.dumps(value))
        for key in ("name", "disk_format", "container_format", "visibility", "size",
                    "virtual_size", "status", "checksum", "protected", "min_ram", "min_disk",
                    "owner", "os_hidden", "os_hash_algo", "os_hash_value", "tags"):
            assert item[key] == rec[key], key
        assert item["created_at"] == rec["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert item["self"] == f"/v2/images/{rec['id']}"
        assert item["file"] == f"/v2/images/{rec['id']}/file"
        assert item["schema"] == "/v2/schemas/image"


def test_killed_deleted_pending_delete_never_listed(srv, records):
    hidden_states = {"killed", "deleted", "pending_delete"}
    got = set(ids(get(srv, "limit=1000&visibility=all").json()["images"]))
    got |= set(ids(get(srv, "limit=1000&visibility=all&os_hidden=true").json()["images"]))
    assert got and not any(r["status"] in hidden_states for r in records if r["id"] in got)


def test_show(srv, records):
    rec = next(r for r in records if r["status"] == "killed" and seen(r))
    item = requests.get(f"{srv.glance_endpoint}/v2/images/{rec['id']}", headers=H).json()
    assert item["status"] == "killed" and item["id"] == rec["id"]
    deleted = next(r for r in records if r["status"] == "deleted")
    r = requests.get(f"{srv.glance_endpoint}/v2/images/{deleted['id']}", headers=JSON)
    assert r.status_code == 404 and r.json()["code"] == "404 Not Found"


def test_token_required(srv):
    r = get(srv, headers={})
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    assert get(srv, headers={"X-Auth-Token": "nope"}).status_code == 401
    assert requests.get(srv.glance_endpoint, timeout=10).status_code == 300


def test_first_and_next_encode_like_urlencode(srv, records):
    body = get(srv, "limit=2&updated_at=gte:2021-03-01T00:00:00Z").json()
    assert body["first"] == "/v2/images?limit=2&updated_at=gte%3A2021-03-01T00%3A00%3A00Z"
    nxt = urlsplit(body["next"])
    assert parse_qsl(nxt.query) == [("limit", "2"), ("updated_at", "gte:2021-03-01T00:00:00Z"),
                                    ("marker", body["images"][-1]["id"])]


def test_faults_apply_to_glance(records, image_server):
    s = image_server(records[:100], faults=Faults(latency=0.3, schedule={2: 503}))
    started = time.perf_counter()
    assert get(s, headers={}).status_code == 200
    assert time.perf_counter() - started >= 0.3
    r = get(s, headers={"Accept": "application/json"})
    assert r.status_code == 503 and r.json()["code"] == "503 Service Unavailable"
    assert s.stats.requests == 2
