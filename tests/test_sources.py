"""Three sources, one frame: Glance v2 and Huawei IMS beside the Nova proxy, over real HTTP
against the embedded server (one catalogue behind all three APIs)."""

from __future__ import annotations

import ast
import logging
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest
import requests

import imgframe
from imgframe import Client
from imgframe.errors import AuthError, ImgframeError, InvalidQueryError, TransportError
from imgframe.frame import COLUMNS, DTYPES
from imgframe.server import Faults

TOKEN = "sources-token"
AK, SK = "AKTESTACCESSKEY00001", "sk-Very-Secret-Key-0123456789abcdef"
FAST = {"retries": 2, "backoff": 0.01, "budget": 5}


@pytest.fixture(scope="module")
def srv(module_image_server):
    return module_image_server(700, seed=21, token=TOKEN, aksk={AK: SK})


@pytest.fixture(autouse=True)
def fresh(srv):
    srv.faults = Faults()
    srv.stats.reset()
    yield


def glance(srv, **kw):
    return Client(srv.glance_endpoint, source="glance", token=TOKEN, **{**FAST, **kw})


def ims(srv, **kw):
    kw = {"token": TOKEN, **FAST, **kw}
    return Client(srv.ims_endpoint, kw.pop("project_id", srv.project_id), source="ims", **kw)


def nova(srv, **kw):
    return Client(srv.url, srv.project_id, token=TOKEN, **{**FAST, **kw})


def raw_glance(srv, **params):
    """Every item Glance lists for these params, paged by hand (the oracle)."""
    out, marker = [], None
    while True:
        p = dict(params, limit=1000, **({"marker": marker} if marker else {}))
        body = requests.get(f"{srv.glance_endpoint}/v2/images", params=p,
                            headers={"X-Auth-Token": TOKEN}, timeout=10).json()
        out += body["images"]
        if not body["images"] or "next" not in body:
            return out
        marker = body["images"][-1]["id"]


def ids(df):
    return df["id"].tolist()


# -- one frame ------------------------------------------------------------------------------

def test_every_source_gives_the_same_columns_and_dtypes(srv):
    frames = {"nova": nova(srv).load(progress=False), "glance": glance(srv).load(progress=False),
              "ims": ims(srv).load(progress=False)}
    for name, df in frames.items():
        assert list(df.columns) == COLUMNS, name
        assert dict(df.dtypes) == DTYPES, name
        assert df.attrs["imgframe"]["source"] == name
        assert df["id"].is_unique and len(df) > 0
    both = pd.concat(list(frames.values()), ignore_index=True)
    assert list(both.columns) == COLUMNS and dict(both.dtypes) == DTYPES


def test_one_catalogue_through_three_apis_gives_the_same_images(srv):
    n = nova(srv).load(progress=False)
    g = glance(srv).load(progress=False)
    i = ims(srv).load(progress=False)
    # the embedded Nova route lists the catalogue as an admin sees it (it does not apply
    # Glance's caller rules), so Nova and Glance overlap rather than nest; where they
    # overlap the values are the same
    # a Glance load is the whole inventory: every visibility, hidden images too
    everything = {item["id"] for item in raw_glance(srv, visibility="all", os_hidden="false")} \
        | {item["id"] for item in raw_glance(srv, visibility="all", os_hidden="true")}
    assert set(g["id"]) == everything
    assert len(set(n["id"]) & set(g["id"])) > 0.8 * len(g) and g["hidden"].any()
    assert set(i["id"]) <= set(g["id"]) and len(i) > 0
    # the same values where the APIs overlap
    cols = ["name", "status", "created", "updated", "min_ram", "min_disk"]
    for other, label in ((n, "nova"), (i, "ims")):
        common = other.merge(g, on="id", suffixes=("", "_g"))
        assert len(common) > 0.8 * min(len(other), len(g)), label
        for col in cols:
            pd.testing.assert_series_equal(common[col], common[f"{col}_g"], check_names=False,
                                           obj=f"{label}.{col}")
    common = i.merge(g, on="id", suffixes=("", "_g"))
    for col in ("visibility", "owner", "protected", "disk_format", "container_format", "size"):
        pd.testing.assert_series_equal(common[col], common[f"{col}_g"], check_names=False,
                                       obj=f"ims.{col}")
    # Nova hides what Glance shows; Glance recovers the raw status exactly
    assert n["visibility"].isna().all() and n["tags"].isna().all()
    assert g["visibility"].notna().all() and g["status_raw"].notna().all()
    assert set(g.loc[g["status"] == "SAVING", "status_raw"]) <= {"queued", "saving"}


def test_glance_item_mapping(srv):
    g = glance(srv).load(progress=False)
    raw = {item["id"]: item for item in raw_glance(srv, visibility="all", os_hidden="false")}
    row = g[g["id"].isin(list(raw))].iloc[0]
    item = raw[row["id"]]
    assert row["link_self"] == srv.glance_endpoint + item["self"]
    assert row["link_file"] == srv.glance_endpoint + item["file"]
    assert row["tags"] == item["tags"] and row["checksum"] == item.get("checksum")
    extra = {k: v for k, v in item.items() if k not in imgframe.sources.glance.BASE_KEYS}
    assert row["metadata"] == extra
    assert all(isinstance(v, str) for v in extra.values())


def test_ims_placeholders_never_reach_the_frame(srv):
    i = ims(srv).load(progress=False)
    raw = requests.get(f"{srv.ims_endpoint}/v2/cloudimages", params={"limit": 5},
                       headers={"X-Auth-Token": TOKEN}, timeout=10).json()["images"]
    assert {r["checksum"] for r in raw} == {imgframe.sources.ims.PLACEHOLDER_CHECKSUM}
    assert {r["size"] for r in raw} == {0}
    assert i["checksum"].isna().all() and i["virtual_size"].isna().all()
    by_id = i.set_index("id")
    for r in raw:
        assert by_id.loc[r["id"], "size"] == int(r["__image_size"])
        assert by_id.loc[r["id"], "metadata"]["__image_size"] == r["__image_size"]
        assert any(k.startswith("__") for k in by_id.loc[r["id"], "metadata"])


# -- the semantics users expect ----------------------------------------------------------------

def test_glance_hidden_and_visibility_narrow(srv):
    c = glance(srv)
    everything = c.load(progress=False)
    hidden = c.load(hidden=True, progress=False)
    shown = c.load(hidden=False, progress=False)
    assert hidden["hidden"].all() and not shown["hidden"].any()
    assert sorted(ids(hidden) + ids(shown)) == sorted(ids(everything))
    assert everything.attrs["imgframe"]["queries"][0]["visibility"] == "all"
    assert len(everything.attrs["imgframe"]["queries"]) == 2
    for vis in ("public", "private", "shared", "community"):
        part = c.load(visibility=vis, progress=False)
        assert set(part["visibility"]) <= {vis}
        assert len(part) == (everything["visibility"] == vis).sum()
    # merged hidden + visible streams keep Glance's order: created, then id, descending
    order = everything.sort_values(["created", "id"], ascending=False, kind="stable")
    assert ids(order) == ids(everything)


@pytest.mark.parametrize("make", [nova, glance, ims], ids=["nova", "glance", "ims"])
def test_status_means_the_same_everywhere(srv, make):
    c = make(srv)
    everything = c.load(progress=False)
    for status in ("ACTIVE", "SAVING"):
        part = c.load(status=status, progress=False)
        expected = everything[everything["status"] == status]
        assert sorted(ids(part)) == sorted(ids(expected)), status
    saving = c.load(status="SAVING", progress=False)
    assert set(saving["status_raw"].dropna()) <= {"queued", "saving"}


@pytest.mark.parametrize("make", [nova, glance, ims], ids=["nova", "glance", "ims"])
def test_name_changes_since_and_exact_min_ram(srv, make):
    c = make(srv)
    everything = c.load(progress=False)
    name = everything["name"].dropna().iloc[3]
    assert set(c.load(name=name, progress=False)["name"]) == {name}
    cut = everything["updated"].dropna().sort_values().iloc[len(everything) // 2]
    since = c.load(changes_since=cut, progress=False)
    assert sorted(ids(since)) == sorted(ids(everything[everything["updated"] >= cut]))
    ram = int(everything["min_ram"].dropna().iloc[0])
    exact = c.load(min_ram=ram, progress=False)
    assert len(exact) and set(exact["min_ram"]) == {ram}


def test_glance_name_with_colon(srv, image_server):
    records = [dict(r) for r in srv.images[:30]]
    records[3]["name"] = "win:2019-special"
    s = image_server(records, token=TOKEN)
    df = glance(s).load(name="win:2019-special", progress=False)
    assert ids(df) == [records[3]["id"]]


def test_glance_repeated_tags_are_paged_from_our_own_query(srv):
    """Glance's next link keeps only the last tag; following it would list wrong images."""
    c = glance(srv)
    everything = c.load(progress=False)
    two = [t for t in ("lts", "gpu", "cis-hardened") if any(t in (x or []) for x in
                                                             everything["tags"])][:2]
    assert len(two) == 2, "the sample inventory should carry these tags"
    expected = everything[[all(t in (x or []) for t in two) for x in everything["tags"]]]
    got = c.load(tag=two, page_size=2, progress=False)
    assert sorted(ids(got)) == sorted(ids(expected)) and len(got) >= 2
    for q in got.attrs["imgframe"]["queries"]:
        assert q["tag"] == two


def test_glance_silent_api_limit_max_is_still_complete(image_server):
    s = image_server(230, seed=3, token=TOKEN, api_limit_max=50)
    df = glance(s).load(page_size=1000, progress=False)
    n = len(raw_glance(s, visibility="all", os_hidden="false")) \
        + len(raw_glance(s, visibility="all", os_hidden="true"))
    assert len(df) == n and df["id"].is_unique


@pytest.mark.parametrize("page_info", [False, True])
def test_ims_short_pages_are_not_the_end(page_info, image_server):
    """IMS caps pages silently below what was asked: only an empty page ends a listing."""
    s = image_server(650, seed=4, token=TOKEN, ims_max_limit=120,
                     ims_page_info=page_info)
    df = ims(s).load(page_size=500, progress=False)
    g = glance(s).load(progress=False)
    attrs = df.attrs["imgframe"]
    listable = g[g["visibility"] != "community"] if len(df) < len(g) else g
    assert len(df) >= 240 and df["id"].is_unique
    assert set(df["id"]) <= set(g["id"]) and len(df) <= len(listable)
    assert attrs["pages"] == -(-len(df) // 120)      # every short page followed


def test_filters_a_source_cannot_apply_are_refused_before_sending(srv):
    cases = [(nova(srv), {"visibility": "public"}, "compute images API"),
             (nova(srv), {"tag": "lts"}, "compute images API"),
             (nova(srv), {"hidden": True}, "compute images API"),
             (ims(srv), {"visibility": "community"}, "IMS"),
             (ims(srv), {"hidden": True}, "IMS"),
             (ims(srv), {"status": "UNKNOWN"}, "IMS"),
             (ims(srv), {"tag": ["a", "b"]}, "IMS"),
             (glance(srv), {"detail": False}, "Glance"),
             (glance(srv), {"visibility": "everyone"}, "public, private"),
             (glance(srv), {"hidden": "yes"}, "hidden"),
             (glance(srv), {"tag": [""]}, "tag")]
    for client, kw, says in cases:
        with pytest.raises(InvalidQueryError, match=says):
            client.load(progress=False, **kw)
    assert srv.stats.requests == 0


# -- errors and markers ---------------------------------------------------------------------------

def test_glance_vanished_marker_recovers(srv, image_server):
    s = image_server(60, seed=6, token=TOKEN)
    c = glance(s)
    full = c.load(hidden=False, progress=False)

    def remove_after_page_one(response, *args, **kwargs):   # requests' public hook
        if "marker=" not in response.url and full["id"].iloc[19] in s.catalog.position:
            s.remove_image(full["id"].iloc[19])
        return response

    c.session.hooks["response"].append(remove_after_page_one)
    df = c.load(hidden=False, page_size=20, progress=False)
    # the marker image (the last of page 1) was listed before it vanished: kept, once
    assert ids(df) == ids(full) and df.attrs["imgframe"]["marker_recoveries"] == 1


def test_glance_unknown_marker_is_an_error_naming_marker(srv):
    with pytest.raises(ImgframeError, match="marker"):
        glance(srv).load(marker="00000000-0000-0000-0000-000000000000", progress=False)


def test_glance_error_bodies_read_as_messages(srv):
    srv.faults = Faults(schedule={1: 500})
    with pytest.raises(ImgframeError) as info:
        glance(srv, retries=0).load(progress=False)
    assert "<" not in str(info.value)


def test_partial_and_resume_marker_on_every_source(srv):
    for make in (glance, ims):
        srv.faults = Faults(schedule={3: 503, 4: 503, 5: 503, 6: 503})
        with pytest.raises((ImgframeError, TransportError)) as info:
            make(srv, retries=1).load(page_size=100, hidden=False, progress=False)
        err = info.value
        assert err.partial is not None and len(err.partial) == 200
        assert err.partial.attrs["imgframe"]["partial"] is True
        assert err.resume_marker == err.partial["id"].iloc[-1]
        srv.faults = Faults()
        rest = make(srv).load(page_size=100, hidden=False, marker=err.resume_marker,
                              progress=False)
        whole = make(srv).load(page_size=100, hidden=False, progress=False)
        assert ids(err.partial) + ids(rest) == ids(whole)


# -- Huawei authentication -----------

def test_ims_with_aksk_signing(srv, caplog):
    caplog.set_level(logging.DEBUG, logger="imgframe")
    c = ims(srv, token=None, ak=AK, sk=SK)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = c.load(name=srv.images[0]["name"], progress=False)
    token_df = ims(srv).load(name=srv.images[0]["name"], progress=False)
    assert ids(df) == ids(token_df)
    everything = ims(srv, token=None, ak=AK, sk=SK).load(page_size=100, progress=False)
    assert len(everything) == len(ims(srv).load(progress=False))
    for text in (repr(c), str(df.attrs), caplog.text):
        assert SK not in text
    wrong = ims(srv, token=None, ak=AK, sk=SK[:-1] + "X")
    with pytest.raises(AuthError) as info:
        wrong.load(progress=False)
    assert SK not in str(info.value) and SK[:-1] not in str(info.value)


def test_ims_reads_huaweis_sdk_variables(srv, monkeypatch):
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", srv.project_id)
    c = Client(srv.ims_endpoint, source="ims", **FAST)
    assert c.project_id == srv.project_id and "aksk" in repr(c) and SK not in repr(c)
    assert len(c.load(page_size=200, progress=False)) > 0


def test_aksk_only_for_ims_and_never_echoed(srv):
    with pytest.raises(InvalidQueryError) as info:
        Client(srv.glance_endpoint, source="glance", ak=AK, sk=SK)
    assert SK not in str(info.value)
    with pytest.raises(InvalidQueryError, match="ak"):
        Client(srv.ims_endpoint, source="ims", sk=SK)
    with pytest.raises(InvalidQueryError, match="source"):
        Client(srv.url, source="keystone")


# -- source="auto" ----------

def _clouds_yaml(tmp_path, monkeypatch, s, extra=""):
    (tmp_path / "clouds.yaml").write_text(f"""
clouds:
  auto:
    auth:
      auth_url: {s.auth_url}
      username: alice
      password: pw-alice
      project_id: {s.project_id}
      user_domain_id: default
    region_name: RegionOne
    identity_api_version: 3
{extra}""")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    for var in ("OS_CLOUD", "OS_AUTH_URL", "OS_PASSWORD", "OS_TOKEN", "OS_AUTH_TYPE"):
        monkeypatch.delenv(var, raising=False)


def test_from_cloud_glance_and_auto(tmp_path, monkeypatch, image_server):
    s = image_server(300, seed=8, users={"alice": "pw-alice"})
    _clouds_yaml(tmp_path, monkeypatch, s)
    g = Client.from_cloud("auto", source="glance")
    assert g.source == "glance" and g.endpoint == s.glance_endpoint
    df = g.load(progress=False)
    assert df.attrs["imgframe"]["source"] == "glance" and len(df) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proxied = Client.from_cloud("auto", source="auto").load(progress=False)
    assert proxied.attrs["imgframe"]["source"] == "nova"
    # a cloud whose compute proxy is gone (404): Glance is read, and it says so
    _clouds_yaml(tmp_path, monkeypatch, s,
                 f"    compute_endpoint_override: {s.url}/gone/v2.1/{s.project_id}\n")
    auto = Client.from_cloud("auto", source="auto")
    with pytest.warns(imgframe.client.SourceFallbackWarning, match="Glance"):
        fell = auto.load(progress=False)
    assert fell.attrs["imgframe"]["source"] == "glance"
    assert fell.attrs["imgframe"]["fallback"]["from"] == "nova"
    assert sorted(ids(fell)) == sorted(ids(df))
    assert "pw-alice" not in str(fell.attrs)


def test_glance_marker_the_caller_cannot_see_is_refused_naming_marker(srv):
    hidden_from_us = next(r for r in srv.images if r.get("visibility") == "private"
                          and r.get("owner") not in (None, srv.project_id)
                          and r["status"] == "active")
    raw = requests.get(f"{srv.glance_endpoint}/v2/images",
                       params={"marker": hidden_from_us["id"]},
                       headers={"X-Auth-Token": TOKEN, "Accept": "application/json"},
                       timeout=10)
    assert raw.status_code == 403 and "not visible" in raw.text
    with pytest.raises(ImgframeError, match="marker") as info:
        glance(srv).load(marker=hidden_from_us["id"], progress=False)
    assert "not visible" in str(info.value) and TOKEN not in str(info.value)


def test_cli_export_from_glance_and_ims(srv, tmp_path):
    from click.testing import CliRunner

    from imgframe.cli import main

    runner = CliRunner()
    out = tmp_path / "glance.csv"
    result = runner.invoke(main, ["export", "--source", "glance", "--endpoint",
                                  srv.glance_endpoint, "--visibility", "public", "-o",
                                  str(out), "--no-progress"], env={"OS_AUTH_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    back = imgframe.read_csv(out)
    assert len(back) and set(back["visibility"]) == {"public"}
    assert dict(back.dtypes) == DTYPES
    out = tmp_path / "ims.csv"
    result = runner.invoke(main, ["export", "--source", "ims", "--endpoint", srv.ims_endpoint,
                                  "--project-id", srv.project_id, "--ak", AK, "--sk", SK,
                                  "-o", str(out), "--no-progress"], env={"OS_AUTH_TOKEN": ""})
    assert result.exit_code == 0, result.output
    assert SK not in result.output and SK not in out.read_text()
    assert len(imgframe.read_csv(out)) == len(ims(srv).load(progress=False))
    bad = runner.invoke(main, ["export", "--source", "glance", "--endpoint",
                               srv.glance_endpoint, "--ak", AK, "-o", str(out)],
                        env={"OS_AUTH_TOKEN": TOKEN})
    assert bad.exit_code == 2 and "--source ims" in bad.output


def test_glance_via_keystone_reauthenticates_and_continues(tmp_path, monkeypatch, image_server):
    s = image_server(300, seed=9, users={"alice": "pw-alice"})
    _clouds_yaml(tmp_path, monkeypatch, s)
    s.faults = Faults(token_ttl=3)
    df = Client.from_cloud("auto", source="glance", budget=5, backoff=0.01).load(
        page_size=40, progress=False)
    s.faults = Faults()
    again = Client.from_cloud("auto", source="glance").load(progress=False)
    assert df.attrs["imgframe"]["reauths"] >= 1 and ids(df) == ids(again)
    assert "pw-alice" not in str(df.attrs)


# -- the core knows no API --------------------------------------------------------------------


def _imports(path, skip_function: str | None = None) -> set[str]:
    """Every module ``path`` imports, at any depth (but inside ``skip_function``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
               and f.name == skip_function for n in ast.walk(f)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_frame_and_query_import_no_source_so_there_is_no_circle():
    package = Path(imgframe.__file__).parent
    for core in ("frame.py", "merge.py"):
        assert not {m for m in _imports(package / core) if m.startswith("imgframe.sources")}
    assert not {m for m in _imports(package / "query.py") if m.startswith("imgframe.sources")}


def test_no_module_outside_sources_compares_a_source_name():
    package = Path(imgframe.__file__).parent
    names = "|".join(imgframe.sources.NAMES)
    pattern = rf"""[=!]=\s*["'](?:{names})["']|["'](?:{names})["']\s*[=!]="""
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).parts[0] in ("sources", "server"):
            continue   # API knowledge lives in sources/; the server is one module per API
        found += [f"{path.name}: {m.group()}" for m in re.finditer(
            pattern, path.read_text(encoding="utf-8"))]
    assert found == []
