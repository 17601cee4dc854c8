"""The ``imgframe`` command's edge: checks made before the work, and one line per failure.

Used only by :mod:`imgframe.cli`. Every option that names a file, a directory or a port
gets a click callback from here, so a wrong value stops the command at parse time (exit 2,
one line naming the option as typed) before any request or load. :func:`option_error`
turns the library's :class:`~imgframe.errors.InvalidQueryError` (which names Python
parameters, ``changes_since``) into the option's own spelling (``--changes-since``).
:func:`atomic_output` writes a file under a temporary name and renames it into place, so
a failure or Ctrl-C leaves no partial file behind.

Imports nothing heavy: ``imgframe --help`` must stay fast.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import re
import socket
from pathlib import Path

import click

from imgframe.errors import ImgframeError, InvalidQueryError  # the standard library only

__all__ = ["CHART_SUFFIXES", "EXIT_INTERRUPTED", "Command", "Interrupted", "atomic_output",
           "choice_upper", "free_port", "host_known", "input_file", "one_line", "option_error",
           "output_path", "password", "port_free", "read_inventory", "store_dir",
           "writable_dir"]

#: what a chart option accepts: the formats matplotlib writes without extras
CHART_SUFFIXES = (".png", ".svg", ".pdf")

#: Python parameter names whose option is spelled otherwise
_ALIASES = {"detail": "--list", "hidden": "--hidden/--not-hidden", "n_images": "--images",
            "store_dir": "--store", "input_path": "--input", "output": "--output"}

#: options whose values are never shown, whatever the library says
_SECRET_OPTIONS = {"token", "sk", "security_token", "password"}

#: the engine each suffix needs, and the extra that installs it
_ENGINES = {".parquet": ("pyarrow", "imgframe[parquet]")}


def one_line(exc) -> str:
    """``exc`` (or any text) as one line: its whitespace runs made single spaces."""
    return " ".join(str(exc).split())


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _fail(message: str, param, ctx):
    raise click.BadParameter(message, ctx=ctx, param=param)


def output_path(*suffixes: str, what: str = ""):
    """A callback for an option naming a file to write: a known suffix, the engine it
    needs installed, not a directory, in an existing writable directory."""
    def check(ctx, param, value):
        if value is None:
            return None
        path = Path(value)
        suffix = path.suffix.lower()
        if path.is_dir():
            _fail(f"{str(path)!r} is a directory; give a file name ending in "
                  f"{_either(suffixes)}", param, ctx)
        if suffix not in suffixes:
            _fail(f"must end in {_either(suffixes)}{f' ({what})' if what else ''}, "
                  f"got {path.name!r}", param, ctx)
        if suffix in _ENGINES:
            module, extra = _ENGINES[suffix]
            if importlib.util.find_spec(module) is None:
                _fail(f"writing {suffix} needs {module}, which is not installed "
                      f"(pip install '{extra}'), got {path.name!r}", param, ctx)
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            _fail(f"the directory {str(parent)!r} does not exist (create it first), "
                  f"got {str(path)!r}", param, ctx)
        if not os.access(parent, os.W_OK | os.X_OK) or (path.exists()
                                                        and not os.access(path, os.W_OK)):
            _fail(f"{str(path)!r} cannot be written (permission denied)", param, ctx)
        return path
    return check


def writable_dir(ctx, param, value):
    """A callback for a directory to create or fill: not a file, creatable, writable."""
    if value is None:
        return None
    path = Path(value)
    if path.exists() and not path.is_dir():
        _fail(f"{str(path)!r} is a file; give a directory", param, ctx)
    base = _nearest_existing(path)
    if not base.is_dir():
        _fail(f"{str(base)!r} is a file, so {str(path)!r} cannot be a directory", param, ctx)
    if not os.access(base, os.W_OK | os.X_OK):
        _fail(f"{str(path)!r} cannot be written ({str(base)!r}: permission denied)",
              param, ctx)
    return path


def store_dir(ctx, param, value):
    """A callback for an existing snapshot store to read (``diff``, ``history``)."""
    path = Path(value)
    if not path.exists():
        _fail(f"no snapshot store at {str(path)!r} (imgframe snapshot --store "
              f"{path} creates one)", param, ctx)
    if not path.is_dir():
        _fail(f"{str(path)!r} is a file; give the store's directory", param, ctx)
    return path


def input_file(*suffixes: str):
    """A callback for a file to read: exists, a file, not empty, a known suffix whose
    engine is installed."""
    def check(ctx, param, value):
        if value is None:
            return None
        path = Path(value)
        if not path.exists():
            _fail(f"{str(path)!r} does not exist", param, ctx)
        if path.is_dir():
            _fail(f"{str(path)!r} is a directory; give a file ({_either(suffixes)})",
                  param, ctx)
        suffix = path.suffix.lower()
        if suffix not in suffixes:
            _fail(f"must end in {_either(suffixes)}, got {path.name!r}", param, ctx)
        if suffix in _ENGINES and importlib.util.find_spec(_ENGINES[suffix][0]) is None:
            module, extra = _ENGINES[suffix]
            _fail(f"reading {suffix} needs {module}, which is not installed "
                  f"(pip install '{extra}')", param, ctx)
        if not os.access(path, os.R_OK):
            _fail(f"{str(path)!r} cannot be read (permission denied)", param, ctx)
        if path.stat().st_size == 0:
            _fail(f"{str(path)!r} is empty; give a file written by imgframe export",
                  param, ctx)
        return path
    return check


def host_known(host: str) -> str | None:
    """Why ``host`` cannot be listened on (not an address or a name that resolves)."""
    try:
        socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {host!r}: {exc.strerror}"
    return None


def port_free(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (``None`` when it can); port 0 is always
    free. Binds and closes a socket as the servers do (SO_REUSEADDR)."""
    if port == 0 or host_known(host):
        return None
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is in use (another server is listening "
                        f"there); choose another --port, or --port 0 for a free one")
            if exc.errno == errno.EACCES:
                return (f"port {port} on {host} needs privileges (ports below 1024); "
                        f"choose --port 1024 or above")
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def free_port(host: str):
    """A callback for ``--port`` on ``host``: refuse one something already listens on."""
    def check(ctx, param, port):
        why = port_free(host, port)
        if why:
            _fail(why, param, ctx)
        return port
    return check


def password(ctx, param, value):
    """A callback for ``--password``: 8 characters or more; the value is never shown."""
    if value is not None and len(value) < 8:
        _fail(f"must be 8 characters or more, got {len(value)} (the value is not shown)",
              param, ctx)
    return value


def choice_upper(choices):
    """A callback for a case-insensitive choice shown and returned in capitals
    (``--freq m`` -> ``M``)."""
    def check(ctx, param, value):
        if value is not None and value.upper() not in choices:
            _fail(f"{value!r} is not one of {', '.join(choices)} (any case)", param, ctx)
        return value.upper() if value is not None else None
    return check


def read_inventory(path: Path):
    """The frame in a file ``imgframe export`` wrote (``--input``), or a usage error
    saying why it is not one."""
    import imgframe

    try:
        if path.suffix.lower() == ".parquet":
            from imgframe.export import read_parquet

            df = read_parquet(path)
        else:
            df = imgframe.read_csv(path)
    except (ImgframeError, OSError):
        raise
    except Exception as exc:  # pandas' and pyarrow's parse errors
        text = " ".join(str(exc).split())[:200]
        raise click.BadParameter(f"{str(path)!r} cannot be read as an inventory "
                                 f"({type(exc).__name__}: {text})",
                                 param_hint="'--input'") from exc
    missing = [c for c in ("id", "name", "status", "created", "updated") if c not in df.columns]
    if missing:
        raise click.BadParameter(f"{str(path)!r} is not an inventory written by imgframe export "
                                 f"(no column {', '.join(missing)})", param_hint="'--input'")
    return df


def option_error(exc, ctx: click.Context | None) -> str:
    """One line for an :class:`~imgframe.errors.InvalidQueryError`, naming the option as
    typed (``--changes-since``) instead of the Python parameter (``changes_since``).

    ``allowed`` texts of the form ``"None: reason"`` (the option cannot be used here) read
    ``"--visibility cannot be used here: reason"``."""
    name = exc.parameter
    option = _spelling(name, ctx)
    text = " ".join(str(exc).split())
    head = f"{name}={exc.given!r}"
    allowed = " ".join(str(exc.allowed).split())
    reason = ""
    if text.startswith(head + ": ") and text.endswith("; " + allowed):
        reason = text[len(head) + 2:len(text) - len(allowed) - 2]
    if option is None:       # not an option of this command: keep the library's words
        return text
    given = _given(name, exc.given, ctx)
    forbidden = re.match(r"^(None|True|False)(?: \(([^)]*)\))?: (.*)$", allowed)
    if forbidden:
        return f"{option} cannot be used here: {forbidden.group(3)}"
    given_text = f", got {given!r}" if given is not None else ""
    if reason:
        return f"invalid value for {option}{given_text}: {reason}; allowed: {allowed}"
    return f"invalid value for {option}{given_text}; allowed: {allowed}"


def _spelling(name: str, ctx: click.Context | None) -> str | None:
    if ctx is None:
        return None
    if name in _ALIASES:
        alias = _ALIASES[name]
        names = {p.name for p in ctx.command.params}
        if name in names or alias == "--list":
            return alias
    for param in ctx.command.params:
        if param.name == name and isinstance(param, click.Option):
            return max(param.opts, key=len)
        if param.name == name and isinstance(param, click.Argument):
            return param.human_readable_name
    return None


def _given(name: str, library_given, ctx: click.Context | None):
    """What to show as given: the library's own value (it hides secrets as ``<hidden>``),
    else what was typed for a plain option; never a secret option's value."""
    if name in _SECRET_OPTIONS or isinstance(library_given, bool) or library_given is None:
        return None
    if isinstance(library_given, str | int | float):
        return library_given
    value = ctx.params.get(name) if ctx is not None else None
    return value if isinstance(value, str | int | float) else None


def _either(suffixes) -> str:
    return suffixes[0] if len(suffixes) == 1 else (
        ", ".join(suffixes[:-1]) + " or " + suffixes[-1])


@contextlib.contextmanager
def atomic_output(path: Path | None):
    """Yield a temporary sibling of ``path`` to write; rename it to ``path`` on success,
    remove it on any failure or Ctrl-C. The temporary keeps the suffix (formats follow it).
    ``None`` yields ``None``."""
    if path is None:
        yield None
        return
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


#: the exit status after Ctrl-C
EXIT_INTERRUPTED = 130


class Command(click.Command):
    """Turn imgframe's errors into one line: a refused parameter is bad usage (exit 2,
    named as the option is typed), any other imgframe or OS error a failure (exit 1)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except InvalidQueryError as exc:
            raise click.UsageError(option_error(exc, ctx), ctx=ctx) from exc
        except ImgframeError as exc:
            raise click.ClickException(one_line(exc)) from exc
        except OSError as exc:
            if exc.errno == errno.EPIPE:    # `imgframe ... | head`: click ends it quietly
                raise
            raise click.ClickException(one_line(exc)) from exc
        except KeyboardInterrupt as exc:  # before click turns it into a blank line + Abort
            raise Interrupted() from exc


class Interrupted(click.ClickException):
    """Ctrl-C inside a command, kept from click's blank line and Abort: the group ends
    the program with one line and :data:`EXIT_INTERRUPTED`."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self):
        super().__init__("interrupted (Ctrl-C)")
