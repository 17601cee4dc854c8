"""``imgframe demo``: load a sample catalogue from the embedded endpoint and write what
imgframe makes of it (CSV, charts, the report, a snapshot store, notebook 1 as HTML)."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import time
from pathlib import Path

import click

from imgframe.cli import checks
from imgframe.cli.checks import atomic_output, one_line
from imgframe.cli.options import chart, counts_line, plural


@click.option("--images", "n_images", type=click.IntRange(1), default=3000, show_default=True,
              help="Number of sample images in the embedded catalogue.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("imgframe-demo"), show_default=True, callback=checks.writable_dir,
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
            written[name] = chart(draw, out_dir / name)

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

    # usage.csv: which images the sample cloud's servers and volumes use (cli/usage_cmd.py)
    from imgframe.cli.usage_cmd import demo_usage
    written["usage.csv"], usage_note = demo_usage(n_images, seed, out_dir, progress)

    counts = df.images.status_counts()
    click.echo("")
    counters = ", ".join(plural(info.get(key, 0), word)
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
            raise _NotebookFailed(f"notebook HTML failed: {one_line(last[-1])[:300]}")
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
    written["history.png"] = chart(lambda ax: history_plots.history_plot(table, ax=ax),
                                    out_dir / "history.png")
    info = later.attrs["imgframe"]
    return (f"Refreshed after changing the catalogue ({info['refresh']['mode']}, "
            f"{plural(info['requests'], 'request')}): "
            f"{counts_line(d.attrs['imgframe_diff']['counts'])}")
