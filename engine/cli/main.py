"""`cadenza`: one click group; each subcommand lives in its own module and returns an exit code.

Exit codes: 0 success, 1 the input has problems (diagnostics printed), 2 the command line is
wrong (click's usage errors).
"""

from __future__ import annotations

import sys

import click

from cadenza.engine.cli import fmt, graph, init, validate

COMMANDS: tuple[click.Command, ...] = (validate.command, fmt.command, graph.command,
                                       init.command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cadenza")
def cli() -> None:
    """Engagement playbooks as code: validate, format, draw, simulate and run them."""


for _command in COMMANDS:
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
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
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(main())
