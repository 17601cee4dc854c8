"""Shared test settings and fixtures.

Settings: a non-interactive matplotlib backend, figures closed after each test, and the
``browser`` marker's rule (below).

Fixtures for the embedded server (``imgframe.server.ImageServer``, real HTTP on 127.0.0.1):

``image_server`` (function scope)
    A factory: ``image_server(images=1000, **kw)`` starts an ``ImageServer(images, **kw)``
    (ImageServer's own arguments) and returns it; every server it started is stopped after
    the test, passed or failed.
``module_image_server`` (module scope)
    The same factory, its servers stopped after the module: for a module's own shared
    server fixture (``return module_image_server(records, token=TOKEN)``).
``sample_server`` (session scope)
    One read-only server of ``SAMPLE_IMAGES`` sample images (seed ``SAMPLE_SEED``) that
    requires a token (``sample_server.token``) or an AK/SK (``sample_server.aksk``): Nova
    at ``.endpoint``, Glance at ``.glance_endpoint``, IMS at ``.ims_endpoint``. A test that
    changes it (faults, images added, updated or removed, stats aside) fails; use
    ``image_server`` for that.
``source`` (function scope, parametrized)
    Each of ``"nova"``, ``"glance"``, ``"ims"`` in turn.
``client_for`` (session scope)
    ``client_for(server, source, **kw)``: an ``imgframe.Client`` of that source on that
    server, with the server's token (``token=`` in ``kw`` overrides it).

Browser tests (``@pytest.mark.browser``) need Chromium, at ``$IMGFRAME_CHROMIUM`` or
``chromium`` on the PATH (``make test`` installs Debian's package where it can), and the
``browser`` extra (playwright, voila). Without them they are skipped, with one line saying
why and how to point them at a browser; with ``CI=true`` a missing browser fails the run.
"""

import importlib.util
import os
import shutil
import sys

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

SAMPLE_IMAGES = 400
SAMPLE_SEED = 11
SAMPLE_TOKEN = "sample-token-0123456789"
SAMPLE_AKSK = {"AKSAMPLE0000000001": "sample-secret-key-0123456789"}
SOURCES = ("nova", "glance", "ims")


@pytest.fixture(autouse=True)
def close_figs():
    """Close every matplotlib figure a test opened (seaborn's habit)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


# --------------------------------------------------------------------- embedded server


class _Servers:
    """Starts ImageServers on demand; `close()` stops them all."""

    def __init__(self):
        self.started = []

    def __call__(self, images=1000, **kw):
        from imgframe.server import ImageServer

        server = ImageServer(images, **kw).start()
        self.started.append(server)
        return server

    def close(self):
        while self.started:
            self.started.pop().stop()


@pytest.fixture
def image_server():
    """``image_server(images=1000, **kw)``: a started ImageServer, stopped after the test."""
    servers = _Servers()
    yield servers
    servers.close()


@pytest.fixture(scope="module")
def module_image_server():
    """``module_image_server(images=1000, **kw)``: a started ImageServer, stopped after the
    module."""
    servers = _Servers()
    yield servers
    servers.close()


@pytest.fixture(scope="session")
def _sample_server():
    from imgframe.server import ImageServer

    with ImageServer(SAMPLE_IMAGES, seed=SAMPLE_SEED, token=SAMPLE_TOKEN,
                     aksk=SAMPLE_AKSK) as server:
        yield server


@pytest.fixture
def sample_server(_sample_server):
    """The session's read-only sample server (see the module docstring)."""
    from imgframe.server import Faults

    server = _sample_server
    version = server.catalog.version
    yield server
    changed = []
    if server.catalog.version != version:
        changed.append("its images")
    if server.faults != Faults():
        changed.append("its faults")
        server.faults = Faults()
    if server.token != SAMPLE_TOKEN:
        changed.append("its token")
        server.token = SAMPLE_TOKEN
    if changed:
        pytest.fail(f"the test changed the shared sample_server ({', '.join(changed)}); "
                    "start its own with the image_server fixture", pytrace=False)


@pytest.fixture(params=SOURCES)
def source(request):
    """Each source in turn: "nova", "glance", "ims"."""
    return request.param


def _endpoint(server, source):
    if source == "nova":
        return server.url, server.project_id
    if source == "glance":
        return server.glance_endpoint, None
    if source == "ims":
        return server.ims_endpoint, server.project_id
    raise ValueError(f"source={source!r} is not one of {', '.join(SOURCES)}")


@pytest.fixture(scope="session")
def client_for():
    """``client_for(server, source, **kw)``: an imgframe.Client of `source` on `server`."""
    import imgframe

    def make(server, source, **kw):
        endpoint, project_id = _endpoint(server, source)
        kw.setdefault("token", server.token)
        return imgframe.Client(endpoint, project_id, source=source, **kw)

    return make


# ------------------------------------------------------------------------------ browser

CHROMIUM_ENV = "IMGFRAME_CHROMIUM"
_BROWSER_SKIPPED = pytest.StashKey[tuple]()


def _chromium() -> str | None:
    """The Chromium to drive: $IMGFRAME_CHROMIUM, else `chromium` on the PATH."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return shutil.which(named) or (named if os.path.isfile(named) else None)
    return shutil.which("chromium")


def _browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    missing = [m for m in ("playwright", "voila") if importlib.util.find_spec(m) is None]
    if missing:
        return (f"the Python package(s) {', '.join(missing)} are missing "
                "(pip install -e '.[browser]')")
    if _chromium() is None:
        named = os.environ.get(CHROMIUM_ENV)
        where = f"{CHROMIUM_ENV}={named} is not a file" if named else "no chromium on the PATH"
        return (f"{where}; set {CHROMIUM_ENV}=/path/to/chromium (or Chrome) or run "
                "`make test`, which installs Debian's chromium where apt-get and root or "
                "sudo exist")
    return None


# The browser tests read the path from IMGFRAME_CHROMIUM (default /usr/bin/chromium):
# hand them the one found on the PATH when it lives elsewhere.
if not os.environ.get(CHROMIUM_ENV) and _chromium():
    os.environ[CHROMIUM_ENV] = _chromium()


@pytest.hookimpl(trylast=True)   # after -m/-k deselection: only the tests that would run
def pytest_collection_modifyitems(config, items):
    browser = [item for item in items if item.get_closest_marker("browser")]
    why = _browser_missing() if browser else None
    if why is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        raise pytest.UsageError(f"CI=true and {len(browser)} browser tests cannot run: {why}")
    config.stash[_BROWSER_SKIPPED] = (len(browser), why)
    skip = pytest.mark.skip(reason=f"browser test skipped: {why}")
    for item in browser:
        item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, config):
    skipped = config.stash.get(_BROWSER_SKIPPED, None)
    if skipped:
        terminalreporter.write_line(f"{skipped[0]} browser tests skipped: {skipped[1]}",
                                    yellow=True)
