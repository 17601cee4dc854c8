"""`imgframe serve --aksk` and `ImageServer(aksk=...)`: the embedded IMS checks Huawei
SDK-HMAC-SHA256 signatures, and the README's offline IMS example runs against it."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

import imgframe
from imgframe import aksk
from imgframe.cli import main
from imgframe.server import DEFAULT_PROJECT_ID, sample_inventory

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
AK, SK = "HPUAEXAMPLEAK0000002", "another-example-secret"
LISTABLE = {"active", "queued", "saving", "deactivated", "importing", "uploading"}


def readme_example() -> tuple[list[list[str]], str]:
    """The console block that shows ``serve --aksk``: its commands (continuations joined,
    comments cut) and the block's text."""
    blocks = re.findall(r"```console\n(.*?)```", README, flags=re.S)
    block = next(b for b in blocks if "--aksk" in b)
    joined = block.replace("\\\n", " ")
    commands = [shlex.split(line[2:], comments=True)
                for line in joined.splitlines() if line.startswith("$ ")]
    return commands, block


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ims_lists(records) -> int:
    """What IMS lists to the served project: gold, shared and own; never community."""
    return sum(1 for r in records if r["status"] in LISTABLE and r["visibility"] != "community"
               and (r["visibility"] in ("public", "shared") or r["owner"] == DEFAULT_PROJECT_ID))


def imgframe_cmd(argv: list[str]) -> list[str]:
    assert argv[0] == "imgframe"
    return [sys.executable, "-m", "imgframe.cli", *argv[1:]]


def test_the_readme_ims_example_runs_offline(tmp_path):
    commands, block = readme_example()
    serve, export_env, export = commands
    assert serve[:2] == ["imgframe", "serve"] and export[:2] == ["imgframe", "export"]
    assert export_env[0] == "export"
    keys = dict(word.split("=", 1) for word in export_env[1:])
    ak, sk = serve[serve.index("--aksk") + 1].split(":", 1)
    assert keys == {"HUAWEICLOUD_SDK_AK": ak, "HUAWEICLOUD_SDK_SK": sk}
    port = free_port()
    endpoint = export[export.index("--endpoint") + 1]
    assert endpoint == "http://127.0.0.1:8774/ims" and "--port" not in serve
    export[export.index("--endpoint") + 1] = endpoint.replace("8774", str(port))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUAWEICLOUD_SDK_", "CLOUD_SDK_", "OS_"))}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    server = subprocess.Popen(imgframe_cmd(serve + ["--port", str(port)]), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []

        def read():
            for line in server.stdout:
                lines.append(line)

        threading.Thread(target=read, daemon=True).start()
        for _ in range(600):                       # up to 60 s for the server to listen
            if any("Press Ctrl-C" in line for line in lines) or server.poll() is not None:
                break
            threading.Event().wait(0.1)
        assert any("Press Ctrl-C" in line for line in lines), "".join(lines)
        shown = "".join(lines)
        assert ak in shown and sk not in shown            # the access key, never the secret

        run = subprocess.run(imgframe_cmd(export + ["--no-progress"]), cwd=tmp_path,
                             env={**env, **keys}, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        frame = imgframe.read_csv(tmp_path / "huawei.csv")
        claimed = int(re.search(r"# ([\d,]+) images", block).group(1).replace(",", ""))
        n_images = int(serve[serve.index("--images") + 1])
        assert len(frame) == claimed == ims_lists(sample_inventory(n_images, seed=0))
        assert set(frame["visibility"].dropna()) <= {"public", "private", "shared"}
        assert sk not in run.stdout + run.stderr

        # a wrong secret key: refused by the server, one line, no file left behind
        (tmp_path / "huawei.csv").unlink()
        wrong = subprocess.run(imgframe_cmd(export + ["--no-progress"]), cwd=tmp_path,
                               env={**env, **keys, "HUAWEICLOUD_SDK_SK": "not-the-secret"},
                               capture_output=True, text=True, timeout=120)
        assert wrong.returncode == 1
        assert "401" in wrong.stderr or "rejected" in wrong.stderr.lower(), wrong.stderr
        assert "Traceback" not in wrong.stderr
        assert len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
        assert "not-the-secret" not in wrong.stderr
        assert not (tmp_path / "huawei.csv").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()


@pytest.fixture(scope="module")
def srv(module_image_server):
    return module_image_server(300, seed=8, aksk={AK: SK})


def signed_get(srv, sk=SK, params=None):
    s = aksk.sign("GET", f"{srv.ims_endpoint}/v2/cloudimages", params or {"limit": 50},
                  {"Content-Type": "application/json"}, ak=AK, sk=sk,
                  project_id=srv.project_id)
    return requests.get(s.url, headers=s.headers, timeout=30)


def test_a_wrong_secret_key_is_401_with_the_gateways_body(srv):
    ok = signed_get(srv)
    assert ok.status_code == 200 and len(ok.json()["images"]) == 50
    for response in (signed_get(srv, sk="wrong"),
                     requests.get(f"{srv.ims_endpoint}/v2/cloudimages", timeout=30)):
        assert response.status_code == 401
        body = response.json()
        assert set(body) == {"error_msg", "error_code", "request_id"}
        assert body["error_code"] == "APIGW.0301"
        assert body["error_msg"].startswith("Incorrect IAM authentication information")
        assert body["request_id"] == response.headers["X-Request-Id"]
        assert SK not in response.text


def test_aksk_alone_leaves_nova_and_glance_open(srv):
    assert requests.get(f"{srv.endpoint}/images", timeout=30).status_code == 200
    assert requests.get(f"{srv.glance_endpoint}/v2/images", timeout=30).status_code == 200
    # a token the server handed out still opens IMS; a made-up one does not
    token = srv.issue_token()
    headers = {"X-Auth-Token": token}
    good = requests.get(f"{srv.ims_endpoint}/v2/cloudimages", headers=headers, timeout=30)
    bad = requests.get(f"{srv.ims_endpoint}/v2/cloudimages",
                       headers={"X-Auth-Token": "made-up"}, timeout=30)
    assert (good.status_code, bad.status_code) == (200, 401)


def test_a_token_protects_every_api_and_ims_takes_either(image_server):
    server = image_server(50, seed=9, token="tok", aksk={AK: SK})
    assert requests.get(f"{server.endpoint}/images", timeout=30).status_code == 401
    assert requests.get(f"{server.glance_endpoint}/v2/images",
                        timeout=30).status_code == 401
    assert signed_get(server).status_code == 200
    assert requests.get(f"{server.ims_endpoint}/v2/cloudimages",
                        headers={"X-Auth-Token": "tok"}, timeout=30).status_code == 200


@pytest.mark.parametrize("value, says", [
    ("nocolon", "got no ':'"),
    (":the-secret", "got an empty access key"),
    ("AK:", "got an empty secret key"),
])
def test_serve_refuses_a_malformed_aksk(value, says):
    result = CliRunner().invoke(main, ["serve", "--aksk", value, "--port", "0"])
    assert result.exit_code == 2
    assert "'--aksk'" in result.output and says in result.output
    assert "the-secret" not in result.output
