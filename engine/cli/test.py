"""`cadenza test [PATHS]`: run the playbook tests of each project."""

from __future__ import annotations

from pathlib import Path

import click

from cadenza.engine.cli.output import finish, print_diagnostics
from cadenza.engine.cli.validate import load_all
from cadenza.engine.testing import describe_failure, run_test


def run(paths: tuple[Path, ...], name_filter: str | None) -> int:
    passed = failed = 0
    names: list[str] = []
    for loaded in load_all(paths):
        if loaded.project is None:
            print_diagnostics(loaded.diagnostics, loaded.sources)
            click.echo(f"{loaded.root}: cannot test a project with errors.", err=True)
            failed += 1
            continue
        project = loaded.project
        names += [test.name for test in project.tests]
        for test in project.tests:
            if name_filter and name_filter not in test.name:
                continue
            outcome = run_test(project, test)
            zone = str(test.customer.get("timezone") or project.timezone)
            if outcome.passed:
                passed += 1
                click.echo(f'ok   "{test.name}" ({test.location})')
            else:
                failed += 1
                click.echo(describe_failure(outcome, zone))
    click.echo(f"{passed} passed, {failed} failed")
    if name_filter and not passed + failed and names:
        # A filter that matches nothing would otherwise pass a CI job that tests nothing.
        click.echo(f'No test name contains "{name_filter}"; the tests are: '
                   + ", ".join(f'"{n}"' for n in names) + ". (-k matches part of a name, "
                   "case-sensitively.)", err=True)
        return 1
    return 1 if failed else 0


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("-k", "name_filter", help="Run only tests whose name contains this text.")
def command(paths: tuple[Path, ...], name_filter: str | None) -> None:
    """Run playbook tests: given a customer and events, expect exactly these sends."""
    finish(run(paths, name_filter))
