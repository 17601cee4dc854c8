"""imgframe.load_many over real HTTP: several embedded servers at once (Nova, Glance, IMS),
one down, one slow, one rate-limiting, one with a foreign next link; strict and not; the
thread pool, a process pool and a real Dask LocalCluster; the CLI; what works on the frame."""

from __future__ import annotations

import concurrent.futures as cf
import io
import os
import signal
import socket
import threading
import time
import warnings

import pandas as pd
import pytest
from click.testing import CliRunner

import imgframe
from imgframe.cli import main
from imgframe.errors import InvalidQueryError
from imgframe.frame import COLUMNS
from imgframe.many import SOURCE_COLUMNS, many_columns
from imgframe.server import Faults

AK, SK = "AKMANYACCESSKEY00001", "sk-many-Secret-0123456789abcdef"
FAST = {"retries": 3, "backoff": 0.01, "budget": 5}


@pytest.fixture(scope="module")
def servers(module_image_server):
    return (module_image_server(120, seed=31, token="tok-nova"),
            module_image_server(90, seed=32, token="tok-glance"),
            module_image_server(60, seed=33, aksk={AK: SK}))


@pytest.fixture(autouse=True)
def fresh(servers):
    for s in servers:
        s.faults = Faults()
        s.stats.reset()
    yield


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clients(servers):
    a, b, c = servers
    return {"nova": imgframe.Client(a.url, a.project_id, token="tok-nova", **FAST),
            "glance": imgframe.Client(b.glance_endpoint, source="glance", token="tok-glance",
                                      **FAST),
            "ims": imgframe.Client(c.ims_endpoint, c.project_id, source="ims", ak=AK, sk=SK,
                                   **FAST)}


def down(token="tok-down"):
    return imgframe.Client(f"http://127.0.0.1:{closed_port()}", "p", token=token, retries=0)


def test_mixed_sources_one_frame_in_order(servers):
    cs = clients(servers)
    singles = {k: c.load(progress=False) for k, c in cs.items()}
    df = imgframe.load_many(cs)
    assert list(df.columns) == many_columns(df.columns)
    assert list(df.columns)[:len(COLUMNS) - 4] == COLUMNS[:-4]
    assert list(df.columns)[COLUMNS.index("metadata") + 1:][:3] == list(SOURCE_COLUMNS)
    assert all(df[c].dtype == pd.StringDtype() for c in SOURCE_COLUMNS)
    assert df["cloud"].tolist() == sum(([k] * len(f) for k, f in singles.items()), [])
    assert df["region"].isna().all()
    for key, single in singles.items():
        part = df[df["cloud"] == key].reset_index(drop=True)
        assert part["id"].tolist() == single["id"].tolist()   # each source's own order
        pd.testing.assert_frame_equal(part[list(single.columns)], single, check_like=False)
        want = single.attrs["imgframe"]["project_id"]
        assert part["project_id"].tolist() == [want] * len(part) if want else \
            part["project_id"].isna().all()
    info = df.attrs["imgframe"]
    assert info["source"] == "many" and info["incomplete_sources"] == [] and not info["partial"]
    assert [e["key"] for e in info["sources"]] == ["nova", "glance", "ims"]
    for e in info["sources"]:
        s = singles[e["key"]].attrs["imgframe"]
        assert (e["rows"], e["pages"], e["requests"], e["retries"], e["source"],
                e["endpoint"], e["complete"]) == (len(singles[e["key"]]), s["pages"],
                                                  s["requests"], s["retries"], s["source"],
                                                  s["endpoint"], True)
        assert "error" not in e and e["seconds"] >= 0
    assert info["requests"] == sum(e["requests"] for e in info["sources"])
    assert "tok-" not in repr(info) and SK not in repr(info)


def test_strict_names_each_failure_and_keeps_tokens_apart(servers):
    cs = clients(servers)
    cs["down"] = down("tok-down-secret")
    a = servers[0]
    cs["nova"] = imgframe.Client(a.url, a.project_id, token="tok-wrong-one", **FAST)
    with pytest.raises(imgframe.PartialLoadError) as info:
        imgframe.load_many(cs)
    err = info.value
    assert isinstance(err, imgframe.ImgframeError)
    assert set(err.failures) == {"down", "nova"}
    assert err.failures["down"]["type"] == "TransportError"
    assert err.failures["nova"]["type"] == "AuthError"
    assert "down" in str(err) and "nova" in str(err) and "2 of 4 sources failed" in str(err)
    text = str(err) + repr(err.failures) + repr(err.partial.attrs)
    for secret in ("tok-wrong-one", "tok-glance", "tok-down-secret", SK):
        assert secret not in text
    assert err.partial["cloud"].unique().tolist() == ["glance", "ims"]
    attrs = err.partial.attrs["imgframe"]
    assert attrs["partial"] is True and attrs["incomplete_sources"] == ["nova", "down"]
    entries = {e["key"]: e for e in attrs["sources"]}
    assert entries["down"]["error"]["type"] == "TransportError"
    assert entries["down"]["rows"] == 0 and not entries["down"]["complete"]


def test_not_strict_warns_once_and_records_what_is_missing(servers):
    cs = clients(servers)
    cs["down"] = down()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = imgframe.load_many(cs, strict=False)
    mine = [w for w in caught if issubclass(w.category, imgframe.PartialLoadWarning)]
    assert len(mine) == 1 and "down (TransportError" in str(mine[0].message)
    info = df.attrs["imgframe"]
    assert info["incomplete_sources"] == ["down"] and info["partial"] is False
    assert df["cloud"].unique().tolist() == ["nova", "glance", "ims"]
    from imgframe.diff import completeness

    reasons = completeness(df)
    assert len(reasons) == 1 and "lacks source 'down'" in reasons[0]


def test_slow_source_does_not_hold_up_the_others(servers):
    a, b, c = servers
    b.faults = Faults(latency=1.0)
    started = time.monotonic()
    df = imgframe.load_many(clients(servers), page_size=1000)
    took = time.monotonic() - started
    entries = {e["key"]: e for e in df.attrs["imgframe"]["sources"]}
    assert entries["glance"]["seconds"] >= 1.0
    assert entries["nova"]["seconds"] < 0.8 and entries["ims"]["seconds"] < 0.8
    assert took < entries["glance"]["seconds"] + 0.8     # in parallel, not one after another


def test_rate_limited_source_retries_on_its_own_budget(servers):
    a = servers[0]
    a.faults = Faults(schedule={1: 429, 2: 429}, retry_after="0")
    df = imgframe.load_many(clients(servers), page_size=50)
    entries = {e["key"]: e for e in df.attrs["imgframe"]["sources"]}
    assert entries["nova"]["retries"] == 2 and entries["nova"]["complete"]
    assert entries["glance"]["retries"] == 0 and entries["ims"]["retries"] == 0
    assert (df["cloud"] == "nova").sum() == len(imgframe.Client(
        a.url, a.project_id, token="tok-nova").load(progress=False))


def test_foreign_next_link_is_recorded_per_source(servers, image_server):
    x = image_server(110, seed=34, token="tok-x", link_prefix="http://elsewhere:1")
    cs = {"x": imgframe.Client(x.url, x.project_id, token="tok-x", **FAST),
          "nova": clients(servers)["nova"]}
    with pytest.warns(imgframe.ForeignNextLinkWarning):
        df = imgframe.load_many(cs, page_size=30)
    entries = {e["key"]: e for e in df.attrs["imgframe"]["sources"]}
    assert entries["x"]["foreign_next_links"] == ["http://elsewhere:1"]
    assert entries["x"]["rows"] == (df["cloud"] == "x").sum() and entries["x"]["pages"] >= 3
    assert "foreign_next_links" not in entries["nova"]


def test_everything_is_checked_before_any_request(servers):
    cs = clients(servers)
    bad = [({}, {}, "sources"), (cs, {"workers": 0}, "workers"),
           (cs, {"status": "DELETED"}, "status"), (cs, {"detail": False}, "detail"),
           (cs, {"colour": "red"}, "colour"), ([("a", None), ("a", None)], {}, "sources"),
           (cs, {"regions": ["r"]}, "regions"), ({"k": "not a client"}, {}, "sources"),
           (cs, {"executor": "threads"}, "executor")]
    for sources, kw, parameter in bad:
        with pytest.raises(InvalidQueryError, match=parameter):
            imgframe.load_many(sources, **kw)
    assert sum(s.stats.requests for s in servers) == 0


def _pool_threads():
    return [t for t in threading.enumerate() if t.name.startswith("imgframe-many")]


def test_no_thread_left_after_an_error_or_interrupt(servers):
    cs = clients(servers)
    cs["down"] = down()
    with pytest.raises(imgframe.PartialLoadError):
        imgframe.load_many(cs)
    assert _pool_threads() == []
    servers[1].faults = Faults(latency=0.2)
    # a real SIGINT, as Ctrl-C sends: it wakes a main thread blocked waiting for results
    # (``_thread.interrupt_main`` only sets a flag read when Python code runs next)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        imgframe.load_many(clients(servers), page_size=5)   # Glance: 18 slow pages
    timer.cancel()
    assert time.monotonic() - started < 2.5     # stopped at a page boundary, not at the end
    assert _pool_threads() == []


def test_process_pool_gets_specs_and_matches_threads(servers):
    cs = clients(servers)
    threads = imgframe.load_many(cs)
    with cf.ProcessPoolExecutor(2) as pool:
        procs = imgframe.load_many(cs, executor=pool)
    cols = [c for c in threads.columns]
    pd.testing.assert_frame_equal(procs[cols], threads)
    assert procs.attrs["imgframe"]["executor"] == "ProcessPoolExecutor"
    spec = imgframe.LoadSpec.from_client(cs["ims"])
    assert SK not in repr(spec) and AK not in repr(spec) and "hidden" in repr(spec.credentials)


@pytest.mark.slow
def test_dask_local_cluster_matches_threads(servers):
    distributed = pytest.importorskip("distributed")
    cs = clients(servers)
    threads = imgframe.load_many(cs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as dc:
            df = imgframe.load_many(cs, executor=dc.get_executor())
    pd.testing.assert_frame_equal(df, threads)
    assert [e["rows"] for e in df.attrs["imgframe"]["sources"]] == \
        [e["rows"] for e in threads.attrs["imgframe"]["sources"]]


def _clouds_yaml(tmp_path, monkeypatch, named):
    body = "clouds:\n"
    for name, s in named.items():
        body += f"""  {name}:
    auth:
      auth_url: {s.auth_url}
      username: alice
      password: pw-{name}
      project_id: {s.project_id}
      user_domain_id: default
    region_name: RegionOne
    identity_api_version: 3
"""
    (tmp_path / "clouds.yaml").write_text(body)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    for var in ("OS_CLOUD", "OS_AUTH_URL", "OS_PASSWORD", "OS_TOKEN", "OS_AUTH_TYPE"):
        monkeypatch.delenv(var, raising=False)


def test_clouds_yaml_names_times_regions_and_the_cli(tmp_path, monkeypatch, image_server):
    e = image_server(40, seed=41, users={"alice": "pw-east"})
    w = image_server(30, seed=42, users={"alice": "pw-west"})
    _clouds_yaml(tmp_path, monkeypatch, {"east": e, "west": w})
    df = imgframe.load_many(["east", "west"], regions=["RegionOne"])
    keys = [s["key"] for s in df.attrs["imgframe"]["sources"]]
    assert keys == ["east/RegionOne", "west/RegionOne"]
    assert df["cloud"].value_counts().to_dict() == {"east": 40, "west": 30} or \
        df["cloud"].tolist()[:1] == ["east"]
    assert df["region"].unique().tolist() == ["RegionOne"]
    assert df["project_id"].unique().tolist() == [e.project_id]
    with pytest.raises(InvalidQueryError, match="nowhere"):
        imgframe.load_many(["east", "nowhere"])
    assert "pw-" not in repr(df.attrs)
    out = tmp_path / "all.csv"
    r = CliRunner().invoke(main, ["export", "--cloud", "east", "--cloud", "west",
                                  "--no-progress", "-o", str(out)])
    assert r.exit_code == 0, r.output
    back = imgframe.read_csv(out)
    assert back["cloud"].tolist() == df["cloud"].tolist()
    assert "from 2 sources" in r.output
    # a cloud whose keystone is gone: exit 1, one line, unless --allow-partial
    _clouds_yaml(tmp_path, monkeypatch, {"east": e, "west": w})
    body = (tmp_path / "clouds.yaml").read_text().replace(
        w.auth_url, f"http://127.0.0.1:{closed_port()}/v3")
    (tmp_path / "clouds.yaml").write_text(body)
    r = CliRunner().invoke(main, ["export", "--cloud", "east", "--cloud", "west",
                                  "--no-progress", "-o", str(tmp_path / "x.csv")])
    assert r.exit_code == 1 and "1 source failed: west (" in r.output
    assert len(r.output.strip().splitlines()) == 1 and "pw-" not in r.output
    r = CliRunner().invoke(main, ["export", "--cloud", "east", "--cloud", "west",
                                  "--allow-partial", "--no-progress", "-o",
                                  str(tmp_path / "p.csv")])
    assert r.exit_code == 0 and "Missing: 1 source failed: west" in r.output
    assert "from 1 source of 2" in r.output        # not "from 2 sources"
    assert set(imgframe.read_csv(tmp_path / "p.csv")["cloud"]) == {"east"}
    r = CliRunner().invoke(main, ["snapshot", "--store", str(tmp_path / "s"), "--cloud",
                                  "east", "--cloud", "west"])
    assert r.exit_code == 2 and "reads one cloud" in r.output


def test_the_frame_works_everywhere(servers, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = imgframe.load_many(clients(servers))
    assert df.images.status_counts().sum() == len(df)
    assert len(df.images.select(status="ACTIVE")) > 0
    ax = imgframe.plotting.changes_plot(df, freq="M", by="cloud")
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"nova", "glance", "ims"}
    plt.close("all")
    text = imgframe.to_csv(df)
    back = imgframe.read_csv(io.StringIO(text))
    assert back["cloud"].tolist() == df["cloud"].tolist()
    imgframe.report(df, tmp_path / "r.html")
    assert (tmp_path / "r.html").stat().st_size > 1000
    store = imgframe.SnapshotStore(tmp_path / "store")
    sid = store.save(df)
    again = store.load(id=sid)
    pd.testing.assert_frame_equal(again[list(df.columns)], df)
    assert store.list()["complete"].tolist() == [True]


def test_diff_never_reports_a_missing_sources_images_as_removed(servers, tmp_path):
    full = imgframe.load_many(clients(servers))
    cs = clients(servers)
    cs["ims"] = imgframe.Client(f"http://127.0.0.1:{closed_port()}", "p", source="ims",
                                ak=AK, sk=SK, retries=0)
    with pytest.warns(imgframe.PartialLoadWarning):
        half = imgframe.load_many(cs, strict=False)
    # a nova image goes away for real: that removal is reported, the IMS images are not
    gone = half.index[half["cloud"] == "nova"][0]
    gone_id = half.loc[gone, "id"]
    half = half.drop(index=gone).reset_index(drop=True)
    assert half.attrs["imgframe"]["incomplete_sources"] == ["ims"]
    d = imgframe.diff(full, half)
    removed = d[d["change"] == "removed"]
    assert removed["id"].tolist() == [gone_id] and removed["cloud"].tolist() == ["nova"]
    assert d.attrs["imgframe_diff"]["removals_skipped_for"] == ["ims"]
    assert not d.attrs["imgframe_diff"]["complete"]
    # through a SnapshotStore: marked incomplete, and changes() reports the same
    store = imgframe.SnapshotStore(tmp_path / "s")
    store.save(full)
    store.save(half)
    listing = store.list()
    assert listing["complete"].tolist() == [True, False]
    ch = store.changes()
    assert ch[["added", "removed", "modified"]].iloc[0].tolist() == [0, 1, 0]

