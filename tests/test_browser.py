"""Notebook 1 served by Voilà and driven in headless Chromium (Debian's ``chromium``).

Catches what only a browser shows: widget front-end versions that do not match the
kernel's, errors in the page's console, a widget that renders as plain text.

Needs ``pip install -e '.[browser]'`` (voila, playwright; Playwright's Python package
carries its own driver, no ``playwright install``: the system browser is used) and
``apt-get install chromium``. Nothing here is skipped: a missing piece fails the test
with what to install. Deselect with ``-m "not browser"``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from expected import nova_lists

import imgframe
from imgframe.notebook import notebook_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("IMGFRAME_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SAMPLE_IMAGES = 1500
SEED = 7
# The sample catalogue's names look like "ubuntu-22.04-...": a prefix glob narrows it.
NAME_GLOB = "ubuntu*"


def _require(module: str, hint: str):
    try:
        return __import__(module)
    except ImportError:
        pytest.fail(f"the browser test needs the Python package {module!r}: {hint}",
                    pytrace=False)


@pytest.fixture(scope="module")
def chromium():
    _require("playwright.sync_api", "pip install -e '.[browser]' (voila, playwright)")
    _require("voila", "pip install -e '.[browser]' (voila, playwright)")
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if not path:
        pytest.fail(f"the browser test needs Chromium at {CHROMIUM}: install Debian's "
                    "package (apt-get install -y chromium) or set IMGFRAME_CHROMIUM",
                    pytrace=False)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kernel_env(**extra: str) -> dict:
    """This environment without a configured cloud (so the embedded server is used)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "IMGFRAME_")) and k != "MPLBACKEND"}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def voila(tmp_path_factory, chromium):
    """Voilà serving a copy of notebook 1 on 127.0.0.1; yields (url, log path)."""
    workdir = tmp_path_factory.mktemp("voila")
    notebook = workdir / "01_explore.ipynb"
    shutil.copy(notebook_path("01_explore"), notebook)
    port = _free_port()
    log = workdir / "voila.log"
    env = kernel_env(IMGFRAME_SAMPLE_IMAGES=str(SAMPLE_IMAGES), IMGFRAME_SEED=str(SEED))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voila", str(notebook), "--no-browser",
             f"--port={port}", "--Voila.ip=127.0.0.1", "--ServerApp.port_retries=0",
             "--show_tracebacks=True"],
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"voila exited with {proc.returncode}:\n{log.read_text()}",
                            pytrace=False)
            try:
                urllib.request.urlopen(url + "voila/static/", timeout=2).close()
                break
            except urllib.error.HTTPError as answer:   # any HTTP answer: the server is up
                answer.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"voila did not answer on {url}:\n{log.read_text()}",
                                pytrace=False)
                time.sleep(0.2)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def expected_counts() -> dict:
    """What the explorer should show, computed from the sample records, not the frame.

    The listing hides what Nova's list hides, and the display status follows Nova's
    mapping of Glance statuses.
    """
    from fnmatch import fnmatchcase

    from imgframe.server import sample_inventory

    glance_to_nova = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING",
                      "killed": "ERROR", "deleted": "DELETED",
                      "pending_delete": "DELETED", "deactivated": "UNKNOWN",
                      "importing": "UNKNOWN", "uploading": "UNKNOWN"}
    records = [r for r in sample_inventory(SAMPLE_IMAGES, seed=SEED) if listed(r)]
    saving = [r for r in records if glance_to_nova[r["status"]] == "SAVING"]
    return {
        "total": len(records),
        "saving": len(saving),
        "saving_named": sum(1 for r in saving
                            if r["name"] is not None and fnmatchcase(r["name"], NAME_GLOB)),
    }


def listed(record: dict) -> bool:
    """Whether Nova's images list shows a record to the served project: Glance's default
    listing (no hidden images, no other project's private or community images), which
    lists neither killed nor deleted images (reference: nova-images-api.md, "In lists only
    ACTIVE, SAVING and UNKNOWN")."""
    return nova_lists(record)


def shown_count(page) -> tuple[int, int]:
    text = page.locator(".imgframe-count").inner_text()
    m = re.search(r"([\d,]+) of ([\d,]+) images", text)
    assert m, f"no count in {text!r}"
    return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))


def wait_for_count(page, n: int, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(
        """n => { const el = document.querySelector('.imgframe-count');
                  if (!el) return false;
                  const m = el.innerText.match(/([\\d,]+) of/);
                  return m && parseInt(m[1].replace(/,/g, '')) === n; }""",
        arg=n, timeout=timeout_ms)


def wait_for_rows(page, prefix: str, n: int, timeout_ms: int = 30_000) -> None:
    """Until the table shows `n` rows whose first cell (the name) starts with `prefix`."""
    page.wait_for_function(
        """([prefix, n]) => {
             const cells = [...document.querySelectorAll(
               '.imgframe-table tbody tr td:nth-child(1)')];
             return cells.length === n && cells.every(c => c.innerText.startsWith(prefix)); }""",
        arg=[prefix, n], timeout=timeout_ms)


def test_explorer_in_voila_and_chromium(voila, chromium):
    from playwright.sync_api import sync_playwright

    url, log = voila
    expected = expected_counts()
    assert 0 < expected["saving_named"] < expected["saving"] < expected["total"]
    console, page_errors, blocked = [], [], []

    def only_local(route):
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:                        # CDN fonts etc.: offline CI must not depend on them
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.route("**/*", only_local)
            page.on("console", lambda m: console.append((m.type, m.text, m.location)))
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.goto(url, timeout=120_000)
            try:
                page.wait_for_selector(".imgframe-explorer .widget-toggle-button",
                                       timeout=120_000)
            except Exception:
                body = page.inner_text("body")
                pytest.fail(f"the explorer did not render.\npage text:\n{body[:3000]}\n"
                            f"console: {console}\nerrors: {page_errors}\n"
                            f"voila log:\n{log.read_text()[-3000:]}", pytrace=False)

            # a real widget, not its plain-text repr
            body = page.inner_text("body")
            assert "Explorer(" not in body and "VBox(children" not in body
            assert page.locator(".imgframe-explorer .widget-toggle-button").count() >= 3
            assert page.locator(".imgframe-name input").count() == 1
            assert page.locator(".imgframe-chart").count() == 1

            wait_for_count(page, expected["total"])
            assert shown_count(page) == (expected["total"], expected["total"])

            saving = page.locator(".imgframe-status-saving")
            assert re.search(rf"SAVING \({expected['saving']:,}\)", saving.inner_text())
            saving.click()
            wait_for_count(page, expected["saving"])

            page.locator(".imgframe-name input").fill(NAME_GLOB)
            page.locator(".imgframe-name input").press("Enter")
            wait_for_count(page, expected["saving_named"])
            assert shown_count(page) == (expected["saving_named"], expected["total"])
            # the count and the table are separate widget updates: wait for the table too
            wait_for_rows(page, "ubuntu", min(10, expected["saving_named"]))
            rows = page.locator(".imgframe-table tbody tr")
            assert rows.count() == min(10, expected["saving_named"])
            assert all(t.startswith("ubuntu") for t in
                       page.locator(".imgframe-table tbody tr td:nth-child(1)").all_inner_texts())

            # export what is shown: the kernel (cwd = the notebook's folder) writes the CSV
            page.get_by_role("button", name="Export selection").click()
            page.wait_for_selector(".imgframe-export-message:has-text('wrote')")
            written = log.parent / "selection.csv"
            assert str(written) in page.locator(".imgframe-export-message").inner_text()
            exported = imgframe.read_csv(written)
            assert len(exported) == expected["saving_named"]
            assert set(exported["status"]) == {"SAVING"}

            page.locator(".imgframe-name input").fill("/ubuntu(/")
            page.locator(".imgframe-name input").press("Enter")
            page.wait_for_selector(".imgframe-name-message:has-text('invalid regular')")
            page.screenshot(path=log.parent / "explorer.png", full_page=True)  # for a look
        finally:
            browser.close()

    errors = [(t, text, loc) for t, text, loc in console if t == "error"
              and not (text.startswith("Failed to load resource") and loc.get("url") in blocked)]
    widget_trouble = [text for _, text, _ in console
                      if "@jupyter-widgets" in text or "widget" in text.lower()
                      and re.search(r"version|not registered|could not|failed", text, re.I)]
    assert not page_errors, page_errors
    assert not errors, errors
    assert not widget_trouble, widget_trouble
