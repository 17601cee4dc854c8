"""``imgframe usage``: which images are in use, as a file, with the scope it rests on.

Reads the images (Glance where a cloud's catalog has it), the servers and the volumes,
joins them with :func:`imgframe.usage`, prints the scope the verdicts rest on and the
verdict counts, and writes one row per image (CSV, or Parquet by the suffix) atomically.
Read-only: it reports verdicts and reasons; it deletes nothing.

Where those three are read from is shared with ``imgframe dashboard --usage``: the options
(:func:`referrer_options`), their checks (:func:`reader`, no request) and the
:class:`Reader` they give, whose :meth:`~Reader.images_client` and
:meth:`~Reader.referrers` both commands call.

Errors follow :mod:`imgframe.cli`'s rules: options are checked before any request (bad
usage: one line, exit 2); a failure at run time is one line, exit 1. Registered in
``imgframe.cli`` with ``main.add_command``. Imports nothing heavy at import time.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import click

from imgframe.cli import checks as cli_checks
from imgframe.cli.checks import CHART_SUFFIXES, atomic_output, output_path
from imgframe.errors import ImgframeError, InvalidQueryError, NotFoundError

__all__ = ["Reader", "demo_reader", "demo_usage", "reader", "referrer_options", "usage"]

#: images source -> (the API its servers are listed from, whether the images endpoint
#: is also the servers' one); Huawei's signed sources are told by their ``signing``
SERVERS_OF = {"nova": ("nova", True), "glance": ("nova", False), "ims": ("ecs", False)}
IMAGE_SOURCES = tuple(SERVERS_OF)
_HUAWEI_VARS = ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "CLOUD_SDK_AK", "CLOUD_SDK_SK")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def referrer_options(func=None, *, when: str = ""):
    """``--compute-endpoint``, ``--volume-endpoint``, ``--all-projects`` and
    ``--assume-cells-up``: where and how widely servers and volumes are read. ``when``
    ends each help text (the dashboard's ``" With --usage."``)."""
    if func is None:
        return lambda f: referrer_options(f, when=when)
    options = [
        click.option("--compute-endpoint", default=None,
                     help="Nova's endpoint (.../v2.1/{project_id}) the servers are listed "
                          "from, or Huawei ECS's root with --source ims (default: --endpoint "
                          "with --source nova)." + when),
        click.option("--volume-endpoint", default=None,
                     help="Cinder's endpoint (.../v3/{project_id}). Without it volumes are "
                          "not read and no image is 'unused' (an image used only by a volume "
                          "is not seen)." + when),
        click.option("--all-projects", is_flag=True,
                     help="Every project's servers and volumes (admin only: Nova's refusal "
                          "is an error, never a quiet own-project list)." + when),
        click.option("--assume-cells-up", is_flag=True,
                     help="State that every Nova cell answered where imgframe cannot check "
                          "it (recorded in the scope)." + when),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _check_where(cloud, endpoint, compute_endpoint, volume_endpoint, project_id, token,
                 source, ak, sk, security_token, token_typed) -> tuple[str | None, str]:
    """``(cloud, servers source)`` after every check that needs no request."""
    from imgframe import sources

    huawei = bool(ak or sk or security_token)
    signs = source in SERVERS_OF and sources.get(source).signing
    servers_source, shared = SERVERS_OF.get(source, ("nova", False))
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
    if source not in SERVERS_OF:
        raise click.UsageError(f"--source {source} needs --cloud (the catalog names both "
                               "the compute proxy and Glance)")
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


def reader(cloud, endpoint, compute_endpoint, volume_endpoint, project_id, token, source,
           ak, sk, security_token, *, all_projects, insecure, token_typed,
           images_source: str | None = None) -> Reader:
    """The :class:`Reader` these options name, after every check that needs no request
    (bad usage: a :class:`click.UsageError` or :class:`~imgframe.errors.InvalidQueryError`
    naming the option). ``images_source``: with a cloud, the images API to read (None:
    Glance where the catalog has it, else the compute proxy)."""
    from imgframe.sources import servers as servers_src
    from imgframe.sources import volumes as volumes_src

    source = source.lower()
    cloud, servers_source = _check_where(cloud, endpoint, compute_endpoint, volume_endpoint,
                                         project_id, token, source, ak, sk, security_token,
                                         token_typed)
    if all_projects and not servers_src.APIS[servers_source].all_projects:
        raise click.UsageError(f"--all-projects cannot be used with --source {source}: "
                               f"{servers_source} lists the caller's project only")
    if not cloud:   # the endpoints' shapes, before any request
        try:
            servers_src.parse_endpoint(compute_endpoint or endpoint, project_id,
                                       source=servers_source)
        except InvalidQueryError as exc:   # name the option the endpoint came from
            if compute_endpoint:
                raise
            raise InvalidQueryError("endpoint", exc.allowed, exc.given) from None
        if volume_endpoint:
            volumes_src.parse_endpoint(volume_endpoint, project_id)
    return Reader(cloud=cloud, endpoint=endpoint, compute_endpoint=compute_endpoint,
                  volume_endpoint=volume_endpoint, project_id=project_id, token=token,
                  source=source, servers_source=servers_source, ak=ak, sk=sk,
                  security_token=security_token, all_projects=all_projects,
                  verify=not insecure, images_source=images_source)


class Reader:
    """Where the images, servers and volumes of one usage join are read, as checked by
    :func:`reader`: :meth:`images_client` for the images, :meth:`referrers` for the
    servers and volumes (read again at every call: the dashboard's reloads)."""

    def __init__(self, *, cloud, endpoint, compute_endpoint, volume_endpoint, project_id,
                 token, source, servers_source, ak, sk, security_token, all_projects,
                 verify, images_source=None):
        self.cloud, self.endpoint, self.project_id = cloud, endpoint, project_id
        self.compute_endpoint, self.volume_endpoint = compute_endpoint, volume_endpoint
        self.source, self.servers_source, self.images_source = (source, servers_source,
                                                                images_source)
        self.all_projects, self.verify = all_projects, verify
        self._token, self._ak, self._sk, self._security_token = token, ak, sk, security_token
        self._volumes_listed: bool | None = None   # with a cloud: its catalog has Cinder

    def __repr__(self) -> str:   # never a credential
        where = f"cloud={self.cloud!r}" if self.cloud else f"endpoint={self.endpoint!r}"
        return f"Reader({where}, source={self.source!r}, all_projects={self.all_projects})"

    def _catalog(self) -> bool:
        """With a cloud: check its catalog names a compute endpoint; whether it names a
        block-storage one (one keystone request, once)."""
        if self._volumes_listed is None:
            from imgframe.cloud import catalog_endpoints

            _, found, _, _ = catalog_endpoints(self.cloud, ("compute", "volume"))
            if not found.get("compute"):
                raise ImgframeError(f"cloud {self.cloud!r} has no compute endpoint in its "
                                    "catalog: servers cannot be listed")
            self._volumes_listed = bool(found.get("volume"))
        return self._volumes_listed

    def images_client(self, echo=click.echo):
        """The images' :class:`imgframe.Client`. With a cloud its catalog is read first
        (no compute endpoint: an error); Glance where it has one, else the compute proxy
        (said through ``echo``: the proxy does not say visibility and owner, so no image
        can be 'unused'), or ``images_source`` when given."""
        import imgframe
        from imgframe import sources

        if self.cloud:
            self._catalog()
            if self.images_source:
                return imgframe.Client.from_cloud(self.cloud, source=self.images_source,
                                                  verify=self.verify)
            try:
                return imgframe.Client.from_cloud(self.cloud, source="glance",
                                                  verify=self.verify)
            except NotFoundError:   # the catalog has no image endpoint (no request failed)
                echo(f"Note: cloud {self.cloud!r} has no image (Glance) endpoint: images are "
                     "read from the compute proxy, which does not say their visibility and "
                     "owner, so no image can be 'unused'.")
                return imgframe.Client.from_cloud(self.cloud, source="nova",
                                                  verify=self.verify)
        if sources.get(self.source).signing:
            return imgframe.Client(self.endpoint, self.project_id, source=self.source,
                                   token=self._token, ak=self._ak, sk=self._sk,
                                   security_token=self._security_token, verify=self.verify)
        return imgframe.Client(self.endpoint, self.project_id, source=self.source,
                               token=self._token, verify=self.verify)

    def referrers(self, progress=None) -> tuple:
        """``(servers, volumes or None)``, freshly listed: volumes are None where no
        block-storage endpoint is known (no image is then 'unused')."""
        import imgframe

        scope = {"all_projects": self.all_projects, "progress": progress,
                 "verify": self.verify}
        if self.cloud:
            servers = imgframe.load_servers(cloud=self.cloud, **scope)
            volumes = imgframe.load_volumes(cloud=self.cloud, **scope) \
                if self._catalog() else None
            return servers, volumes
        signing = {"ak": self._ak, "sk": self._sk, "security_token": self._security_token} \
            if self.servers_source == "ecs" and not self._token else {}
        servers = imgframe.load_servers(self.compute_endpoint or self.endpoint,
                                        self.project_id, source=self.servers_source,
                                        token=None if signing else self._token, **signing,
                                        **scope)
        volumes = imgframe.load_volumes(self.volume_endpoint, self.project_id,
                                        token=self._token, **scope) \
            if self.volume_endpoint else None
        return servers, volumes


def demo_reader(stack: contextlib.ExitStack, n_images: int, seed: int, *,
                all_projects: bool = True) -> Reader:
    """The embedded sample cloud (servers and volumes over ``n_images`` sample images),
    served until ``stack`` closes, and a :class:`Reader` of it as its admin: images from
    Glance, servers from Nova, volumes from Cinder."""
    from imgframe.server import ImageServer, sample_inventory

    token, admin = "demo-" + os.urandom(8).hex(), "demo-admin-" + os.urandom(8).hex()
    srv = stack.enter_context(ImageServer(sample_inventory(n_images, seed=seed), seed=seed,
                                          token=token, admin_token=admin, servers=True))
    return Reader(cloud=None, endpoint=srv.glance_endpoint, compute_endpoint=srv.endpoint,
                  volume_endpoint=srv.volume_endpoint, project_id=srv.project_id,
                  token=admin, source="glance", servers_source="nova", ak=None, sk=None,
                  security_token=None, all_projects=all_projects, verify=True)


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
@click.option("--project-id", default=None,
              help="Project id (unless in the endpoints; needed for ECS).")
@click.option("--token", envvar="OS_AUTH_TOKEN", default=None, show_envvar=True,
              help="X-Auth-Token to send (never printed).")
@click.option("--ak", default=None, help="Huawei access key (--source ims).")
@click.option("--sk", default=None, help="Huawei secret key (--source ims; never printed).")
@click.option("--security-token", default=None,
              help="Huawei temporary security token (--source ims).")
@referrer_options
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
    token_typed = ctx.get_parameter_source("token") == click.core.ParameterSource.COMMANDLINE
    where = reader(cloud, endpoint, compute_endpoint, volume_endpoint, project_id, token,
                   source, ak, sk, security_token, all_projects=all_projects,
                   insecure=insecure, token_typed=token_typed)
    import imgframe
    from imgframe.usage_plots import reason_counts, scope_summary, verdict_counts

    notes: list[str] = []
    images = where.images_client(notes.append).load(progress=progress)
    servers, volumes = where.referrers(progress)
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
    from imgframe.usage_plots import verdict_counts

    with contextlib.ExitStack() as stack:
        where = demo_reader(stack, n_images, seed)
        images = where.images_client().load(progress=progress)
        servers, volumes = where.referrers(progress)
    result = imgframe.usage(images, servers, volumes)
    path = out_dir / "usage.csv"
    with atomic_output(path) as tmp:
        imgframe.to_csv(result, tmp)
    counts = verdict_counts(result)
    return path, ("Usage (the sample cloud's servers and volumes, as an admin): "
                  + ", ".join(f"{n:,} {v}" for v, n in counts.items()))
