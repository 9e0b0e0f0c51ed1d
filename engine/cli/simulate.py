"""`cadenza simulate PROJECT`: the engine on virtual time over an audience and its history."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress

from cadenza.engine.cli.output import finish, print_diagnostics
from cadenza.engine.dataload import load_data
from cadenza.engine.report import Report, build_report
from cadenza.engine.report_html import render_html
from cadenza.engine.report_text import render_text
from cadenza.engine.simulate import Simulation, default_span
from cadenza.engine.timing import parse_timestamp
from cadenza.grammar.diagnostics import did_you_mean
from cadenza.playbooks.project import load_project


def _data_file(root: Path, given: Path | None, stems: tuple[str, ...]) -> Path | None:
    if given is not None:
        return given
    for stem in stems:
        if (root / "data" / stem).is_file():
            return root / "data" / stem
    return None


def run(project_dir: Path, playbook: str | None, customers: Path | None, events: Path | None,
        start: str | None, days: int | None, output: str, out: Path | None,
        db: Path | None, parts: int | None = None) -> int:
    loaded = load_project(project_dir)
    if loaded.project is None:
        print_diagnostics(loaded.diagnostics, loaded.sources)
        click.echo("cannot simulate a project with errors; fix them first.", err=True)
        return 1
    project = loaded.project
    if playbook is not None and playbook not in project.playbooks:
        click.echo(f"error: no playbook is named '{playbook}'"
                   f"{did_you_mean(playbook, project.playbooks)}", err=True)
        return 1
    people = _data_file(loaded.root, customers, ("customers.jsonl", "customers.csv"))
    if people is None:
        click.echo(f"error: no audience: pass --customers FILE or put customers.jsonl (or "
                   f".csv) in {loaded.root / 'data'}.", err=True)
        return 1
    history = _data_file(loaded.root, events, ("events.jsonl",))
    data = load_data(project, people, history)
    if not data.customers:
        for p in data.problems:  # the audience's own rows (every event's customer is unknown)
            if p.file == str(people):
                click.echo(str(p), err=True)
        click.echo(f"error: {people} holds no usable customer, so there is no one to simulate; "
                   "each row needs at least an 'id' (docs/simulate.md, \"The data files\").",
                   err=True)
        return 1
    try:
        first = None if start is None else parse_timestamp(start)
    except ValueError as exc:
        click.echo(f"error: --start {start!r}: {exc}", err=True)
        return 1
    if first is None and not data.events:
        for p in data.problems:  # why no event was usable, line by line
            click.echo(str(p), err=True)
        where = history if history is not None else loaded.root / "data" / "events.jsonl"
        click.echo(f"error: there is no event history to take the period from ('{where}' "
                   f"{'holds no usable events' if history else 'does not exist'}): pass "
                   "--start, e.g. --start 2026-03-01T00:00Z, to say when the simulation begins "
                   "(it runs --days days, 30 by default).", err=True)
        return 1
    span = default_span(data, first, days)
    sim = Simulation(project=project, data=data, start=span[0], end=span[1], db_path=db,
                     playbooks=(playbook,) if playbook else (), parts=parts)
    try:
        _run(sim, output)
        report = build_report(sim.scoped_project(), sim.store, *span)
    finally:
        sim.close()
    report.skipped = dict(data.skipped())
    report.problems = [str(p) for p in data.problems]
    _emit(report, output, out)
    for p in data.problems:
        click.echo(str(p), err=True)
    return 1 if data.skipped() else 0


def _run(sim: Simulation, output: str) -> None:
    if output != "text" or not sys.stderr.isatty():
        sim.run()
        return
    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("simulating", total=sim.end - sim.start)
        sim.run(lambda done, total: bar.update(task, completed=done))


def _emit(report: Report, output: str, out: Path | None) -> None:
    if output == "json":
        text = json.dumps(report.as_json(), indent=2, ensure_ascii=False)
    elif output == "html":
        text = render_html(report)
    else:
        if out is None:
            render_text(report, Console(width=max(140, Console().width)))
            return
        console = Console(record=True, width=160, file=io.StringIO())
        render_text(report, console)
        text = console.export_text()
    if out is None:
        click.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@click.command("simulate")
@click.argument("project", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("playbook", required=False)
@click.option("--customers", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Audience: JSONL or CSV (default: PROJECT/data/customers.jsonl|csv).")
@click.option("--events", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Event history: JSONL (default: PROJECT/data/events.jsonl).")
@click.option("--start", help="Virtual start, ISO 8601 with a zone (default: the last --days "
              "before the midnight after the last event, or the first event's day when the "
              "file spans less). Earlier events are history: they count, trigger nothing.")
# Ten years: a segment-driven playbook looks every 15 minutes, so 100,000 days ran for hours.
@click.option("--days", type=click.IntRange(min=1, max=3660),
              help="Days to simulate (default 30, at most 3660).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Accepted for scripts that pass one; it changes nothing: split arms are a "
                   "hash of playbook, split and customer, so every run gives the same result.")
@click.option("--format", "output", type=click.Choice(["text", "json", "html"]),
              default="text", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep the simulation's store here (for `cadenza explain`).")
@click.option("--parts", type=click.IntRange(min=1, max=64),
              help="Processes to split the audience over (default: one per core, at most 4, "
                   "from 40,000 customers on; 1 uses the least memory).")
def command(project: Path, playbook: str | None, customers: Path | None,
            events: Path | None, start: str | None, days: int | None, seed: int,
            output: str, out: Path | None, db: Path | None, parts: int | None) -> None:
    """Dry-run PROJECT (or one PLAYBOOK of it) over an audience and its event history."""
    del seed
    finish(run(project, playbook, customers, events, start, days, output, out, db, parts))
