"""The commands that load a cloud's images and write them: ``export`` (CSV or Parquet),
``report`` (one HTML page) and ``trend`` (a changes-since chart)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import click

from imgframe.cli import checks
from imgframe.cli.checks import CHART_SUFFIXES, atomic_output, output_path
from imgframe.cli.options import (
    FREQ_CHOICES,
    STATUS_CHOICES,
    chart,
    connection_options,
    demo_options,
    make_client,
    plural,
    signs,
)


@connection_options(many=True)
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
@click.option("--workers", type=int, default=None,
              help="Pin the requests in flight for one source (1 to 32). Not needed: by "
                   "default the load starts as one walk and opens more streams (Glance/IMS "
                   "time ranges, Nova's status streams) while the server is the slow side, "
                   "fewer on 429/503. 1 is one walk, resumable by marker.")
@click.option("--columns", default=None,
              help="Only these columns, comma-separated (id is always there), e.g. "
                   "name,status,size: the others are never read.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              callback=output_path(".csv", ".parquet"),
              help="File to write: .csv (spreadsheet-safe CSV) or .parquet (needs pyarrow).")
@click.option("--progress/--no-progress", default=None)
def export(endpoint, project_id, token, cloud, insecure, regions, allow_partial, status, name,
           changes_since, min_ram, min_disk, visibility, hidden, owner, tag, list_only,
           page_size, max_items, workers, columns, output, progress):
    """Load a real cloud's images and write them as spreadsheet-safe CSV (or Parquet).

    Several --cloud (or --region) give one file with cloud, region and project_id columns.
    """
    import imgframe

    filters = {"status": list(status) or None, "name": name, "changes_since": changes_since,
               "min_ram": min_ram, "min_disk": min_disk, "visibility": visibility,
               "hidden": hidden, "owner": owner, "tag": list(tag) or None,
               "detail": not list_only, "page_size": page_size, "max_items": max_items,
               "columns": columns}
    missing = ""
    if len(cloud) > 1 or regions:
        if workers is not None:
            raise click.UsageError("--workers is for one source (several --cloud/--region "
                                   "sources are loaded side by side already)")
        df, missing = _load_many(endpoint, token, cloud, regions, allow_partial, filters)
    else:
        if allow_partial:
            raise click.UsageError("--allow-partial is for several --cloud/--region sources")
        client = make_client(endpoint, project_id, token, cloud[0] if cloud else None, insecure)
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
        note += f" from {plural(len(loaded), 'source')}"
        if len(loaded) < len(info["sources"]):
            note += f" of {len(info['sources'])}"
    click.echo(f"Wrote {len(df)} images to {output}{note}")
    if missing:
        click.echo(f"Missing: {missing}", err=True)


def _load_many(endpoint, token, clouds, regions, allow_partial, filters):
    """``export`` over several clouds/regions: (frame, one-line summary of what failed)."""
    import imgframe

    params = click.get_current_context().params
    if endpoint or signs((params.get("source") or "nova").lower()):
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
    return f"{plural(len(bits), 'source')} failed: " + "; ".join(bits)


@connection_options
@demo_options("Report on")
@click.option("--input", "input_path", type=click.Path(path_type=Path), default=None,
              callback=checks.input_file(".csv", ".parquet"),
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
        df = checks.read_inventory(input_path)
    elif demo:
        from imgframe.server import ImageServer, sample_inventory

        demo_token = "demo-" + os.urandom(8).hex()
        with ImageServer(sample_inventory(n_images, seed=seed), token=demo_token) as srv:
            df = imgframe.Client(srv.url, srv.project_id, token=demo_token).load(
                max_items=max_items, progress=progress)
    else:
        client = make_client(endpoint, project_id, token, cloud, insecure)
        df = client.load(max_items=max_items, progress=progress)
    with atomic_output(output) as tmp:
        imgframe.report(df, tmp, title=title)
    path = output
    info = df.attrs.get("imgframe", {})
    note = " (truncated by --max-items)" if info.get("truncated") else ""
    click.echo(f"Wrote a report of {len(df)} images to {path} "
               f"({path.stat().st_size / 1e6:.1f} MB){note}")


@connection_options
@click.option("--start", default=None, help="First cutoff (default: a year before --end).")
@click.option("--end", default=None, help="Last cutoff (default: today 00:00 UTC).")
@click.option("--freq", default="W", show_default=True,
              callback=checks.choice_upper(FREQ_CHOICES),
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

    client = make_client(endpoint, project_id, token, cloud, insecure)
    table = imgframe.changes_since_trend(client, start=start, end=end, freq=freq.upper(),
                                         status=status, workers=workers)
    chart(lambda ax: plotting.trend_plot(table, ax=ax), output)
    with atomic_output(csv_path) as tmp:
        if tmp is not None:
            table.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    click.echo(f"{len(table)} cutoffs; chart written to {output}"
               + (f", table to {csv_path}" if csv_path else ""))
