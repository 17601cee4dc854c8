"""The ``metadata`` column over real HTTP, on every source: each image's properties as the
API sent them, keys in the order sent, values whole (nested ones too), however they sit
among the base keys, and none of the base keys; a property named like a base key in
another case is a property. Glance and IMS take their base keys out of the page's own
item dicts, and what is left is ``metadata`` (``imgframe.sources.base``), so a caller's
dicts given to ``frame_from_pages`` must come back untouched.

The Glance and IMS routes send every property as a string, after (Glance) or among (IMS)
the base keys, as the real APIs do; here their renderers are wrapped (``srv.renderer``,
the server's own seam) so that an image's properties go out with the values recorded, a
nested object among them, each placed between two other keys of the item.
"""

from __future__ import annotations

import copy
import json

import pytest
import requests

from imgframe.frame import frame_from_pages
from imgframe.server import glance_api, ims_api, sample_inventory
from imgframe.sources import SOURCES as SOURCE_OBJECTS

TOKEN = "metadata-mapping-token"
#: what an image's properties are, in this order; base keys in other cases among them
PROPS = {
    "Name": "not the name", "nested": {"a": [1, {"b": None}], "c": "d", "Status": "x"},
    "ID": "not the id", "tags_list": ["x", 2, True, None], "Status": "no status", "empty": "",
    "number": 7, "flag": False, "nothing": None, "CREATED_AT": "2001-01-01T00:00:00Z",
    "Self": "/elsewhere", "os_distro": "ubuntu",
}
#: what the servers' Glance and IMS routes send beside the properties (their own lists)
GLANCE_BASE = set(glance_api.BASE_KEYS)
IMS_BASE = {"schema", "min_disk", "created_at", "container_format", "file", "updated_at",
            "protected", "checksum", "id", "min_ram", "owner", "visibility", "tags", "size",
            "name", "self", "disk_format", "virtual_size", "status"}


def _interleaved(render):
    """``render``, with the record's properties sent as recorded (not as strings), each
    after one key of the rest of the item, in their order."""
    def render_raw(rec: dict) -> bytes:
        props = rec.get("properties") or {}
        rest = [(k, v) for k, v in json.loads(render(rec)).items() if k not in props]
        out, extra = {}, iter(props.items())
        for key, value in rest:
            out[key] = value
            prop = next(extra, None)
            if prop is not None:
                out[prop[0]] = prop[1]
        out.update(extra)
        return json.dumps(out).encode()

    return render_raw


def _record(image_id: str, name: str, props: dict) -> dict:
    return {"id": image_id, "name": name, "status": "active", "visibility": "public",
            "os_hidden": False, "protected": False, "owner": None, "size": 1024,
            "virtual_size": None, "disk_format": "qcow2", "container_format": "bare",
            "min_ram": 0, "min_disk": 0, "tags": ["t"], "properties": dict(props)}


@pytest.fixture
def srv(image_server):
    server = image_server(sample_inventory(30, seed=5), token=TOKEN)
    server.add_image(_record("p-full", "full", PROPS))
    server.add_image(_record("p-none", "none", {}))
    for view, render in (("glance", glance_api.render_item), ("ims", ims_api.render_item)):
        server.renderer.register(view, _interleaved(render))
    return server


def _raw(srv, source: str) -> dict:
    """id -> the item as the server sent it (the oracle), in the order sent."""
    if source == "nova":
        url, params = f"{srv.endpoint}/images/detail", {"limit": 100}
    elif source == "glance":
        url, params = f"{srv.glance_endpoint}/v2/images", {"limit": 100, "visibility": "all"}
    else:
        url, params = f"{srv.ims_endpoint}/v2/cloudimages", {"limit": 100}
    body = requests.get(url, params=params, headers={"X-Auth-Token": TOKEN}, timeout=10)
    body.raise_for_status()
    images = body.json()["images"]
    assert len(images) < 100
    return {item["id"]: item for item in images}


def _expected(source: str, item: dict) -> list:
    """The (key, value) pairs ``metadata`` must hold, in order."""
    if source == "nova":
        return list(item["metadata"].items())
    base = GLANCE_BASE if source == "glance" else IMS_BASE
    return [(k, v) for k, v in item.items() if k not in base]


@pytest.mark.parametrize("workers", [1, 3])
def test_metadata_is_what_was_sent_in_the_order_sent(srv, source, client_for, workers):
    raw = _raw(srv, source)
    df = client_for(srv, source, backoff=0.01).load(page_size=7, workers=workers,
                                                    progress=False)
    rows = df.set_index("id")
    assert set(rows.index) == set(raw)
    full, none = raw["p-full"], raw["p-none"]
    if source != "nova":   # the wrapped renderers put the properties among the base keys
        keys = list(full)
        assert keys[1] == "Name" and keys[3] == "nested" and keys[-1] not in PROPS
    for image_id, item in raw.items():
        meta = rows.loc[image_id, "metadata"]
        want = _expected(source, item)
        assert list(meta.items()) == want, image_id
        assert json.dumps(list(meta.items())) == json.dumps(want), image_id   # True is not 1
    meta = rows.loc["p-full", "metadata"]
    assert [k for k in meta if k in PROPS] == list(PROPS)
    assert {k: meta[k] for k in PROPS} == PROPS
    assert meta["nested"] == {"a": [1, {"b": None}], "c": "d", "Status": "x"}
    # the base columns are the base keys, not their namesakes among the properties
    assert rows.loc["p-full", "name"] == "full" and rows.loc["p-full", "status"] == "ACTIVE"
    assert not {"id", "name", "status", "created_at", "self"} & set(meta)
    if source == "glance":
        assert rows.loc["p-none", "metadata"] == {} and rows.loc["p-full", "tags"] == ["t"]
    elif source == "ims":   # only IMS's own __* fields, as sent
        assert list(rows.loc["p-none", "metadata"].items()) == _expected("ims", none)
        assert rows.loc["p-none", "size"] == 1024
    else:
        assert rows.loc["p-none", "metadata"] == {}
    assert meta is not rows.loc["p-none", "metadata"]


def test_frame_from_pages_leaves_the_callers_dicts_whole(srv, source):
    items = list(_raw(srv, source).values())
    before = copy.deepcopy(items)
    df = frame_from_pages([items[:10], items[10:]], source=SOURCE_OBJECTS[source])
    assert items == before
    assert [list(i) for i in items] == [list(i) for i in before]   # keys in their order
    assert df["id"].tolist() == [i["id"] for i in items]
    full = df.set_index("id").loc["p-full", "metadata"]
    assert list(full.items()) == _expected(source, items[[i["id"] for i in items].index(
        "p-full")])
    if source != "nova":   # the rest of a copy: changing it changes nothing it was given
        full["extra"] = 1   # (Nova's metadata is the item's own nested dict, as it was)
        assert items == before
