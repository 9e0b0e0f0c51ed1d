"""The simulation report as terminal tables (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from cadenza.engine.report import Report, utc_minute


def render_text(report: Report, console: Console) -> None:
    console.print(f"[bold]Simulation[/bold] {utc_minute(report.start)} → {utc_minute(report.end)}: "
                  f"{report.customers:,} customers, {report.events:,} events, "
                  f"{report.enrollments:,} enrollments")
    if report.skipped:
        shown = ", ".join(f"{n} {reason}" for reason, n in sorted(report.skipped.items()))
        console.print(f"[yellow]skipped input rows:[/yellow] {shown}")
    console.print(_steps(report))
    if report.sends_per_day:
        console.print(_days(report))
    else:  # an empty table squeezed its title into a column one word wide
        console.print("Sends per channel per day (UTC): none")
    if report.goals:
        goals = Table(title="Goals", title_justify="left")
        for col in ("playbook", "goal", "enrolled", "converted", "rate"):
            goals.add_column(col, justify="right" if col in ("enrolled", "converted", "rate")
                             else "left")
        for pb, goal, n, c in report.goals:
            goals.add_row(pb, goal, f"{n:,}", f"{c:,}", f"{c / n:.1%}" if n else "—")
        console.print(goals)
    if report.funnel:
        console.print(_funnel(report))
    if report.arms:
        arms = Table(title="Experiment arms", title_justify="left")
        for col in ("playbook", "split", "arm", "customers", "converted", "rate"):
            arms.add_column(col)
        for a in report.arms:
            arms.add_row(a.playbook, a.split, a.arm, f"{a.customers:,}", f"{a.converted:,}",
                         f"{a.rate:.1%}")
        console.print(arms)


def _steps(report: Report) -> Table:
    table = Table(title="Steps", title_justify="left")
    for col in ("playbook", "step", "kind", "stage", "entered", "sent", "suppressed",
                "exited", "converted", "at"):
        table.add_column(col, justify="right" if col in ("entered", "sent", "exited",
                                                         "converted") else "left")
    for r in report.steps:
        suppressed = ", ".join(f"{k} {v}" for k, v in sorted(r.suppressed.items())) or ""
        table.add_row(r.playbook, r.step, r.kind, r.stage or "", f"{r.entered:,}",
                      f"{r.sent:,}", suppressed, f"{r.exited:,}", f"{r.converted:,}",
                      r.location)
    return table


def _days(report: Report) -> Table:
    channels = sorted({c for day in report.sends_per_day.values() for c in day})
    table = Table(title="Sends per channel per day (UTC)", title_justify="left")
    table.add_column("day")
    for c in channels:
        table.add_column(c, justify="right")
    for day, counts in report.sends_per_day.items():
        table.add_row(day, *(f"{counts.get(c, 0):,}" for c in channels))
    return table


def _funnel(report: Report) -> Table:
    table = Table(title="Funnel by framework stage", title_justify="left")
    for col in ("playbook", "framework", "stage", "reached", "sent", "converted"):
        table.add_column(col)
    for r in report.funnel:
        table.add_row(r.playbook, r.framework, r.stage, f"{r.reached:,}", f"{r.sent:,}",
                      f"{r.converted:,}")
    return table
