"""`cadenza graph PLAYBOOK`: a playbook as a Mermaid (or DOT) picture."""

from __future__ import annotations

from pathlib import Path

import click

from cadenza.engine.cli.output import finish, print_diagnostics
from cadenza.grammar.diagnostics import did_you_mean
from cadenza.playbooks import model as m
from cadenza.playbooks.project import find_root, load_project
from cadenza.playbooks.render import dot, mermaid


def _select(project: m.Project, target: str, path: Path) -> list[m.Playbook] | str:
    if path.is_file():
        found = [pb for pb in project.playbooks.values() if Path(pb.file) == path]
        return found or f"'{path}' declares no playbook."
    if path.is_dir():
        return list(project.playbooks.values()) or f"'{path}' has no playbooks."
    if target in project.playbooks:
        return [project.playbooks[target]]
    return (f"no playbook is named '{target}'{did_you_mean(target, project.playbooks)}"
            f" Playbooks here: {', '.join(sorted(project.playbooks)) or 'none'}.")


def run(target: str, project_dir: Path, output: str) -> int:
    path = Path(target)
    loaded = load_project(find_root(path) if path.exists() else project_dir)
    if loaded.project is None:
        print_diagnostics(loaded.diagnostics, loaded.sources)
        click.echo("cannot draw a project with errors; fix them first.", err=True)
        return 1
    chosen = _select(loaded.project, target, path)
    if isinstance(chosen, str):
        click.echo(f"error: {chosen}", err=True)
        return 1
    frameworks = loaded.project.frameworks
    click.echo("\n".join(_picture(pb, frameworks, output, labelled=len(chosen) > 1)
                         for pb in chosen), nl=False)
    return 0


def _picture(pb: m.Playbook, frameworks: dict[str, m.Framework], output: str,
             labelled: bool) -> str:
    """One playbook's diagram; with several, each says which playbook it is."""
    if output == "markdown":
        return f"## {pb.name}\n\n```mermaid\n{mermaid(pb, frameworks)}```\n"
    if output == "mermaid":
        return f"%% playbook {pb.name}\n" * labelled + mermaid(pb, frameworks)
    return f"// playbook {pb.name}\n" * labelled + dot(pb, frameworks)


@click.command("graph")
@click.argument("playbook")
@click.option("--project", "project_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), default=Path("."), show_default=True,
              help="Project to look the playbook name up in.")
@click.option("--format", "output", type=click.Choice(["mermaid", "dot", "markdown"]),
              default="mermaid", show_default=True,
              help="markdown: a heading and a ```mermaid block per playbook, for a README or "
                   "a pull request.")
def command(playbook: str, project_dir: Path, output: str) -> None:
    """Draw PLAYBOOK (a name, a .play file, or a project directory).

    Several playbooks (a directory, or a file declaring more than one) give one diagram
    each, after a `%% playbook NAME` line: a Mermaid block holds one diagram, so paste each
    into its own block, or use --format markdown."""
    finish(run(playbook, project_dir, output))
