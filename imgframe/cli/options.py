"""What the ``imgframe`` commands share: the option decorators (where and how to connect,
``--demo``, ``--store``), the choices they offer, the client built from those options, and
the chart and count wording of their output.

Imports nothing heavy: ``imgframe --help`` must stay fast (imgframe and matplotlib are
imported inside the functions).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import click

from imgframe.cli import checks
from imgframe.cli.checks import atomic_output

__all__ = ["FREQ_CHOICES", "SOURCE_CHOICES", "STATUS_CHOICES", "chart", "connection_options",
           "counts_line", "demo_options", "make_client", "plural", "signs", "store_option"]

#: The display words a listing can return, which ``--status`` filters by: the keys of
#: :data:`imgframe.status.LISTED`, written out because that module imports pandas and
#: ``--help`` must not (tests/test_status.py holds the two equal).
STATUS_CHOICES = ("ACTIVE", "SAVING", "UNKNOWN")
#: ``--source``: :data:`imgframe.sources.NAMES` and "auto", written out for the same
#: reason (imgframe.sources imports pandas; tests/test_cli.py holds them equal).
SOURCE_CHOICES = ("nova", "glance", "ims", "auto")
FREQ_CHOICES = ["D", "W", "M", "Q", "Y"]


def chart(draw, path: Path) -> Path:
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


_SOURCE_OPTIONS = ("source", "ak", "sk", "security_token")


def connection_options(func=None, *, many: bool = False):
    """The options that say where and how to connect. ``--source`` and the AK/SK options
    are read by :func:`make_client` from the click context, so commands take only the five.
    ``--cloud`` is repeatable; a command not made ``many=True`` refuses several and gets
    one name (or None)."""
    if func is None:
        return functools.partial(connection_options, many=many)
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


def demo_options(verb: str):
    """``--demo`` (the embedded sample catalogue instead of a cloud), ``--images``, ``--seed``."""
    def decorate(func):
        func = click.option("--seed", type=int, default=0, show_default=True,
                            help="With --demo: seed.")(func)
        func = click.option("--images", "n_images", type=click.IntRange(1), default=3000,
                            show_default=True, help="With --demo: number of sample images.")(func)
        return click.option("--demo", is_flag=True,
                            help=f"{verb} the embedded sample catalogue instead.")(func)
    return decorate


def plural(n: int, word: str) -> str:
    """``plural(1, "page") == "1 page"``; ``plural(2, "retry") == "2 retries"``."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def signs(source: str) -> bool:
    """Whether ``source`` signs its requests with AK/SK (its module says; "auto" does not)."""
    from imgframe import sources

    return source in sources.NAMES and sources.get(source).signing


def make_client(endpoint, project_id, token, cloud, insecure):
    import imgframe

    ctx = click.get_current_context()
    params = ctx.params
    source = (params.get("source") or "nova").lower()
    ak, sk, security_token = params.get("ak"), params.get("sk"), params.get("security_token")
    token_given = ctx.get_parameter_source("token") == click.core.ParameterSource.COMMANDLINE
    if cloud and (endpoint or token_given):
        raise click.UsageError("give either --cloud, or --endpoint with --token, not both")
    signed = signs(source)
    if (ak or sk or security_token) and not signed:
        raise click.UsageError("--ak/--sk/--security-token sign Huawei IMS requests: "
                               "use them with --source ims")
    cloud = cloud or (None if endpoint else os.environ.get("OS_CLOUD"))
    if cloud:
        if signed:
            raise click.UsageError(f"--source {source} reads a Huawei endpoint: give --endpoint "
                                   "(with --ak/--sk or --token), not --cloud")
        return imgframe.Client.from_cloud(cloud, source=source)
    if source == "auto":
        raise click.UsageError("--source auto needs --cloud (the catalog names both "
                               "the compute proxy and Glance)")
    if not endpoint:
        raise click.UsageError("give --endpoint (with --token or OS_AUTH_TOKEN) or --cloud")
    if signed:
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


def store_option(func=None, *, create: bool = False):
    """``--store``: ``snapshot`` creates it if missing; ``diff``/``history`` read one."""
    if func is None:
        return functools.partial(store_option, create=create)
    return click.option("--store", "store_dir", required=True, type=click.Path(path_type=Path),
                        callback=checks.writable_dir if create else checks.store_dir,
                        help="Snapshot store directory" + (" (created if missing)."
                                                           if create else "."))(func)


def counts_line(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())
