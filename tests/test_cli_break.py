"""Trying to break the ``imgframe`` command: for every command a table of bad inputs, each
asserting the exit status (2 bad usage, 1 failure at run time, 130 Ctrl-C), exactly one
line on stderr, no traceback, no request sent for bad usage, and no file left behind.

Most rows run through click's runner against the embedded server started here; Ctrl-C,
the venv without pyarrow and the fast-help checks run the command as a real process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import imgframe
from imgframe.cli import main
from imgframe.server import ImageServer, sample_inventory

TOKEN = "break-the-cli-token-0123456789"
AK, SK = "BREAKTHECLIAK0123456", "break-the-cli-secret-key-0123456789"
ROOT = Path(__file__).resolve().parents[1]
NOPYARROW = ROOT / ".venv-nopyarrow" / "bin" / "python"   # make test makes it


@pytest.fixture(scope="module")
def server():
    with ImageServer(sample_inventory(60, seed=7), token=TOKEN, aksk={AK: SK}) as srv:
        yield srv


@pytest.fixture(scope="module")
def busy_port():
    """A port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory, server):
    """Inputs of every kind: a store with two snapshots, a store with one, an empty
    directory, an empty file, a CSV that is not an inventory, a parquet that is not one."""
    base = tmp_path_factory.mktemp("inputs")
    client = imgframe.Client(server.url, server.project_id, token=TOKEN)
    store = imgframe.SnapshotStore(base / "store")
    df = client.load(progress=False)
    store.save(df)
    store.save(client.refresh(df, progress=False))
    imgframe.SnapshotStore(base / "one").save(df)
    glance = imgframe.Client(server.glance_endpoint, source="glance", token=TOKEN)
    imgframe.SnapshotStore(base / "glance").save(glance.load(progress=False))
    (base / "emptydir").mkdir()
    (base / "empty.csv").write_text("")
    (base / "notinv.csv").write_text("a,b\n1,2\n")
    (base / "junk.parquet").write_bytes(b"not parquet at all")
    (base / "plain.txt").write_text("hello\n")
    imgframe.to_csv(df, base / "inventory.csv")
    (base / "nb").mkdir()
    assert CliRunner().invoke(main, ["notebooks", str(base / "nb")]).exit_code == 0
    return base


# Placeholders: {url} {endpoint} {glance} {ims} the server, {in} the inputs above,
# {out} this row's own empty output directory, {busy} a port in use.
C = ["--endpoint", "{url}", "--project-id", "{project}", "--token", TOKEN]
G = ["--endpoint", "{glance}", "--source", "glance", "--token", TOKEN]
OUT = ["-o", "{out}/x.csv"]

ROWS = [
    # ---- the group
    ("unknown command", ["frobnicate"], 2, "No such command"),
    ("unknown option", ["export", "--colour", "red"], 2, "No such option"),
    # ---- export: files
    ("export no -o", ["export", *C], 2, "'--output'"),
    ("export unknown ext", ["export", *C, "-o", "{out}/x.xlsx"], 2, ".csv or .parquet"),
    ("export no ext", ["export", *C, "-o", "{out}/x"], 2, ".csv or .parquet"),
    ("export dir for file", ["export", *C, "-o", "{out}"], 2, "is a directory"),
    ("export missing dir", ["export", *C, "-o", "{out}/nope/x.csv"], 2, "does not exist"),
    ("export under a file", ["export", *C, "-o", "{in}/plain.txt/x.csv"], 2,
     "does not exist"),
    # ---- export: numbers, dates, choices
    ("export bad date", ["export", *C, "--changes-since", "2026-13-45", *OUT], 2,
     "--changes-since"),
    ("export words date", ["export", *C, "--changes-since", "last tuesday", *OUT], 2,
     "--changes-since"),
    ("export min-ram -5", ["export", *C, "--min-ram", "-5", *OUT], 2, "--min-ram"),
    ("export min-disk abc", ["export", *C, "--min-disk", "abc", *OUT], 2, "--min-disk"),
    ("export page-size 0", ["export", *C, "--page-size", "0", *OUT], 2, "--page-size"),
    ("export page-size huge", ["export", *C, "--page-size", "10000000", *OUT], 2,
     "--page-size"),
    ("export max-items -1", ["export", *C, "--max-items", "-1", *OUT], 2, "--max-items"),
    ("export workers 100", ["export", *C, "--workers", "100", *OUT], 2, "--workers"),
    ("export workers 0", ["export", *C, "--workers", "0", *OUT], 2, "--workers"),
    ("export status", ["export", *C, "--status", "DELETED", *OUT], 2, "--status"),
    ("export unknown source", ["export", *C, "--source", "swift", *OUT], 2, "--source"),
    # ---- export: filters the source cannot apply
    ("nova visibility", ["export", *C, "--visibility", "public", *OUT], 2,
     "--visibility cannot be used"),
    ("nova owner", ["export", *C, "--owner", "someone", *OUT], 2, "--owner cannot be used"),
    ("glance list view", ["export", *G, "--list", *OUT], 2, "--list cannot be used"),
    ("glance visibility", ["export", *G, "--visibility", "everyone", *OUT], 2,
     "--visibility"),
    # ---- export: where and how to connect
    ("no endpoint", ["export", *OUT], 2, "--endpoint"),
    ("no token", ["export", "--endpoint", "{url}", *OUT], 2, "--token"),
    ("bad endpoint", ["export", "--endpoint", "not a url", "--token", TOKEN, *OUT], 2,
     "--endpoint"),
    ("endpoint and cloud", ["export", *C, "--cloud", "x", *OUT], 2, "not both"),
    ("unknown cloud", ["export", "--cloud", "no-such-cloud", *OUT], 2, "--cloud"),
    ("ims no credentials", ["export", "--endpoint", "{ims}", "--source", "ims", *OUT], 2,
     "needs credentials"),
    ("ak on nova", ["export", *C, "--ak", "AKAKAKAK", "--sk", "s3cr3t-sk", *OUT], 2,
     "--source ims"),
    ("token with spaces", ["export", "--endpoint", "{url}", "--token", "s3cr3t token", *OUT],
     2, "--token"),
    ("sk with spaces", ["export", "--endpoint", "{ims}", "--source", "ims", "--ak", "AKAKAK",
                        "--sk", "s3cr3t key", *OUT], 2, "--sk"),
    ("partial one source", ["export", *C, "--allow-partial", *OUT], 2, "--allow-partial"),
    ("ims wrong secret key", ["export", "--endpoint", "{ims}", "--source", "ims",
                              "--project-id", "{project}", "--ak", AK, "--sk", "not-the-sk",
                              *OUT], 1, "AK/SK signature was rejected"),
    ("wrong token", ["export", "--endpoint", "{url}", "--project-id", "{project}",
                     "--token", "wrong-token-123", *OUT], 1, "token"),
    # ---- trend
    ("trend txt", ["trend", "--endpoint", "{endpoint}", "--token", TOKEN,
                   "-o", "{out}/t.txt"], 2, ".png"),
    ("trend csv ext", ["trend", "--endpoint", "{endpoint}", "--token", TOKEN,
                       "--csv", "{out}/t.txt"], 2, ".csv"),
    ("trend dir", ["trend", "--endpoint", "{endpoint}", "--token", TOKEN, "-o", "{out}"], 2,
     "is a directory"),
    ("trend bad start", ["trend", "--endpoint", "{endpoint}", "--token", TOKEN,
                         "--start", "yesterdayish", "-o", "{out}/t.png"], 2, "--start"),
    ("trend bad end", ["trend", "--endpoint", "{endpoint}", "--token", TOKEN,
                       "--end", "2026-02-30", "-o", "{out}/t.png"], 2, "--end"),
    ("trend freq", ["trend", "--endpoint", "{endpoint}", "--token", TOKEN,
                    "--freq", "fortnight", "-o", "{out}/t.png"], 2, "--freq"),
    ("trend workers", ["trend", "--endpoint", "{endpoint}", "--token", TOKEN,
                       "--workers", "100", "-o", "{out}/t.png"], 2, "--workers"),
    ("trend no endpoint", ["trend", "-o", "{out}/t.png"], 2, "--endpoint"),
    # ---- history
    ("history missing store", ["history", "--store", "{out}/nope", "-o", "{out}/h.png"], 2,
     "no snapshot store"),
    ("history file store", ["history", "--store", "{in}/plain.txt", "-o", "{out}/h.png"], 2,
     "is a file"),
    ("history empty store", ["history", "--store", "{in}/emptydir", "-o", "{out}/h.png"], 1,
     "has no snapshots"),
    ("history txt", ["history", "--store", "{in}/store", "-o", "{out}/h.txt"], 2, ".png"),
    ("history changes txt", ["history", "--store", "{in}/store", "-o", "{out}/h.png",
                             "--changes", "{out}/c.txt"], 2, "--changes"),
    ("history csv ext", ["history", "--store", "{in}/store", "-o", "{out}/h.png",
                         "--csv", "{out}/c.json"], 2, "--csv"),
    ("history by dicts", ["history", "--store", "{in}/store", "--by", "metadata",
                          "-o", "{out}/h.png"], 2, "dict"),
    ("history by lists", ["history", "--store", "{in}/glance", "--by", "tags",
                          "-o", "{out}/h.png"], 2, "list"),
    ("history by nothing", ["history", "--store", "{in}/store", "--by", "colour",
                            "-o", "{out}/h.png"], 2, "--by"),
    ("history top 1", ["history", "--store", "{in}/store", "--top", "1",
                       "-o", "{out}/h.png"], 2, "--top"),
    # ---- diff
    ("diff missing store", ["diff", "--store", "{out}/nope", "-o", "{out}/d.csv"], 2,
     "no snapshot store"),
    ("diff txt", ["diff", "--store", "{in}/store", "-o", "{out}/d.txt"], 2, ".csv"),
    ("diff unknown id", ["diff", "--store", "{in}/store", "nope", "-o", "{out}/d.csv"], 1,
     "no snapshot 'nope'"),
    ("diff one snapshot", ["diff", "--store", "{in}/one", "-o", "{out}/d.csv"], 1,
     "only one snapshot"),
    # ---- snapshot
    ("snapshot file store", ["snapshot", "--store", "{in}/plain.txt", *C], 2, "is a file"),
    ("snapshot under file", ["snapshot", "--store", "{in}/plain.txt/s", *C], 2, "is a file"),
    ("snapshot demo -1", ["snapshot", "--store", "{out}/s", "--demo", "-1"], 2, "--demo"),
    ("snapshot no endpoint", ["snapshot", "--store", "{out}/s"], 2, "--endpoint"),
    ("snapshot status", ["snapshot", "--store", "{out}/s", *C, "--status", "GONE"], 2,
     "--status"),
    ("snapshot refresh empty", ["snapshot", "--store", "{in}/emptydir", "--refresh"], 1,
     "has no snapshots"),
    # ---- report
    ("report missing input", ["report", "--input", "{in}/nope.csv", "-o", "{out}/r.html"], 2,
     "does not exist"),
    ("report dir input", ["report", "--input", "{in}/emptydir", "-o", "{out}/r.html"], 2,
     "is a directory"),
    ("report empty input", ["report", "--input", "{in}/empty.csv", "-o", "{out}/r.html"], 2,
     "is empty"),
    ("report not inventory", ["report", "--input", "{in}/notinv.csv", "-o", "{out}/r.html"],
     2, "not an inventory"),
    ("report junk parquet", ["report", "--input", "{in}/junk.parquet", "-o", "{out}/r.html"],
     2, "cannot be read"),
    ("report txt input", ["report", "--input", "{in}/plain.txt", "-o", "{out}/r.html"], 2,
     "--input"),
    ("report txt output", ["report", "--input", "{in}/inventory.csv", "-o", "{out}/r.txt"], 2,
     ".html"),
    ("report demo and input", ["report", "--demo", "--input", "{in}/inventory.csv",
                               "-o", "{out}/r.html"], 2, "not both"),
    ("report images 0", ["report", "--demo", "--images", "0", "-o", "{out}/r.html"], 2,
     "--images"),
    ("report max-items -1", ["report", "--demo", "--images", "20", "--max-items", "-1",
                             "-o", "{out}/r.html"], 2, "--max-items"),
    # ---- dashboard, serve: ports and passwords, before any loading
    ("dashboard busy port", ["dashboard", "--demo", "--images", "20", "--port", "{busy}"], 2,
     "in use"),
    ("dashboard short password", ["dashboard", "--demo", "--images", "20",
                                  "--password", "abc12"], 2, "8 characters"),
    ("dashboard empty password", ["dashboard", "--demo", "--password", ""], 2,
     "8 characters"),
    ("dashboard port range", ["dashboard", "--demo", "--port", "70000"], 2, "--port"),
    ("dashboard bad host", ["dashboard", "--demo", "--host", "no-such-host.invalid",
                            "--port", "8999"], 2, "--host"),
    ("dashboard no endpoint", ["dashboard"], 2, "--endpoint"),
    ("serve busy port", ["serve", "--port", "{busy}"], 2, "in use"),
    ("serve images -1", ["serve", "--images", "-1"], 2, "--images"),
    # ---- usage: where the servers and volumes are, before any request
    ("usage no -o", ["usage", *C], 2, "'--output'"),
    ("usage unknown ext", ["usage", *C, "-o", "{out}/u.xlsx"], 2, ".csv or .parquet"),
    ("usage report ext", ["usage", *C, *OUT, "--report", "{out}/r.txt"], 2, ".html"),
    ("usage glance without compute", ["usage", *G, *OUT], 2, "--compute-endpoint"),
    ("usage bad volume endpoint", ["usage", *C, "--volume-endpoint", "nope", *OUT], 2,
     "--volume-endpoint"),
    ("usage endpoint and cloud", ["usage", *C, "--cloud", "x", *OUT], 2, "not both"),
    ("usage unknown cloud", ["usage", "--cloud", "no-such-cloud", *OUT], 2, "--cloud"),
    ("usage wrong token", ["usage", "--endpoint", "{url}", "--project-id", "{project}",
                           "--token", "wrong-token-123", *OUT], 1, "token"),
    # ---- demo, notebooks: directories
    ("demo out is a file", ["demo", "--out", "{in}/plain.txt"], 2, "is a file"),
    ("demo out under file", ["demo", "--out", "{in}/plain.txt/d"], 2, "is a file"),
    ("demo images 0", ["demo", "--images", "0", "--out", "{out}/d"], 2, "--images"),
    ("notebooks file", ["notebooks", "{in}/plain.txt"], 2, "is a file"),
    ("notebooks missing arg", ["notebooks"], 2, "DIRECTORY"),
    ("notebooks exist", ["notebooks", "{in}/nb"], 1, "--force"),
]


def _fill(args, server, base, out, busy):
    values = {"url": server.url, "project": server.project_id, "endpoint": server.endpoint,
              "glance": server.glance_endpoint, "ims": server.ims_endpoint, "in": str(base),
              "out": str(out), "busy": str(busy)}
    return [a.format(**values) if "{" in a else a for a in args]


def _tree(path: Path) -> set:
    return {p.relative_to(path) for p in path.rglob("*")}


@pytest.mark.parametrize("args, code, words", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_is_one_line(args, code, words, server, files, busy_port, tmp_path,
                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    inputs_before = _tree(files)
    env = {"OS_AUTH_TOKEN": "", "OS_CLOUD": "", "IMGFRAME_DEBUG": "",
           "OS_CLIENT_CONFIG_FILE": str(files / "plain.txt"),
           "HUAWEICLOUD_SDK_AK": "", "HUAWEICLOUD_SDK_SK": "", "CLOUD_SDK_AK": "",
           "CLOUD_SDK_SK": "", "IMGFRAME_DASHBOARD_PASSWORD": ""}
    server.stats.reset()
    result = CliRunner().invoke(main, _fill(args, server, files, out, busy_port), env=env,
                                catch_exceptions=False)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == code, result.output
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert words in lines[0], lines[0]
    assert lines[0].startswith("Error: ")
    for secret in (TOKEN, "abc12", "s3cr3t"):     # tokens, keys, passwords: never shown
        assert secret not in result.output
    if code == 2:       # bad usage is found before the first request, or any output
        assert server.stats.requests == 0, server.stats.requests
        assert result.stdout == "", result.stdout     # e.g. no "Loading the inventory ..."
    assert _tree(out) == set(), "a file was left behind"
    assert _tree(tmp_path) == {Path("out")}
    assert _tree(files) == inputs_before


# ---------------------------------------------------------------- as a real process


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "IMGFRAME_"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def _spawn(args, *, python=sys.executable, cwd=None, **env):
    return subprocess.Popen([python, "-m", "imgframe.cli", *args], cwd=cwd, env=_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.skipif(not NOPYARROW.exists(), reason="no venv without pyarrow here")
def test_parquet_without_pyarrow_is_refused_before_loading(server, tmp_path):
    args = ["export", "--endpoint", server.url, "--project-id", server.project_id,
            "--token", TOKEN, "-o", str(tmp_path / "x.parquet")]
    server.stats.reset()
    proc = _spawn(args, python=str(NOPYARROW))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    line = _one_line(err)
    assert "pyarrow" in line and "'-o' / '--output'" in line
    assert server.stats.requests == 0
    assert list(tmp_path.iterdir()) == []
    # reading one is refused as plainly
    (tmp_path / "in.parquet").write_bytes(b"PAR1")
    proc = _spawn(["report", "--input", str(tmp_path / "in.parquet"), "-o",
                   str(tmp_path / "r.html")], python=str(NOPYARROW))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "pyarrow" in _one_line(err) and "--input" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_unreachable_endpoint_is_one_line(tmp_path):
    proc = _spawn(["export", "--endpoint", "http://127.0.0.1:1", "--token", TOKEN,
                   "-o", str(tmp_path / "x.csv")])
    _, err = proc.communicate(timeout=120)     # retried in silence until the HTTP edge's fix
    assert proc.returncode == 1
    line = _one_line(err)
    assert line.startswith("Error: ") and "127.0.0.1:1" in line
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback(tmp_path):
    for how in ({"IMGFRAME_DEBUG": "1"}, {}):
        args = (["--debug"] if not how else []) + ["export", "--endpoint", "http://x",
                                                    "--token", TOKEN, "--min-ram", "-5",
                                                    "-o", str(tmp_path / "x.csv")]
        proc = _spawn(args, **how)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0 and "Traceback" in err and "--min-ram" in err


class _BlackHole:
    """A port that accepts connections and never answers: a load waits there."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        return self

    def __exit__(self, *exc):
        self.sock.close()


def _interrupt(proc, after: float) -> tuple[str, str]:
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=60)


@pytest.mark.parametrize("after", [0.3, 2.0], ids=["starting", "loading"])
def test_ctrl_c_is_one_line_and_leaves_no_file(tmp_path, after):
    with _BlackHole() as hole:
        proc = _spawn(["export", "--endpoint", hole.url, "--token", TOKEN,
                       "-o", str(tmp_path / "x.csv")], cwd=tmp_path)
        out, err = _interrupt(proc, after)
    assert proc.returncode == 130, err
    assert _one_line(err) == "imgframe: interrupted (Ctrl-C)"
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_writing_a_chart_from_a_store(tmp_path, files):
    proc = _spawn(["history", "--store", str(files / "store"), "--by", "name",
                   "-o", str(tmp_path / "h.png")], cwd=tmp_path)
    out, err = _interrupt(proc, 0.8)
    if proc.returncode == 0:           # a fast machine finished first: nothing to check
        pytest.skip("the command ended before Ctrl-C")
    assert proc.returncode == 130, err
    assert _one_line(err) == "imgframe: interrupted (Ctrl-C)"
    left = [p.name for p in tmp_path.iterdir()]
    if left:                           # Ctrl-C after the rename: the whole chart, no more
        import matplotlib.image as mpimg

        assert left == ["h.png"] and mpimg.imread(tmp_path / "h.png").shape[0] > 100


@pytest.mark.slow
def test_ctrl_c_during_the_demo_notebook(tmp_path):
    pytest.importorskip("nbclient")
    proc = _spawn(["demo", "--images", "40", "--out", str(tmp_path / "d"), "--no-progress"],
                  cwd=tmp_path)
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if "Executing notebook 1" in line or not line:
            break
    assert "Executing notebook 1" in seen, seen + proc.stderr.read()
    out, err = _interrupt(proc, 1.5)
    assert proc.returncode == 130, err
    assert _one_line(err) == "imgframe: interrupted (Ctrl-C)"
    assert not (tmp_path / "d" / "01_explore.html").exists()


# ---------------------------------------------------------------- fast help


def test_help_and_version_import_no_pandas():
    names = ["", "--help", "--version"] + [f"{c} --help" for c in main.commands]
    code = ("import sys\nfrom imgframe.cli import main\n"
            "for args in sys.argv[1:]:\n"
            "    try:\n        main(args.split())\n    except SystemExit as e:\n"
            "        assert e.code == 0, (args, e.code)\n"
            "heavy = [m for m in ('pandas', 'numpy', 'matplotlib', 'requests', 'pyarrow') "
            "if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code, *names], env=_env(), text=True,
                         capture_output=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY []"


def test_import_imgframe_still_registers_the_accessor():
    code = ("import sys, imgframe\nassert 'pandas' not in sys.modules\n"
            "import pandas as pd\nprint(hasattr(pd.DataFrame({'x': [1]}), 'images') is False, "
            "'imgframe.accessor' in sys.modules, type(imgframe.diff).__name__)")
    out = subprocess.run([sys.executable, "-c", code], env=_env(), text=True,
                         capture_output=True, check=True).stdout
    assert out.split() == ["True", "True", "function"]


# ---------------------------------------------------------------- the dashboard's password


def test_dashboard_refuses_short_passwords_and_prints_an_openable_url():
    from imgframe.dashboard import Dashboard

    with pytest.raises(imgframe.InvalidQueryError, match="at least 8") as info:
        Dashboard(lambda: None, password="short12")
    assert "short12" not in str(info.value)
    assert Dashboard(lambda: None, host="0.0.0.0", port=8050).url == "http://127.0.0.1:8050/"
    assert Dashboard(lambda: None, host="::", port=8050).url == "http://[::1]:8050/"
    assert Dashboard(lambda: None, password="long enough").password_chosen


def test_dashboard_never_echoes_a_chosen_password(monkeypatch):
    import types

    import imgframe.cli.serve_cmds as cli

    def stop(_seconds):                       # the serving loop's sleep: press Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "time", types.SimpleNamespace(sleep=stop,
                                                           perf_counter=time.perf_counter))
    secret = "my-own-secret-password"
    result = CliRunner().invoke(main, ["dashboard", "--demo", "--images", "20", "--port", "0",
                                       "--host", "0.0.0.0", "--password", secret],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    assert "http://127.0.0.1:" in result.output and "http://0.0.0.0" not in result.output


# ---------------------------------------------------------------- hints name real commands


def test_the_hints_name_commands_that_exist(files):
    result = CliRunner().invoke(main, ["diff", "--store", str(files / "store"), "nope"])
    assert "`imgframe snapshot --list`" in result.stderr
    listed = CliRunner().invoke(main, ["snapshot", "--store", str(files / "store"), "--list"],
                                catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[-1] == f"2 snapshots in {files / 'store'}"
    result = CliRunner().invoke(main, ["history", "--store", str(files / "nope")])
    assert "(imgframe snapshot --store" in result.stderr
    assert "created if missing" not in CliRunner().invoke(main, ["diff", "--help"]).output
    assert "created if missing" not in CliRunner().invoke(main, ["history", "--help"]).output
    trend_help = " ".join(CliRunner().invoke(main, ["trend", "--help"]).output.split())
    assert "--freq TEXT Spacing of the cutoffs" in trend_help and "[default: W]" in trend_help
    export_help = CliRunner().invoke(main, ["export", "--help"]).output
    for option in ("--page-size", "--max-items"):
        text = export_help.split(option, 1)[1].split("\n  -", 1)[0]
        assert len(text.split()) > 4, (option, text)


def test_a_second_demo_starts_its_store_afresh(tmp_path):
    args = ["demo", "--images", "30", "--no-notebook", "--no-progress", "--out",
            str(tmp_path / "d")]
    first = CliRunner().invoke(main, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "afresh" not in first.output
    second = CliRunner().invoke(main, args, catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert "Starting the snapshot store" in second.output and "afresh" in second.output
    assert len(imgframe.SnapshotStore(tmp_path / "d" / "inventory").list()) == 2


def test_notebooks_names_what_installs_jupyter(tmp_path):
    result = CliRunner().invoke(main, ["notebooks", str(tmp_path / "nb")],
                                catch_exceptions=False)
    assert result.exit_code == 0
    assert "jupyter lab" in result.output and "pip install jupyterlab" in result.output


def test_ctrl_c_stops_serve_as_documented():
    """`serve` and `dashboard` say "Press Ctrl-C to stop": there it is the normal end (exit 0,
    "stopped"), not an interruption."""
    proc = _spawn(["serve", "--images", "10", "--port", "0"], PYTHONUNBUFFERED="1")
    lines = []
    while not any(line.startswith("Press Ctrl-C") for line in lines):
        line = proc.stdout.readline()
        assert line, (lines, proc.stderr.read())
        lines.append(line)
    out, err = _interrupt(proc, 0.2)
    assert proc.returncode == 0 and out.strip() == "stopped" and err == ""
