"""Nova ``/servers/detail`` pages decoded straight into structs
(:mod:`imgframe.sources.servers_typed`) give exactly the frame, and the errors, of the
general way (JSON dicts and ``servers.nova_columns``).

The general way is the reference: for any page body, the typed decoder either refuses it
(and the general way takes it, as a load does) or the frame it gives equals the general one.
"""

from __future__ import annotations

import json

import msgspec
import pandas as pd
import pytest
import requests
from expected import same, same_servers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imgframe
from imgframe.errors import MalformedResponseError
from imgframe.frame import Typed
from imgframe.pages import loads
from imgframe.server import DEFAULT_PROJECT_ID, sample_cloud, sample_inventory
from imgframe.sources import servers as S
from imgframe.sources.servers_typed import TYPED

T, A = "member-token", "admin-token"
ME = DEFAULT_PROJECT_ID
AK, SK = "AKSERVERSTYPED0001", "servers-typed-secret-0123"
FAST = {"backoff": 0.01, "budget": 5, "progress": False}


def general(body: bytes):
    """The reference: the page's frame by the general way, or the error it raises."""
    builder = S.builder("nova")
    builder.typed = None   # dicts only
    try:
        builder.add(S._nova_page(loads(body)).items)
        return builder.frame()
    except MalformedResponseError as exc:
        return exc


def typed(body: bytes):
    """What a load does: the typed decoder, and the general way for a body it refuses.
    Returns (frame or error, whether the typed way took the page)."""
    try:
        page = TYPED.page(TYPED.decoder.decode(body))
    except ValueError:   # msgspec's DecodeError and ValidationError, as the edge catches
        return general(body), False
    builder = S.builder("nova")
    assert builder.typed is TYPED
    try:
        builder.add(page.items)
        return builder.frame(), True
    except MalformedResponseError as exc:
        return exc, True


def body_of(items, links=None) -> bytes:
    body = {"servers": items}
    if links is not None:
        body["servers_links"] = links
    return json.dumps(body).encode()


# -- the sample cloud's own pages ---------------------------------------------------------

@pytest.fixture(scope="module")
def srv(module_image_server):
    records = sample_inventory(300, seed=5)
    return module_image_server(records, cloud=sample_cloud(records, seed=5), token=T,
                               admin_token=A, aksk={AK: SK}, down_cells=("cell2",))


def _get(srv, token, microversion, params=()):
    headers = {"X-Auth-Token": token, "X-OpenStack-Nova-API-Version": microversion}
    return requests.get(f"{srv.endpoint}/servers/detail", params=list(params),
                        headers=headers, timeout=30).content


@pytest.mark.parametrize(("token", "microversion", "params"), [
    (T, "2.3", [("limit", "1000")]),                                    # what a load asks
    (T, "2.3", [("limit", "1000"), ("changes-since", S.EVER)]),         # soft-deleted too
    (A, "2.3", [("limit", "1000"), ("all_tenants", "1")]),              # kernel_id, ...
    (A, "2.47", [("all_tenants", "1")]),                                # flavor by name
    (A, "2.69", []),                                                    # down-cell items
])
def test_the_sample_clouds_pages_go_the_typed_way(srv, token, microversion, params):
    body = _get(srv, token, microversion, params)
    got, took = typed(body)
    assert took and isinstance(got, pd.DataFrame) and len(got) > 20
    same(got, general(body))


def test_the_sample_pages_hold_the_odd_servers_the_typed_way_must_read(srv):
    """The comparison above covers servers booted from a volume, never launched, flavors
    by name and down cells' UNKNOWN items (it would prove little without them)."""
    admin = typed(_get(srv, A, "2.69"))[0]
    unknown = admin[admin["status"] == "UNKNOWN"]
    down = {s["id"] for s in srv.cloud.servers if s["cell"] == "cell2" and not s["deleted"]}
    assert len(unknown) and set(unknown["id"]) <= down
    assert unknown["boot"].isna().all() and unknown["flavor"].isna().all()
    assert unknown["image_id"].isna().all() and unknown["created"].notna().all()
    assert (admin["boot"] == "volume").any() and admin["launched_at"].isna().any()
    named = typed(_get(srv, A, "2.47", [("all_tenants", "1")]))[0]
    names = {s["flavor"]["name"] for s in srv.cloud.servers}
    assert set(named["flavor"].dropna()) <= names and named["flavor"].notna().any()


# -- odd items ----------------------------------------------------------------------------

_LINKS = [{"rel": "self", "href": "http://h/v2.1/p/servers/x"},
          {"rel": "bookmark", "href": "http://h/p/servers/x"}]
_FULL = {"id": "s-full", "name": "web", "status": "ACTIVE", "tenant_id": "p", "user_id": "u",
         "metadata": {"role": "web"}, "hostId": "abc",
         "image": {"id": "img-1", "links": [{"rel": "bookmark", "href": "http://h/i"}]},
         "flavor": {"id": "m1.small", "links": []}, "created": "2026-01-02T03:04:05Z",
         "updated": "2026-01-03T03:04:05Z", "addresses": {"net": [{"addr": "10.0.0.1"}]},
         "links": _LINKS, "OS-SRV-USG:launched_at": "2026-01-02T03:05:06.123456",
         "os-extended-volumes:volumes_attached": [{"id": "v-1",
                                                   "delete_on_termination": False}],
         "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "rd-1"}
_ODD = [
    _FULL,
    dict(_FULL, id="s-volume", image="", **{"os-extended-volumes:volumes_attached": [
        {"id": "v-data"}, {"id": "v-root", "bootIndex": "0"}]}),
    dict(_FULL, id="s-int-boot-index", **{"os-extended-volumes:volumes_attached": [
        {"id": "v-a", "bootIndex": 1}, {"id": "v-b", "bootIndex": 0}]}),
    {"id": "s-bare"},                                              # every optional key absent
    dict(_FULL, id="s-extra", unknown={"nested": [1, 2.5, None]}, locked=True, tags=["x"]),
    dict(_FULL, id="s-never-launched", status="BUILD", **{"OS-SRV-USG:launched_at": None}),
    {"id": "s-down", "status": "UNKNOWN", "tenant_id": "p", "created": "2026-01-02T03:04:05Z",
     "links": _LINKS},                                              # a down cell's construct
    dict(_FULL, id="s-flavor-247", flavor={"original_name": "m1.big", "vcpus": 2}),
    dict(_FULL, id="s-flavor-null-id", flavor={"id": None, "original_name": "m1.big"}),
    dict(_FULL, id="s-flavor-name", flavor={"name": "legacy"}),
    dict(_FULL, id="s-flavor-none", flavor=None),
    dict(_FULL, id="s-image-null", image=None),
    dict(_FULL, id="s-image-empty-id", image={"id": ""}),
    dict(_FULL, id="s-image-no-id", image={"links": []}),
    dict(_FULL, id="s-no-links", links=[], metadata=None),
    dict(_FULL, id="s-other-rel", links=[{"rel": "alternate", "href": "http://h/alt"}]),
    dict(_FULL, id="s-no-volumes", **{"os-extended-volumes:volumes_attached": None}),
]


def test_odd_items_take_the_typed_way_and_give_the_general_frame():
    body = body_of(_ODD, [{"rel": "next", "href": "http://h/servers/detail?marker=x"}])
    got, took = typed(body)
    assert took
    same(got, general(body))
    row = got.set_index("id")
    assert row.loc["s-full", ["image_id", "boot", "flavor"]].tolist() == \
        ["img-1", "image", "m1.small"]
    assert pd.isna(row.loc["s-full", "kernel_id"]) and row.loc["s-full", "ramdisk_id"] == "rd-1"
    assert row.loc["s-full", "launched_at"] == pd.Timestamp("2026-01-02T03:05:06.123456Z")
    assert pd.isna(row.loc["s-volume", "image_id"]) and row.loc["s-volume", "boot"] == "volume"
    assert row.loc["s-volume", "root_volume_id"] == "v-root"
    assert row.loc["s-volume", "volume_ids"] == ["v-data", "v-root"]
    assert row.loc["s-int-boot-index", "root_volume_id"] == "v-b"
    assert pd.isna(row.loc["s-full", "root_volume_id"])
    assert row.loc["s-bare"].drop("volume_ids").isna().all()
    assert row.loc["s-bare", "volume_ids"] == []
    assert pd.isna(row.loc["s-never-launched", "launched_at"])
    assert row.loc["s-down", "status"] == "UNKNOWN" and pd.isna(row.loc["s-down", "boot"])
    assert row.loc["s-flavor-247", "flavor"] == "m1.big"
    assert pd.isna(row.loc["s-flavor-null-id", "flavor"])   # present and null, as dict.get
    assert row.loc["s-flavor-name", "flavor"] == "legacy"
    assert pd.isna(row.loc["s-image-null", "boot"])
    assert [row.loc[i, "boot"] for i in ("s-image-empty-id", "s-image-no-id")] == \
        ["volume", "volume"]
    assert row.loc["s-other-rel", "link_alternate"] == "http://h/alt"
    assert pd.isna(row.loc["s-other-rel", "link_self"])


@pytest.mark.parametrize(("change", "field", "takes"), [
    ({"image": "http://h/images/img-1"}, "image", True),   # a string that is not ""
    ({"image": {"id": 5}}, "image.id", False),
    ({"os-extended-volumes:volumes_attached": [{"bootIndex": "0"}]},
     "os-extended-volumes:volumes_attached", False),
    ({"os-extended-volumes:volumes_attached": {"id": "v"}},
     "os-extended-volumes:volumes_attached", False),
    ({"name": 7}, "name", False),
    ({"OS-SRV-USG:launched_at": "yesterday"}, "OS-SRV-USG:launched_at", True),
    ({"metadata": ["a"]}, "metadata", False),
    ({"links": [{"rel": "self"}]}, "links", False),
])
def test_a_field_the_typed_way_refuses_is_named_as_before(change, field, takes):
    body = body_of([dict(_FULL, id="a"), {**_FULL, "id": "b", **change}])
    got, took = typed(body)
    assert took is takes
    same(got, general(body))
    assert isinstance(got, MalformedResponseError) and field in str(got)


@pytest.mark.parametrize("change", [
    {"flavor": {"id": 42}},                             # an int id: the general way str()s it
    {"metadata": {"ratio": float("nan")}},              # NaN: json takes it, msgspec does not
    {"os-extended-volumes:volumes_attached": [{"id": "v", "bootIndex": ["0"]}]},
])
def test_a_page_the_decoder_refuses_goes_the_general_way(change):
    body = body_of([dict(_FULL, id="a"), dict(_FULL, id="b", **change)])
    got, took = typed(body)
    assert not took and isinstance(got, pd.DataFrame) and len(got) == 2
    same(got, general(body))


def test_typed_and_general_pages_mix_in_one_builder():
    """A load may take page 1 the typed way, page 2 the general way (refused by the
    decoder), page 3 typed again: the frame is the general way's, rows in order."""
    pages = [body_of([dict(_FULL, id="a0"), {"id": "a1", "status": "UNKNOWN"}]),
             body_of([dict(_FULL, id="b0", metadata={"x": float("nan")}),
                      dict(_FULL, id="b1", image="")]),
             body_of([dict(_FULL, id="c0", links=[{"rel": "other", "href": "http://o"}])])]
    mixed = S.builder("nova")
    ways = []
    for body in pages:
        try:
            items = TYPED.page(TYPED.decoder.decode(body)).items
        except msgspec.DecodeError:
            items = S._nova_page(loads(body)).items
        ways.append(type(items[0]) is TYPED.item)
        mixed.add(items)
    assert ways == [True, False, True]
    reference = S.builder("nova")
    reference.typed = None
    for body in pages:
        reference.add(S._nova_page(loads(body)).items)
    same(mixed.frame(), reference.frame())
    assert mixed.last_id == "c0" and mixed.frame()["id"].tolist() == ["a0", "a1", "b0",
                                                                       "b1", "c0"]


# -- any page -----------------------------------------------------------------------------

_any = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                 st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4),
                 st.just([]), st.just({}))


def _either(good, odd: bool):
    return st.one_of(good, good, good, _any) if odd else st.one_of(good, st.none())


@st.composite
def server_pages(draw, odd: bool = True):
    """Nova servers pages. Without ``odd`` every field has its documented type (or is
    null/absent); with it, any JSON type may turn up anywhere."""
    ts = _either(st.sampled_from(["2026-10-30T23:59:59Z", "2026-01-02T03:04:05.123456",
                                  "2026-01-02T03:04:05+02:00", "last tuesday"]), odd)
    ids = st.uuids().map(str)
    ref = st.fixed_dictionaries({}, optional={"id": _either(st.one_of(ids, st.just("")), odd),
                                              "links": st.just([])})
    flavor = st.fixed_dictionaries({}, optional={
        "id": _either(st.sampled_from(["m1", "2"]), odd),
        "original_name": _either(st.just("m1.big"), odd), "name": _either(st.just("n"), odd)})
    volume = st.fixed_dictionaries({"id": _either(ids, odd) if odd else ids}, optional={
        "bootIndex": _either(st.sampled_from(["0", "1", 0, 1, ""]), odd),
        "delete_on_termination": st.booleans()})
    link = st.fixed_dictionaries({"rel": _either(st.sampled_from(["self", "bookmark"]), odd)
                                  if odd else st.sampled_from(["self", "bookmark", "alt"]),
                                  "href": _either(st.just("http://h/s"), odd)
                                  if odd else st.just("http://h/s")})
    item = st.fixed_dictionaries(
        {"id": st.one_of(ids, ids, ids, _any) if odd else ids},
        optional={
            "name": _either(st.text(max_size=6), odd),
            "status": _either(st.sampled_from(["ACTIVE", "UNKNOWN", "SOFT_DELETED"]), odd),
            "tenant_id": _either(st.just("p"), odd), "user_id": _either(st.just("u"), odd),
            "image": st.one_of(ref, st.just(""), st.none(), *([_any] if odd else [])),
            "flavor": _either(flavor, odd),
            "OS-EXT-SRV-ATTR:kernel_id": _either(st.sampled_from(["", "k"]), odd),
            "OS-EXT-SRV-ATTR:ramdisk_id": _either(st.sampled_from(["", "r"]), odd),
            "created": ts, "updated": ts, "OS-SRV-USG:launched_at": ts,
            "os-extended-volumes:volumes_attached": _either(st.lists(volume, max_size=3), odd),
            "metadata": _either(st.dictionaries(st.text(max_size=3), _any, max_size=2), odd),
            "links": _either(st.lists(link, max_size=3), odd),
            "addresses": _any,
        })
    body = {"servers": draw(st.lists(item, min_size=1, max_size=5))}
    if draw(st.booleans()):
        body["servers_links"] = draw(_either(st.just([{"rel": "next", "href": "http://h/x"}]),
                                             odd))
    return json.dumps(body).encode()


@given(server_pages(odd=False))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_pages_of_documented_types_take_the_typed_way(body):
    got, took = typed(body)
    assert took
    same(got, general(body))


@given(server_pages(odd=True))
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_page_gives_the_general_frame_or_error(body):
    got, _ = typed(body)
    same(got, general(body))


# -- load_servers over HTTP ---------------------------------------------------------------

@pytest.mark.parametrize("source", ["nova", "ecs"])
def test_load_servers_reads_typed_pages_and_gives_the_general_frame(srv, monkeypatch, source):
    """Nova's pages go the typed way in a load (every page of both streams); Huawei ECS
    stays on the general way. The frame equals a load that reads dicts only."""
    def load():
        if source == "ecs":
            return imgframe.load_servers(srv.ecs_endpoint, ME, source="ecs", ak=AK, sk=SK,
                                         page_size=10, **FAST)
        return imgframe.load_servers(srv.endpoint, token=A, all_projects=True,
                                     page_size=10, **FAST)

    sizes: list[int] = []

    def counted(items):
        sizes.append(len(items))
        return TYPED.columns(items)

    monkeypatch.setitem(S._TYPED, "nova",
                        Typed(TYPED.item, counted, TYPED.decoder, TYPED.page))
    since = pd.Timestamp.now(tz="UTC").floor("s")
    fast = load()
    monkeypatch.setitem(S._TYPED, "nova", None)
    reference = load()
    same_servers(fast, reference, since)
    assert len(fast) > 20 and fast["image_id"].notna().any()
    if source == "nova":
        assert (fast["boot"] == "volume").any() and (fast["status"] == "SOFT_DELETED").any()
        assert sum(sizes) >= len(fast) and fast.attrs["imgframe"]["pages"] >= len(sizes) > 2
    else:
        assert sizes == []
