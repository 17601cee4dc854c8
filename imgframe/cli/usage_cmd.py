"""``imgframe usage``: which images are in use, as a file, with the scope it rests on.

Reads the images (Glance where a cloud's catalog has it), the servers and the volumes,
joins them with :func:`imgframe.usage`, prints the scope the verdicts rest on and the
verdict counts, and writes one row per image (CSV, or Parquet by the suffix) atomically.
Read-only: it reports verdicts and reasons; it deletes nothing.

Errors follow :mod:`imgframe.cli`'s rules: options are checked before any request (bad
usage: one line, exit 2); a failure at run time is one line, exit 1. Registered in
``imgframe.cli`` with ``main.add_command``. Imports nothing heavy at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from imgframe.cli import checks as cli_checks
from imgframe.cli.checks import CHART_SUFFIXES, atomic_output, output_path
from imgframe.errors import ImgframeError, NotFoundError

__all__ = ["demo_usage", "usage"]

#: images source -> (the API its servers are listed from, whether the images endpoint
#: is also the servers' one); Huawei's signed sources are told by their ``signing``
SERVERS_OF = {"nova": ("nova", True), "glance": ("nova", False), "ims": ("ecs", False)}
IMAGE_SOURCES = tuple(SERVERS_OF)
_HUAWEI_VARS = ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "CLOUD_SDK_AK", "CLOUD_SDK_SK")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _check_where(cloud, endpoint, compute_endpoint, volume_endpoint, project_id, token,
                 source, ak, sk, security_token, token_typed) -> tuple[str | None, str]:
    """``(cloud, servers source)`` after every check that needs no request."""
    from imgframe import sources

    huawei = bool(ak or sk or security_token)
    signs = sources.get(source).signing
    servers_source, shared = SERVERS_OF[source]
    if cloud and (endpoint or compute_endpoint or volume_endpoint or token_typed or huawei):
        raise click.UsageError("give either --cloud (the catalog names every endpoint), or "
                               "--endpoint with --token, not both")
    cloud = cloud or (None if endpoint else os.environ.get("OS_CLOUD"))
    if cloud:
        if signs:
            raise click.UsageError(f"--source {source} reads a Huawei endpoint: give "
                                   "--endpoint and --compute-endpoint (ECS), not --cloud")
        return cloud, servers_source
    if not endpoint:
        raise click.UsageError("give --cloud, or --endpoint (the images API) with --token")
    if huawei and not signs:
        raise click.UsageError("--ak/--sk/--security-token sign Huawei requests: use them "
                               "with --source ims")
    if signs:
        if token and huawei:
            raise click.UsageError("give --token or --ak/--sk, not both")
        if not (token or huawei or any(os.environ.get(n) for n in _HUAWEI_VARS)):
            raise click.UsageError(f"--source {source} needs credentials and none were given: "
                                   "--ak and --sk (or HUAWEICLOUD_SDK_AK and "
                                   "HUAWEICLOUD_SDK_SK), or --token (or OS_AUTH_TOKEN)")
        if not compute_endpoint:
            raise click.UsageError(f"--source {source} needs --compute-endpoint: the Huawei "
                                   "ECS root the servers are listed from")
        if volume_endpoint and not token:
            raise click.UsageError("--volume-endpoint is read with --token (Cinder); "
                                   "imgframe does not sign volume requests with AK/SK")
        return None, servers_source
    if not token:
        raise click.UsageError("give --token (or set OS_AUTH_TOKEN) with --endpoint")
    if not shared and not compute_endpoint:
        raise click.UsageError(f"--source {source} needs --compute-endpoint: the Nova "
                               "endpoint the servers are listed from")
    return None, servers_source


def _from_cloud(cloud, all_projects, insecure, progress, echo):
    import imgframe
    from imgframe.cloud import catalog_endpoints

    _, found, _, _ = catalog_endpoints(cloud, ("compute", "volume"))
    if not found.get("compute"):
        raise ImgframeError(f"cloud {cloud!r} has no compute endpoint in its catalog: "
                            "servers cannot be listed")
    try:
        client = imgframe.Client.from_cloud(cloud, source="glance", verify=not insecure)
    except NotFoundError:   # the catalog has no image endpoint (no request failed)
        echo(f"Note: cloud {cloud!r} has no image (Glance) endpoint: images are read from "
             "the compute proxy, which does not say their visibility and owner, so no "
             "image can be 'unused'.")
        client = imgframe.Client.from_cloud(cloud, source="nova", verify=not insecure)
    images = client.load(progress=progress)
    servers = imgframe.load_servers(cloud=cloud, all_projects=all_projects, progress=progress,
                                    verify=not insecure)
    volumes = None
    if found.get("volume"):
        volumes = imgframe.load_volumes(cloud=cloud, all_projects=all_projects,
                                        progress=progress, verify=not insecure)
    return images, servers, volumes


def _from_endpoints(endpoint, compute_endpoint, volume_endpoint, project_id, token, source,
                    servers_source, ak, sk, security_token, all_projects, insecure, progress):
    import imgframe
    from imgframe import sources

    verify = not insecure
    signs = sources.get(source).signing
    client = imgframe.Client(endpoint, project_id, source=source, token=token, ak=ak, sk=sk,
                             security_token=security_token, verify=verify) \
        if signs else imgframe.Client(endpoint, project_id, source=source,
                                                token=token, verify=verify)
    signing = {"ak": ak, "sk": sk, "security_token": security_token} \
        if signs and not token else {}
    images = client.load(progress=progress)
    servers = imgframe.load_servers(compute_endpoint or endpoint, project_id,
                                    token=None if signing else token, source=servers_source,
                                    all_projects=all_projects, progress=progress,
                                    verify=verify, **signing)
    volumes = None
    if volume_endpoint:
        volumes = imgframe.load_volumes(volume_endpoint, project_id, token=token,
                                        all_projects=all_projects, progress=progress,
                                        verify=verify)
    return images, servers, volumes


@click.command("usage", cls=cli_checks.Command)
@click.option("--cloud", default=None,
              help="Name in clouds.yaml (or OS_CLOUD): the catalog names the image, compute "
                   "and block-storage endpoints (Glance is read where the catalog has it).")
@click.option("--endpoint", default=None,
              help="Without --cloud: the images API root (as for 'imgframe export'), read "
                   "as --source says.")
@click.option("--source", type=click.Choice(IMAGE_SOURCES, case_sensitive=False),
              default="nova", show_default=True,
              help="With --endpoint: the images API (nova: the compute proxy, whose "
                   "endpoint also lists the servers; glance; ims: Huawei, servers from ECS).")
@click.option("--compute-endpoint", default=None,
              help="Nova's endpoint (.../v2.1/{project_id}) the servers are listed from, or "
                   "Huawei ECS's root with --source ims (default: --endpoint with --source "
                   "nova).")
@click.option("--volume-endpoint", default=None,
              help="Cinder's endpoint (.../v3/{project_id}). Without it volumes are not read "
                   "and no image is 'unused' (an image used only by a volume is not seen).")
@click.option("--project-id", default=None,
              help="Project id (unless in the endpoints; needed for ECS).")
@click.option("--token", envvar="OS_AUTH_TOKEN", default=None, show_envvar=True,
              help="X-Auth-Token to send (never printed).")
@click.option("--ak", default=None, help="Huawei access key (--source ims).")
@click.option("--sk", default=None, help="Huawei secret key (--source ims; never printed).")
@click.option("--security-token", default=None,
              help="Huawei temporary security token (--source ims).")
@click.option("--all-projects", is_flag=True,
              help="Every project's servers and volumes (admin only: Nova's refusal is an "
                   "error, never a quiet own-project list).")
@click.option("--assume-cells-up", is_flag=True,
              help="State that every Nova cell answered where imgframe cannot check it "
                   "(recorded in the output's scope).")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              callback=output_path(".csv", ".parquet"),
              help="File to write, one row per image: .csv or .parquet (needs pyarrow).")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              callback=output_path(".html"),
              help="Also write the interactive HTML report with the verdicts.")
@click.option("--chart", type=click.Path(path_type=Path), default=None,
              callback=output_path(*CHART_SUFFIXES),
              help="Also write a chart of images per verdict and kind (.png, .svg, .pdf).")
@click.option("--progress/--no-progress", default=None)
def usage(cloud, endpoint, source, compute_endpoint, volume_endpoint, project_id, token, ak,
          sk, security_token, all_projects, assume_cells_up, insecure, output, report_path,
          chart, progress):
    """Which images are in use: read images, servers and volumes, and write one row per
    image with its verdict (in use, unused, unknown), kind, referrers and reasons.

    'unused' is said only when the listings could have shown a user (every page, every
    project the image could be used from, soft-deleted servers, every cell, volumes);
    otherwise 'unknown', with the reason. Prints the scope it got and the verdict counts.

    \b
      imgframe usage --cloud mycloud [--all-projects] -o usage.csv
      imgframe usage --endpoint https://nova:8774/v2.1/PROJECT --token T \\
          --volume-endpoint https://cinder:8776/v3/PROJECT -o usage.parquet
      imgframe usage --source glance --endpoint https://glance:9292 --token T \\
          --compute-endpoint https://nova:8774/v2.1/PROJECT -o usage.csv
    """
    ctx = click.get_current_context()
    source = source.lower()
    token_typed = ctx.get_parameter_source("token") == click.core.ParameterSource.COMMANDLINE
    cloud, servers_source = _check_where(cloud, endpoint, compute_endpoint, volume_endpoint,
                                         project_id, token, source, ak, sk, security_token,
                                         token_typed)
    if not cloud:   # the endpoints' shapes, before any request
        from imgframe.sources import servers as servers_src
        from imgframe.sources import volumes as volumes_src

        servers_src.parse_endpoint(compute_endpoint or endpoint, project_id,
                                   source=servers_source)
        if volume_endpoint:
            volumes_src.parse_endpoint(volume_endpoint, project_id)
    import imgframe
    from imgframe.usage_plots import reason_counts, scope_summary, verdict_counts

    notes: list[str] = []
    if cloud:
        images, servers, volumes = _from_cloud(cloud, all_projects, insecure, progress,
                                               notes.append)
    else:
        images, servers, volumes = _from_endpoints(
            endpoint, compute_endpoint, volume_endpoint, project_id, token, source,
            servers_source, ak, sk, security_token, all_projects, insecure, progress)
    result = imgframe.usage(images, servers, volumes, assume_cells_up=assume_cells_up)
    with atomic_output(output) as tmp:
        if output.suffix.lower() == ".parquet":
            from imgframe.export import to_parquet

            to_parquet(result, tmp)
        else:
            imgframe.to_csv(result, tmp)
    if report_path is not None:
        imgframe.report(images, report_path, usage=result)
    if chart is not None:
        from imgframe import plotting
        from imgframe.usage_plots import usage_plot

        with atomic_output(chart) as tmp:
            plotting.save(usage_plot(result), tmp)
    for note in notes:
        click.echo(note)
    click.echo(f"Scope: {scope_summary(result)}")
    counts = verdict_counts(result)
    missing = imgframe.missing_servers(result)
    click.echo("Verdicts: " + ", ".join(f"{n:,} {v}" for v, n in counts.items())
               + f" ({_plural(len(result), 'image')}; "
               + f"{_plural(len(missing), 'server')} whose image is not listed)")
    why = reason_counts(result, "unknown")
    why = why[[not code.startswith("parent_") for code in why.index]]  # facts, not gaps
    if len(why):
        click.echo("Unknown because: " + ", ".join(f"{code} ({n:,})" for code, n
                                                    in why.head(5).items()))
    written = [str(output)] + [str(p) for p in (report_path, chart) if p is not None]
    click.echo(f"Wrote {', '.join(written)}")


def demo_usage(n_images: int, seed: int, out_dir: Path, progress) -> tuple[Path, str]:
    """``imgframe demo``'s usage step: the sample cloud (servers and volumes over the same
    sample catalogue) read as an admin of every project; writes ``usage.csv`` in
    ``out_dir``; returns its path and a line of verdict counts."""
    import imgframe
    from imgframe.server import ImageServer, sample_inventory
    from imgframe.usage_plots import verdict_counts

    token, admin = "demo-" + os.urandom(8).hex(), "demo-admin-" + os.urandom(8).hex()
    with ImageServer(sample_inventory(n_images, seed=seed), seed=seed, token=token,
                     admin_token=admin, servers=True) as srv:
        images = imgframe.load(srv.glance_endpoint, source="glance", token=admin,
                               progress=progress)
        servers = imgframe.load_servers(srv.endpoint, token=admin, all_projects=True,
                                        progress=progress)
        volumes = imgframe.load_volumes(srv.volume_endpoint, token=admin, all_projects=True,
                                        progress=progress)
    result = imgframe.usage(images, servers, volumes)
    path = out_dir / "usage.csv"
    with atomic_output(path) as tmp:
        imgframe.to_csv(result, tmp)
    counts = verdict_counts(result)
    return path, ("Usage (the sample cloud's servers and volumes, as an admin): "
                  + ", ".join(f"{n:,} {v}" for v, n in counts.items()))
