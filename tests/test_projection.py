"""``load(columns=...)``, a projection, over real HTTP on every source: the frame is the full
frame's columns (values, dtypes, order), ``id`` always; what is not asked for is never
decoded or typed; bad names are refused before any request; refresh, diff, the snapshot
store, load_many and ``imgframe export --columns`` keep or refuse it as they should."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
import urllib3
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_typed import general, pages, same

import imgframe
from imgframe.cli import main
from imgframe.errors import (
    APIError,
    IncompleteSnapshotError,
    InvalidQueryError,
    MalformedResponseError,
)
from imgframe.frame import COLUMNS, FrameBuilder
from imgframe.server import Faults
from imgframe.sources import nova

PAGE = 60
FAST = {"retries": 0, "backoff": 0.01, "budget": 5.0, "timeout": (2, 10)}
#: projections, each as a user might write it (any order, id or not)
PROJECTIONS = [
    ["id", "name", "status", "created", "updated", "size"],   # the benchmark's
    ["size"],                                                 # id comes anyway
    ["status_raw", "tags", "metadata"],                       # no created: merged anyway
    ["server_id", "progress", "link_self", "visibility", "hidden", "link_file"],
]
#: options that make each source list several streams at once (merged by the loader)
STREAMS = {"nova": {"status": ["ACTIVE", "SAVING"]}, "glance": {},
           "ims": {"status": ["ACTIVE", "SAVING"]}}
#: each source's key behind the frame's min_ram column
MIN_RAM_KEY = {"nova": "minRam", "glance": "min_ram", "ims": "min_ram"}


def canonical(columns) -> list[str]:
    wanted = {"id", *columns}
    return [c for c in COLUMNS if c in wanted]


@pytest.fixture(scope="module")
def srv(module_image_server):
    return module_image_server(500, seed=5, token="proj-token-0123")


@pytest.fixture(autouse=True)
def fresh(srv):
    srv.faults = Faults()
    yield
    srv.faults = Faults()


@pytest.fixture(scope="module")
def full_frames(srv):
    """Each source's full frame (page size PAGE), and with its several streams."""
    out = {}
    for source in ("nova", "glance", "ims"):
        c = imgframe.Client(*_where(srv, source), source=source, token=srv.token)
        out[source] = c.load(page_size=PAGE, progress=False, workers=1)
        out[source, "streams"] = c.load(page_size=PAGE, progress=False, workers=1,
                                        **STREAMS[source])
    return out


def _where(server, source):
    return {"nova": (server.url, server.project_id), "glance": (server.glance_endpoint, None),
            "ims": (server.ims_endpoint, server.project_id)}[source]


def _answer(response, body: bytes) -> None:
    response.raw = urllib3.HTTPResponse(body=io.BytesIO(body), status=200,
                                        preload_content=False)
    for name in ("Content-Encoding", "Content-Length"):
        response.headers.pop(name, None)


def _rewrite_items(client, change) -> None:
    """Change every image of every page (``change(item)``) as it arrives, on the wire side."""
    def hook(response, *args, **kwargs):
        if response.status_code == 200:
            data = json.loads(response.raw.read(decode_content=True))
            response.raw.release_conn()
            for item in data.get("images") or ():
                change(item)
            _answer(response, json.dumps(data).encode())
        return response

    client.session.hooks["response"].append(hook)


# -- the frame -----------------------------------------------------------------------------

@pytest.mark.parametrize("columns", PROJECTIONS)
def test_a_projection_is_the_full_frame_cut_to_its_columns(srv, client_for, source, columns,
                                                           full_frames):
    got = client_for(srv, source).load(columns=columns, page_size=PAGE, progress=False,
                                       workers=1)
    want = canonical(columns)
    assert list(got.columns) == want and got.columns[0] == "id"
    pd.testing.assert_frame_equal(got, full_frames[source][want])   # values and dtypes
    info = got.attrs["imgframe"]
    assert info["columns"] == want and info["load_options"]["columns"] == want
    assert "columns" not in full_frames[source].attrs["imgframe"]


@pytest.mark.parametrize("workers", [1, 4, None])
def test_merged_streams_of_a_projection_without_created_keep_the_apis_order(
        srv, client_for, source, workers, full_frames):
    columns = ["name", "size", "metadata"]   # no created: the merge orders by it all the same
    got = client_for(srv, source).load(columns=columns, page_size=PAGE, progress=False,
                                       workers=workers, **STREAMS[source])
    want = canonical(columns)
    pd.testing.assert_frame_equal(got, full_frames[source, "streams"][want])
    assert got.attrs["imgframe"]["duplicates_dropped"] == 0


def test_the_order_is_the_frames_whatever_the_order_asked(srv, client_for, source):
    c = client_for(srv, source)
    backwards = list(reversed(COLUMNS[3:12]))
    got = c.load(columns=backwards, max_items=30, progress=False)
    assert list(got.columns) == ["id", *COLUMNS[3:12]]
    as_text = c.load(columns=" size ,name,size", max_items=30, progress=False)
    assert list(as_text.columns) == ["id", "name", "size"]
    like = c.load(columns=as_text.columns, max_items=30, progress=False)   # another's columns
    pd.testing.assert_frame_equal(like, as_text)
    assert list(c.load(columns={"size", "status"}, max_items=5, progress=False).columns) == [
        "id", "status", "size"]
    assert c.load(columns=COLUMNS, max_items=30, progress=False).attrs["imgframe"].get(
        "columns") is None   # every column is no projection
    pages = list(c.iter_pages(columns=["status"], page_size=PAGE, max_items=2 * PAGE))
    assert len(pages) >= 2   # (max_items counts per stream: Glance lists two)
    assert all(list(p.columns) == ["id", "status"] for p in pages)


@pytest.mark.parametrize("bad, why", [
    (["name", "nmae"], "'nmae' is not a column"),
    ("name,bogus", "'bogus' is not a column"),
    (["cloud"], "'cloud' is not a column"),        # load_many's, not a load's
    ([], "the list is empty"),
    (["name", 3], "3 is not a column"),
    (42, "is not valid"),
])
def test_bad_columns_are_refused_before_any_request(srv, client_for, source, bad, why):
    c = client_for(srv, source)
    before = srv.stats.requests
    with pytest.raises(InvalidQueryError) as info:
        c.load(columns=bad, progress=False)
    exc = info.value
    text = str(exc)
    assert exc.parameter == "columns" and exc.given == bad
    assert why in text and "\n" not in text
    assert text.startswith(f"columns={bad!r}")
    assert ", ".join(COLUMNS) in exc.allowed        # the allowed names, listed
    with pytest.raises(InvalidQueryError):
        next(c.iter_pages(columns=bad))
    with pytest.raises(InvalidQueryError):
        imgframe.load_many({"a": c}, columns=bad)
    assert srv.stats.requests == before


# -- what is not asked for is not read --------------------------------------------------------

def test_columns_not_asked_for_are_never_typed(srv, client_for, source, monkeypatch):
    seen = []
    add = FrameBuilder.add

    def spy(self, items):
        add(self, items)
        seen.append((type(items[0]), set(self.chunks)))

    monkeypatch.setattr(FrameBuilder, "add", spy)
    df = client_for(srv, source).load(columns=["name", "status"], page_size=PAGE,
                                      progress=False, workers=1)
    assert len(seen) == -(-len(df) // PAGE)
    for item_type, built in seen:
        assert built <= {"id", "name", "status", "created"}   # created: what merges order by
        if source == "nova":   # its typed decoder: structs of only the fields asked for
            assert set(item_type.__struct_fields__) == {"id", "name", "status", "created"}


def _projected(body: bytes, detail, pinned_raw, columns: tuple, typed: bool):
    """A page's projected frame (or error): through Nova's structs of only the fields
    asked for, as a load decodes it, or the general way (dicts)."""
    builder = nova.SOURCE.builder(detail, (None, pinned_raw), columns=columns)
    if typed:
        view = nova.SOURCE.typed(detail, pinned_raw, columns=columns)
        assert builder.typed is view
        items = view.page(view.decoder.decode(body)).items   # documented types: taken
    else:
        builder.typed = None
        items = nova.SOURCE.page(json.loads(body)).items
    try:
        builder.add(items)
        return builder.frame()
    except MalformedResponseError as exc:
        return exc


@given(pages(odd=False), st.booleans(), st.sampled_from([None, "queued"]),
       st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=6))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_projected_typed_page_gives_the_general_frame_cut(body, detail, pinned_raw,
                                                            columns):
    """For any page of documented types, Nova's structs of only the fields asked for give
    what the general way gives with the same projection, and the full frame's columns
    when the full frame can be made (a bad value in a column not asked for fails the
    full frame only; ``created`` is always built: the merge orders by it)."""
    want = tuple(canonical(columns))
    got = _projected(body, detail, pinned_raw, want, typed=True)
    same(got, _projected(body, detail, pinned_raw, want, typed=False))
    full = general(body, detail, pinned_raw)
    if not isinstance(full, Exception):
        pd.testing.assert_frame_equal(got, full[list(want)])


def test_a_malformed_field_not_asked_for_does_not_fail_the_load(srv, client_for, source,
                                                                full_frames):
    c = client_for(srv, source)
    key = MIN_RAM_KEY[source]

    def corrupt(item):
        item[key] = "lots"
        if source == "nova":
            item["metadata"] = "not an object"

    _rewrite_items(c, corrupt)
    with pytest.raises(MalformedResponseError, match=key):
        c.load(page_size=PAGE, progress=False, workers=1)
    got = c.load(columns=["name", "min_disk", "size"], page_size=PAGE, progress=False,
                 workers=1)
    pd.testing.assert_frame_equal(got, full_frames[source][canonical(["name", "min_disk",
                                                                      "size"])])


@pytest.mark.parametrize("workers", [1, None])
def test_an_error_carries_a_projected_partial_and_resumes_to_the_projection(
        srv, client_for, source, workers, full_frames):
    c = client_for(srv, source, **FAST)
    columns = ["name", "updated"]
    srv.faults = Faults(schedule={3: 500, 7: 500})
    with pytest.raises(APIError) as info:
        c.load(columns=columns, page_size=PAGE, progress=False, workers=workers,
               **STREAMS[source])
    exc = info.value
    if exc.partial is not None:
        assert list(exc.partial.columns) == canonical(columns)
        assert exc.partial.attrs["imgframe"]["partial"] is True
    srv.faults = Faults()
    done = c.load(resume=exc.resume, progress=False, workers=workers)
    pd.testing.assert_frame_equal(done, full_frames[source, "streams"][canonical(columns)])
    assert done.attrs["imgframe"]["columns"] == canonical(columns)


# -- refresh, diff and the snapshot store -----------------------------------------------------

def _mutate(server, frame) -> dict:
    """Rename, remove and add one image (of those ``frame`` lists)."""
    ids = frame["id"].tolist()
    server.update_image(ids[3], name="renamed")
    server.remove_image(ids[5])
    added = server.add_image({"id": "added-proj", "name": "new", "status": "active",
                              "min_ram": 0, "min_disk": 10, "size": 4321,
                              "visibility": "public", "owner": server.project_id})
    return {"renamed": ids[3], "removed": ids[5], "added": added["id"]}


@pytest.mark.parametrize("columns, mode", [
    (["name", "status", "created", "updated", "size"], None),   # the source's own mode
    (["name", "size"], "full"),                                  # no times: a full load
])
def test_refresh_of_a_projection_equals_a_fresh_projected_load(image_server, client_for,
                                                               source, columns, mode):
    server = image_server(120, seed=8, token="proj-token-0123")
    c = client_for(server, source)
    old = c.load(columns=columns, page_size=25, progress=False)
    what = _mutate(server, old)
    new = c.refresh(old)
    fresh = c.load(columns=columns, page_size=25, progress=False)
    pd.testing.assert_frame_equal(new, fresh)
    info = new.attrs["imgframe"]
    assert info["columns"] == canonical(columns)
    expected = mode or {"nova": "changes", "glance": "full", "ims": "full"}[source]
    assert info["refresh"]["mode"] == expected
    if mode == "full":
        assert "without created and updated" in info["refresh"]["reason"]
    d = imgframe.diff(old, new)
    changes = dict(zip(d["id"], d["change"].astype(str), strict=True))
    assert changes[what["added"]] == "added" and changes[what["removed"]] == "removed"
    assert changes[what["renamed"]] == "modified"
    assert "name" in d.set_index("id").loc[what["renamed"], "changed"]


def test_diff_refuses_a_projection_against_a_full_frame_or_another(srv, client_for, source,
                                                                   full_frames):
    c = client_for(srv, source)
    full = full_frames[source]
    slim = c.load(columns=["name", "size"], page_size=PAGE, progress=False)
    other = c.load(columns=["name"], page_size=PAGE, progress=False)
    assert imgframe.diff(slim, slim.copy()).empty   # like with like
    for old, new, says in ((full, slim, "old was loaded with every column and new with "
                            "columns=['id', 'name', 'size']"),
                           (slim, full, "new with every column"),
                           (slim, other, "new with columns=['id', 'name']")):
        for allow in (False, True):
            with pytest.raises(IncompleteSnapshotError) as info:
                imgframe.diff(old, new, allow_incomplete=allow)
            text = str(info.value)
            assert says in text and "\n" not in text and "same columns=" in text


def test_the_snapshot_store_keeps_projections_apart(image_server, client_for, source,
                                                    tmp_path):
    server = image_server(80, seed=4, token="proj-token-0123")
    c = client_for(server, source)
    store = imgframe.SnapshotStore(tmp_path / "inv")
    columns = ["name", "status", "updated"]
    first = c.load(columns=columns, progress=False)
    first_id = store.save(first)
    full_id = store.save(c.load(progress=False))
    what = _mutate(server, first)
    second = c.load(columns=columns, progress=False)
    second_id = store.save(second)

    back = store.load(id=first_id)
    pd.testing.assert_frame_equal(back, first)
    assert back.attrs["imgframe"]["columns"] == canonical(columns)
    listed = store.list()
    assert listed["query"].nunique() == 2          # the projection is part of the query
    assert store.list(query=first)["id"].tolist() == [first_id, second_id]
    assert store.load(previous=1).attrs["imgframe"]["snapshot_id"] == first_id
    changes = store.changes()                      # the latest's query: the projected pair
    assert changes[["previous", "snapshot_id", "added", "removed", "modified"]].values.tolist(
        ) == [[first_id, second_id, 1, 1, 1]]
    with pytest.raises(IncompleteSnapshotError, match="every column"):
        imgframe.diff(store.load(id=full_id), store.load(id=second_id))
    d = imgframe.diff(store.load(id=first_id), store.load(id=second_id))
    assert set(d["id"]) == set(what.values())


# -- load_many and the command line -----------------------------------------------------------

def test_load_many_passes_the_projection_to_every_source(srv, client_for):
    clients = {s: client_for(srv, s) for s in ("nova", "glance", "ims")}
    columns = ["size", "name"]
    full = imgframe.load_many(clients, page_size=PAGE)
    got = imgframe.load_many(clients, page_size=PAGE, columns=columns)
    want = ["id", "name", "size", "cloud", "region", "project_id"]
    assert list(got.columns) == want
    pd.testing.assert_frame_equal(got, full[want])
    assert got.attrs["imgframe"]["columns"] == ["id", "name", "size"]
    assert got.attrs["imgframe"]["load_options"]["columns"] == ["id", "name", "size"]


def _export_args(server, source) -> list[str]:
    endpoint, project = _where(server, source)
    args = ["export", "--endpoint", endpoint, "--source", source, "--token", server.token,
            "--no-progress"]
    return args + (["--project-id", project] if project else [])


def test_export_columns_writes_only_those(srv, source, tmp_path, full_frames):
    out = tmp_path / "slim.csv"
    result = CliRunner().invoke(main, [*_export_args(srv, source), "--page-size", str(PAGE),
                                       "--columns", "size,name,status", "-o", str(out)])
    assert result.exit_code == 0, result.output
    back = imgframe.read_csv(out)
    assert list(back.columns) == ["id", "name", "status", "size"]
    want = full_frames[source][["id", "name", "status", "size"]]
    assert back["id"].tolist() == want["id"].tolist()
    assert back["size"].tolist() == want["size"].tolist()

    before = srv.stats.requests
    result = CliRunner().invoke(main, [*_export_args(srv, source), "--columns",
                                       "name,sise", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    line = result.output.strip().splitlines()[-1]
    assert "--columns" in line and "'sise' is not a column" in line and "metadata" in line
    assert srv.stats.requests == before and not (tmp_path / "x.csv").exists()
