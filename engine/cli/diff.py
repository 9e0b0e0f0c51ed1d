"""`cadenza diff BASE HEAD`: what a change means, for a reviewer (see docs/review.md).

Exit codes: 0 the diff was shown (or there is no semantic change), 1 a side does not compile
(its diagnostics are printed), 2 a usage error (a side that is neither a directory nor a git
ref, a missing project folder ...). With `--exit-code`, 1 also means "there are changes",
like `git diff --exit-code`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from cadenza.engine.cli.output import finish, print_diagnostics
from cadenza.playbooks import model as m
from cadenza.playbooks.diff import diff_projects
from cadenza.playbooks.diff_markdown import render_markdown
from cadenza.playbooks.diff_model import ProjectDiff
from cadenza.playbooks.diff_render import render_json, render_text
from cadenza.playbooks.diff_source import Side, SourceError, open_side
from cadenza.playbooks.project import load_project

USAGE = 2


def _load(side: Side, which: str) -> m.Project | None:
    loaded = load_project(side.root)
    if loaded.project is not None:
        return loaded.project
    shown = [dataclasses.replace(d, file=side.label(d.file)) for d in loaded.diagnostics]
    print_diagnostics(shown, {side.label(k): v for k, v in loaded.sources.items()})
    errors = len(loaded.errors())
    # "the HEAD side ('.')": the user's git ref HEAD may be the BASE side.
    named = which if side.given == which else f"the {which} side ('{side.given}')"
    click.echo(f"error: {named} does not compile ({errors} "
               f"error{'s' if errors != 1 else ''} above); fix them there, or compare "
               "against a version where the project compiles.", err=True)
    return None


@dataclasses.dataclass(frozen=True)
class Options:
    output: str
    db: str | None
    customers: Path | None
    events: Path | None


def _impact(diff: ProjectDiff, base: m.Project, head: m.Project,
            opts: Options) -> tuple[dict[str, object], list[str], list[str]] | None:
    """JSON, text and markdown of the impact; None when the store cannot be opened."""
    if opts.db is None and opts.customers is None:
        return {}, [], []  # impact_json(None, None): no impact asked for
    # The engine (SQLAlchemy, the simulator, the connectors) is imported only when asked for:
    # a plain diff in a pull request's CI job should start as fast as `validate`.
    from cadenza.engine.db import StoreError, open_existing  # noqa: PLC0415
    from cadenza.engine.impact import (  # noqa: PLC0415
        compare_figures,
        impact_json,
        simulate,
        store_impact,
    )
    from cadenza.engine.impact_render import (  # noqa: PLC0415
        flight_markdown,
        flight_text,
        sim_markdown,
        sim_text,
    )
    from cadenza.engine.store import Store  # noqa: PLC0415

    flight = sim = None
    span = (0, 0)
    if opts.db is not None:
        try:
            store = Store(open_existing(opts.db))
        except StoreError as exc:
            click.echo(f"error: {exc}", err=True)
            return None
        try:
            flight = store_impact(store, diff, head)
        finally:
            store.engine.dispose()
    if opts.customers is not None:
        (before, _, span), (after, problems, _) = (simulate(p, opts.customers, opts.events)
                                                   for p in (base, head))
        for problem in problems:  # HEAD's: the schema that will run decides what is usable
            click.echo(problem, err=True)
        sim = compare_figures(before, after)
    texts, marks = [], []
    if flight is not None:
        texts.append(flight_text(flight, opts.db or ""))
        marks.append(flight_markdown(flight))
    if sim is not None:
        texts.append(sim_text(sim, diff.base, diff.head, span))
        marks.append(sim_markdown(sim, diff.base, diff.head, span))
    return impact_json(flight, sim), texts, marks


def _emit(diff: ProjectDiff, base: m.Project, head: m.Project, opts: Options) -> int:
    found = _impact(diff, base, head, opts)
    if found is None:
        return 1
    data, texts, marks = found
    if opts.output == "json":
        click.echo(render_json(diff, data), nl=False)
    elif opts.output == "markdown":
        click.echo(render_markdown(diff, head, marks), nl=False)
    else:
        click.echo(render_text(diff, texts), nl=False)
    return 0


def _other_dir(given: str) -> Path | None:
    """`cadenza diff HEAD shop` from a folder that is not a project itself: the project is
    'shop' at HEAD too, without --project."""
    cwd = Path.cwd().resolve()
    path = (cwd / given).resolve()
    if (cwd / "cadenza.toml").is_file() or path == cwd or not path.is_relative_to(cwd):
        return None
    return path.relative_to(cwd) if (path / "cadenza.toml").is_file() else None


def run(base_ref: str, head_ref: str, project: Path | None, opts: Options,
        exit_code: bool) -> int:
    sides: list[Side] = []
    try:
        for given in (base_ref, head_ref):
            sides.append(open_side(given, Path.cwd(), project or _other_dir(
                base_ref if given == head_ref else head_ref)))
        base, head = _load(sides[0], "BASE"), _load(sides[1], "HEAD")
        if base is None or head is None:
            return 1
        diff = diff_projects(base, head, base_label=base_ref, head_label=head_ref)
        code = _emit(diff, base, head, opts)
        return code or (1 if exit_code and not diff.empty else 0)
    except SourceError as exc:
        click.echo(f"error: {exc}", err=True)
        return USAGE
    finally:
        for side in sides:
            side.close()


@click.command("diff")
@click.argument("base")
@click.argument("head")
@click.option("--format", "output", type=click.Choice(["text", "markdown", "json"]),
              default="text", show_default=True,
              help="A plan to read, one pull-request comment, or JSON for tools.")
@click.option("--project", type=click.Path(file_okay=False, path_type=Path),
              help="The project folder, for git refs (default: the current directory).")
@click.option("--db", help="A store (as for `serve`): count customers in flight and say what "
              "each change policy does to them.")
@click.option("--customers", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Audience (JSONL or CSV): simulate BASE and HEAD on it, before -> after.")
@click.option("--events", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Event history (JSONL) for the simulation.")
@click.option("--exit-code", is_flag=True,
              help="Exit with 1 when there are changes, like `git diff --exit-code`.")
def command(base: str, head: str, output: str, project: Path | None, db: str | None,
            customers: Path | None, events: Path | None, exit_code: bool) -> None:
    """Show what changes in meaning from BASE to HEAD (git refs or project directories)."""
    if events is not None and customers is None:
        raise click.UsageError("--events needs --customers: the simulation runs the events "
                               "over an audience; pass --customers FILE too.")
    finish(run(base, head, project, Options(output, db, customers, events), exit_code))
