"""`cadenza`: one click group; each subcommand lives in its own module and returns an exit code.

Exit codes: 0 success, 1 the input has problems (diagnostics printed), 2 the command line is
wrong (click's usage errors).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click
import structlog

INTERNAL_ERROR = 70  # EX_SOFTWARE from sysexits.h
# name -> "module:attribute". Imported only when run (or listed by --help): `cadenza validate`
# should not pay for the server, the SDKs and the language server at start-up.
COMMANDS: dict[str, str] = {
    "validate": "validate:command", "fmt": "fmt:command", "graph": "graph:command",
    "init": "init:command", "simulate": "simulate:command", "test": "test:command",
    "explain": "explain:command", "diff": "diff:command", "plan": "deploy:plan_command",
    "apply": "deploy:apply_command", "serve": "serve:command", "migrate": "migrate:command",
    "lsp": "lsp:command", "work": "work:command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(f"cadenza.engine.cli.{module}"), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command; fix COMMANDS in {__name__}.")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cadenza")
def cli() -> None:
    """Engagement playbooks as code: validate, format, draw, simulate and run them."""


def quiet_logs() -> None:
    """Commands print reports, not logs: only warnings and errors reach the terminal."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def main(argv: list[str] | None = None) -> int:
    quiet_logs()
    try:
        result = cli.main(args=argv, prog_name="cadenza", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except Exception as exc:
        # Bad input must never surface as a traceback; a bug here is ours, so say that.
        if os.environ.get("CADENZA_DEBUG"):
            raise
        click.echo(f"cadenza: internal error: {type(exc).__name__}: {exc}. This is a bug in "
                   "Cadenza, not in your input; please report it with the command and the "
                   "files it read (set CADENZA_DEBUG=1 for the traceback).", err=True)
        return INTERNAL_ERROR
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(main())
