"""The ``imgframe`` command: demo, serve, export, trend.

Library errors are turned into one clear line on stderr and exit status 1 at this edge;
a traceback is never what a user sees for an expected failure.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from imgframe.errors import ImgframeError

STATUS_CHOICES = ["ACTIVE", "SAVING", "UNKNOWN"]
FREQ_CHOICES = ["D", "W", "M", "Q", "Y"]


class _Group(click.Group):
    """Turn imgframe's errors into ``Error: ...`` and exit 1 for every command."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ImgframeError as exc:
            raise click.ClickException(_one_line(exc)) from None
        except OSError as exc:
            raise click.ClickException(_one_line(exc)) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="imgframe")
def main():
    """imgframe: a cloud's image catalogue as typed pandas DataFrames."""


def _chart(draw, path: Path) -> Path:
    """Draw on a fresh 9x4.5in Axes with ``draw(ax)`` and write it as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imgframe import plotting

    fig, ax = plt.subplots(figsize=(9, 4.5))
    draw(ax)
    fig.tight_layout()
    return plotting.save(fig, path, dpi=110)


# --------------------------------------------------------------------------- serve


@main.command()
@click.option("--images", "n_images", type=click.IntRange(0), default=1000, show_default=True,
              help="Number of sample images to serve.")
@click.option("--port", type=click.IntRange(0, 65535), default=8774, show_default=True,
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
def serve(n_images, port, token, seed, max_limit, link_prefix, api_limit_max, ims_max_limit,
          ims_page_info):
    """Serve a sample catalogue until Ctrl-C: Nova's images proxy, Glance v2, Huawei IMS."""
    from imgframe.server import ImageServer, sample_inventory

    inventory = sample_inventory(n_images, seed=seed)
    with ImageServer(inventory, port=port, token=token, max_limit=max_limit,
                     link_prefix=link_prefix, api_limit_max=api_limit_max,
                     ims_max_limit=ims_max_limit, ims_page_info=ims_page_info) as srv:
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
              default=Path("imgframe-demo"), show_default=True, help="Output directory.")
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

        html_note = None
        if notebook:
            try:
                from imgframe.notebook import notebook_path, render_html

                # Notebook 1 runs against this same endpoint, whatever the user's OS_CLOUD.
                env = {"OS_CLOUD": "", "IMGFRAME_ENDPOINT": srv.url,
                       "IMGFRAME_PROJECT_ID": srv.project_id, "OS_AUTH_TOKEN": token}
                click.echo("Executing notebook 1 for the HTML copy ...")
                html = render_html(notebook_path("01_explore"), out_dir / "01_explore.html",
                                   env=env, cwd=out_dir)
                written["01_explore.html"] = Path(html)
            except ImportError as exc:  # the notebook extra is not installed
                html_note = (f"notebook HTML skipped: {exc} "
                             "(pip install 'imgframe[notebook]')")
            except FileNotFoundError as exc:  # installed from a wheel: no notebooks/ beside it
                html_note = f"notebook HTML skipped: {exc}"

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
    click.echo("Wrote:")
    what = {
        "inventory.csv": "every image, spreadsheet-safe CSV",
        "status.png": "images per status",
        "changes.png": "images updated per month, stacked by status",
        "trend.png": "images changed since each month start (server-side changes-since)",
        "01_explore.html": "notebook 1 executed, with the explorer widget",
    }
    for name, path in written.items():
        click.echo(f"  {path}  ({what[name]})")
    if html_note:
        click.echo(html_note)


# --------------------------------------------------------------------------- export/trend


def _connection_options(func):
    options = [
        click.option("--endpoint", default=None,
                     help="Compute root (https://host:8774) or .../v2.1/{project_id}."),
        click.option("--project-id", default=None, help="Project id (unless in the endpoint)."),
        click.option("--token", envvar="OS_AUTH_TOKEN", default=None, show_envvar=True,
                     help="X-Auth-Token to send."),
        click.option("--cloud", default=None,
                     help="Name in clouds.yaml (needs imgframe[openstack]); or OS_CLOUD."),
        click.option("--insecure", is_flag=True, help="Do not verify TLS certificates."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _plural(n: int, word: str) -> str:
    """``_plural(1, "page") == "1 page"``; ``_plural(2, "retry") == "2 retries"``."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def _check_suffix(path: Path) -> Path:
    """Refuse an output name whose suffix promises a format imgframe does not write."""
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise click.BadParameter(f"must end in .csv or .parquet, got {path.name!r}",
                                 param_hint="'-o' / '--output'")
    return path


def _client(endpoint, project_id, token, cloud, insecure):
    import imgframe

    ctx = click.get_current_context()
    token_given = ctx.get_parameter_source("token") == click.core.ParameterSource.COMMANDLINE
    if cloud and (endpoint or token_given):
        raise click.UsageError("give either --cloud, or --endpoint with --token, not both")
    cloud = cloud or (None if endpoint else os.environ.get("OS_CLOUD"))
    if cloud:
        return imgframe.Client.from_cloud(cloud)
    if not endpoint:
        raise click.UsageError("give --endpoint (with --token or OS_AUTH_TOKEN) or --cloud")
    if not token:
        raise click.UsageError("give --token (or set OS_AUTH_TOKEN) with --endpoint")
    return imgframe.Client(endpoint, project_id, token=token, verify=not insecure)


@main.command()
@_connection_options
@click.option("--status", multiple=True, type=click.Choice(STATUS_CHOICES, case_sensitive=False),
              help="Status to keep (repeatable).")
@click.option("--name", default=None, help="Exact image name.")
@click.option("--changes-since", default=None, help="ISO 8601 time or date (UTC if naive).")
@click.option("--min-ram", type=int, default=None, help="minRam, MB (exact match on Nova).")
@click.option("--min-disk", type=int, default=None, help="minDisk, GB (exact match on Nova).")
@click.option("--list", "list_only", is_flag=True, help="List view only (id, name, links).")
@click.option("--page-size", type=int, default=1000, show_default=True)
@click.option("--max-items", type=int, default=None)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=lambda ctx, param, value: _check_suffix(value),
              help="File to write: .csv (spreadsheet-safe CSV) or .parquet.")
@click.option("--progress/--no-progress", default=None)
def export(endpoint, project_id, token, cloud, insecure, status, name, changes_since, min_ram,
           min_disk, list_only, page_size, max_items, output, progress):
    """Load a real cloud's images and write them as spreadsheet-safe CSV."""
    import imgframe

    client = _client(endpoint, project_id, token, cloud, insecure)
    df = client.load(status=list(status) or None, name=name, changes_since=changes_since,
                     min_ram=min_ram, min_disk=min_disk, detail=not list_only,
                     page_size=page_size, max_items=max_items, progress=progress)
    if output.suffix.lower() == ".parquet":
        from imgframe.export import to_parquet

        to_parquet(df, output)
    else:
        imgframe.to_csv(df, output)
    info = df.attrs.get("imgframe", {})
    note = " (truncated by --max-items)" if info.get("truncated") else ""
    click.echo(f"Wrote {len(df)} images to {output}{note}")


@main.command()
@_connection_options
@click.option("--start", default=None, help="First cutoff (default: a year before --end).")
@click.option("--end", default=None, help="Last cutoff (default: today 00:00 UTC).")
@click.option("--freq", type=click.Choice(FREQ_CHOICES, case_sensitive=False), default="W",
              show_default=True)
@click.option("--status", default=None,
              type=click.Choice(STATUS_CHOICES, case_sensitive=False),
              help="Count only images with this status.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("trend.png"), show_default=True, help="PNG chart to write.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the trend table as CSV.")
def trend(endpoint, project_id, token, cloud, insecure, start, end, freq, status, workers, output,
          csv_path):
    """Chart how many images changed since each cutoff (server-side changes-since)."""
    import imgframe
    from imgframe import plotting

    client = _client(endpoint, project_id, token, cloud, insecure)
    table = imgframe.changes_since_trend(client, start=start, end=end, freq=freq.upper(),
                                         status=status, workers=workers)
    _chart(lambda ax: plotting.trend_plot(table, ax=ax), output)
    if csv_path:
        table.to_csv(csv_path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    click.echo(f"{len(table)} cutoffs; chart written to {output}"
               + (f", table to {csv_path}" if csv_path else ""))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
