"""``imgframe dashboard --usage``: the command (a real process) serves the verdicts beside
the images over HTTP on 127.0.0.1, equal to :func:`imgframe.usage` of the same listings of
the embedded cloud, on every source and from a clouds.yaml; a reload recomputes them from
fresh listings; bad usage is refused in one line before any request; and, in headless
Chromium, the page filters by verdict."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests
from click.testing import CliRunner

import imgframe
from imgframe.cli import main
from imgframe.server import sample_cloud, sample_inventory
from imgframe.usage_plots import scope_summary

T, A = "dash-usage-member-token", "dash-usage-admin-token"
PASSWORD = "pw-dashboard-usage"
ENV = {"OS_CLOUD": "", "OS_AUTH_TOKEN": "", "IMGFRAME_DEBUG": "",
       "IMGFRAME_DASHBOARD_PASSWORD": PASSWORD}
FAST = {"progress": False}


@pytest.fixture
def srv(image_server):
    records = sample_inventory(160, seed=9)
    return image_server(records, cloud=sample_cloud(records, seed=9), token=T,
                        admin_token=A, max_limit=40,
                        users={"alice": "pw-alice", "root": "pw-root"}, admins=("root",))


def where(srv, source: str) -> list[str]:
    """The command line of each source's endpoint form (servers from Nova, or ECS for
    IMS; volumes from Cinder), as an admin; every project where the API can list it."""
    volumes = ["--volume-endpoint", srv.volume_endpoint, "--token", A]
    if source == "nova":
        return ["--endpoint", srv.endpoint, *volumes, "--all-projects"]
    if source == "glance":
        return ["--source", "glance", "--endpoint", srv.glance_endpoint,
                "--compute-endpoint", srv.endpoint, *volumes, "--all-projects"]
    return ["--source", "ims", "--endpoint", srv.ims_endpoint, "--project-id", srv.project_id,
            "--compute-endpoint", srv.ecs_endpoint, *volumes]


def expected(srv, source: str):
    """imgframe.usage of the same listings, computed directly."""
    if source == "nova":
        images = imgframe.load(srv.endpoint, source="nova", token=A, **FAST)
        servers = imgframe.load_servers(srv.endpoint, token=A, all_projects=True, **FAST)
    elif source == "glance":
        images = imgframe.load(srv.glance_endpoint, source="glance", token=A, **FAST)
        servers = imgframe.load_servers(srv.endpoint, token=A, all_projects=True, **FAST)
    else:
        images = imgframe.load(srv.ims_endpoint, srv.project_id, source="ims", token=A,
                               **FAST)
        servers = imgframe.load_servers(srv.ecs_endpoint, srv.project_id, source="ecs",
                                        token=A, **FAST)
    volumes = imgframe.load_volumes(srv.volume_endpoint, token=A,
                                    all_projects=source != "ims", **FAST)
    return imgframe.usage(images, servers, volumes)


@contextlib.contextmanager
def dashboard(*args, env=None):
    """``imgframe dashboard ARGS --port 0`` in its own process: yields (url, what it printed
    up to "Press Ctrl-C"); Ctrl-C at the end, which must stop it cleanly."""
    proc = subprocess.Popen([sys.executable, "-m", "imgframe.cli", "dashboard", *args,
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1", **ENV,
                                            **(env or {})})
    try:
        lines: list[str] = []
        while not any(line.startswith("Press Ctrl-C") for line in lines):
            line = proc.stdout.readline()
            assert line, ("".join(lines), proc.stderr.read())
            lines.append(line)
        text = "".join(lines)
        yield re.search(r"at (http://127\.0\.0\.1:\d+/)", text).group(1), text
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "stopped" in out and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def login(url: str) -> requests.Session:
    s = requests.Session()
    r = s.post(url + "login", data={"password": PASSWORD}, allow_redirects=False, timeout=10)
    assert r.status_code == 303
    return s


def decode(column: dict) -> list:
    """A column of /api/data (imgframe.report's format) back to Python values."""
    if column["kind"] == "category":
        return [None if c < 0 else column["categories"][c] for c in column["codes"]]
    if "dict" in column:
        return [None if c < 0 else column["dict"][c] for c in column["codes"]]
    return column["values"]


def shown(s: requests.Session, url: str) -> dict:
    """The page's data: its attrs, which columns it has, and the usage ones decoded."""
    data = s.get(url + "api/data", timeout=10).json()
    names = [c["name"] for c in data["columns"]]
    return {"attrs": data["attrs"], "columns": names,
            **{c["name"]: decode(c) for c in data["columns"]
               if c["name"] in ("id", "verdict", "kind", "servers", "volumes")}}


def assert_same(page: dict, want) -> None:
    assert page["id"] == want["id"].tolist()
    for name in ("verdict", "kind"):
        assert page[name] == want[name].astype(str).tolist()
    for name in ("servers", "volumes"):
        assert page[name] == [int(v) for v in want[name]]
    assert page["attrs"]["usage_scope"] == scope_summary(want)


def reload(s: requests.Session, url: str, generation: int) -> None:
    csrf = re.search(r'data-csrf="([0-9a-f]+)"', s.get(url, timeout=10).text).group(1)
    r = s.post(url + "api/reload", headers={"X-Imgframe-CSRF": csrf,
                                            "Origin": url.rstrip("/")}, timeout=10)
    assert r.status_code == 202
    deadline = time.monotonic() + 60
    while True:
        st = s.get(url + "api/status", timeout=10).json()
        if st["generation"] == generation and st["state"] == "idle":
            return
        assert st["state"] != "error" and time.monotonic() < deadline, st
        time.sleep(0.1)


@pytest.mark.parametrize("source", ["nova", "glance", "ims"])
def test_the_verdicts_served_are_imgframe_usage_and_a_reload_recomputes_them(srv, source):
    want = expected(srv, source)
    verdicts = set(want["verdict"].astype(str))
    assert "in use" in verdicts and len(verdicts) >= 2      # something to tell apart
    with dashboard(*where(srv, source), "--usage") as (url, printed):
        counts = want["verdict"].astype(str).value_counts()
        assert (f"usage:    {counts.get('in use', 0):,} in use, {counts.get('unused', 0):,} "
                f"unused, {counts.get('unknown', 0):,} unknown") in printed
        assert f"scope:    {scope_summary(want)}" in printed and A not in printed
        s = login(url)
        page = shown(s, url)
        assert_same(page, want)
        assert "reasons" in page["columns"] and 'data-verdicts="' in s.get(url, timeout=10).text
        # the one server that uses an image goes; the reload lists servers again
        used = want[(want["verdict"] == "in use") & (want["servers"] == 1)
                    & (want["volumes"] == 0) & (want["images"] == 0)]
        image_id, server_id = used["id"].iloc[0], used["referrers"].iloc[0][0]
        gone = srv.cloud.server_by_id[server_id]
        srv.cloud.servers.remove(gone)
        srv.cloud.index()
        after = expected(srv, source)
        before, now = (frame.set_index("id").loc[image_id, "verdict"] for frame in (want, after))
        assert before == "in use" and now != "in use"
        reload(s, url, 2)
        assert_same(shown(s, url), after)
        for response_text in (s.get(url + "api/data", timeout=10).text,
                              s.get(url, timeout=10).text):
            assert A not in response_text


def test_from_a_clouds_yaml_the_catalog_names_compute_and_volumes(srv, tmp_path,
                                                                  monkeypatch):
    (tmp_path / "clouds.yaml").write_text(f"""
clouds:
  admin:
    auth: {{auth_url: "{srv.auth_url}", username: root, password: pw-root,
            project_id: {srv.project_id}, user_domain_id: default}}
    region_name: RegionOne
""")
    env = {"OS_CLIENT_CONFIG_FILE": str(tmp_path / "clouds.yaml"), "OS_AUTH_URL": "",
           "OS_PASSWORD": "", "OS_TOKEN": "", "OS_AUTH_TYPE": ""}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # no --source: Glance, as 'imgframe usage' reads it; servers and volumes by the catalog
    want = imgframe.usage(
        imgframe.Client.from_cloud("admin", source="glance").load(**FAST),
        imgframe.load_servers(cloud="admin", all_projects=True, **FAST),
        imgframe.load_volumes(cloud="admin", all_projects=True, **FAST))
    assert "unused" in set(want["verdict"].astype(str))
    with dashboard("--cloud", "admin", "--usage", "--all-projects", env=env) as (url, printed):
        assert "Scope complete" in printed and "pw-root" not in printed
        assert_same(shown(login(url), url), want)


def run(*args):
    return CliRunner().invoke(main, ["dashboard", *args, "--port", "0"], env=ENV,
                              catch_exceptions=False)


@pytest.mark.parametrize("args, words", [
    (["--usage", "--source", "glance", "--endpoint", "{glance}", "--token", A],
     "--compute-endpoint"),
    (["--usage", "--source", "ims", "--endpoint", "{ims}", "--project-id", "{project}",
      "--token", A], "--compute-endpoint"),
    (["--usage", "--source", "ims", "--endpoint", "{ims}", "--project-id", "{project}",
      "--token", A, "--compute-endpoint", "{ecs}", "--all-projects"], "--all-projects"),
    (["--usage", "--source", "ims", "--endpoint", "{ims}", "--project-id", "{project}",
      "--ak", "AK0000", "--sk", "s3cr3t", "--compute-endpoint", "{ecs}",
      "--volume-endpoint", "{cinder}"], "--volume-endpoint"),
    (["--usage", "--endpoint", "{nova}", "--token", A, "--volume-endpoint", "not a url"],
     "--volume-endpoint"),
    (["--usage", "--endpoint", "ftp://nova.example", "--token", A], "--endpoint"),
    (["--usage", "--source", "auto", "--endpoint", "{nova}", "--token", A], "--cloud"),
    (["--usage", "--endpoint", "{nova}", "--token", A, "--cloud", "x"], "not both"),
    (["--usage", "--endpoint", "{nova}"], "--token"),
    (["--endpoint", "{nova}", "--token", A, "--compute-endpoint", "{nova}"],
     "--compute-endpoint"),
    (["--endpoint", "{nova}", "--token", A, "--all-projects"], "--all-projects"),
    (["--demo", "--usage", "--volume-endpoint", "{cinder}"], "--volume-endpoint"),
])
def test_bad_usage_is_refused_in_one_line_before_any_request(srv, args, words):
    filled = [a.format(glance=srv.glance_endpoint, ims=srv.ims_endpoint, nova=srv.endpoint,
                       ecs=srv.ecs_endpoint, cinder=srv.volume_endpoint,
                       project=srv.project_id) for a in args]
    srv.stats.reset()
    result = run(*filled)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], result.stderr
    if "--usage" not in args:
        assert "give --usage too" in lines[0]
    assert "s3cr3t" not in result.output and "Serving" not in result.output
    assert srv.stats.requests == 0


def test_a_member_asking_for_every_project_fails_in_one_line_and_serves_nothing(srv):
    result = run("--usage", "--endpoint", srv.endpoint, "--token", T, "--all-projects",
                 "--volume-endpoint", srv.volume_endpoint)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "admin" in lines[0], result.stderr
    assert "Serving" not in result.output and T not in result.output


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
@pytest.mark.slow
def test_filter_by_verdict_in_the_dashboard_in_chromium(srv):
    playwright = pytest.importorskip("playwright.sync_api")
    from test_dashboard import CHROMIUM, CHROMIUM_ARGS

    want = expected(srv, "glance")
    with dashboard(*where(srv, "glance"), "--usage") as (url, _), \
            playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        leaving, errors = [], []
        origin = url.rstrip("/")
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(origin + "/")
                   else (leaving.append(r.request.url), r.abort()))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "login")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("html[data-imgframe-ready]", timeout=60_000)
        select = page.locator(".imgframe-facet-verdict")
        verdicts = want["verdict"].astype(str)
        assert {"in use", "unused"} <= set(verdicts)
        for verdict in sorted(set(verdicts)):        # the select offers those present
            ids = want.loc[verdicts == verdict, "id"].tolist()
            select.select_option(verdict)
            deadline = time.monotonic() + 10
            while page.evaluate("imgframe.selection()") != ids:
                assert time.monotonic() < deadline, verdict
                page.wait_for_timeout(50)
            cells = page.eval_on_selector_all(
                ".imgframe-rows td.imgframe-verdict", "tds => tds.map(t => t.textContent)")
            assert ids and set(cells) == {verdict}
        assert "Scope complete" in page.locator(".imgframe-header").inner_text()
        browser.close()
    assert leaving == [] and errors == []
