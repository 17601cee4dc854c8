"""The commands that serve until Ctrl-C or copy what ships: ``serve`` (the embedded
endpoint), ``dashboard`` (the inventory live) and ``notebooks``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from imgframe.cli import checks
from imgframe.cli.options import connection_options, demo_options, make_client
from imgframe.cli.usage_cmd import demo_reader, reader, referrer_options


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


@click.option("--images", "n_images", type=click.IntRange(0), default=1000, show_default=True,
              help="Number of sample images to serve.")
@click.option("--port", type=click.IntRange(0, 65535), default=8774, show_default=True,
              callback=checks.free_port("127.0.0.1"),
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


def _usage_of(where, assume_cells_up: bool):
    """The dashboard's ``usage=``: the verdicts of each loaded images frame, from servers
    and volumes listed again each time (:meth:`imgframe.cli.usage_cmd.Reader.referrers`)."""
    def usage_of(images):
        import imgframe

        servers, volumes = where.referrers(progress=False)
        return imgframe.usage(images, servers, volumes, assume_cells_up=assume_cells_up)
    return usage_of


@connection_options
@demo_options("Serve")
@click.option("--max-items", type=int, default=None, help="Load at most this many images.")
@click.option("--usage", "with_usage", is_flag=True,
              help="Show usage verdicts beside the images (in use, unused, unknown; kind, "
                   "reasons, the scope in the header), from servers and volumes read again "
                   "at every reload: as 'imgframe usage' reads them (with --cloud, "
                   "Glance, compute and block-storage from the catalog unless --source "
                   "says otherwise).")
@referrer_options(when=" With --usage.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; mind who can reach it).")
@click.option("--port", type=click.IntRange(0, 65535), default=8050, show_default=True,
              help="TCP port (0 picks a free one).")
@click.option("--password", envvar="IMGFRAME_DASHBOARD_PASSWORD", default=None,
              show_envvar=True, callback=checks.password,
              help="What viewers must give, 8 characters or more (default: a random one, "
                   "printed; a chosen one is never printed).")
@click.option("--title", default=None, help="Page title.")
def dashboard(endpoint, project_id, token, cloud, insecure, demo, n_images, seed, max_items,
              with_usage, compute_endpoint, volume_endpoint, all_projects, assume_cells_up,
              host, port, password, title):
    """Serve the inventory live (the report's page, shared, with Reload) until Ctrl-C.

    With --usage the page shows each image's usage verdict (in use, unused, unknown), kind
    and reasons, with a verdict filter and the scope in its header; every reload reads
    the servers and volumes again and recomputes the verdicts from the fresh images.
    Servers and volumes come from the same cloud as the images: the catalog's compute and
    block-storage endpoints with --cloud, --compute-endpoint (for --source glance or ims)
    and --volume-endpoint with --endpoint, the sample cloud (read as its admin) with --demo.
    'unused' only where the scope is complete (see 'imgframe usage --help').

    \b
      imgframe dashboard --cloud mycloud --usage --all-projects
      imgframe dashboard --source glance --endpoint https://glance:9292 --token T --usage \\
          --compute-endpoint https://nova:8774/v2.1/PROJECT \\
          --volume-endpoint https://cinder:8776/v3/PROJECT
      imgframe dashboard --demo --usage --all-projects
    """
    import contextlib

    import imgframe
    from imgframe.dashboard import Dashboard

    for option, why in (("--host", checks.host_known(host)),     # before any loading
                        ("--port", checks.port_free(host, port))):
        if why:
            raise click.BadParameter(why, param_hint=f"'{option}'")
    usage_options = (("--compute-endpoint", compute_endpoint),
                     ("--volume-endpoint", volume_endpoint),
                     ("--all-projects", all_projects), ("--assume-cells-up", assume_cells_up))
    for option, value in usage_options:
        if value and not with_usage:
            raise click.UsageError(f"{option} says where or how widely servers and volumes "
                                   "are read for the usage verdicts: give --usage too")
        if value and demo and option.endswith("-endpoint"):
            raise click.UsageError(f"{option} cannot be used with --demo: the sample cloud "
                                   "serves its own servers and volumes")
    ctx = click.get_current_context()
    where = None
    if with_usage and not demo:   # every check of 'imgframe usage', before any request
        typed = {name: ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
                 for name in ("token", "source")}
        where = reader(cloud, endpoint, compute_endpoint, volume_endpoint, project_id, token,
                       ctx.params["source"], ctx.params["ak"], ctx.params["sk"],
                       ctx.params["security_token"], all_projects=all_projects,
                       insecure=insecure, token_typed=typed["token"],
                       images_source=ctx.params["source"].lower() if typed["source"] else None)
    with contextlib.ExitStack() as stack:
        if demo and with_usage:
            where = demo_reader(stack, n_images, seed, all_projects=all_projects)
            client = where.images_client()
        elif demo:
            from imgframe.server import ImageServer, sample_inventory

            demo_token = "demo-" + os.urandom(8).hex()
            srv = stack.enter_context(ImageServer(sample_inventory(n_images, seed=seed),
                                                  token=demo_token))
            client = imgframe.Client(srv.url, srv.project_id, token=demo_token)
        elif where is not None:
            client = where.images_client()
        else:
            client = make_client(endpoint, project_id, token, cloud, insecure)
        usage_of = None if where is None else _usage_of(where, assume_cells_up)
        dash = Dashboard(client, host=host, port=port, password=password, title=title,
                         load_options={"max_items": max_items} if max_items else None,
                         usage=usage_of)
        try:
            click.echo("Loading the inventory" + (", servers and volumes" if usage_of
                                                  else "") + " ...")
            stack.enter_context(dash)
            click.echo(f"Serving {dash.status()['rows']} images at {dash.url}")
            if usage_of is not None:
                from imgframe.usage_plots import verdict_counts

                counts = verdict_counts(dash.frame)
                click.echo("  usage:    " + ", ".join(f"{n:,} {v}" for v, n in counts.items())
                           + " (recomputed at every reload)")
                click.echo(f"  scope:    {dash.frame.attrs['imgframe']['usage_scope']}")
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


@click.argument("directory", type=click.Path(file_okay=False, path_type=Path),
                callback=checks.writable_dir)
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
