"""The commands over a snapshot store: ``snapshot`` (save a load or a refresh), ``diff``
(what changed between two snapshots) and ``history`` (counts over the snapshots)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from imgframe.cli.checks import CHART_SUFFIXES, atomic_output, output_path
from imgframe.cli.options import (
    STATUS_CHOICES,
    chart,
    connection_options,
    counts_line,
    make_client,
    plural,
    store_option,
)


@store_option(create=True)
@connection_options
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
        click.echo(f"{plural(len(listing), 'snapshot')} in {store_dir}")
        return
    if do_refresh:
        if status or name or demo_images is not None:
            raise click.UsageError("--refresh repeats the latest snapshot's query; drop "
                                   "--status/--name/--demo")
        old = store.load()
        if cloud or (not endpoint and os.environ.get("OS_CLOUD")):
            client = make_client(endpoint, project_id, token, cloud, insecure)
        else:
            from imgframe.sources import LEGACY

            recorded = old.attrs["imgframe"]
            client = imgframe.Client(endpoint or recorded["endpoint"],
                                     project_id or recorded.get("project_id"), token=token,
                                     verify=not insecure,
                                     source=recorded.get("source", LEGACY))
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
        client = make_client(endpoint, project_id, token, cloud, insecure)
        df = client.load(status=list(status) or None, name=name, progress=progress)
        how = f"{df.attrs['imgframe']['requests']} requests"
    sid = store.save(df)
    click.echo(f"Saved snapshot {sid}: {len(df)} images ({how}) in {store_dir}")


@store_option
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
               f": {counts_line(counts)}")
    per = diff_summary(d)
    per = per[per["images"] > 0]
    for change, group in per.groupby("change", observed=True, sort=False):
        click.echo(f"  {change}: " + ", ".join(f"{s} {n}" for s, n in
                                             zip(group["status"], group["images"],
                                                 strict=True)))
    click.echo(f"Wrote {len(d)} rows to {output}")


@store_option
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
    chart(lambda ax: history_plots.history_plot(table, ax=ax, max_groups=top), output)
    if changes_path:
        changes = store.changes(query=latest)
        chart(lambda ax: history_plots.changes_plot(changes, ax=ax), changes_path)
    with atomic_output(csv_path) as tmp:
        if tmp is not None:
            imgframe.to_csv(table, tmp)
    n = table["snapshot_id"].nunique()
    click.echo(f"{n} snapshot{'s' if n != 1 else ''}; chart written to {output}"
               + (f", changes to {changes_path}" if changes_path else "")
               + (f", table to {csv_path}" if csv_path else ""))
