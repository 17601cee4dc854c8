"""``imgframe usage`` over real HTTP against the embedded cloud (images, Nova servers,
Cinder volumes, keystone with a clouds.yaml): the file it writes equals
``imgframe.usage`` of the same listings, the scope and counts it prints are the ones the
frame records, and bad usage is refused before any request."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
from click.testing import CliRunner

import imgframe
from imgframe.cli import main
from imgframe.server import sample_cloud, sample_inventory

T, A = "usage-member-token", "usage-admin-token"
FAST = {"progress": False}
HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None
ENV = {"OS_CLOUD": "", "OS_AUTH_TOKEN": "", "IMGFRAME_DEBUG": ""}


@pytest.fixture(scope="module")
def records():
    return sample_inventory(240, seed=9)


@pytest.fixture(scope="module")
def srv(records, module_image_server):
    return module_image_server(records, cloud=sample_cloud(records, seed=9), token=T,
                               admin_token=A, max_limit=40,
                               users={"alice": "pw-alice", "root": "pw-root"},
                               admins=("root",))


def run(*args, env=None):
    return CliRunner().invoke(main, ["usage", *args, "--no-progress"], env={**ENV, **(env or {})},
                              catch_exceptions=False)


def read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def expected(srv, token, *, all_projects, volumes=True, source="glance"):
    images = imgframe.load(srv.glance_endpoint if source == "glance" else srv.endpoint,
                           source=source, token=token, progress=False)
    servers = imgframe.load_servers(srv.endpoint, token=token, all_projects=all_projects,
                                    **FAST)
    vols = imgframe.load_volumes(srv.volume_endpoint, token=token, all_projects=all_projects,
                                 **FAST) if volumes else None
    return imgframe.usage(images, servers, vols)


def same_verdicts(path, want: pd.DataFrame) -> None:
    got = read(path)
    assert list(got.columns) == list(want.columns)
    assert got["id"].tolist() == want["id"].tolist()
    assert got["verdict"].tolist() == want["verdict"].astype(str).tolist()
    assert got["kind"].tolist() == want["kind"].astype(str).tolist()
    assert got["servers"].tolist() == want["servers"].astype(str).tolist()


def counts_line(frame) -> str:
    c = frame["verdict"].astype(str).value_counts()
    return (f"Verdicts: {c.get('in use', 0):,} in use, {c.get('unused', 0):,} unused, "
            f"{c.get('unknown', 0):,} unknown ({len(frame):,} images;")


def test_admin_every_project_from_endpoints_is_complete(srv, tmp_path):
    out = tmp_path / "usage.csv"
    result = run("--source", "glance", "--endpoint", srv.glance_endpoint, "--token", A,
                 "--compute-endpoint", srv.endpoint, "--volume-endpoint", srv.volume_endpoint,
                 "--all-projects", "-o", str(out), "--report", str(tmp_path / "u.html"),
                 "--chart", str(tmp_path / "u.png"))
    assert result.exit_code == 0, result.output
    want = expected(srv, A, all_projects=True)
    same_verdicts(out, want)
    assert {"in use", "unused"} <= set(want["verdict"].astype(str))
    assert counts_line(want) in result.output
    scope = result.output.split("Scope: ", 1)[1].split("\n", 1)[0]
    for words in ("servers (nova): all projects", "(admin)", "every page", "cells up",
                  "soft-deleted included", "volumes (cinder): all projects",
                  "Scope complete"):
        assert words in scope, scope
    assert A not in result.output
    page = (tmp_path / "u.html").read_text("utf-8")
    assert "data-verdicts=" in page and A not in page
    assert (tmp_path / "u.png").read_bytes()[:4] == b"\x89PNG"


def test_member_without_volumes_is_never_unused_and_says_why(srv, tmp_path):
    out = tmp_path / "usage.csv"
    result = run("--endpoint", srv.endpoint, "--token", T, "-o", str(out))
    assert result.exit_code == 0, result.output
    got = read(out)
    assert "unused" not in set(got["verdict"])
    assert "unknown" in set(got["verdict"])
    same_verdicts(out, expected(srv, T, all_projects=False, volumes=False, source="nova"))
    assert "volumes: not read" in result.output
    assert "Scope incomplete" in result.output
    because = [line for line in result.output.splitlines()
               if line.startswith("Unknown because: ")]
    assert because and "volumes_not_read" in because[0] and "parent_" not in because[0]


def test_member_asking_for_every_project_fails_at_run_time_and_writes_nothing(srv, tmp_path):
    out = tmp_path / "usage.csv"
    result = run("--endpoint", srv.endpoint, "--token", T, "--all-projects", "-o", str(out))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "admin" in lines[0] and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not HAVE_PYARROW, reason="Parquet needs pyarrow")
def test_parquet_by_extension(srv, tmp_path):
    out = tmp_path / "usage.parquet"
    result = run("--endpoint", srv.endpoint, "--token", A, "--all-projects",
                 "--volume-endpoint", srv.volume_endpoint, "--assume-cells-up", "-o", str(out))
    assert result.exit_code == 0, result.output
    back = pd.read_parquet(out)
    want = expected(srv, A, all_projects=True, source="nova")
    assert back["id"].tolist() == want["id"].tolist()
    assert back["verdict"].astype(str).tolist() == want["verdict"].astype(str).tolist()


def test_from_a_clouds_yaml_reads_glance_servers_and_volumes(srv, tmp_path):
    (tmp_path / "clouds.yaml").write_text(f"""
clouds:
  member:
    auth: {{auth_url: "{srv.auth_url}", username: alice, password: pw-alice,
            project_id: {srv.project_id}, user_domain_id: default}}
    region_name: RegionOne
  admin:
    auth: {{auth_url: "{srv.auth_url}", username: root, password: pw-root,
            project_id: {srv.project_id}, user_domain_id: default}}
    region_name: RegionOne
""")
    env = {"OS_CLIENT_CONFIG_FILE": str(tmp_path / "clouds.yaml"), "OS_AUTH_URL": "",
           "OS_PASSWORD": "", "OS_TOKEN": "", "OS_AUTH_TYPE": ""}
    out = tmp_path / "usage.csv"
    result = run("--cloud", "admin", "--all-projects", "-o", str(out), env=env)
    assert result.exit_code == 0, result.output
    want = expected(srv, A, all_projects=True)
    same_verdicts(out, want)            # Glance read: visibility known, so 'unused' said
    assert "unused" in set(read(out)["verdict"])
    assert "pw-root" not in result.output
    member = run("--cloud", "member", "-o", str(tmp_path / "m.csv"), env=env)
    assert member.exit_code == 0, member.output
    assert "unused" not in set(read(tmp_path / "m.csv")["verdict"])
    assert "non-admin" in member.output
    refused = run("--cloud", "member", "--all-projects", "-o", str(tmp_path / "x.csv"),
                  env=env)
    assert refused.exit_code == 1 and "admin" in refused.stderr


@pytest.mark.parametrize("args, words", [
    (["--source", "glance", "--endpoint", "{glance}", "--token", T], "--compute-endpoint"),
    (["--source", "ims", "--endpoint", "{ims}", "--token", T], "--compute-endpoint"),
    (["--endpoint", "{nova}"], "--token"),
    (["--endpoint", "{nova}", "--token", T, "--cloud", "x"], "not both"),
    (["--endpoint", "{nova}", "--token", T, "--ak", "AK0000", "--sk", "s3cr3t"], "--source ims"),
    (["--endpoint", "{nova}", "--token", T, "--volume-endpoint", "not a url"],
     "--volume-endpoint"),
    (["--endpoint", "{nova}", "--token", T, "--compute-endpoint", "ftp://x"],
     "--compute-endpoint"),
    (["--endpoint", "ftp://nova.example", "--token", T], "--endpoint"),
    (["--source", "ims", "--endpoint", "{ims}", "--project-id", "{project}", "--token", T,
      "--compute-endpoint", "{ecs}", "--all-projects"], "--all-projects"),
    ([], "--cloud"),
])
def test_bad_usage_is_refused_before_any_request(srv, tmp_path, args, words):
    filled = [a.format(glance=srv.glance_endpoint, ims=srv.ims_endpoint, nova=srv.endpoint,
                       ecs=srv.ecs_endpoint, project=srv.project_id) for a in args]
    srv.stats.reset()
    result = run(*filled, "-o", str(tmp_path / "u.csv"))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert "s3cr3t" not in result.output
    assert srv.stats.requests == 0
    assert list(tmp_path.iterdir()) == []


def test_help_names_every_form():
    result = CliRunner().invoke(main, ["usage", "--help"])
    assert result.exit_code == 0
    for words in ("--cloud", "--all-projects", "--assume-cells-up", "--compute-endpoint",
                  "--volume-endpoint", "--source", ".parquet", "unknown"):
        assert words in result.output


def test_demo_writes_usage_csv(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--images", "150", "--out", str(tmp_path),
                                       "--no-notebook", "--no-progress"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "usage.csv") in result.output
    got = read(tmp_path / "usage.csv")
    counts = got["verdict"].value_counts()
    assert counts.get("in use", 0) > 0 and counts.get("unused", 0) > 0
    assert (f"{counts.get('in use', 0):,} in use, {counts.get('unused', 0):,} unused"
            in result.output)
    assert {"image", "snapshot"} <= set(got["kind"])
