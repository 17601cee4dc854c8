"""The commands that serve until Ctrl-C or copy what ships: ``serve`` (the embedded
endpoint), ``dashboard`` (the inventory live) and ``notebooks``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from imgframe.cli import checks
from imgframe.cli.options import connection_options, demo_options, make_client


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


@connection_options
@demo_options("Serve")
@click.option("--max-items", type=int, default=None, help="Load at most this many images.")
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
              host, port, password, title):
    """Serve the inventory live (the report's page, shared, with Reload) until Ctrl-C."""
    import contextlib

    import imgframe
    from imgframe.dashboard import Dashboard

    for option, why in (("--host", checks.host_known(host)),     # before any loading
                        ("--port", checks.port_free(host, port))):
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
            client = make_client(endpoint, project_id, token, cloud, insecure)
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
