"""The ``imgframe`` command: demo, serve, export, report, dashboard, notebooks, trend,
snapshot, diff, history.

Errors are one line on stderr, never a traceback: bad usage exits 2 (options are checked
before the work, see :mod:`imgframe.cli.checks`), a failure at run time exits 1, Ctrl-C
exits 130. ``--debug`` (or ``IMGFRAME_DEBUG=1``) shows the traceback instead. pandas and
imgframe's heavy modules are imported inside the commands, so ``--help`` is quick.

This module is the edge (the group :func:`main`, one line per failure) and the list of
commands; the commands live in modules by role: :mod:`~imgframe.cli.load_cmds` (export,
report, trend), :mod:`~imgframe.cli.store_cmds` (snapshot, diff, history),
:mod:`~imgframe.cli.serve_cmds` (serve, dashboard, notebooks), :mod:`~imgframe.cli.demo_cmd`
(demo), over :mod:`~imgframe.cli.options` (shared options, the client they build) and
:mod:`~imgframe.cli.checks` (checks made before the work).
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_while_starting(signum, frame):  # nothing to clean up yet: one line, 130
    os.write(2, b"imgframe: interrupted (Ctrl-C)\n")
    os._exit(130)


def _run_as_program() -> bool:
    """Whether this process is the ``imgframe`` program (its script, or ``python -m
    imgframe.cli``), not a test or a notebook that imports the package."""
    if os.path.basename(sys.argv[0] if sys.argv else "") == "imgframe":
        return True
    argv = getattr(sys, "orig_argv", [])
    return any(flag == "-m" and module == "imgframe.cli"
               for flag, module in zip(argv, argv[1:], strict=False))


# Run as the `imgframe` program (not imported by a test or a notebook): Ctrl-C while the
# modules below load is one line too. main() puts Python's own handler back.
_PROGRAM = _run_as_program()
if _PROGRAM:
    signal.signal(signal.SIGINT, _interrupted_while_starting)

import contextlib  # noqa: E402
import warnings  # noqa: E402

import click  # noqa: E402

from imgframe import __version__  # noqa: E402
from imgframe.cli import (  # noqa: E402
    checks,
    demo_cmd,
    load_cmds,
    serve_cmds,
    store_cmds,
    usage_cmd,
)
from imgframe.cli.checks import one_line  # noqa: E402

__all__ = ["main"]

EXIT_INTERRUPTED = checks.EXIT_INTERRUPTED
_Interrupted = checks.Interrupted


class _Group(click.Group):
    """One line on stderr for every failure of every command; see the module docstring."""

    command_class = checks.Command

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        _STATE["debug"] = os.environ.get("IMGFRAME_DEBUG", "") not in ("", "0")
        if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
            signal.signal(signal.SIGINT, _interrupt)
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _one_line_warning
                code = super().main(args, prog_name, complete_var, standalone_mode=False,
                                    **extra)
        except _NO_ARGS as exc:   # bare `imgframe`: the help, as click < 8.2 gave it
            click.echo(exc.ctx.get_help())
            _exit(0)
        except (KeyboardInterrupt, click.Abort, _Interrupted):
            _exit_interrupted()
        except click.ClickException as exc:
            if _STATE["interrupted"]:   # what an interrupt became on its way up
                _exit_interrupted()
            if _STATE["debug"]:
                raise
            click.echo(f"Error: {one_line(exc.format_message())}", err=True)
            _exit(exc.exit_code)
        except Exception as exc:  # a bug: still one line, the traceback on request
            if _STATE["interrupted"]:   # e.g. a C extension's import turns it to SystemError
                _exit_interrupted()
            if _STATE["debug"]:
                raise
            click.echo(f"Error: {type(exc).__name__}: {one_line(exc)[:300]} (unexpected; "
                       "--debug or IMGFRAME_DEBUG=1 shows the traceback)", err=True)
            _exit(1)
        _exit(code if isinstance(code, int) else 0)


_STATE = {"debug": False, "interrupted": False}


#: seconds the clean-up after Ctrl-C may take before the program ends regardless
INTERRUPT_GRACE = 5.0


def _interrupt(signum, frame):
    """Ctrl-C once the program runs: remembered (an import in a C extension may turn the
    KeyboardInterrupt into another error on its way up, or a library's broad ``except``
    swallow it), then raised as usual; should it be swallowed, the program still ends,
    :data:`INTERRUPT_GRACE` seconds later, with the one line and 130."""
    if not _STATE["interrupted"]:
        _STATE["interrupted"] = True
        import threading

        def last_resort():
            os.write(2, b"imgframe: interrupted (Ctrl-C)\n")
            os._exit(EXIT_INTERRUPTED)

        timer = threading.Timer(INTERRUPT_GRACE, last_resort)
        timer.daemon = True
        timer.start()
    raise KeyboardInterrupt


def _exit_interrupted():
    click.echo("imgframe: interrupted (Ctrl-C)", err=True)
    _exit(EXIT_INTERRUPTED, at_once=True)


def _exit(code: int, at_once: bool = False):
    """Exit with ``code``; as the program, a Ctrl-C from here on no longer interrupts the
    interpreter's shutdown (which would print a traceback after the work is done).
    ``at_once`` (after Ctrl-C, as the program): without the interpreter's shutdown, whose
    record of the interrupt made about one exit in twenty a death by SIGINT (-2), not 130;
    every file was already written or removed by then."""
    if _PROGRAM:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if at_once:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)
    sys.exit(code)


_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"Warning: {one_line(message)}", err=True)


def _set_debug(ctx, param, value):
    if value:
        _STATE["debug"] = True
    return value


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="imgframe")  # no metadata scan
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
              help="Show a traceback on failure (or set IMGFRAME_DEBUG=1).")
def main():
    """imgframe: a cloud's image catalogue as typed pandas DataFrames."""


# --------------------------------------------------------------------------- the commands
# Each is a function with its options, made a command of `main` here, so every one gets
# checks.Command's one-line errors. A new command adds one line at the end: its function as
# `main.command()(module.func)`, or a ready click command as `main.add_command(cmd)`.

main.command()(serve_cmds.serve)
main.command()(demo_cmd.demo)
main.command()(load_cmds.export)
main.command()(load_cmds.report)
main.command()(serve_cmds.dashboard)
main.command()(serve_cmds.notebooks)
main.command()(load_cmds.trend)
main.command()(store_cmds.snapshot)
main.command(name="diff")(store_cmds.diff_command)
main.command()(store_cmds.history)
main.add_command(usage_cmd.usage)   # a ready command of class checks.Command
