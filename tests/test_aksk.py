"""imgframe.aksk: byte-identical to Huawei's own signer, verified by its server side, over HTTP.

The reference signer is ``huaweicloudsdkcore`` (a test-only dependency): the same request
signed by ``BasicCredentials.sign_request`` (which adds X-Project-Id and X-Security-Token,
then calls ``Signer.sign``) and by ``aksk.sign`` must give the same Authorization, the same
headers and the same URL.
"""

import datetime as dt
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlencode, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgframe import aksk, credentials
from imgframe.errors import ImgframeError, InvalidQueryError

sdk_credentials = pytest.importorskip("huaweicloudsdkcore.auth.credentials")
sdk_request = pytest.importorskip("huaweicloudsdkcore.sdk_request")

AK = "AKEXAMPLE1234567890A"
SK = "sEcReT0123456789abcdefSECRETsecret0123456"
TOKEN = "tokTEMPORARYsecurityTOKEN0123456789"
PROJECT = "0123456789abcdef0123456789abcdef"
WHEN = dt.datetime(2024, 1, 2, 3, 4, 5)
DATE = "20240102T030405Z"
IMS = "https://ims.ap-southeast-1.myhuaweicloud.com/v2/cloudimages"


def flat(params):
    items = params.items() if isinstance(params, dict) else params or []
    out = []
    for k, v in items:
        out.extend((k, str(x)) for x in (v if isinstance(v, list) else [v]))
    return out


def sdk_sign(method, url, params, headers, body=b"", *, ak=AK, sk=SK, security_token=None,
             project_id=None, date=DATE):
    """Sign with huaweicloudsdkcore; return (full URL it would send, its headers)."""
    from urllib.parse import parse_qsl

    u = urlsplit(url)
    query = parse_qsl(u.query, keep_blank_values=True) + flat(params)
    header_params = dict(headers)
    header_params["X-Sdk-Date"] = date
    req = sdk_request.SdkRequest(method=method, schema=u.scheme, host=u.netloc,
                                 resource_path=u.path, query_params=query,
                                 header_params=header_params, body=body)
    creds = sdk_credentials.BasicCredentials(ak, sk, project_id)
    if security_token:
        creds = creds.with_security_token(security_token)
    signed = creds.sign_request(req)
    return f"{u.scheme}://{u.netloc}{signed.uri}", dict(signed.header_params)


def test_reference_example_matches_the_sdk():
    """Section 6.1's run: same canonical request, Authorization and sent URL."""
    params = {"limit": 100, "__imagetype": "gold", "updated_at": "gte:2024-01-01T00:00:00Z",
              "name": "Ubuntu 22.04 server 64bit"}
    headers = {"Content-Type": "application/json"}
    s = aksk.sign("GET", IMS, params, headers, ak="AKEXAMPLE123", sk="SKEXAMPLE456", when=WHEN,
                  project_id=PROJECT)
    assert s.canonical_request == (
        "GET\n/v2/cloudimages/\n"
        "__imagetype=gold&limit=100&name=Ubuntu%2022.04%20server%2064bit"
        "&updated_at=gte%3A2024-01-01T00%3A00%3A00Z\n"
        "content-type:application/json\nhost:ims.ap-southeast-1.myhuaweicloud.com\n"
        f"x-project-id:{PROJECT}\nx-sdk-date:{DATE}\n\n"
        "content-type;host;x-project-id;x-sdk-date\n" + hashlib.sha256(b"").hexdigest())
    assert s.url == (IMS + "?__imagetype=gold&limit=100&name=Ubuntu%2022.04%20server%2064bit"
                     "&updated_at=gte%3A2024-01-01T00%3A00%3A00Z")
    assert s.headers["Authorization"].startswith(
        "SDK-HMAC-SHA256 Access=AKEXAMPLE123, "
        "SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature=")
    url, headers = sdk_sign("GET", IMS, params, headers, ak="AKEXAMPLE123", sk="SKEXAMPLE456",
                            project_id=PROJECT)
    assert (s.url, s.headers) == (url, headers)


# ------------------------------------------------------------------ property: same as the SDK

QUERY_TEXT = st.text(alphabet=st.sampled_from(list("aZ09 :/+&=?#%~-._!*'()@,;$[]")
                                              + ["é", "ü", "中", "文", "😀", "\u00a0"]),
                     max_size=12)
KEYS = st.one_of(st.sampled_from(["name", "limit", "marker", "__imagetype", "tag", "a b"]),
                 QUERY_TEXT.filter(bool))
PARAMS = st.one_of(
    st.lists(st.tuples(KEYS, st.one_of(QUERY_TEXT, st.integers(-5, 10 ** 6))), max_size=8),
    st.dictionaries(KEYS, st.one_of(QUERY_TEXT, st.lists(QUERY_TEXT, min_size=1, max_size=3)),
                    max_size=5),
)
HEADER_VALUE = st.text(alphabet=st.sampled_from(list("aZ09 ;=,/:-_\"'()\t") + ["é", "中", "😀"]),
                       max_size=20)
HEADERS = st.dictionaries(
    st.sampled_from(["X-Custom", "Accept", "X_Under_Score", "User-Agent", "X-Request-Id",
                     "x-lower-case"]),
    HEADER_VALUE, max_size=4)
CONTENT_TYPE = st.sampled_from([None, "application/json", "application/json;charset=UTF-8",
                                "application/bson", "text/plain", "application/octet-stream",
                                "multipart/form-data"])
SEGMENT = st.text(alphabet=st.sampled_from(list("az09-._~ :@!$") + ["é", "中"]), min_size=1,
                  max_size=8).filter(lambda s: s not in (".", ".."))
PATHS = st.lists(SEGMENT, min_size=1, max_size=4).map(
    lambda segs: "/" + "/".join(quote(s, safe="~") for s in segs))
HOSTS = st.sampled_from(["ims.ap-southeast-1.myhuaweicloud.com", "127.0.0.1:8443",
                         "ims.cn-north-4.myhuaweicloud.com:443"])
URL_QUERY = st.lists(st.tuples(KEYS, QUERY_TEXT), max_size=3).map(urlencode)
WHENS = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(["GET", "POST", "put", "DELETE", "HEAD", "PATCH"]),
       host=HOSTS, path=PATHS, url_query=URL_QUERY, params=PARAMS, headers=HEADERS,
       content_type=CONTENT_TYPE,
       content_sha=st.sampled_from([None, "UNSIGNED-PAYLOAD", hashlib.sha256(b"x").hexdigest()]),
       body=st.one_of(st.just(b""), st.binary(max_size=64)),
       when=WHENS, token=st.sampled_from([None, TOKEN]),
       project=st.sampled_from([None, PROJECT, "p-1"]))
def test_identical_to_the_sdk_signer(method, host, path, url_query, params, headers,
                                     content_type, content_sha, body, when, token, project):
    if content_type is not None:
        headers = {**headers, "Content-Type": content_type}
    if content_sha is not None:
        headers = {**headers, "X-Sdk-Content-Sha256": content_sha}
    url = f"https://{host}{path}" + (f"?{url_query}" if url_query else "")
    s = aksk.sign(method, url, params, headers, body, ak=AK, sk=SK, when=when,
                  security_token=token, project_id=project)
    sdk_url, sdk_headers = sdk_sign(method, url, params, headers, body, security_token=token,
                                    project_id=project, date=when.strftime("%Y%m%dT%H%M%SZ"))
    assert s.headers["Authorization"] == sdk_headers["Authorization"]
    assert s.headers == sdk_headers
    assert s.url == sdk_url
    # requests sends that URL as it is: no re-encoding, no '+'
    assert requests.Request(s.method, s.url, headers=s.headers).prepare().url == s.url
    # and the server side accepts exactly what was signed
    u = urlsplit(s.url)
    assert aksk.verify(s.method, u.path, u.query, s.headers, body, {AK: SK},
                       now=when + dt.timedelta(minutes=14)) == AK


def test_query_encoding_rules():
    s = aksk.sign("GET", IMS + "?tag=b", [("tag", "a"), ("name", "x y:z/é"), ("empty", ""),
                                          ("flag", True), ("n", 3)], {}, ak=AK, sk=SK,
                  when=WHEN)
    assert urlsplit(s.url).query == "empty=&flag=true&n=3&name=x%20y%3Az%2F%C3%A9&tag=a&tag=b"
    assert "+" not in s.url
    assert s.headers["X-Sdk-Date"] == DATE
    assert s.headers["Host"] == "ims.ap-southeast-1.myhuaweicloud.com"


def test_temporary_credentials_and_project_headers_are_signed():
    s = aksk.sign("GET", IMS, None, {}, ak=AK, sk=SK, when=WHEN, security_token=TOKEN,
                  project_id=PROJECT)
    assert s.headers["X-Security-Token"] == TOKEN
    assert s.headers["X-Project-Id"] == PROJECT
    assert "SignedHeaders=host;x-project-id;x-sdk-date;x-security-token," in \
        s.headers["Authorization"]


def test_aware_when_is_converted_to_utc():
    cet = dt.timezone(dt.timedelta(hours=1))
    s = aksk.sign("GET", IMS, None, {}, ak=AK, sk=SK, when=dt.datetime(2024, 1, 2, 4, 4, 5,
                                                                      tzinfo=cet))
    assert s.headers["X-Sdk-Date"] == DATE


# ------------------------------------------------------------------ verify()


def signed(**kw):
    kw = {"params": {"limit": 2, "name": "a b:c"}, "headers": {"Content-Type": "application/json"},
          "body": b"", **kw}
    s = aksk.sign(kw.pop("method", "GET"), kw.pop("url", IMS), kw.pop("params"),
                  kw.pop("headers"), kw.pop("body"), ak=AK, sk=SK, when=WHEN, **kw)
    u = urlsplit(s.url)
    return s, u.path, u.query


def check(method, path, query, headers, body, *, secrets=None, now=WHEN):
    return aksk.check(method, path, query, headers, body, secrets or {AK: SK}, now=now)


def test_verify_accepts_what_sign_produced():
    s, path, query = signed(project_id=PROJECT, security_token=TOKEN)
    assert aksk.verify("GET", path, query, s.headers, b"", {AK: SK}, now=WHEN) == AK
    post, path, query = signed(method="POST", body=b'{"a": 1}')
    assert check("POST", path, query, post.headers, b'{"a": 1}') == AK


@pytest.mark.parametrize("tamper, reason", [
    (lambda r: {**r, "query": r["query"].replace("limit=2", "limit=3")}, "does not match"),
    (lambda r: {**r, "query": r["query"] + "&marker=x"}, "does not match"),
    (lambda r: {**r, "query": r["query"].replace("%20", "+")}, "does not match"),
    (lambda r: {**r, "path": "/v2/images"}, "does not match"),
    (lambda r: {**r, "method": "DELETE"}, "does not match"),
    (lambda r: {**r, "body": b"{}"}, "does not match"),
    (lambda r: {**r, "headers": {**r["headers"], "X-Project-Id": "other"}}, "does not match"),
    (lambda r: {**r, "headers": {**r["headers"], "Host": "evil.example.com"}}, "does not match"),
    (lambda r: {**r, "headers": {k: v for k, v in r["headers"].items() if k != "X-Project-Id"}},
     "'x-project-id' is missing"),
    (lambda r: {**r, "headers": {k: v for k, v in r["headers"].items() if k != "Authorization"}},
     "no Authorization"),
    (lambda r: {**r, "headers": {**r["headers"], "Authorization": "Bearer x"}}, "is not"),
    (lambda r: {**r, "headers": {**r["headers"], "X-Sdk-Date": "yesterday"}}, "not YYYYMMDD"),
    (lambda r: {**r, "now": WHEN + dt.timedelta(minutes=16)}, "signature expired"),
    (lambda r: {**r, "now": WHEN - dt.timedelta(minutes=16)}, "signature expired"),
    (lambda r: {**r, "secrets": {AK: "another-secret-key"}}, "does not match"),
    (lambda r: {**r, "secrets": {"AKOTHER": SK}}, "unknown access key"),
])
def test_verify_rejects_tampering(tamper, reason):
    s, path, query = signed(project_id=PROJECT)
    req = {"method": "GET", "path": path, "query": query, "headers": dict(s.headers),
           "body": b"", "secrets": {AK: SK}, "now": WHEN}
    req = tamper(req)
    args = (req["method"], req["path"], req["query"], req["headers"], req["body"],
            req["secrets"])
    assert aksk.verify(*args, now=req["now"]) is None
    with pytest.raises(aksk.SignatureError, match=reason) as info:
        aksk.check(*args, now=req["now"])
    assert SK not in str(info.value) and "another-secret-key" not in str(info.value)
    assert isinstance(info.value, ImgframeError)


def test_verify_skew_edge_and_unsigned_payload_header():
    s, path, query = signed()
    assert check("GET", path, query, s.headers, b"", now=WHEN + dt.timedelta(minutes=15)) == AK
    # an X-Sdk-Content-Sha256 slipped in unsigned would replace the body hash: refused
    with pytest.raises(aksk.SignatureError, match="not signed"):
        check("GET", path, query, {**s.headers, "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"},
              b"x")


# ------------------------------------------------------------------ over real HTTP


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            ak = aksk.check("GET", path, query, self.headers, body, {AK: SK})
            status, text = 200, ak
        except aksk.SignatureError as exc:
            status, text = 401, exc.reason
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_url():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v2/cloudimages"
    srv.shutdown()
    srv.server_close()


def test_requests_sends_exactly_what_was_signed(http_url):
    params = {"name": "Ubuntu 22.04 server", "updated_at": "gte:2024-01-01T00:00:00+01:00",
              "tag": ["b", "a"], "x": ""}
    headers = {"Content-Type": "application/json", "X-Note": "café 中文"}
    s = aksk.sign("GET", http_url, params, headers, ak=AK, sk=SK, project_id=PROJECT,
                  security_token=TOKEN)
    with requests.Session() as session:
        ok = session.get(s.url, headers=s.headers, timeout=10)
        assert (ok.status_code, ok.text) == (200, AK)
        # the trap: letting requests encode the query (space as '+') breaks the signature
        bad = session.get(http_url, params=params, headers=s.headers, timeout=10)
        assert bad.status_code == 401 and "does not match" in bad.text


# ------------------------------------------------------------------ secrets stay secret


def test_secret_never_in_repr_str_or_errors():
    c = credentials.Credentials(AK, SK, security_token=TOKEN, project_id=PROJECT)
    assert repr(c) == str(c) == (f"Credentials(ak='{AK}', sk=<hidden>, "
                                 f"security_token=<hidden>, project_id='{PROJECT}')")
    assert c.sk == SK and c.security_token == TOKEN
    s = c.sign("GET", IMS, {"limit": 1}, {}, when=WHEN)
    assert s == aksk.sign("GET", IMS, {"limit": 1}, {}, ak=AK, sk=SK, when=WHEN,
                          security_token=TOKEN, project_id=PROJECT)
    for text in (repr(s), str(s)):
        assert SK not in text and TOKEN not in text
    assert "x-security-token" in s.headers["Authorization"]


@pytest.mark.parametrize("kwargs, parameter", [
    ({"sk": ""}, "sk"),
    ({"sk": SK + " tail"}, "sk"),
    ({"sk": SK + "é"}, "sk"),
    ({"sk": SK + "\n"}, "sk"),
    ({"sk": 12345}, "sk"),
    ({"sk": None}, "sk"),
    ({"ak": ""}, "ak"),
    ({"ak": "AK,X"}, "ak"),
    ({"ak": "A K"}, "ak"),
    ({"security_token": TOKEN + " x"}, "security_token"),
    ({"security_token": ""}, "security_token"),
    ({"project_id": "p 1"}, "project_id"),
])
def test_invalid_credentials_name_the_parameter_and_hide_secrets(kwargs, parameter):
    args = {"ak": AK, "sk": SK, **kwargs}
    with pytest.raises(InvalidQueryError) as info:
        aksk.sign("GET", IMS, None, {}, when=WHEN, **args)
    message = str(info.value)
    assert message.startswith(f"{parameter}=")
    assert SK not in message and TOKEN not in message and "tail" not in message
    assert info.value.parameter == parameter
    if parameter in ("sk", "security_token"):
        assert "<hidden>" in message and repr(info.value.given) == "<hidden>"


@pytest.mark.parametrize("kwargs, parameter", [
    ({"url": "ftp://h/x"}, "url"),
    ({"url": "/v2/cloudimages"}, "url"),
    ({"url": f"https://user:{SK}@ims.example.com/v2"}, "url"),
    ({"url": IMS + "#frag"}, "url"),
    ({"url": "https://h/v2/../x"}, "url"),
    ({"headers": {"X-Sdk-Content-Sha256": "é"}}, "headers"),
    ({"method": "GE T"}, "method"),
    ({"headers": {"Authorization": "x"}}, "headers"),
    ({"headers": {"X-Sdk-Date": DATE}}, "headers"),
    ({"headers": {"host": "h"}}, "headers"),
    ({"headers": {"X-A": "1", "x-a": "2"}}, "headers"),
    ({"headers": {"X-A": "1\r\nX-Injected: 1"}}, "headers"),
    ({"headers": {"Bad Name": "1"}}, "headers"),
    ({"params": {"a": None}}, "params"),
    ({"body": 12}, "body"),
])
def test_invalid_request_parts_are_refused(kwargs, parameter):
    args = {"method": "GET", "url": IMS, "params": None, "headers": {}, "body": b"", **kwargs}
    with pytest.raises(InvalidQueryError) as info:
        aksk.sign(args["method"], args["url"], args["params"], args["headers"], args["body"],
                  ak=AK, sk=SK, when=WHEN)
    assert info.value.parameter == parameter
    assert SK not in str(info.value)


# ------------------------------------------------------------------ environment


def test_credentials_from_env_sdk_names_win():
    env = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK,
           "HUAWEICLOUD_SDK_SECURITY_TOKEN": TOKEN, "HUAWEICLOUD_SDK_PROJECT_ID": PROJECT,
           "CLOUD_SDK_AK": "OTHER", "CLOUD_SDK_SK": "OTHERSK"}
    c = credentials.credentials_from_env(env)
    assert (c.ak, c.sk, c.security_token, c.project_id) == (AK, SK, TOKEN, PROJECT)


def test_credentials_from_env_sample_names_and_none():
    c = credentials.credentials_from_env({"CLOUD_SDK_AK": AK, "CLOUD_SDK_SK": SK})
    assert (c.ak, c.sk, c.security_token, c.project_id) == (AK, SK, None, None)
    assert credentials.credentials_from_env({}) is None
    empty = {"HUAWEICLOUD_SDK_AK": "", "HUAWEICLOUD_SDK_SK": ""}
    assert credentials.credentials_from_env(empty) is None


@pytest.mark.parametrize("env, parameter", [
    ({"HUAWEICLOUD_SDK_AK": AK}, "HUAWEICLOUD_SDK_SK"),
    ({"HUAWEICLOUD_SDK_SK": SK}, "HUAWEICLOUD_SDK_AK"),
    ({"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK + " x"}, "HUAWEICLOUD_SDK_SK"),
    ({"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK,
      "HUAWEICLOUD_SDK_SECURITY_TOKEN": TOKEN + " x"}, "HUAWEICLOUD_SDK_SECURITY_TOKEN"),
    ({"CLOUD_SDK_SK": SK}, "CLOUD_SDK_AK"),
])
def test_credentials_from_env_errors_name_the_variable(env, parameter):
    with pytest.raises(InvalidQueryError) as info:
        credentials.credentials_from_env(env)
    assert info.value.parameter == parameter
    assert str(info.value).startswith(f"{parameter}=")
    assert SK not in str(info.value) and TOKEN not in str(info.value)


def test_credentials_from_env_defaults_to_os_environ(monkeypatch):
    for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN",
                 "HUAWEICLOUD_SDK_PROJECT_ID", "CLOUD_SDK_AK", "CLOUD_SDK_SK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    assert credentials.credentials_from_env().ak == AK


def test_module_is_pure():
    import ast
    import pathlib

    for module in (aksk, credentials):
        tree = ast.parse(pathlib.Path(module.__file__).read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert imported <= {"__future__", "datetime", "hashlib", "hmac", "os", "re",
                            "collections", "dataclasses", "typing", "urllib", "imgframe"}
