"""The client's public seams (a recipe, a load that can be cancelled, progress), what the
core asks sources for (capabilities, never names), and the unhappy network and credential
paths: over real HTTP against the embedded server."""

from __future__ import annotations

import ast
import io
import pathlib
import pickle
import re
import socket
import threading
import time
import warnings

import pandas as pd
import pytest

import imgframe
from imgframe import credentials, many
from imgframe.client import Client, ClientRecipe, ForeignNextLinkWarning, LoadCancelled
from imgframe.errors import AuthError, InvalidQueryError, TransportError

TOKEN = "seams-token-0123456789"
AK, SK = "AKSEAMSACCESSKEY0001", "sk-seams-Secret-0123456789abcdef"
FAST = {"retries": 2, "backoff": 0.01, "budget": 5}
ENV = [name for names in credentials.ENV_SOURCES for name in names if name]


@pytest.fixture(scope="module")
def srv(module_image_server):
    return module_image_server(120, seed=31, token=TOKEN, aksk={AK: SK})


@pytest.fixture(scope="module")
def listed(srv) -> int:
    """How many images Nova lists the token's project."""
    return len(Client(srv.url, srv.project_id, token=TOKEN).load(progress=False))


@pytest.fixture(autouse=True)
def counted(srv, listed):
    srv.stats.reset()
    yield


def nova(srv, **kw):
    return Client(srv.url, srv.project_id, token=TOKEN, **{**FAST, **kw})


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- a recipe: what rebuilds a client elsewhere ------------------------------------------------

def test_a_recipe_pickles_hides_the_token_and_rebuilds_the_same_client(srv):
    c = nova(srv, timeout=(3, 7), microversion="2.10")
    recipe = c.recipe()
    assert isinstance(recipe, ClientRecipe) and TOKEN not in repr(recipe)
    assert TOKEN not in str(recipe) and recipe.secrets() == [TOKEN]
    again = pickle.loads(pickle.dumps(recipe))
    assert again == recipe
    rebuilt = Client.from_recipe(again)
    assert rebuilt is not c and rebuilt.session is not c.session
    assert (rebuilt.endpoint, rebuilt.timeout, rebuilt.microversion) == \
        (c.endpoint, (3.0, 7.0), "2.10")
    pd.testing.assert_frame_equal(rebuilt.load(progress=False).drop(columns=[]),
                                  c.load(progress=False))


def test_an_aksk_recipe_carries_one_credentials_class(srv):
    c = Client(srv.ims_endpoint, srv.project_id, source="ims", ak=AK, sk=SK, **FAST)
    recipe = c.recipe()
    assert isinstance(recipe.credentials, credentials.Credentials)
    assert many.Credentials is credentials.Credentials
    assert SK not in repr(recipe) and recipe.secrets() == [SK]
    spec = imgframe.LoadSpec.from_client(c)
    assert spec.credentials == recipe.credentials and SK not in repr(spec)
    assert len(Client.from_recipe(pickle.loads(pickle.dumps(recipe))).load(progress=False))


def test_credentials_hold_a_token_or_a_key_pair_never_both():
    token = credentials.Credentials(token=TOKEN)
    assert repr(token) == "Credentials(token=<hidden>)" and token.kwargs() == {"token": TOKEN}
    with pytest.raises(InvalidQueryError, match="one kind") as info:
        credentials.Credentials(AK, SK, token=TOKEN)
    assert SK not in str(info.value) and TOKEN not in str(info.value)
    with pytest.raises(InvalidQueryError, match="sign"):
        token.sign("GET", "https://ims.example.com/v2/cloudimages")


def test_from_recipe_refuses_anything_else():
    with pytest.raises(InvalidQueryError, match="recipe"):
        Client.from_recipe({"endpoint": "http://x"})


# -- a load that can be cancelled, and its progress --------------------------------------------

@pytest.mark.parametrize("workers", [1, 4])
def test_cancel_stops_before_the_next_request_with_the_partial(srv, workers):
    cancel = threading.Event()
    seen = []

    def on_page(progress):
        seen.append(progress)
        if progress.pages >= 2:
            cancel.set()

    c = Client(srv.glance_endpoint, source="glance", token=TOKEN, **FAST)
    with pytest.raises(LoadCancelled) as info:
        c.load(page_size=10, progress=False, workers=workers, on_page=on_page,
               cancel=cancel)
    sent = srv.stats.requests
    assert 20 <= len(info.value.partial) < 100 and info.value.partial["id"].is_unique
    assert info.value.partial.attrs["imgframe"]["partial"]
    if workers == 1:
        assert info.value.resume_marker == info.value.partial["id"].iloc[-1]
    time.sleep(0.1)
    assert srv.stats.requests == sent   # nothing still requesting


def test_a_cancel_set_before_the_load_sends_nothing(srv):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(LoadCancelled):
        nova(srv).load(progress=False, cancel=cancel)
    assert srv.stats.requests == 0


def test_on_page_reports_pages_items_and_requests(srv, listed):
    seen = []
    df = nova(srv).load(page_size=25, progress=False, on_page=seen.append)
    meta = df.attrs["imgframe"]
    assert [p.items for p in seen] == [*range(25, listed, 25), listed]
    assert seen[-1].pages == meta["pages"] and seen[-1].requests <= meta["requests"]


def test_bad_hooks_are_refused_before_any_request(srv):
    with pytest.raises(InvalidQueryError, match="on_page"):
        nova(srv).load(on_page="print")
    with pytest.raises(InvalidQueryError, match="cancel"):
        nova(srv).load(cancel=True)
    assert srv.stats.requests == 0


def test_the_dashboard_leaves_the_client_as_it_found_it(srv, listed):
    from imgframe.dashboard import Dashboard

    c = nova(srv)
    hooks = {k: list(v) for k, v in c.session.hooks.items()}
    with Dashboard(c, log=io.StringIO()) as d:
        status = d.reload(wait=True)
    assert status["requests"] >= 1 and status["rows"] == len(d.frame) == listed
    assert {k: list(v) for k, v in c.session.hooks.items()} == hooks


def test_capabilities_say_what_each_source_can_do(srv):
    clients = {"nova": nova(srv),
               "glance": Client(srv.glance_endpoint, source="glance", token=TOKEN),
               "ims": Client(srv.ims_endpoint, srv.project_id, source="ims", token=TOKEN)}
    said = {name: (c.capabilities.list_view, c.capabilities.max_microversion,
                   c.capabilities.signing, c.capabilities.versioned_endpoint)
            for name, c in clients.items()}
    assert said == {"nova": (True, "2.35", False, True), "glance": (False, None, False, False),
                    "ims": (False, None, True, False)}
    assert clients["nova"].endpoint.endswith(srv.project_id)
    assert clients["glance"].endpoint == srv.glance_endpoint.rstrip("/")


def test_validate_checks_without_sending(srv):
    glance = Client(srv.glance_endpoint, source="glance", token=TOKEN)
    with pytest.raises(InvalidQueryError, match="detail") as info:
        glance.validate(detail=False)
    assert "one view" in str(info.value)
    assert nova(srv).validate(detail=False, status="active").statuses == ("ACTIVE",)
    assert srv.stats.requests == 0


# -- warnings point at the user's call -------------------------------------------------------

def test_foreign_next_link_warning_points_at_the_callers_line(image_server):
    s = image_server(30, seed=2, token=TOKEN, link_prefix="https://elsewhere.example")
    c = nova(s)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c.load(page_size=10, progress=False)
    foreign = [w for w in caught if issubclass(w.category, ForeignNextLinkWarning)]
    assert len(foreign) == 1 and foreign[0].filename == __file__


# -- unreachable is quick and plain -------------------------------------------------------------

def test_a_refused_connection_ends_at_once_and_says_so():
    port = closed_port()
    c = Client(f"http://127.0.0.1:{port}", "p", token=TOKEN, retries=5, budget=60)
    t0 = time.monotonic()
    with pytest.raises(TransportError) as info:
        c.load(progress=False)
    assert time.monotonic() - t0 < 3
    text = str(info.value)
    assert text.startswith(f"could not connect to http://127.0.0.1:{port}: connection refused")
    assert TOKEN not in text and "\n" not in text and "HTTPConnectionPool" not in text


def test_an_unknown_host_ends_at_once_with_the_dns_reason():
    c = Client("http://no-such-host.invalid:8774", "p", token=TOKEN, retries=5, budget=60)
    t0 = time.monotonic()
    with pytest.raises(TransportError) as info:
        c.load(progress=False)
    assert time.monotonic() - t0 < 5
    assert re.match(r"could not connect to http://no-such-host\.invalid:8774: unknown host "
                    r"\(.+\)", str(info.value))


def test_load_many_names_an_unreachable_source_in_the_same_words(srv, listed):
    port = closed_port()
    sources = {"ok": nova(srv),
               "gone": Client(f"http://127.0.0.1:{port}", "p", token=TOKEN, **FAST)}
    with pytest.warns(imgframe.PartialLoadWarning) as caught:
        df = imgframe.load_many(sources, strict=False)
    assert len(df) == listed
    failure = next(e for e in df.attrs["imgframe"]["sources"] if e["key"] == "gone")["error"]
    assert failure["type"] == "TransportError"
    assert failure["message"].startswith(f"could not connect to http://127.0.0.1:{port}: "
                                         f"connection refused")
    assert "connection refused" in str(caught[0].message)


def test_a_5xx_keeps_its_retries(srv, listed):
    from imgframe.server import Faults

    srv.faults = Faults(schedule={1: 503, 2: 503})
    try:
        df = nova(srv).load(progress=False)
    finally:
        srv.faults = Faults()
    assert df.attrs["imgframe"]["retries"] == 2 and len(df) == listed


# -- each source's credentials are its own -----------------------------------------------------

def test_ims_without_credentials_is_refused_naming_the_variables(srv, monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InvalidQueryError) as info:
        Client(srv.ims_endpoint, srv.project_id, source="ims")
    text = str(info.value)
    assert "needs credentials" in text and "token=" in text and "ak=" in text
    assert "HUAWEICLOUD_SDK_AK" in text and "CLOUD_SDK_SK" in text
    assert srv.stats.requests == 0
    Client(srv.ims_endpoint, srv.project_id, source="ims", token=TOKEN)   # each is enough
    Client(srv.ims_endpoint, srv.project_id, source="ims", ak=AK, sk=SK)


def test_a_rejected_signature_says_so_not_that_a_token_expired(srv):
    c = Client(srv.ims_endpoint, srv.project_id, source="ims", ak=AK, sk=SK[:-1] + "X",
               **FAST)
    with pytest.raises(AuthError) as info:
        c.load(progress=False)
    text = str(info.value)
    assert "AK/SK signature was rejected" in text and "expired" not in text
    assert SK not in text and info.value.status == 401


def test_a_rejected_token_still_says_token(srv):
    with pytest.raises(AuthError, match="token is invalid or expired"):
        Client(srv.url, srv.project_id, token="nope-" + TOKEN, **FAST).load(progress=False)


# -- capabilities, not names ---------------------------------------------------------------------

CORE = ["client.py", "cloud.py", "credentials.py", "many.py", "pages.py", "http", "listing"]


def _core_files():
    root = pathlib.Path(imgframe.__file__).parent
    for name in CORE:
        path = root / name
        yield from (sorted(path.glob("*.py")) if path.is_dir() else [path])


def test_the_core_names_no_source():
    names = {"nova", "glance", "ims"}
    for path in _core_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                consts = {c.value for c in [node.left, *node.comparators]
                          if isinstance(c, ast.Constant)}
                assert not consts & names, f"{path.name}:{node.lineno} compares a source name"


def test_the_core_imports_no_private_name_and_snapshots_no_transport():
    for path in _core_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("imgframe"):
                assert not [a.name for a in node.names if a.name.startswith("_")], path.name
    snapshots = pathlib.Path(imgframe.__file__).parent / "snapshots.py"
    imported = {n.module for n in ast.walk(ast.parse(snapshots.read_text()))
                if isinstance(n, ast.ImportFrom)}
    assert "imgframe.listing.settings" in imported
    assert not {m for m in imported if m and m.startswith(("imgframe.client", "imgframe.http",
                                                           "requests"))}


def test_no_core_module_is_over_500_lines():
    for path in _core_files():
        assert len(path.read_text().splitlines()) <= 500, path.name
