"""``imgframe dashboard``: HTTP-level safety, Ctrl-C, and the page in headless Chromium.

The cloud is the embedded server with a token (and IMS with AK/SK); every response the
dashboard gives is searched for those secrets.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

import imgframe
from imgframe.dashboard import Dashboard
from imgframe.server import sample_inventory

TOKEN = "cloud-token-6f1e2d"
AK, SK = "AKDASHBOARDTEST0001", "sk-dashboard-secret-0123456789"
SECRETS = (TOKEN, AK, SK)
CHROMIUM = os.environ.get("IMGFRAME_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
def cloud(image_server):
    return image_server(sample_inventory(120, seed=5), token=TOKEN, aksk={AK: SK})


@pytest.fixture
def dash(cloud):
    client = imgframe.Client(cloud.url, cloud.project_id, token=TOKEN)
    with Dashboard(client, log=io.StringIO()) as d:
        yield d


class Recorder(requests.Session):
    """A session that keeps every response, to search them all for secrets."""

    def __init__(self):
        super().__init__()
        self.seen: list[requests.Response] = []

    def request(self, *args, **kwargs):
        kwargs["allow_redirects"] = False  # get() passes True: see every 303
        kwargs.setdefault("timeout", 10)
        response = super().request(*args, **kwargs)
        self.seen.append(response)
        return response


def logged_in(dash) -> Recorder:
    s = Recorder()
    r = s.get(dash.login_url)
    assert r.status_code == 303 and r.headers["Location"] == "/"
    return s


def csrf(s: Recorder, dash) -> str:
    return re.search(r'data-csrf="([0-9a-f]+)"', s.get(dash.url).text).group(1)


def test_binds_loopback_and_generates_a_password(dash):
    assert dash.host == "127.0.0.1"
    assert dash.url.startswith("http://127.0.0.1:")
    assert len(dash.password) >= 20


def test_nothing_without_logging_in(dash):
    s = Recorder()
    r = s.get(dash.url)
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    for path in ("api/data", "api/status"):
        assert s.get(dash.url + path).status_code == 401
    assert s.post(dash.url + "api/reload").status_code == 401
    assert s.get(dash.url + "elsewhere").status_code == 303     # unknown: the login first
    assert s.get(dash.url + "login").status_code == 200
    assert 'type="password"' in s.get(dash.url + "login").text
    assert "imgframe-data" not in "".join(r.text for r in s.seen)


def test_wrong_password_and_token_refused(dash):
    s = Recorder()
    r = s.post(dash.url + "login", data={"password": "not-it"})
    assert r.status_code == 401 and "Wrong password" in r.text
    assert "Set-Cookie" not in r.headers
    r = s.get(dash.url + "?token=not-it")
    assert r.status_code == 401 and "Set-Cookie" not in r.headers
    s.cookies.set(dash.cookie_name, "forged-session")
    assert s.get(dash.url + "api/data").status_code == 401


def test_right_password_sets_a_strict_httponly_cookie(dash):
    s = Recorder()
    r = s.post(dash.url + "login", data={"password": dash.password})
    assert r.status_code == 303 and r.headers["Location"] == "/"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(dash.cookie_name + "=")
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    page = s.get(dash.url)
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    data = s.get(dash.url + "api/data").json()
    assert data["rows"] == len(dash.frame) == dash.status()["rows"]
    assert data["generation"] == 1
    # the token once in a URL works too, and leaves it behind by redirecting
    s2 = logged_in(dash)
    assert s2.get(dash.url + "api/status").json()["state"] == "idle"
    # logout forgets the session
    assert s2.post(dash.url + "logout").status_code == 303
    assert s2.get(dash.url + "api/status").status_code == 401


def test_password_given(cloud):
    client = imgframe.Client(cloud.url, cloud.project_id, token=TOKEN)
    with Dashboard(client, password="open sesame", log=io.StringIO()) as d:
        assert d.password == "open sesame"
        s = Recorder()
        assert s.post(d.url + "login", data={"password": "open sesame"}).status_code == 303
        assert s.get(d.url + "api/data").status_code == 200
    with pytest.raises(ValueError, match="empty"):
        Dashboard(client, password="")


def test_junk_gets_clear_4xx_never_a_traceback(dash):
    s = logged_in(dash)
    answers = {
        "unknown path": s.get(dash.url + "no/such/page"),
        "PUT": s.put(dash.url),
        "DELETE": s.delete(dash.url + "api/data"),
        "GET on reload": s.get(dash.url + "api/reload"),
        "oversized body": s.post(dash.url + "login", data="x" * 10_000),
        "bad Content-Length": s.post(dash.url + "login",
                                     headers={"Content-Length": "-3"}),
        "not UTF-8": s.post(dash.url + "login", data=b"password=\xff\xfe"),
    }
    assert {k: r.status_code for k, r in answers.items()} == {
        "unknown path": 404, "PUT": 405, "DELETE": 405, "GET on reload": 405,
        "oversized body": 413, "bad Content-Length": 400, "not UTF-8": 400}
    for r in answers.values():
        assert "Traceback" not in r.text and len(r.text) < 2000
    # a malformed request line, by hand
    import socket

    with socket.create_connection((dash.host, dash.port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        reply = sock.recv(4096).decode("latin-1")
    assert "400" in reply.splitlines()[0]  # as HTTP/0.9 would read it: the body alone
    assert "Traceback" not in reply


def test_reload_is_a_post_with_csrf_and_same_origin(dash, cloud):
    s = logged_in(dash)
    token = csrf(s, dash)
    assert s.post(dash.url + "api/reload").status_code == 403
    assert s.post(dash.url + "api/reload", headers={"X-Imgframe-CSRF": "0" * 64}).status_code \
        == 403
    assert s.post(dash.url + "api/reload", headers={
        "X-Imgframe-CSRF": token, "Origin": "http://evil.example"}).status_code == 403
    # another session's token is not this one's
    other = logged_in(dash)
    assert other.post(dash.url + "api/reload",
                      headers={"X-Imgframe-CSRF": token}).status_code == 403
    first = dash.frame
    cloud.remove_image(first["id"].iloc[0])
    r = s.post(dash.url + "api/reload", headers={"X-Imgframe-CSRF": token,
                                                  "Origin": dash.url.rstrip("/")})
    assert r.status_code == 202
    for _ in range(200):
        st = s.get(dash.url + "api/status").json()
        if st["generation"] == 2 and st["state"] == "idle":
            break
        time.sleep(0.05)
    assert st["rows"] == len(first) - 1 and st["requests"] >= 1
    assert s.get(dash.url + "api/data").json()["rows"] == len(first) - 1


def test_a_failed_reload_keeps_the_data_and_says_why(cloud):
    calls = []

    def loader():
        calls.append(1)
        if len(calls) > 1:
            raise imgframe.TransportError("the cloud is down (test)")
        return imgframe.Client(cloud.url, cloud.project_id, token=TOKEN).load(progress=False)

    log = io.StringIO()
    with Dashboard(loader, log=log) as d:
        st = d.reload(wait=True)
        assert st["state"] == "error" and "cloud is down" in st["error"]
        assert st["generation"] == 1 and st["rows"] == len(d.frame)
        s = logged_in(d)
        assert s.get(d.url + "api/data").json()["rows"] == len(d.frame)


@pytest.mark.parametrize("source", ["nova", "ims"])
def test_no_secret_in_any_response(cloud, source):
    if source == "nova":
        client = imgframe.Client(cloud.url, cloud.project_id, token=TOKEN)
    else:
        client = imgframe.Client(cloud.ims_endpoint, cloud.project_id, source="ims",
                                 ak=AK, sk=SK)
    with Dashboard(client, log=io.StringIO()) as d:
        s = logged_in(d)
        s.get(d.url)
        s.get(d.url + "api/data")
        s.get(d.url + "api/status")
        s.post(d.url + "api/reload", headers={"X-Imgframe-CSRF": csrf(s, d)})
        d.reload(wait=True)
        s.get(d.url + "api/status")
        s.get(d.url + "api/data")
        s.get(d.url + "nowhere")
        Recorder().get(d.url + "login")
        assert len(s.seen) >= 8
        for r in s.seen:
            text = r.content.decode("utf-8", "replace") + str(r.headers)
            for secret in SECRETS:
                assert secret not in text, (r.url, secret)
        assert s.get(d.url + "api/data").json()["attrs"]["source"] == source


def test_the_cli_prints_a_loopback_url_and_stops_on_ctrl_c(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "IMGFRAME_DASHBOARD_PASSWORD": "pw-cli-test"}
    proc = subprocess.Popen([sys.executable, "-m", "imgframe.cli", "dashboard", "--demo",
                             "--images", "200", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        while not any(line.startswith("Press Ctrl-C") for line in lines):
            line = proc.stdout.readline()
            assert line, (lines, proc.stderr.read())
            lines.append(line)
        text = "".join(lines)
        url = re.search(r"at (http://127\.0\.0\.1:\d+/)", text).group(1)
        assert "pw-cli-test" not in text     # a chosen password is never echoed
        s = Recorder()
        assert s.post(url + "login", data={"password": "pw-cli-test"}).status_code == 303
        assert s.get(url + "api/status").json()["state"] == "idle"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
@pytest.mark.slow
def test_login_filter_and_reload_in_chromium(cloud):
    playwright = pytest.importorskip("playwright.sync_api")
    client = imgframe.Client(cloud.url, cloud.project_id, token=TOKEN)
    with Dashboard(client, log=io.StringIO()) as d, playwright.sync_playwright() as pw:
        origin = d.url.rstrip("/")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        leaving, errors = [], []
        context = browser.new_context()
        page = context.new_page()

        def route(r):
            if r.request.url.startswith(origin + "/"):
                r.continue_()
            else:
                leaving.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        # login through the form
        page.goto(d.url)
        assert page.url == origin + "/login"
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        assert page.locator(".bad").inner_text() == "Wrong password."
        errors.clear()  # the 401 of the wrong password is logged by Chromium
        page.fill("input[name=password]", d.password)
        page.click("button[type=submit]")
        page.wait_for_selector("html[data-imgframe-ready]", timeout=60_000)
        df = d.frame

        def count() -> int:
            m = re.search(r"([\d,]+) of ([\d,]+) images",
                          page.locator(".imgframe-count").inner_text())
            return int(m.group(1).replace(",", ""))

        def wait_count(n: int) -> None:
            # the name filter updates on the next tick: poll until the count says n
            deadline = time.monotonic() + 10
            while count() != n:
                assert time.monotonic() < deadline, (count(), n)
                page.wait_for_timeout(50)

        def wait_for_generation(n: int) -> None:
            # (wait_for_function evaluates a string, which the page's CSP forbids)
            deadline = time.monotonic() + 30
            while page.evaluate("imgframe.generation") != n:
                assert time.monotonic() < deadline, page.evaluate("imgframe.generation")
                page.wait_for_timeout(100)

        wait_count(len(df))
        assert page.evaluate("imgframe.rows") == len(df)
        # filter: a status toggle, then a name glob
        page.click(".imgframe-status-saving")
        saving = df.images.select(status="SAVING")
        wait_count(len(saving))
        assert page.evaluate("imgframe.selection()") == saving["id"].tolist()
        name = df["name"].dropna().iloc[0]
        page.fill(".imgframe-name input", name)
        expected = df.images.select(status="SAVING", name=name)
        wait_count(len(expected))
        page.click(".imgframe-status-saving")
        wait_count(len(df.images.select(name=name)))
        page.fill(".imgframe-name input", "")
        wait_count(len(df))
        # the catalogue changes; Reload shows it, with the filter kept
        active = df.images.select(status="ACTIVE")
        cloud.remove_image(active["id"].iloc[0])
        page.click(".imgframe-status-active")
        wait_count(len(active))
        page.click(".imgframe-reload")
        wait_for_generation(2)
        wait_count(len(active) - 1)
        assert page.locator(".imgframe-status-active").get_attribute("aria-pressed") == "true"
        assert page.evaluate("imgframe.rows") == len(df) - 1
        assert "load 2" in page.locator(".imgframe-live-status").inner_text()
        # another viewer's reload reaches this page too
        cloud.remove_image(active["id"].iloc[1])
        d.reload(wait=True)
        wait_for_generation(3)
        wait_count(len(active) - 2)
        context.close()
        browser.close()
        assert leaving == []
        assert errors == []
