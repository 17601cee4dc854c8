"""The ``imgframe`` command: demo, serve, export, report, dashboard, notebooks, trend,
snapshot, diff, history.

Errors are one line on stderr, never a traceback: bad usage exits 2 (options are checked
before the work, see :mod:`imgframe.cli_checks`), a failure at run time exits 1, Ctrl-C
exits 130. ``--debug`` (or ``IMGFRAME_DEBUG=1``) shows the traceback instead. pandas and
imgframe's heavy modules are imported inside the commands, so ``--help`` is quick.
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_while_starting(signum, frame):  # nothing to clean up yet: one line, 130
    os.write(2, b"imgframe: interrupted (Ctrl-C)\n")
    os._exit(130)


# Run as the `imgframe` program (not imported by a test or a notebook): Ctrl-C while the
# modules below load is one line too. main() puts Python's own handler back.
_PROGRAM = __name__ == "__main__" or os.path.basename(sys.argv[0] if sys.argv else "") == "imgframe"
if _PROGRAM:
    signal.signal(signal.SIGINT, _interrupted_while_starting)

import errno  # noqa: E402
import functools  # noqa: E402
import importlib.util  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import click  # noqa: E402

from imgframe import __version__, cli_checks  # noqa: E402
from imgframe.cli_checks import CHART_SUFFIXES, atomic_output, output_path  # noqa: E402
from imgframe.errors import ImgframeError, InvalidQueryError  # noqa: E402

STATUS_CHOICES = ["ACTIVE", "SAVING", "UNKNOWN"]
FREQ_CHOICES = ["D", "W", "M", "Q", "Y"]
EXIT_INTERRUPTED = 130


class _Command(click.Command):
    """Turn imgframe's errors into one line: a refused parameter is bad usage (exit 2,
    named as the option is typed), any other imgframe or OS error a failure (exit 1)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except InvalidQueryError as exc:
            raise click.UsageError(cli_checks.option_error(exc, ctx), ctx=ctx) from exc
        except ImgframeError as exc:
            raise click.ClickException(_one_line(exc)) from exc
        except OSError as exc:
            if exc.errno == errno.EPIPE:    # `imgframe ... | head`: click ends it quietly
                raise
            raise click.ClickException(_one_line(exc)) from exc
        except KeyboardInterrupt as exc:  # before click turns it into a blank line + Abort
            raise _Interrupted() from exc


class _Interrupted(click.ClickException):
    exit_code = EXIT_INTERRUPTED

    def __init__(self):
        super().__init__("interrupted (Ctrl-C)")


class _Group(click.Group):
    """One line on stderr for every failure of every command; see the module docstring."""

    command_class = _Command

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        _STATE["debug"] = os.environ.get("IMGFRAME_DEBUG", "") not in ("", "0")
        if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _one_line_warning
                code = super().main(args, prog_name, complete_var, standalone_mode=False,
                                    **extra)
        except _NO_ARGS as exc:   # bare `imgframe`: the help, as click < 8.2 gave it
            click.echo(exc.ctx.get_help())
            _exit(0)
        except (KeyboardInterrupt, click.Abort, _Interrupted):
            click.echo("imgframe: interrupted (Ctrl-C)", err=True)
            _exit(EXIT_INTERRUPTED)
        except click.ClickException as exc:
            if _STATE["debug"]:
                raise
            click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
            _exit(exc.exit_code)
        except Exception as exc:  # a bug: still one line, the traceback on request
            if _STATE["debug"]:
                raise
            click.echo(f"Error: {type(exc).__name__}: {_one_line(exc)[:300]} (unexpected; "
                       "--debug or IMGFRAME_DEBUG=1 shows the traceback)", err=True)
            _exit(1)
        _exit(code if isinstance(code, int) else 0)


_STATE = {"debug": False}


def _exit(code: int):
    """Exit with ``code``; as the program, a Ctrl-C from here on no longer interrupts the
    interpreter's shutdown (which would print a traceback after the work is done)."""
    if _PROGRAM:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _one_line(exc) -> str:
    return " ".join(str(exc).split())


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"Warning: {_one_line(message)}", err=True)


def _set_debug(ctx, param, value):
    if value:
        _STATE["debug"] = True
    return value


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="imgframe")  # no metadata scan
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
              help="Show a traceback on failure (or set IMGFRAME_DEBUG=1).")
def main():
    """imgframe: a cloud's image catalogue as typed pandas DataFrames."""


def _chart(draw, path: Path) -> Path:
    """Draw on a fresh 9x4.5in Axes with ``draw(ax)`` and write it as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imgframe import plotting

    fig, ax = plt.subplots(figsize=(9, 4.5))
    try:
        draw(ax)
        fig.tight_layout()
        with atomic_output(path) as tmp:
            plotting.save(fig, tmp, dpi=110, close=False)
    finally:
        plt.close(fig)
    return path


# --------------------------------------------------------------------------- serve


def _aksk_pairs(ctx, param, values) -> dict[str, str]:
    """``--aksk AK:SK`` (repeatable) as ``{AK: SK}``; the secret key is never echoed."""
    pairs: dict[str, str] = {}
    for value in values:
        ak, sep, sk = value.partition(":")
        if not (sep and ak.strip() and sk.strip()):
            what = "no ':'" if not sep else ("an empty access key" if not ak.strip()
                                             else "an empty secret key")
            raise click.BadParameter(f"must be AK:SK (an access key, ':', a secret key), "
                                     f"got {what}")
        pairs[ak.strip()] = sk.strip()
    return pairs


@main.command()
@click.option("--images", "n_images", type=click.IntRange(0), default=1000, show_default=True,
              help="Number of sample images to serve.")
@click.option("--port", type=click.IntRange(0, 65535), default=8774, show_default=True,
              callback=cli_checks.free_port("127.0.0.1"),
              help="TCP port on 127.0.0.1 (0 picks a free one).")
@click.option("--token", default=None, help="Require this X-Auth-Token (default: no auth).")
@click.option("--seed", type=int, default=0, show_default=True, help="Catalogue seed.")
@click.option("--max-limit", type=click.IntRange(1), default=1000, show_default=True,
              help="Nova's [api] max_limit: the page size that earns a next link.")
@click.option("--link-prefix", default=None,
              help="Like Nova's compute_link_prefix, e.g. https://compute.example.com:443")
@click.option("--api-limit-max", type=click.IntRange(1), default=1000, show_default=True,
              help="Glance's api_limit_max: larger limits are cut to it silently.")
@click.option("--ims-max-limit", type=click.IntRange(1), default=200, show_default=True,
              help="The largest IMS cloudimages page (larger limits cut silently).")
@click.option("--ims-page-info/--no-ims-page-info", default=False, show_default=True,
              help="Send page_info.next_marker on full IMS pages.")
@click.option("--aksk", metavar="AK:SK", multiple=True, callback=_aksk_pairs,
              help="Require IMS requests signed (SDK-HMAC-SHA256) by this access key and "
                   "secret key. Repeatable.")
def serve(n_images, port, token, seed, max_limit, link_prefix, api_limit_max, ims_max_limit,
          ims_page_info, aksk):
    """Serve a sample catalogue until Ctrl-C: Nova's images proxy, Glance v2, Huawei IMS."""
    from imgframe.server import ImageServer, sample_inventory

    inventory = sample_inventory(n_images, seed=seed)
    with ImageServer(inventory, port=port, token=token, max_limit=max_limit,
                     link_prefix=link_prefix, api_limit_max=api_limit_max,
                     ims_max_limit=ims_max_limit, ims_page_info=ims_page_info,
                     aksk=aksk or None) as srv:
        click.echo(f"Serving {n_images} sample images (seed {seed})")
        click.echo(f"  root:              {srv.url}")
        click.echo(f"  compute endpoint:  {srv.endpoint}")
        click.echo(f"  glance endpoint:   {srv.glance_endpoint}")
        click.echo(f"  ims endpoint:      {srv.ims_endpoint}")
        click.echo(f"  keystone endpoint: {srv.auth_url}")
        click.echo(f"  project id:        {srv.project_id}")
        auth = " -H 'X-Auth-Token: <token>'" if token else ""
        click.echo(f"  try: curl '{srv.endpoint}/images/detail?limit=2'{auth}")
        click.echo(f"       curl '{srv.glance_endpoint}/v2/images?limit=2'{auth}")
        if aksk:       # a signature curl cannot make: the access keys, never a secret
            click.echo(f"       imgframe export --source ims --endpoint {srv.ims_endpoint} "
                       f"--project-id {srv.project_id} --ak AK --sk SK -o ims.csv")
            click.echo(f"  IMS needs AK/SK signatures (SDK-HMAC-SHA256) by: {', '.join(aksk)}")
        else:
            click.echo(f"       curl '{srv.ims_endpoint}/v2/cloudimages?limit=2'{auth}")
        click.echo("Press Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("stopped")


# --------------------------------------------------------------------------- demo


@main.command()
@click.option("--images", "n_images", type=click.IntRange(1), default=3000, show_default=True,
              help="Number of sample images in the embedded catalogue.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("imgframe-demo"), show_default=True, callback=cli_checks.writable_dir,
              help="Output directory (its files are replaced; its snapshot store starts "
                   "afresh).")
@click.option("--seed", type=int, default=0, show_default=True, help="Catalogue seed.")
@click.option("--notebook/--no-notebook", default=True, show_default=True,
              help="Also execute notebook 1 and write it as HTML.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar (default: on in a terminal).")
def demo(n_images, out_dir, seed, notebook, progress):
    """Load a sample catalogue from the embedded endpoint; write CSV, charts and HTML."""
    import imgframe
    from imgframe import plotting
    from imgframe.server import ImageServer, sample_inventory

    out_dir.mkdir(parents=True, exist_ok=True)
    token = "demo-" + os.urandom(8).hex()
    click.echo(f"Starting the embedded endpoint with {n_images} sample images ...")
    with ImageServer(sample_inventory(n_images, seed=seed), token=token) as srv:
        client = imgframe.Client(srv.url, srv.project_id, token=token)
        started = time.perf_counter()
        df = client.load(progress=progress)
        elapsed = time.perf_counter() - started
        info = df.attrs.get("imgframe", {})
        csv_path = out_dir / "inventory.csv"
        imgframe.to_csv(df, csv_path)

        # One cutoff per month start across the catalogue's update times.
        start = df["updated"].min().normalize().replace(day=1) if len(df) else None
        trend = imgframe.changes_since_trend(client, start=start, freq="M")
        written = {"inventory.csv": csv_path}
        for name, draw in (
            ("status.png", lambda ax: plotting.status_plot(df, ax=ax)),
            ("changes.png", lambda ax: plotting.changes_plot(df, freq="M", by="status", ax=ax)),
            ("trend.png", lambda ax: plotting.trend_plot(trend, ax=ax)),
        ):
            written[name] = _chart(draw, out_dir / name)

        written["report.html"] = imgframe.report(df, out_dir / "report.html")
        try:
            import pyarrow  # noqa: F401  (snapshots are Parquet)
        except ImportError:
            history_note = ("snapshots, refresh and diff skipped: they need pyarrow "
                            "(pip install 'imgframe[demo]')")
        else:
            history_note = _demo_history(client, srv, df, out_dir, written, progress)

        html_note = None
        if notebook:
            try:
                from imgframe.notebook import notebook_path

                missing = [m for m in ("nbclient", "nbformat", "nbconvert", "ipykernel")
                           if importlib.util.find_spec(m) is None]
                if missing:
                    raise ImportError(f"No module named {missing[0]!r}")
                # Notebook 1 runs against this same endpoint, whatever the user's OS_CLOUD.
                env = {"OS_CLOUD": "", "IMGFRAME_ENDPOINT": srv.url,
                       "IMGFRAME_PROJECT_ID": srv.project_id, "OS_AUTH_TOKEN": token}
                click.echo("Executing notebook 1 for the HTML copy ...")
                html_note = _render_notebook(notebook_path("01_explore"),
                                             out_dir / "01_explore.html", env, out_dir)
                if html_note is None:
                    written["01_explore.html"] = out_dir / "01_explore.html"
            except _NotebookFailed as exc:
                html_note = str(exc)
            except ImportError as exc:  # the notebook extra is not installed
                html_note = (f"notebook HTML skipped: {exc} "
                             "(pip install 'imgframe[notebook]')")
            except FileNotFoundError as exc:  # a broken install without its package data
                html_note = f"notebook HTML skipped: {exc}"

    # usage.csv: which images the sample cloud's servers and volumes use (imgframe.cli_usage)
    from imgframe.cli_usage import demo_usage
    written["usage.csv"], usage_note = demo_usage(n_images, seed, out_dir, progress)

    counts = df.images.status_counts()
    click.echo("")
    counters = ", ".join(_plural(info.get(key, 0), word)
                         for key, word in (("pages", "page"), ("requests", "request"),
                                           ("retries", "retry")))
    click.echo(f"Loaded {len(df)} images in {elapsed:.2f} s ({counters})")
    click.echo("Images by status: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if len(df):
        click.echo(f"Newest update: {df['updated'].max():%Y-%m-%d %H:%M:%S} UTC; "
                   f"oldest update: {df['updated'].min():%Y-%m-%d %H:%M:%S} UTC")
    first, last = trend["images"].iloc[0], trend["images"].iloc[-1]
    click.echo(f"Changes-since trend: {first} images changed since "
               f"{trend['cutoff'].iloc[0]:%Y-%m-%d}, {last} since "
               f"{trend['cutoff'].iloc[-1]:%Y-%m-%d}")
    click.echo(history_note)
    click.echo(usage_note)
    click.echo("Wrote:")
    what = {
        "inventory.csv": "every image, spreadsheet-safe CSV",
        "status.png": "images per status",
        "changes.png": "images updated per month, stacked by status",
        "trend.png": "images changed since each month start (server-side changes-since)",
        "report.html": "the inventory as one interactive page (opens offline, no Jupyter)",
        "inventory/": "a snapshot store: the load, then the refresh after the changes",
        "diff.csv": "what changed between the two snapshots, spreadsheet-safe CSV",
        "history.png": "images per status over the store's snapshots",
        "01_explore.html": "notebook 1 executed, with the explorer widget",
        "usage.csv": "which images the sample cloud's servers and volumes use, and why",
    }
    for name, path in written.items():
        click.echo(f"  {path}  ({what[name]})")
    if html_note:
        click.echo(html_note)


_RENDER = ("import sys\nfrom imgframe.notebook import render_html\n"
           "render_html(sys.argv[1], sys.argv[2], cwd=sys.argv[3])\n")


def _render_notebook(notebook: Path, html: Path, env: dict, cwd: Path) -> str | None:
    """Execute ``notebook`` and write it as ``html`` in a child process: its kernel's and
    nbclient's messages stay there (Ctrl-C stops the child, which shuts its kernel down,
    and then this process: one line). Returns None, or a line saying why it failed."""
    import subprocess

    import imgframe

    where = str(Path(imgframe.__file__).resolve().parents[1])   # this same imgframe
    child_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(
        [where] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    with atomic_output(html) as tmp:
        proc = subprocess.Popen([sys.executable, "-c", _RENDER, str(notebook), str(tmp),
                                 str(cwd)], env=child_env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            _, err = proc.communicate()
        except BaseException:             # Ctrl-C: let the child shut its kernel down
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
            raise
        if proc.returncode != 0:
            last = [line for line in err.splitlines() if line.strip()] or ["no message"]
            raise _NotebookFailed(f"notebook HTML failed: {_one_line(last[-1])[:300]}")
    return None


class _NotebookFailed(Exception):
    pass


def _demo_history(client, srv, df, out_dir: Path, written: dict, progress) -> str:
    """The demo's inventory over time: snapshot ``df`` into ``<out>/inventory/``, change the
    embedded catalogue (3 updates, 2 removals, 2 additions), refresh, snapshot again, and
    write ``diff.csv`` and ``history.png``. Returns a summary line."""
    import shutil

    import imgframe
    from imgframe import history_plots

    where = out_dir / "inventory"
    if (where / "manifest.json").is_file():     # an earlier demo's store: start afresh
        shutil.rmtree(where)
        click.echo(f"Starting the snapshot store {where} afresh (an earlier demo's was there)")
    store = imgframe.SnapshotStore(where)
    first = store.save(df)
    ids = df["id"].to_numpy(dtype=object).tolist()
    if len(ids) >= 5:
        srv.update_image(ids[0], name=f"{df['name'].iloc[0] or 'image'} (renamed)")
        srv.update_image(ids[1], status="deactivated")
        srv.update_image(ids[2], properties={"demo": "changed"})
        for image_id in ids[3:5]:
            srv.remove_image(image_id)
    for k in range(2):
        srv.add_image({"id": f"demo-added-{k}", "name": f"demo added {k}", "status": "active",
                       "min_ram": 512, "min_disk": 10, "size": 2**30,
                       "visibility": "public", "tags": ["demo"],
                       "properties": {"os_distro": "ubuntu"}})
    later = client.refresh(df, progress=progress)
    second = store.save(later)
    d = imgframe.diff(store.load(id=first), store.load(id=second))
    written["inventory/"] = store.path
    imgframe.to_csv(d, out_dir / "diff.csv")
    written["diff.csv"] = out_dir / "diff.csv"
    table = store.history(query=later)
    written["history.png"] = _chart(lambda ax: history_plots.history_plot(table, ax=ax),
                                    out_dir / "history.png")
    info = later.attrs["imgframe"]
    return (f"Refreshed after changing the catalogue ({info['refresh']['mode']}, "
            f"{_plural(info['requests'], 'request')}): "
            f"{_counts_line(d.attrs['imgframe_diff']['counts'])}")


# --------------------------------------------------------------------------- export/trend


SOURCE_CHOICES = ("nova", "glance", "ims", "auto")
_SOURCE_OPTIONS = ("source", "ak", "sk", "security_token")


def _connection_options(func=None, *, many: bool = False):
    """The options that say where and how to connect. ``--source`` and the AK/SK options
    are read by :func:`_client` from the click context, so commands take only the five.
    ``--cloud`` is repeatable; a command not made ``many=True`` refuses several and gets
    one name (or None)."""
    if func is None:
        return functools.partial(_connection_options, many=many)
    options = [
        click.option("--endpoint", default=None,
                     help="The API root: compute (https://host:8774 or .../v2.1/{project_id}), "
                          "Glance (https://host:9292) or IMS (https://ims.REGION."
                          "myhuaweicloud.com)."),
        click.option("--project-id", default=None, help="Project id (unless in the endpoint)."),
        click.option("--token", envvar="OS_AUTH_TOKEN", default=None, show_envvar=True,
                     help="X-Auth-Token to send."),
        click.option("--cloud", multiple=True,
                     help="Name in clouds.yaml (needs imgframe[openstack]); or OS_CLOUD."
                          + (" Repeatable: one frame over every cloud (and --region)."
                             if many else "")),
        click.option("--insecure", is_flag=True, help="Do not verify TLS certificates."),
        click.option("--source", type=click.Choice(SOURCE_CHOICES, case_sensitive=False),
                     default="nova", show_default=True,
                     help="The API to read: Nova's compute proxy, Glance v2, Huawei IMS, or "
                          "auto (with --cloud: the proxy, Glance where it is gone)."),
        click.option("--ak", default=None,
                     help="Huawei access key (IMS; or HUAWEICLOUD_SDK_AK)."),
        click.option("--sk", default=None,
                     help="Huawei secret key (IMS; or HUAWEICLOUD_SDK_SK; never printed)."),
        click.option("--security-token", default=None,
                     help="Huawei temporary security token (IMS; or "
                          "HUAWEICLOUD_SDK_SECURITY_TOKEN)."),
    ]

    @functools.wraps(func)
    def command(*args, **kwargs):
        for name in _SOURCE_OPTIONS:
            kwargs.pop(name, None)
        clouds = tuple(kwargs.get("cloud") or ())
        if not many:
            if len(clouds) > 1:
                raise click.UsageError(f"this command reads one cloud; --cloud was given "
                                       f"{len(clouds)} times ({', '.join(clouds)}); "
                                       f"'imgframe export' takes several")
            kwargs["cloud"] = clouds[0] if clouds else None
        return func(*args, **kwargs)

    for option in reversed(options):
        command = option(command)
    return command


def _demo_options(verb: str):
    """``--demo`` (the embedded sample catalogue instead of a cloud), ``--images``, ``--seed``."""
    def decorate(func):
        func = click.option("--seed", type=int, default=0, show_default=True,
                            help="With --demo: seed.")(func)
        func = click.option("--images", "n_images", type=click.IntRange(1), default=3000,
                            show_default=True, help="With --demo: number of sample images.")(func)
        return click.option("--demo", is_flag=True,
                            help=f"{verb} the embedded sample catalogue instead.")(func)
    return decorate


def _plural(n: int, word: str) -> str:
    """``_plural(1, "page") == "1 page"``; ``_plural(2, "retry") == "2 retries"``."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def _signs(source: str) -> bool:
    """Whether ``source`` signs its requests with AK/SK (its module says; "auto" does not)."""
    from imgframe import sources

    return source in sources.NAMES and sources.get(source).signing


def _client(endpoint, project_id, token, cloud, insecure):
    import imgframe

    ctx = click.get_current_context()
    params = ctx.params
    source = (params.get("source") or "nova").lower()
    ak, sk, security_token = params.get("ak"), params.get("sk"), params.get("security_token")
    token_given = ctx.get_parameter_source("token") == click.core.ParameterSource.COMMANDLINE
    if cloud and (endpoint or token_given):
        raise click.UsageError("give either --cloud, or --endpoint with --token, not both")
    signs = _signs(source)
    if (ak or sk or security_token) and not signs:
        raise click.UsageError("--ak/--sk/--security-token sign Huawei IMS requests: "
                               "use them with --source ims")
    cloud = cloud or (None if endpoint else os.environ.get("OS_CLOUD"))
    if cloud:
        if signs:
            raise click.UsageError(f"--source {source} reads a Huawei endpoint: give --endpoint "
                                   "(with --ak/--sk or --token), not --cloud")
        return imgframe.Client.from_cloud(cloud, source=source)
    if source == "auto":
        raise click.UsageError("--source auto needs --cloud (the catalog names both "
                               "the compute proxy and Glance)")
    if not endpoint:
        raise click.UsageError("give --endpoint (with --token or OS_AUTH_TOKEN) or --cloud")
    if signs:
        if token and (ak or sk):
            raise click.UsageError("give --token or --ak/--sk, not both")
        if not (token or ak or sk or any(os.environ.get(n) for n in (
                "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "CLOUD_SDK_AK", "CLOUD_SDK_SK"))):
            raise click.UsageError(f"--source {source} needs credentials and none were given: "
                                   "--ak and --sk (or HUAWEICLOUD_SDK_AK and "
                                   "HUAWEICLOUD_SDK_SK), or --token (or OS_AUTH_TOKEN)")
        return imgframe.Client(endpoint, project_id, source=source, token=token, ak=ak, sk=sk,
                               security_token=security_token, verify=not insecure)
    if not token:
        raise click.UsageError("give --token (or set OS_AUTH_TOKEN) with --endpoint")
    return imgframe.Client(endpoint, project_id, source=source, token=token,
                           verify=not insecure)


@main.command()
@_connection_options(many=True)
@click.option("--region", "regions", multiple=True,
              help="With --cloud: a region to read in each cloud (repeatable).")
@click.option("--allow-partial", is_flag=True,
              help="With several sources: write what loaded when some fail (exit 0).")
@click.option("--status", multiple=True, type=click.Choice(STATUS_CHOICES, case_sensitive=False),
              help="Status to keep (repeatable).")
@click.option("--name", default=None, help="Exact image name.")
@click.option("--changes-since", default=None, help="ISO 8601 time or date (UTC if naive).")
@click.option("--min-ram", type=int, default=None, help="minRam, MB (exact match on Nova).")
@click.option("--min-disk", type=int, default=None, help="minDisk, GB (exact match on Nova).")
@click.option("--visibility", default=None,
              help="Glance/IMS: public, private, shared, community (Glance) or all.")
@click.option("--hidden/--not-hidden", default=None,
              help="Glance: only hidden images, or only the others (default: both).")
@click.option("--owner", default=None, help="Glance/IMS: the owning project id.")
@click.option("--tag", multiple=True, help="Glance/IMS: a tag the images must carry "
                                           "(repeatable on Glance: all must match).")
@click.option("--list", "list_only", is_flag=True, help="List view only (id, name, links).")
@click.option("--page-size", type=int, default=1000, show_default=True,
              help="Images asked for per request (the server may cap it: Nova's max_limit, "
                   "Glance's api_limit_max).")
@click.option("--max-items", type=int, default=None,
              help="Stop after this many images (the file then says it is truncated).")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Requests in flight at once for one source (1 to 32): Glance and IMS "
                   "page created_at ranges concurrently, Nova its status streams; 1 is one "
                   "walk, resumable by marker.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              callback=output_path(".csv", ".parquet"),
              help="File to write: .csv (spreadsheet-safe CSV) or .parquet (needs pyarrow).")
@click.option("--progress/--no-progress", default=None)
def export(endpoint, project_id, token, cloud, insecure, regions, allow_partial, status, name,
           changes_since, min_ram, min_disk, visibility, hidden, owner, tag, list_only,
           page_size, max_items, workers, output, progress):
    """Load a real cloud's images and write them as spreadsheet-safe CSV (or Parquet).

    Several --cloud (or --region) give one file with cloud, region and project_id columns.
    """
    import imgframe

    filters = {"status": list(status) or None, "name": name, "changes_since": changes_since,
               "min_ram": min_ram, "min_disk": min_disk, "visibility": visibility,
               "hidden": hidden, "owner": owner, "tag": list(tag) or None,
               "detail": not list_only, "page_size": page_size, "max_items": max_items}
    missing = ""
    if len(cloud) > 1 or regions:
        if workers != 1:
            raise click.UsageError("--workers is for one source (several --cloud/--region "
                                   "sources are loaded side by side already)")
        df, missing = _load_many(endpoint, token, cloud, regions, allow_partial, filters)
    else:
        if allow_partial:
            raise click.UsageError("--allow-partial is for several --cloud/--region sources")
        client = _client(endpoint, project_id, token, cloud[0] if cloud else None, insecure)
        df = client.load(progress=progress, workers=workers, **filters)
    with atomic_output(output) as tmp:
        if output.suffix.lower() == ".parquet":
            from imgframe.export import to_parquet

            to_parquet(df, tmp)
        else:
            imgframe.to_csv(df, tmp)
    info = df.attrs.get("imgframe", {})
    note = " (truncated by --max-items)" if info.get("truncated") else ""
    if info.get("sources"):
        loaded = [e for e in info["sources"] if not e.get("error")]
        note += f" from {_plural(len(loaded), 'source')}"
        if len(loaded) < len(info["sources"]):
            note += f" of {len(info['sources'])}"
    click.echo(f"Wrote {len(df)} images to {output}{note}")
    if missing:
        click.echo(f"Missing: {missing}", err=True)


def _load_many(endpoint, token, clouds, regions, allow_partial, filters):
    """``export`` over several clouds/regions: (frame, one-line summary of what failed)."""
    import imgframe

    params = click.get_current_context().params
    if endpoint or _signs((params.get("source") or "nova").lower()):
        raise click.UsageError("several sources come from clouds.yaml: give --cloud (one or "
                               "more, with --region), not --endpoint or --source ims")
    if not clouds:
        clouds = (os.environ.get("OS_CLOUD"),) if os.environ.get("OS_CLOUD") else ()
    if not clouds:
        raise click.UsageError("--region needs --cloud (or OS_CLOUD)")
    source = (params.get("source") or "nova").lower()
    specs = [imgframe.LoadSpec(cloud=c, region=r, source=source)
             for c in clouds for r in (regions or (None,))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", imgframe.PartialLoadWarning)
            df = imgframe.load_many(specs, strict=not allow_partial, **filters)
    except imgframe.PartialLoadError as exc:
        raise click.ClickException(_failed_line(exc.failures)) from None
    failed = {e["key"]: e["error"] for e in df.attrs["imgframe"]["sources"] if e.get("error")}
    return df, _failed_line(failed) if failed else ""


def _failed_line(failures: dict) -> str:
    """``"2 sources failed: a (TransportError), b/r2 (AuthError)"``, on one line."""
    import textwrap

    bits = [f"{k} ({v['type']}: {textwrap.shorten(v['message'], 240, placeholder=' ...')})"
            for k, v in failures.items()]      # shortened between words, never inside one
    return f"{_plural(len(bits), 'source')} failed: " + "; ".join(bits)


@main.command()
@_connection_options
@_demo_options("Report on")
@click.option("--input", "input_path", type=click.Path(path_type=Path), default=None,
              callback=cli_checks.input_file(".csv", ".parquet"),
              help="Report on a file written by `imgframe export` (.csv or .parquet).")
@click.option("--max-items", type=int, default=None, help="Load at most this many images.")
@click.option("--title", default=None, help="Page title (default: images and project).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("report.html"),
              show_default=True, callback=output_path(".html", ".htm", what="an HTML page"),
              help="HTML file to write.")
@click.option("--progress/--no-progress", default=None)
def report(endpoint, project_id, token, cloud, insecure, demo, n_images, seed, input_path,
           max_items, title, output, progress):
    """Write the inventory as one self-contained, interactive HTML page (works offline)."""
    import imgframe

    if demo and input_path:
        raise click.UsageError("give --demo or --input, not both")
    if input_path is not None:
        df = cli_checks.read_inventory(input_path)
    elif demo:
        from imgframe.server import ImageServer, sample_inventory

        demo_token = "demo-" + os.urandom(8).hex()
        with ImageServer(sample_inventory(n_images, seed=seed), token=demo_token) as srv:
            df = imgframe.Client(srv.url, srv.project_id, token=demo_token).load(
                max_items=max_items, progress=progress)
    else:
        client = _client(endpoint, project_id, token, cloud, insecure)
        df = client.load(max_items=max_items, progress=progress)
    with atomic_output(output) as tmp:
        imgframe.report(df, tmp, title=title)
    path = output
    info = df.attrs.get("imgframe", {})
    note = " (truncated by --max-items)" if info.get("truncated") else ""
    click.echo(f"Wrote a report of {len(df)} images to {path} "
               f"({path.stat().st_size / 1e6:.1f} MB){note}")


@main.command()
@_connection_options
@_demo_options("Serve")
@click.option("--max-items", type=int, default=None, help="Load at most this many images.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; mind who can reach it).")
@click.option("--port", type=click.IntRange(0, 65535), default=8050, show_default=True,
              help="TCP port (0 picks a free one).")
@click.option("--password", envvar="IMGFRAME_DASHBOARD_PASSWORD", default=None,
              show_envvar=True, callback=cli_checks.password,
              help="What viewers must give, 8 characters or more (default: a random one, "
                   "printed; a chosen one is never printed).")
@click.option("--title", default=None, help="Page title.")
def dashboard(endpoint, project_id, token, cloud, insecure, demo, n_images, seed, max_items,
              host, port, password, title):
    """Serve the inventory live (the report's page, shared, with Reload) until Ctrl-C."""
    import contextlib

    import imgframe
    from imgframe.dashboard import Dashboard

    for option, why in (("--host", cli_checks.host_known(host)),     # before any loading
                        ("--port", cli_checks.port_free(host, port))):
        if why:
            raise click.BadParameter(why, param_hint=f"'{option}'")
    with contextlib.ExitStack() as stack:
        if demo:
            from imgframe.server import ImageServer, sample_inventory

            demo_token = "demo-" + os.urandom(8).hex()
            srv = stack.enter_context(ImageServer(sample_inventory(n_images, seed=seed),
                                                  token=demo_token))
            client = imgframe.Client(srv.url, srv.project_id, token=demo_token)
        else:
            client = _client(endpoint, project_id, token, cloud, insecure)
        dash = Dashboard(client, host=host, port=port, password=password, title=title,
                         load_options={"max_items": max_items} if max_items else None)
        try:
            click.echo("Loading the inventory ...")
            stack.enter_context(dash)
            click.echo(f"Serving {dash.status()['rows']} images at {dash.url}")
            if password:                  # the user's own: never echoed, not even in a URL
                click.echo(f"  open:     {dash.url}  (log in with the password you gave)")
            else:
                click.echo(f"  open:     {dash.login_url}")
                click.echo(f"  password: {dash.password} (generated; give --password or "
                           "IMGFRAME_DASHBOARD_PASSWORD to choose one)")
            if host not in ("127.0.0.1", "localhost", "::1"):
                import socket

                where = (f"from elsewhere: http://{socket.gethostname()}:{dash.port}/ (or "
                         "this machine's address)") if host in ("0.0.0.0", "::") else ""
                click.echo(f"  listening on {host}: anyone who can reach it and has the "
                           f"password sees the inventory (plain HTTP: put TLS in front)"
                           + (f"; {where}" if where else ""))
            click.echo("Press Ctrl-C to stop.")
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("stopped")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path),
                callback=cli_checks.writable_dir)
@click.option("--force", is_flag=True, help="Overwrite notebooks already in DIRECTORY.")
def notebooks(directory, force):
    """Copy the shipped notebooks into DIRECTORY (to open them in Jupyter)."""
    import shutil

    from imgframe.notebook import NOTEBOOKS, notebooks_dir

    source = notebooks_dir()
    targets = [directory / f"{name}.ipynb" for name in NOTEBOOKS]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise click.ClickException(
            f"{', '.join(str(t) for t in existing)} already exist"
            f"{'s' if len(existing) == 1 else ''}; give --force to overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    for target in targets:
        shutil.copyfile(source / target.name, target)
    click.echo(f"Copied {len(targets)} notebooks to {directory}: "
               + ", ".join(t.name for t in targets))
    click.echo(f"  open them with: jupyter lab {directory}  (JupyterLab: pip install jupyterlab; "
               "the notebooks need pip install 'imgframe[notebook]')")


@main.command()
@_connection_options
@click.option("--start", default=None, help="First cutoff (default: a year before --end).")
@click.option("--end", default=None, help="Last cutoff (default: today 00:00 UTC).")
@click.option("--freq", default="W", show_default=True,
              callback=cli_checks.choice_upper(FREQ_CHOICES),
              help="Spacing of the cutoffs: D (day), W (week), M (month), Q (quarter) or "
                   "Y (year); any case.")
@click.option("--status", default=None,
              type=click.Choice(STATUS_CHOICES, case_sensitive=False),
              help="Count only images with this status.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Cutoffs counted at once (one request stream each).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("trend.png"),
              show_default=True, callback=output_path(*CHART_SUFFIXES, what="a chart"),
              help="Chart to write (.png, .svg or .pdf).")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None,
              callback=output_path(".csv"), help="Also write the trend table as CSV.")
def trend(endpoint, project_id, token, cloud, insecure, start, end, freq, status, workers, output,
          csv_path):
    """Chart how many images changed since each cutoff (server-side changes-since)."""
    import imgframe
    from imgframe import plotting

    client = _client(endpoint, project_id, token, cloud, insecure)
    table = imgframe.changes_since_trend(client, start=start, end=end, freq=freq.upper(),
                                         status=status, workers=workers)
    _chart(lambda ax: plotting.trend_plot(table, ax=ax), output)
    with atomic_output(csv_path) as tmp:
        if tmp is not None:
            table.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    click.echo(f"{len(table)} cutoffs; chart written to {output}"
               + (f", table to {csv_path}" if csv_path else ""))


# --------------------------------------------------------------------------- snapshots


def _store_option(func=None, *, create: bool = False):
    """``--store``: ``snapshot`` creates it if missing; ``diff``/``history`` read one."""
    if func is None:
        return functools.partial(_store_option, create=create)
    return click.option("--store", "store_dir", required=True, type=click.Path(path_type=Path),
                        callback=cli_checks.writable_dir if create else cli_checks.store_dir,
                        help="Snapshot store directory" + (" (created if missing)."
                                                           if create else "."))(func)


def _counts_line(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


@main.command()
@_store_option(create=True)
@_connection_options
@click.option("--refresh", "do_refresh", is_flag=True,
              help="Refresh the store's latest snapshot (same query, only what changed).")
@click.option("--demo", "demo_images", type=click.IntRange(0), default=None,
              help="Load from an embedded sample endpoint with this many images.")
@click.option("--status", multiple=True, type=click.Choice(STATUS_CHOICES, case_sensitive=False),
              help="Status to keep (repeatable).")
@click.option("--name", default=None, help="Exact image name.")
@click.option("--list", "list_only", is_flag=True,
              help="List the store's snapshots (id, time, images, query) and exit.")
@click.option("--progress/--no-progress", default=None)
def snapshot(store_dir, endpoint, project_id, token, cloud, insecure, do_refresh, demo_images,
             status, name, list_only, progress):
    """Load images (or refresh the latest snapshot) and save a snapshot into --store."""
    import imgframe

    store = imgframe.SnapshotStore(store_dir)
    if list_only:
        listing = store.list()
        for row in listing.itertuples():
            click.echo(f"{row.id}  {row.taken_at:%Y-%m-%d %H:%M:%S} UTC  {row.rows} images"
                       f"{'' if row.complete else ' (incomplete)'}  {row.source}  {row.query}")
        click.echo(f"{_plural(len(listing), 'snapshot')} in {store_dir}")
        return
    if do_refresh:
        if status or name or demo_images is not None:
            raise click.UsageError("--refresh repeats the latest snapshot's query; drop "
                                   "--status/--name/--demo")
        old = store.load()
        if cloud or (not endpoint and os.environ.get("OS_CLOUD")):
            client = _client(endpoint, project_id, token, cloud, insecure)
        else:
            recorded = old.attrs["imgframe"]
            client = imgframe.Client(endpoint or recorded["endpoint"],
                                     project_id or recorded.get("project_id"), token=token,
                                     verify=not insecure,
                                     source=recorded.get("source", "nova"))
        df = client.refresh(old, progress=progress)
        info = df.attrs["imgframe"]["refresh"]
        how = (f"refreshed {old.attrs['imgframe']['snapshot_id']}: {info['mode']}, "
               f"{df.attrs['imgframe']['requests']} requests")
    elif demo_images is not None:
        from imgframe.server import ImageServer

        with ImageServer(demo_images) as srv:
            df = imgframe.Client(srv.url, srv.project_id).load(
                status=list(status) or None, name=name, progress=progress)
        how = "embedded sample endpoint"
    else:
        client = _client(endpoint, project_id, token, cloud, insecure)
        df = client.load(status=list(status) or None, name=name, progress=progress)
        how = f"{df.attrs['imgframe']['requests']} requests"
    sid = store.save(df)
    click.echo(f"Saved snapshot {sid}: {len(df)} images ({how}) in {store_dir}")


@main.command(name="diff")
@_store_option
@click.argument("old_id", required=False)
@click.argument("new_id", required=False)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("diff.csv"),
              show_default=True, callback=output_path(".csv"), help="CSV to write.")
@click.option("--allow-incomplete", is_flag=True,
              help="Compare incomplete snapshots anyway (removals are then not reported).")
def diff_command(store_dir, old_id, new_id, output, allow_incomplete):
    """What changed between two snapshots (default: the last two of the latest's query)."""
    import imgframe
    from imgframe.diff import diff_summary

    store = imgframe.SnapshotStore(store_dir)
    if new_id is None:
        new = store.load()
    else:
        new = store.load(id=new_id)
    if old_id is None:
        query = store.list(query=new)
        older = query[query["id"].to_numpy(dtype=object)
                      != new.attrs["imgframe"]["snapshot_id"]]
        if older.empty:
            raise click.ClickException(f"the store {store_dir} has only one snapshot of this "
                                       f"query; take another (imgframe snapshot --refresh)")
        old = store.load(id=older["id"].iloc[-1])
    else:
        old = store.load(id=old_id)
    d = imgframe.diff(old, new, allow_incomplete=allow_incomplete)
    with atomic_output(output) as tmp:
        imgframe.to_csv(d, tmp)
    counts = d.attrs["imgframe_diff"]["counts"]
    click.echo(f"{old.attrs['imgframe']['snapshot_id']} -> {new.attrs['imgframe']['snapshot_id']}"
               f": {_counts_line(counts)}")
    per = diff_summary(d)
    per = per[per["images"] > 0]
    for change, group in per.groupby("change", observed=True, sort=False):
        click.echo(f"  {change}: " + ", ".join(f"{s} {n}" for s, n in
                                             zip(group["status"], group["images"],
                                                 strict=True)))
    click.echo(f"Wrote {len(d)} rows to {output}")


@main.command()
@_store_option
@click.option("--by", default="status", show_default=True,
              help="Column to count by (status, visibility, ...); 'none' for totals.")
@click.option("--top", type=click.IntRange(2), default=10, show_default=True,
              help="Lines drawn at most: the largest groups, the rest as one 'other'.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("history.png"),
              show_default=True, callback=output_path(*CHART_SUFFIXES, what="a chart"),
              help="Chart to write (.png, .svg or .pdf).")
@click.option("--changes", "changes_path", type=click.Path(path_type=Path), default=None,
              callback=output_path(*CHART_SUFFIXES, what="a chart"),
              help="Also chart added/removed/modified per interval (.png, .svg or .pdf).")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None,
              callback=output_path(".csv"), help="Also write the counts as CSV.")
def history(store_dir, by, top, output, changes_path, csv_path):
    """Chart image counts over the store's snapshots."""
    import imgframe
    from imgframe import history_plots

    store = imgframe.SnapshotStore(store_dir)
    latest = store.load()          # a clear error for an empty store
    by = None if by.lower() == "none" else by
    history_plots.check_group_column(latest, by)     # before reading every snapshot
    table = store.history(by, query=latest)
    _chart(lambda ax: history_plots.history_plot(table, ax=ax, max_groups=top), output)
    if changes_path:
        changes = store.changes(query=latest)
        _chart(lambda ax: history_plots.changes_plot(changes, ax=ax), changes_path)
    with atomic_output(csv_path) as tmp:
        if tmp is not None:
            imgframe.to_csv(table, tmp)
    n = table["snapshot_id"].nunique()
    click.echo(f"{n} snapshot{'s' if n != 1 else ''}; chart written to {output}"
               + (f", changes to {changes_path}" if changes_path else "")
               + (f", table to {csv_path}" if csv_path else ""))


main.add_command(importlib.import_module("imgframe.cli_usage").usage)  # imgframe usage


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
