"""``imgframe dashboard``: the report's front end, live, for people without Jupyter.

One process (the standard library's ``ThreadingHTTPServer``, no extra dependency) loads
the inventory once and shares it with every viewer: the frame is encoded and
gzip-compressed once per load, so an extra viewer costs a socket and a few kilobytes.
Reload (a button on the page, or :meth:`Dashboard.reload`) loads it again from the cloud
in a background thread, for everyone; every page polls ``/api/status`` (progress while it
runs) and fetches the new data when the load is done, keeping its filters::

    browser                         Dashboard (one process)
    GET  /?token=...   --303-->     sets the session cookie, then the page (report.js)
    GET  /api/data                  the encoded frame (report.py's format), gzip
    GET  /api/status                {state, generation, rows, requests, elapsed, ...}
    POST /api/reload                X-Imgframe-CSRF + same Origin: start a load (202)

Safe by default: binds 127.0.0.1; every route but the login page wants the session
cookie (HttpOnly, SameSite=Strict), given for the password (generated with
``secrets.token_urlsafe`` unless one is given), compared with ``hmac.compare_digest``.
The page is the report's, under the same strict Content-Security-Policy plus
``connect-src 'self'``: no other origin, assets from the package. Only
:data:`imgframe.report.ATTRS_KEYS` of ``df.attrs`` reach a browser (never a token or
AK/SK); nothing is written on the server for a viewer (CSV is made in the browser);
junk gets a short 4xx, an unexpected failure a 500 without a traceback.

>>> with Dashboard(client) as dash:            # doctest: +SKIP
...     print(dash.login_url)                  # open it; dash.reload(wait=True) to reload
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import html
import json
import re
import secrets
import sys
import threading
import time
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from imgframe.errors import ImgframeError, InvalidQueryError
from imgframe.report import csp_hash as _sha256
from imgframe.report import encode_frame, page_html, with_usage
from imgframe.report import json_text as _json

__all__ = ["Dashboard"]

MAX_BODY = 4096          # bytes: the login form is all a viewer ever sends
MAX_SESSIONS = 1000      # the oldest sessions are forgotten beyond this
MIN_PASSWORD = 8         # characters a chosen password needs at least
_FAIL_DELAY = 0.5        # seconds a wrong password waits (slows guessing)
_LOGIN_CSS = ("body{font:15px/1.4 system-ui,sans-serif;max-width:26em;margin:12vh auto;"
              "padding:0 16px;color:#1d2330}input,button{font:inherit;padding:4px 8px}"
              ".bad{color:#b00020}")


class Dashboard:
    """Serve ``source``'s inventory live. ``source``: an :class:`imgframe.Client` (loaded
    with ``client.load(progress=False, on_page=..., **load_options)``, its requests counted
    for the progress; the client is left as it was) or any callable returning a DataFrame.

    ``password``: what viewers type or pass once as ``?token=``; generated when None,
    at least :data:`MIN_PASSWORD` characters when given (``.password_chosen`` says which).
    :meth:`start` loads the first time (in the caller's thread), then serves in a thread;
    :meth:`stop` ends it. A context manager does both. ``.url``, ``.login_url``,
    ``.password``, ``.frame`` (the frame shown), ``.status()``.

    ``usage``: verdicts to show beside the images (a verdict filter, kind and reasons, the
    scope in the header; see :func:`imgframe.report.with_usage`): the frame
    :func:`imgframe.usage` returned, or a callable making one from each loaded images
    frame (so a reload recomputes it), e.g.
    ``lambda images: imgframe.usage(images, load_servers(...), load_volumes(...))``.
    """

    def __init__(self, source, *, host: str = "127.0.0.1", port: int = 0,
                 password: str | None = None, title: str | None = None,
                 load_options: dict | None = None, log=None, usage=None):
        if password is not None and (not isinstance(password, str)
                                     or len(password) < MIN_PASSWORD):
            raise InvalidQueryError("password", f"at least {MIN_PASSWORD} characters, or None "
                                    "(one is generated)", "<hidden>", reason="too short to "
                                    "guard the inventory" if password else "it is empty")
        if usage is not None and not callable(usage) and not (
                isinstance(usage, pd.DataFrame) and "verdict" in usage.columns):
            raise InvalidQueryError("usage", "None, the frame imgframe.usage() returns, or a "
                                    "callable making one from the images frame",
                                    type(usage).__name__)
        self._usage = usage
        self.password_chosen = password is not None
        self.password = password or secrets.token_urlsafe(16)
        self.host, self.port = host, port
        self.title = title
        self.frame: pd.DataFrame | None = None
        self._source = source
        self._load_options = dict(load_options or {})
        self._log = log if log is not None else sys.stderr
        self._secret = secrets.token_bytes(32)
        self._sessions: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        self._requests = 0
        self._state = {"state": "idle", "generation": 0, "rows": 0, "loaded_at": None,
                       "started": None, "error": None, "complete": None}
        self._payload = b""
        self._error: BaseException | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._loader_thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """A URL a browser on this machine can open (0.0.0.0 and :: are not addresses
        to connect to: they read 127.0.0.1 and [::1] here)."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        host = host if ":" not in host else f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def login_url(self) -> str:
        """The URL with the password once: opening it logs in and drops it from the bar."""
        return f"{self.url}?token={self.password}"

    def start(self) -> Dashboard:
        if self.frame is None:
            self._load()
            if self._state["state"] == "error":
                raise self._error
        handler = type("Handler", (_Handler,), {"dashboard": self})
        self._httpd = _Server((self.host, self.port), handler)
        self._httpd.dashboard = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="imgframe-dashboard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Dashboard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- loading ------------------------------------------------------------------------

    def reload(self, *, wait: bool = False) -> dict:
        """Load the inventory again in a background thread (one at a time); the status."""
        if self._loading.acquire(blocking=False):
            self._loading.release()
            with self._lock:
                self._state.update(state="loading", started=time.time(), error=None)
                self._requests = 0
            self._loader_thread = threading.Thread(target=self._load, daemon=True,
                                                   name="imgframe-dashboard-load")
            self._loader_thread.start()
        if wait and self._loader_thread is not None:
            self._loader_thread.join()
        return self.status()

    def status(self) -> dict:
        with self._lock:
            st = dict(self._state)
            st["requests"] = self._requests
        started = st.pop("started")
        st["elapsed"] = round(time.time() - started, 2) if st["state"] == "loading" else None
        return st

    def _on_page(self, progress) -> None:
        with self._lock:
            self._requests = progress.requests

    def _fetch(self) -> pd.DataFrame:
        source = self._source
        if callable(getattr(source, "load", None)):   # a Client: its progress, page by page
            return source.load(progress=False, on_page=self._on_page, **self._load_options)
        return source()

    def _load(self) -> None:
        with self._loading:
            with self._lock:
                self._state.update(state="loading", started=self._state["started"] or time.time())
            try:
                df = self._fetch()
                if self._usage is not None:   # verdicts beside the images (report.with_usage)
                    df = with_usage(df, self._usage(df) if callable(self._usage)
                                    else self._usage)
                data = encode_frame(df)
            except Exception as exc:  # noqa: BLE001 - shown on the page, the old data stays
                self._error = exc
                message = (" ".join(str(exc).split())[:300] if isinstance(exc, ImgframeError)
                           else f"unexpected {type(exc).__name__}; see the dashboard's log")
                if self.frame is not None:   # the first load's error: start() raises it
                    print(f"imgframe dashboard: reload failed: {type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:500]}", file=self._log)
                with self._lock:
                    self._state.update(state="error", error=message, started=None)
                return
            with self._lock:
                generation = self._state["generation"] + 1
                data["generation"] = generation
                self._payload = gzip.compress(_json(data).encode("utf-8"), compresslevel=6,
                                              mtime=0)
                self.frame = df
                self._state.update(state="idle", generation=generation, rows=len(df),
                                   loaded_at=data["attrs"].get("loaded_at")
                                   or data["generated_at"], error=None, started=None,
                                   complete=data["complete"])

    # -- sessions -----------------------------------------------------------------------

    def _check_password(self, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                                   self.password.encode("utf-8"))

    def _new_session(self) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[sid] = time.time()
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return sid

    def _valid_session(self, sid: str | None) -> bool:
        if not sid:
            return False
        with self._lock:  # 256 random bits: a dict lookup leaks nothing worth timing
            return sid in self._sessions

    def _csrf(self, sid: str) -> str:
        return hmac.new(self._secret, sid.encode(), hashlib.sha256).hexdigest()

    @property
    def cookie_name(self) -> str:
        # cookies ignore ports: one name per port keeps two dashboards on a host apart
        return f"imgframe_dashboard_{self.port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    dashboard: Dashboard

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        print(f"imgframe dashboard: {type(exc).__name__} while answering "
              f"{client_address[0]}: {exc}", file=self.dashboard._log)


class _Handler(BaseHTTPRequestHandler):
    dashboard: Dashboard
    server_version = "imgframe-dashboard"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s\n"

    # -- plumbing -----------------------------------------------------------------------

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        # never the query string: ?token= would land in the log
        line = re.sub(r"\?[^\s\"]*", "", format % args)
        print(f"{self.address_string()} {line}", file=self.dashboard._log)

    def log_request(self, code="-", size="-"):
        # polls every few seconds per viewer: log only reloads, logins and refusals
        code = getattr(code, "value", code)
        if self.command == "POST" or (isinstance(code, int) and code >= 400):
            super().log_request(code, size)

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain; "
              "charset=utf-8", headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _text(self, status: int, message: str, headers: dict | None = None) -> None:
        self._send(status, (message + "\n").encode(), headers=headers)

    def _json(self, status: int, value: dict) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def send_error(self, code, message=None, explain=None):
        # malformed request lines and headers: a short text, the connection closed
        self.close_connection = True
        try:
            self._text(code, f"{code} {message or HTTPStatus(code).phrase}",
                       {"Connection": "close"})
        except OSError:
            pass

    def _route(self):
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a 500, never a traceback to the viewer
            print(f"imgframe dashboard: {type(exc).__name__} answering {self.command} "
                  f"{self.path.split('?', 1)[0]}: {exc}", file=self.dashboard._log)
            self.close_connection = True
            self._text(500, "500 internal error (see the dashboard's log)",
                       {"Connection": "close"})

    do_GET = do_POST = do_HEAD = _route

    def _other(self):
        self.close_connection = True
        self._text(405, f"405 method {self.command} not allowed",
                   {"Allow": "GET, HEAD, POST", "Connection": "close"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _other

    # -- requests -----------------------------------------------------------------------

    def _session(self) -> str | None:
        name = self.dashboard.cookie_name + "="
        for part in self.headers.get("Cookie", "").split(";"):
            part = part.strip()
            if part.startswith(name):
                return part[len(name):]
        return None

    def _body(self) -> bytes | None:
        """The request body, or None after answering 411/413/400."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._text(411, "411 send a Content-Length, not a chunked body",
                       {"Connection": "close"})
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._text(400, "400 bad Content-Length", {"Connection": "close"})
            return None
        if length > MAX_BODY:
            self.close_connection = True
            self._text(413, f"413 body too large (at most {MAX_BODY} bytes)",
                       {"Connection": "close"})
            return None
        return self.rfile.read(length)

    def _login_cookie(self) -> str:
        sid = self.dashboard._new_session()
        return (f"{self.dashboard.cookie_name}={sid}; HttpOnly; SameSite=Strict; Path=/; "
                "Max-Age=43200")

    def _dispatch(self):
        dash = self.dashboard
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        method = "GET" if self.command == "HEAD" else self.command
        body = self._body() if method == "POST" else b""
        if body is None:
            return
        if path == "/login":
            if method == "GET":
                return self._login_page(200, "")
            return self._login(body)
        sid = self._session()
        authed = dash._valid_session(sid)
        if path == "/" and method == "GET" and "token" in query:
            if dash._check_password(query["token"][0]):
                return self._send(303, b"", headers={"Location": "/",
                                                     "Set-Cookie": self._login_cookie()})
            time.sleep(_FAIL_DELAY)
            return self._login_page(401, "That link's token is wrong; type the password.")
        if not authed:
            if path.startswith("/api/"):
                return self._json(401, {"error": "log in first (the password is printed "
                                                 "where the dashboard was started)"})
            return self._send(303, b"", headers={"Location": "/login"})
        routes = {("GET", "/"): self._page, ("GET", "/api/data"): self._data,
                  ("GET", "/api/status"): lambda: self._json(200, dash.status()),
                  ("POST", "/api/reload"): self._reload, ("POST", "/logout"): self._logout}
        handler = routes.get((method, path))
        if handler is not None:
            return handler()
        if any(p == path for _, p in routes):
            return self._other()
        return self._text(404, f"404 no such page: {html.escape(path[:100])}")

    def _login_page(self, status: int, message: str):
        page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                f"style-src {_sha256(_LOGIN_CSS)}; form-action 'self'; base-uri 'none'\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>imgframe dashboard: log in</title><style>{_LOGIN_CSS}</style>"
                "</head><body><h1>imgframe dashboard</h1>"
                "<p>The password was printed where the dashboard was started.</p>"
                + (f'<p class="bad" role="alert">{html.escape(message)}</p>' if message else "")
                + '<form method="post" action="/login"><label>password '
                '<input type="password" name="password" autocomplete="current-password" '
                'autofocus required></label> <button type="submit">Log in</button></form>'
                "</body></html>")
        self._send(status, page.encode(), "text/html; charset=utf-8",
                   {"Content-Security-Policy": "frame-ancestors 'none'"})

    def _login(self, body: bytes):
        try:
            form = parse_qs(body.decode("utf-8"), max_num_fields=5)
        except (UnicodeDecodeError, ValueError):
            return self._text(400, "400 the login form is url-encoded UTF-8")
        given = (form.get("password") or [""])[0]
        if given and self.dashboard._check_password(given):
            return self._send(303, b"", headers={"Location": "/",
                                                 "Set-Cookie": self._login_cookie()})
        time.sleep(_FAIL_DELAY)
        return self._login_page(401, "Wrong password.")

    def _logout(self):
        with self.dashboard._lock:
            self.dashboard._sessions.pop(self._session() or "", None)
        self._send(303, b"", headers={"Location": "/login", "Set-Cookie":
                   f"{self.dashboard.cookie_name}=; HttpOnly; SameSite=Strict; Path=/; "
                   "Max-Age=0"})

    def _page(self):
        dash = self.dashboard
        csrf = dash._csrf(self._session())
        title = dash.title or "imgframe dashboard"
        attrs = (f'data-src="api/data" data-status="api/status" data-reload="api/reload" '
                 f'data-csrf="{csrf}"')
        page = page_html(title, attrs, connect=True)
        csp = page.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"')[0]
        self._send(200, page.encode("utf-8"), "text/html; charset=utf-8",
                   {"Content-Security-Policy": csp + "; frame-ancestors 'none'"})

    def _data(self):
        with self.dashboard._lock:
            payload, generation = self.dashboard._payload, self.dashboard._state["generation"]
        headers = {"X-Imgframe-Generation": str(generation)}
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        else:
            payload = gzip.decompress(payload)
        self._send(200, payload, "application/json", headers)

    def _same_origin(self) -> bool:
        host = self.headers.get("Host", "")
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{host}" and origin != f"https://{host}":
            return False
        return self.headers.get("Sec-Fetch-Site", "same-origin") == "same-origin"

    def _reload(self):
        given = self.headers.get("X-Imgframe-CSRF", "")
        if not self._same_origin() or not hmac.compare_digest(
                given.encode(), self.dashboard._csrf(self._session()).encode()):
            return self._json(403, {"error": "a reload must come from the dashboard's own "
                                             "page (CSRF check failed)"})
        self._json(202, self.dashboard.reload())
