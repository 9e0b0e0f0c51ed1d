"""`cadenza validate [PATHS]`: every diagnostic of every project, in one run."""

from __future__ import annotations

from pathlib import Path

import click

from cadenza.engine.cli.output import finish, print_diagnostics, print_json
from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Diagnostic, summary
from cadenza.playbooks.project import LoadedProject, load_project, project_roots


def load_all(paths: tuple[Path, ...]) -> list[LoadedProject]:
    """One project per distinct root (a folder of projects gives each of them); files other
    than .play (a README in a glob) are skipped."""
    roots: dict[Path, Path] = {}
    for p in paths or (Path("."),):
        if p.is_file() and p.suffix != ".play":
            click.echo(f"skipping {p}: not a .play file or a project directory", err=True)
            continue
        for root in project_roots(p):
            roots.setdefault(root.resolve(), root)
    return [load_project(root) for root in roots.values()]


def run(paths: tuple[Path, ...], output: str, strict: bool) -> int:
    projects = load_all(paths)
    everything: list[Diagnostic] = [d for p in projects for d in p.diagnostics]
    if output == "json":
        print_json(everything)
    else:
        for p in projects:
            print_diagnostics(p.diagnostics, p.sources)
            count = len(p.project.playbooks) if p.project else _declared(p)
            state = "ok" if p.ok else "failed"
            noun = "playbook" if count == 1 else "playbooks"
            click.echo(f"{p.root}: {state} — {count} {noun}, {summary(p.diagnostics)}")
    failed = any(d.is_error or strict for d in everything)
    return 1 if failed else 0


def _declared(p: LoadedProject) -> int:
    """Playbooks written in a project that failed to compile (what the author counts)."""
    return sum(isinstance(d, ast.Playbook) for doc in p.documents for d in doc.items)


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Diagnostics as text or as JSON for tools.")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
def command(paths: tuple[Path, ...], output: str, strict: bool) -> None:
    """Check playbook projects (directories, or files inside one) and report every problem."""
    finish(run(paths, output, strict))
