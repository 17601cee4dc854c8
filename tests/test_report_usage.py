"""Usage verdicts in the report and the dashboard: the page carries verdict, kind and
reasons as columns with a verdict filter and the scope in its header, escaped as the
rest of the data; one browser test filters by verdict in headless Chromium."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
import requests
from test_report import DATA_RE, payload
from test_report_browser import Page, browser  # noqa: F401  (a fixture)

import imgframe
from imgframe.dashboard import Dashboard
from imgframe.errors import InvalidQueryError
from imgframe.report import USAGE_COLUMNS, build_html, with_usage
from imgframe.server import ImageServer
from imgframe.usage_plots import VERDICT_COLORS

A = "report-usage-admin-token"
HOSTILE = "</script><script>alert(1)</script>\u2028<!--"


@pytest.fixture(scope="module")
def cloud():
    with ImageServer(200, seed=4, token="member", admin_token=A, servers=True,
                     max_limit=50) as srv:
        images = imgframe.load(srv.glance_endpoint, source="glance", token=A, progress=False)
        servers = imgframe.load_servers(srv.endpoint, token=A, all_projects=True,
                                        progress=False)
        volumes = imgframe.load_volumes(srv.volume_endpoint, token=A, all_projects=True,
                                        progress=False)
        yield srv, images, imgframe.usage(images, servers, volumes)


def column(data: dict, name: str) -> dict:
    return next(c for c in data["columns"] if c["name"] == name)


def test_with_usage_adds_the_columns_in_the_images_order(cloud):
    _, images, u = cloud
    shuffled = u.sample(frac=1, random_state=1).iloc[5:]      # 5 images not covered
    both = with_usage(images, shuffled)
    assert list(both.columns) == list(images.columns) + list(USAGE_COLUMNS)
    assert both["id"].tolist() == images["id"].tolist()
    covered = both["id"].isin(shuffled["id"])
    by_id = u.set_index("id")
    assert (both.loc[covered, "verdict"].astype(str).tolist()
            == by_id.loc[both.loc[covered, "id"], "verdict"].astype(str).tolist())
    assert both.loc[~covered, "verdict"].isna().all() and (~covered).sum() == 5
    assert both["verdict"].dtype == u["verdict"].dtype
    assert "Scope complete" in both.attrs["imgframe"]["usage_scope"]
    assert "usage_scope" not in images.attrs.get("imgframe", {})   # the input is untouched
    with pytest.raises(InvalidQueryError, match="usage"):
        with_usage(images, images)


def test_the_page_carries_verdicts_reasons_and_the_scope(cloud, tmp_path):
    _, images, u = cloud
    page = imgframe.report(images, tmp_path / "r.html", usage=u).read_text("utf-8")
    data = payload(page)
    verdict = column(data, "verdict")
    assert verdict["kind"] == "category" and verdict["categories"] == list(VERDICT_COLORS)
    shown = [verdict["categories"][c] for c in verdict["codes"]]
    assert shown == u["verdict"].astype(str).tolist()
    reasons = column(data, "reasons")
    assert reasons["kind"] == "text"
    assert "Scope complete" in data["attrs"]["usage_scope"]
    colours = re.search(r'data-verdicts="([^"]+)"', page).group(1)
    assert colours.replace("&quot;", '"') == '{"in use":"#2a9d55","unused":"#d1382e",' \
        '"unknown":"#8c8c8c"}'
    assert A not in page
    plain = payload(build_html(images))
    assert "usage_scope" not in plain["attrs"]
    assert "verdict" not in [c["name"] for c in plain["columns"]]


def test_hostile_evidence_stays_data(cloud):
    _, images, u = cloud
    u = u.copy()
    u["reasons"] = pd.Series([[f"server:{HOSTILE} ACTIVE"]] * len(u), dtype=object)
    for compress in (False, True):
        page = build_html(with_usage(images, u), compress=compress)
        script = DATA_RE.search(page).group(2)
        assert "</script" not in script and "<!--" not in script and "\u2028" not in script
        assert page.count("</script>") == 2                 # the data and report.js
        text = column(payload(page), "reasons")
        values = text.get("values") or text["dict"]
        assert HOSTILE in values[0]


def test_the_dashboard_shows_the_verdicts_and_recomputes_them(cloud):
    srv, images, u = cloud
    calls = []

    def usage_of(frame):
        calls.append(len(frame))
        return u

    with Dashboard(lambda: images, log=io.StringIO(), usage=usage_of) as dash:
        s = requests.Session()
        assert s.get(dash.login_url, timeout=10).status_code == 200
        data = s.get(dash.url.rstrip("/") + "/api/data", timeout=10).json()
        shown = column(data, "verdict")
        assert [shown["categories"][c] for c in shown["codes"]] == \
            u["verdict"].astype(str).tolist()
        assert "Scope complete" in data["attrs"]["usage_scope"]
        assert 'data-verdicts="' in s.get(dash.url, timeout=10).text
        dash.reload(wait=True)
    assert calls == [len(images)] * 2
    with pytest.raises(InvalidQueryError, match="usage"):
        Dashboard(lambda: images, usage="everything")


@pytest.mark.browser
@pytest.mark.slow
def test_filter_by_verdict_in_chromium(browser, cloud, tmp_path):  # noqa: F811
    _, images, u = cloud
    p = Page(browser, imgframe.report(images, tmp_path / "r.html", usage=u))
    try:
        page = p.page
        assert p.count() == len(images)
        select = page.locator(".imgframe-facet-verdict")
        for verdict in ("unused", "in use"):
            select.select_option(verdict)
            ids = u.loc[u["verdict"] == verdict, "id"].tolist()
            assert ids and p.count() == len(ids)
            assert page.evaluate("imgframe.selection()") == ids
            cells = page.eval_on_selector_all(
                ".imgframe-rows td.imgframe-verdict", "tds => tds.map(t => t.textContent)")
            assert cells and set(cells) == {verdict}
        header = page.locator(".imgframe-header").inner_text()
        assert "usage scope" in header and "Scope complete" in header
        reasons = page.eval_on_selector_all(
            ".imgframe-rows th", "ths => ths.map(t => t.dataset.column)")
        assert "reasons" in reasons and "verdict" in reasons
        select.select_option("")
        assert p.count() == len(images)
        assert p.leaving == [] and p.errors == []
    finally:
        p.close()
