"""``imgframe.report``: the page's structure, escaping, attrs whitelist, atomic write.

The browser side (filters, CSV download, hostile names in a real page) is in
tests/test_report_browser.py.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import os
import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import imgframe
from imgframe.cli import main
from imgframe.frame import empty_frame
from imgframe.report import ATTRS_KEYS, build_html, encode_frame, json_text
from imgframe.server import DEFAULT_PROJECT_ID, sample_inventory

ROOT = Path(__file__).resolve().parents[1]
DATA_RE = re.compile(r'<script type="application/json" id="imgframe-data" '
                     r'data-encoding="([^"]+)">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def df(module_image_server):
    srv = module_image_server(sample_inventory(300, seed=5))
    return imgframe.Client(srv.url, srv.project_id, token="t").load(progress=False)


def payload(page: str) -> dict:
    encoding, text = DATA_RE.search(page).groups()
    if encoding == "gzip+base64":
        text = gzip.decompress(base64.b64decode(text)).decode("utf-8")
    else:
        assert encoding == "json"
    return json.loads(text)


def inline(page: str, tag: str) -> str:
    return re.search(rf"<{tag}>(.*?)</{tag}>", page, re.S).group(1)


def test_one_file_with_a_strict_csp_and_no_outside_reference(df, tmp_path):
    path = imgframe.report(df, tmp_path / "r.html")
    assert path == tmp_path / "r.html"
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    policy = dict(p.strip().split(" ", 1) for p in csp.split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["img-src"] == "data:"
    for directive, tag in (("script-src", "script"), ("style-src", "style")):
        digest = base64.b64encode(hashlib.sha256(inline(page, tag).encode()).digest()).decode()
        assert policy[directive] == f"'sha256-{digest}'", directive
    # nothing that could load from elsewhere: no src/href attributes, no URL in the assets
    assert not re.search(r"\s(src|href)=", page)
    assets = inline(page, "script") + inline(page, "style")
    assert "http://" not in assets and "https://" not in assets and "@import" not in assets
    assert page.count("<script") == 2  # the data and the code


def test_columns_in_frame_order_and_values_decodable(df, tmp_path):
    data = payload(imgframe.report(df, tmp_path / "r.html").read_text(encoding="utf-8"))
    assert data["rows"] == len(df)
    assert [c["name"] for c in data["columns"]] == list(df.columns)
    kinds = {c["name"]: c["kind"] for c in data["columns"]}
    assert kinds["status"] == "category" and kinds["created"] == "datetime"
    assert kinds["size"] == "int" and kinds["metadata"] == "text"
    cols = {c["name"]: c for c in data["columns"]}
    # times as epoch seconds
    assert cols["created"]["unit"] == "s"
    first = df["created"].iloc[0]
    assert cols["created"]["values"][0] == int(first.timestamp())
    # links stored as a prefix and suffix around the id
    assert "prefix" in cols["link_self"]
    assert cols["link_self"]["prefix"] + df["id"].iloc[3] + cols["link_self"]["suffix"] \
        == df["link_self"].iloc[3]
    # object columns carry to_csv's own field text
    meta = cols["metadata"]
    fields = [meta["dict"][c] for c in meta["codes"]] if "dict" in meta else meta["values"]
    rows = list(csv.reader(io.StringIO(imgframe.to_csv(df[["metadata"]]), newline="")))[1:]
    assert fields == [r[0] for r in rows]


def test_sub_second_times_and_new_dtypes(df):
    frame = df.head(4).copy()
    frame["created"] = frame["created"] + pd.Timedelta(microseconds=250)
    frame["protected"] = pd.array([True, False, None, True], dtype="boolean")
    frame["tags"] = pd.Series([["a"], [], None, ["x", "y"]], index=frame.index, dtype=object)
    frame["huge"] = pd.array([2**60, 1, None, 0], dtype="Int64")
    cols = {c["name"]: c for c in encode_frame(frame)["columns"]}
    assert cols["created"]["unit"] == "us"
    assert cols["protected"] == {"name": "protected", "kind": "bool", "values": [1, 0, None, 1]}
    assert cols["tags"]["kind"] == "text"
    assert cols["huge"]["kind"] == "text"  # beyond what a JavaScript number holds exactly


HOSTILE = ["</script><script>window.__pwned=1</script>", "<!-- x", "a & b > c",
           "\u2028\u2029", "=1+1"]


def test_hostile_text_is_escaped_in_the_uncompressed_page(df, tmp_path):
    frame = df.head(len(HOSTILE)).copy()
    frame["name"] = pd.array(HOSTILE, dtype="string")
    page = imgframe.report(frame, tmp_path / "r.html", compress=False).read_text(
        encoding="utf-8")
    encoding, text = DATA_RE.search(page).groups()
    assert encoding == "json"
    for bad in "<>&\u2028\u2029":
        assert bad not in text
    assert page.count("</script>") == 2
    names = {c["name"]: c for c in json.loads(text)["columns"]}["name"]
    assert names["values"] == HOSTILE
    # a lone surrogate (possible in an object column) is escaped, so the page stays UTF-8
    assert json_text({"x": "a\ud800b"}) == '{"x":"a\\ud800b"}'


def test_only_whitelisted_attrs_reach_the_page(df, tmp_path):
    frame = df.head(5).copy()
    secret = "gAAAAABsecret-token-value-0123456789"
    frame.attrs = {"imgframe": {
        **df.attrs["imgframe"],
        "source": "glance",
        "endpoint": f"https://user:{secret}@cloud.example.com:8774/v2.1/p?token={secret}#x",
        "token": secret, "auth_token": secret, "headers": {"X-Auth-Token": secret},
        "queries": [{"token": secret}], "partial": True,
    }, "other": {"password": secret}}
    page = imgframe.report(frame, tmp_path / "r.html", compress=False).read_text(
        encoding="utf-8")
    assert secret not in page
    data = payload(page)
    assert set(data["attrs"]) <= set(ATTRS_KEYS)
    assert data["attrs"]["endpoint"] == "https://cloud.example.com:8774/v2.1/p"
    assert data["attrs"]["source"] == "glance"
    assert data["complete"] is False
    assert payload(imgframe.report(df, tmp_path / "c.html").read_text("utf-8"))["complete"]


def test_write_is_atomic(df, tmp_path, monkeypatch):
    path = tmp_path / "r.html"
    path.write_text("old report", encoding="utf-8")

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        imgframe.report(df, path)
    assert path.read_text(encoding="utf-8") == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
    monkeypatch.undo()
    imgframe.report(df, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
    assert "imgframe-data" in path.read_text(encoding="utf-8")


def test_empty_frame_and_compression_choice(df, tmp_path):
    data = payload(imgframe.report(empty_frame(), tmp_path / "e.html").read_text("utf-8"))
    assert data["rows"] == 0 and len(data["columns"]) == len(empty_frame().columns)
    big = build_html(df)
    assert DATA_RE.search(big).group(1) == "gzip+base64"  # pays already at 300 images
    assert DATA_RE.search(build_html(df, compress=False)).group(1) == "json"
    assert payload(big) | {"generated_at": 0} == \
        payload(build_html(df, compress=False)) | {"generated_at": 0}


def test_report_refuses_what_is_not_a_frame(tmp_path):
    with pytest.raises(imgframe.InvalidQueryError, match="df"):
        imgframe.report([1, 2], tmp_path / "r.html")


def test_assets_are_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["imgframe"]
    assets = sorted(p.name for p in (ROOT / "imgframe" / "report_assets").iterdir())
    assert assets == ["report.css", "report.js"]
    for name in assets:
        assert any(Path("report_assets", name).match(p) for p in patterns), name


def test_cli_report_demo_and_input(tmp_path, image_server):
    out = tmp_path / "demo.html"
    result = CliRunner().invoke(main, ["report", "--demo", "--images", "200", "-o", str(out),
                                       "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"to {out}" in result.output
    data = payload(out.read_text(encoding="utf-8"))
    listed = sum(1 for r in sample_inventory(200, seed=0)     # Glance's default listing
                 if r["status"] not in ("killed", "deleted", "pending_delete")
                 and not r["os_hidden"] and (r["owner"] == DEFAULT_PROJECT_ID
                                             or r["visibility"] in ("public", "shared")))
    assert data["rows"] == listed
    assert "token" not in json.dumps(data["attrs"]).lower()

    csv_path = tmp_path / "inv.csv"
    srv = image_server(sample_inventory(50, seed=1))
    imgframe.to_csv(imgframe.Client(srv.url, srv.project_id, token="t").load(
        progress=False), csv_path)
    result = CliRunner().invoke(main, ["report", "--input", str(csv_path), "-o",
                                       str(tmp_path / "in.html")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert payload((tmp_path / "in.html").read_text("utf-8"))["rows"] == \
        len(imgframe.read_csv(csv_path))
    result = CliRunner().invoke(main, ["report", "--demo", "--input", str(csv_path)])
    assert result.exit_code == 2 and "not both" in result.output


def test_demo_writes_report_html(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--images", "150", "--out", str(tmp_path),
                                       "--no-notebook", "--no-progress"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "report.html") in result.output
    assert payload((tmp_path / "report.html").read_text("utf-8"))["rows"] > 0


def test_a_report_of_a_diff_and_of_several_sources(df, tmp_path, image_server):
    """A diff frame (change, changed, old/new dicts) and a load_many frame (cloud column)
    make pages too, every column carried, the CSV fields as to_csv writes them."""
    old = df.copy()
    new = df.iloc[3:].copy().reset_index(drop=True)
    new.attrs = old.attrs
    new.loc[0, "name"] = "renamed"
    d = imgframe.diff(old, new)
    assert set(d["change"]) == {"removed", "modified"}
    data = payload(imgframe.report(d, tmp_path / "diff.html").read_text(encoding="utf-8"))
    assert data["rows"] == len(d) and [c["name"] for c in data["columns"]] == list(d.columns)
    cols = {c["name"]: c for c in data["columns"]}
    text = [cols["old"]["dict"][c] for c in cols["old"]["codes"]] if "dict" in cols["old"] \
        else cols["old"]["values"]
    rows = list(csv.reader(io.StringIO(imgframe.to_csv(d[["old"]]), newline="")))[1:]
    assert text == [r[0] for r in rows]
    a = image_server(sample_inventory(50, seed=1))
    b = image_server(sample_inventory(60, seed=2))
    many = imgframe.load_many({"a": imgframe.Client(a.url, a.project_id),
                               "b": imgframe.Client(b.glance_endpoint, source="glance")})
    data = payload(imgframe.report(many, tmp_path / "many.html").read_text(encoding="utf-8"))
    assert "cloud" in [c["name"] for c in data["columns"]] and data["rows"] == len(many)
