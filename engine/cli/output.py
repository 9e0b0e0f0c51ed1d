"""Printing diagnostics the same way from every subcommand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import click

from cadenza.grammar.diagnostics import Diagnostic, render_json, render_text

_COLOURS = {"error": "red", "warning": "yellow"}


def print_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, str]) -> None:
    lines_of = {name: text.splitlines() for name, text in sources.items()}
    for d in diagnostics:
        text = render_text(d, lines_of.get(d.file))
        head, _, rest = text.partition("\n")
        click.echo(click.style(head, fg=_COLOURS[d.severity], bold=True), err=False)
        if rest:
            click.echo(rest)
        click.echo()


def print_json(diagnostics: Sequence[Diagnostic]) -> None:
    click.echo(render_json(diagnostics))


def finish(code: int) -> NoReturn:
    """End the command with `code`, under `cadenza` and under click's test runner alike."""
    click.get_current_context().exit(code)


def boot_failed(exc: Exception) -> int:
    """Say why `serve` or `work` cannot start (the project's diagnostics first, when the
    project is what failed); the exit code, 1."""
    loaded = getattr(exc, "loaded", None)
    if loaded is not None:
        print_diagnostics(loaded.diagnostics, loaded.sources)
    click.echo(f"error: {exc}", err=True)
    return 1
