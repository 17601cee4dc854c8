"""One catalogue through Nova's proxy, Glance's default listing and IMS, over real HTTP.

A real Nova lists what Glance's default listing shows the same caller (reference
image-sources.md 3.5 and 7: public, accepted shared and the caller's own images; no hidden
images, no other project's private or community images), so the embedded Nova must too, and
the three APIs must agree on every image they all show.
"""

from __future__ import annotations

import pytest
import requests

from imgframe.server import DEFAULT_PROJECT_ID, sample_inventory

ME = DEFAULT_PROJECT_ID
LISTABLE = {"active", "queued", "saving", "deactivated", "importing", "uploading"}
DISPLAY = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING"}


def newest_first(records):
    return [r["id"] for r in sorted(records, key=lambda r: (r["created_at"], r["id"]),
                                    reverse=True)]


def glance_default(records):
    """Glance's default listing for ME, computed from the records alone."""
    return newest_first(r for r in records if r["status"] in LISTABLE and not r["os_hidden"]
                        and (r["owner"] == ME or r["visibility"] in ("public", "shared")))


def nova_walk(session, srv, limit=1000):
    """Every image of ``/images/detail``, following ``images_links``."""
    out, url = [], f"{srv.endpoint}/images/detail?limit={limit}"
    while url:
        body = session.get(url, timeout=60).json()
        out += body["images"]
        url = next((link["href"] for link in body.get("images_links", [])
                    if link["rel"] == "next"), None)
    return out


def glance_walk(session, srv, **params):
    """Every image of ``/v2/images`` with `params` (none: Glance's defaults), by ``next``."""
    out, url = [], f"{srv.glance_endpoint}/v2/images"
    body = session.get(url, params={"limit": 1000, **params}, timeout=60).json()
    while True:
        out += body["images"]
        if "next" not in body:
            return out
        body = session.get(srv.url + "/image" + body["next"], timeout=60).json()


def ims_walk(session, srv):
    """Every image of ``/v2/cloudimages``, by marker until an empty page."""
    out, marker = [], None
    while True:
        params = {"limit": 500, **({"marker": marker} if marker else {})}
        page = session.get(f"{srv.ims_endpoint}/v2/cloudimages", params=params,
                           timeout=60).json()["images"]
        if not page:
            return out
        out += page
        marker = page[-1]["id"]


@pytest.fixture(scope="module")
def records():
    return sample_inventory(1500, seed=41)


@pytest.fixture(scope="module")
def srv(records, module_image_server):
    server = module_image_server(records, max_limit=300)
    with requests.Session() as session:
        server.session = session
        yield server


@pytest.fixture(scope="module")
def listings(srv):
    s = srv.session
    return {"nova": nova_walk(s, srv, limit=300), "glance": glance_walk(s, srv),
            "ims": ims_walk(s, srv)}


def test_nova_lists_glances_default_listing_in_its_order(records, listings):
    nova = [i["id"] for i in listings["nova"]]
    glance = [i["id"] for i in listings["glance"]]
    assert nova == glance == glance_default(records)
    # the catalogue has every kind of image Nova must leave out
    shown = set(nova)
    kinds = {(r["os_hidden"], r["visibility"], r["owner"] == ME)
             for r in records if r["status"] in LISTABLE and r["id"] not in shown}
    assert any(hidden for hidden, _, _ in kinds)
    assert (False, "private", False) in kinds and (False, "community", False) in kinds


def test_every_image_nova_lists_glance_shows(srv, listings):
    everything = {i["id"] for hidden in ("false", "true")
                  for i in glance_walk(srv.session, srv, visibility="all", os_hidden=hidden)}
    nova = [i["id"] for i in listings["nova"]]
    assert set(nova) <= everything
    for image_id in nova[::25]:
        r = srv.session.get(f"{srv.glance_endpoint}/v2/images/{image_id}", timeout=10)
        assert r.status_code == 200, image_id


def test_the_three_agree_on_every_image_they_all_show(listings):
    nova = {i["id"]: i for i in listings["nova"]}
    glance = {i["id"]: i for i in listings["glance"]}
    ims = {i["id"]: i for i in listings["ims"]}
    common = nova.keys() & glance.keys() & ims.keys()
    # IMS has no community visibility and no hidden flag: it leaves out the caller's own
    # community images, and lists hidden ones Glance's default listing leaves out
    assert nova.keys() - ims.keys() == {i for i, g in glance.items()
                                        if g["visibility"] == "community"}
    assert all(g["owner"] == ME for i, g in glance.items() if g["visibility"] == "community")
    assert len(common) > 0.9 * len(nova)
    for image_id in common:
        n, g, i = nova[image_id], glance[image_id], ims[image_id]
        assert n["name"] == g["name"] == i["name"]
        assert n["status"] == DISPLAY.get(g["status"], "UNKNOWN") and g["status"] == i["status"]
        assert n["created"] == g["created_at"] == i["created_at"]
        assert n["updated"] == g["updated_at"] == i["updated_at"]
        assert n["minRam"] == g["min_ram"] == i["min_ram"]
        assert n["minDisk"] == g["min_disk"] == i["min_disk"]
        assert n["OS-EXT-IMG-SIZE:size"] == (g["size"] or 0)
        assert i.get("__image_size") == (None if g["size"] is None else str(g["size"]))
        for key in ("visibility", "owner", "protected", "disk_format", "container_format",
                    "tags"):
            assert g[key] == i[key], key
        assert n["metadata"]["os_distro"] == g["os_distro"]


def test_ims_shows_the_hidden_images_nova_leaves_out(srv, listings):
    nova = {i["id"] for i in listings["nova"]}
    extra = {i["id"] for i in listings["ims"] if i["id"] not in nova}
    hidden = {i["id"] for i in glance_walk(srv.session, srv, visibility="all",
                                           os_hidden="true")}
    assert extra and extra <= hidden


def test_keep_alive_answers_are_not_held_back(srv, listings):
    """Small answers on a kept-alive connection come at once (no Nagle/delayed-ACK stall of
    about 40 ms each)."""
    import time

    ids = [i["id"] for i in listings["nova"][:40]]
    started = time.perf_counter()
    for image_id in ids:
        assert srv.session.get(f"{srv.endpoint}/images/{image_id}", timeout=10).ok
    assert (time.perf_counter() - started) / len(ids) < 0.02


def test_nova_filters_keep_the_default_listing(srv, records):
    r = srv.session.get(f"{srv.endpoint}/images", params={"status": "active"}, timeout=30)
    g = glance_walk(srv.session, srv, status="active")
    assert [i["id"] for i in r.json()["images"]] == [i["id"] for i in g]
    assert [i["id"] for i in g] == glance_default([r for r in records
                                                   if r["status"] == "active"])


def pick(records, hidden, visibility, mine):
    return next(r for r in records if r["status"] == "active" and r["os_hidden"] == hidden
                and r["visibility"] == visibility and (r["owner"] == ME) == mine)


def test_show_and_delete_follow_glance_visibility(records, image_server):
    srv = image_server(records)
    private = pick(records, False, "private", mine=False)
    for method in ("GET", "DELETE"):
        r = requests.request(method, f"{srv.endpoint}/images/{private['id']}", timeout=10)
        assert r.status_code == 404
        assert r.json() == {"itemNotFound": {"code": 404, "message": "Image not found."}}
    assert srv.catalog.get(private["id"]) is not None          # not deleted
    # hidden and others' community images are visible, only left out of lists
    for rec in (pick(records, True, "public", mine=False),
                pick(records, False, "community", mine=False)):
        r = requests.get(f"{srv.endpoint}/images/{rec['id']}", timeout=10)
        assert r.status_code == 200 and r.json()["image"]["id"] == rec["id"]


def test_markers(srv, records):
    listed = set(glance_default(records))
    private = pick(records, False, "private", mine=False)
    r = srv.session.get(f"{srv.endpoint}/images", params={"marker": private["id"]},
                        timeout=10)
    assert r.status_code == 403
    assert r.json() == {"forbidden": {"code": 403, "message": (
        f"HTTP 403 Forbidden: Forbidding request, image {private['id']} not visible")}}
    # a hidden image as the marker: paging goes on after its slot, as Glance's does
    hidden = pick(records, True, "public", mine=False)
    order = newest_first(records)
    want = [i for i in order[order.index(hidden["id"]) + 1:] if i in listed][:5]
    r = srv.session.get(f"{srv.endpoint}/images", params={"marker": hidden["id"], "limit": 5},
                        timeout=10)
    assert r.status_code == 200 and [i["id"] for i in r.json()["images"]] == want


def test_the_serve_catalogue_counts(image_server):
    """``imgframe serve --images 5000``'s catalogue: Nova lists Glance's default listing
    (3,936 images), which is less than Glance's every visibility with hidden ones (4,340)."""
    records = sample_inventory(5000, seed=0)
    srv = image_server(records, max_limit=1000)
    with requests.Session() as s:
        srv.session = s
        nova = [i["id"] for i in nova_walk(s, srv)]
        glance = [i["id"] for i in glance_walk(s, srv)]
        everything = {i["id"] for h in ("false", "true")
                      for i in glance_walk(s, srv, visibility="all", os_hidden=h)}
        ims = ims_walk(s, srv)
    assert nova == glance == glance_default(records)
    assert (len(nova), len(everything), len(ims)) == (3936, 4340, 3927)
    assert set(nova) <= everything


def test_frames_from_the_three_sources_agree(srv):
    """What a user compares offline: imgframe's frames of one catalogue, one per API."""
    import imgframe

    nova = imgframe.Client(srv.url, srv.project_id).load(progress=False)
    glance = imgframe.Client(srv.glance_endpoint, source="glance").load(progress=False)
    ims = imgframe.Client(srv.ims_endpoint, srv.project_id, source="ims",
                          token="any-token").load(progress=False)   # IMS needs credentials
    shown = glance[~glance["hidden"] & ((glance["owner"] == ME)
                                        | glance["visibility"].isin(["public", "shared"]))]
    assert nova["id"].tolist() == shown["id"].tolist()      # Glance's default listing
    common = set(nova["id"]) & set(ims["id"])
    assert len(common) > 0.9 * len(nova)
    columns = ["id", "name", "status", "created", "updated", "min_ram", "min_disk", "size"]
    frames = [f.loc[f["id"].isin(common), columns].reset_index(drop=True)
              for f in (nova, glance, ims)]
    for frame in frames:
        frame["size"] = frame["size"].fillna(0)          # Nova shows a null size as 0
    for other in frames[1:]:
        assert frames[0].equals(other)
