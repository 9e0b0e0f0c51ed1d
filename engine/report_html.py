"""The simulation report as one self-contained HTML page: tables and inline SVG charts."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from cadenza.engine.report import Report, utc_minute

PALETTE = ("#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed")
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;
color:#111;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.muted{color:#555}table{border-collapse:collapse;width:100%;margin:4px 0 12px}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f9fafb;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:10px;
height:10px;margin-right:4px;border-radius:2px}.warn{color:#b45309}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(headers: list[str], rows: list[list[object]], numeric: set[int]) -> str:
    head = "".join(f"<th class='n'>{_e(h)}</th>" if i in numeric else f"<th>{_e(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(
        f"<td class='n'>{_e(f'{c:,}' if isinstance(c, int) else c)}</td>" if i in numeric
        else f"<td>{_e(c)}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bars(series: dict[str, dict[str, int]]) -> str:
    """Stacked bars: one per day, one colour per channel."""
    days = list(series)
    channels = sorted({c for counts in series.values() for c in counts})
    if not days:
        return "<p class='muted'>No sends.</p>"
    top = max((sum(c.values()) for c in series.values()), default=0) or 1
    # At most the page's width: a long run's days get thinner bars, not a chart off the page.
    width, height = min(1150, max(600, 24 * len(days))), 220
    gap = min(4.0, width / len(days) / 5)
    bar = width / len(days) - gap
    parts = []
    for i, day in enumerate(days):
        y = float(height - 20)
        for j, ch in enumerate(channels):
            n = series[day].get(ch, 0)
            h = (height - 40) * n / top
            y -= h
            parts.append(f"<rect x='{i * (bar + gap):.1f}' y='{y:.1f}' width='{bar:.1f}' "
                         f"height='{h:.1f}' fill='{PALETTE[j % len(PALETTE)]}'>"
                         f"<title>{_e(day)} {_e(ch)}: {n}</title></rect>")
        if i % max(1, len(days) // 10) == 0:
            parts.append(f"<text x='{i * (bar + gap):.1f}' y='{height - 4}' "
                         f"font-size='10'>{_e(day[5:])}</text>")
    # A scale: the tallest bar's value at its height, and the zero line.
    parts.append(f"<line x1='0' x2='{width}' y1='20' y2='20' stroke='#e5e7eb'/>"
                 f"<text x='{width - 4}' y='16' font-size='10' text-anchor='end'>"
                 f"{top:,} per day</text>"
                 f"<line x1='0' x2='{width}' y1='{height - 20}' y2='{height - 20}' "
                 f"stroke='#9ca3af'/>")
    legend = "".join(f"<span><i class='sw' style='background:{PALETTE[j % len(PALETTE)]}'>"
                     f"</i>{_e(ch)}</span>" for j, ch in enumerate(channels))
    return (f"<svg width='{width}' height='{height}' role='img' aria-label='sends per day'>"
            f"{''.join(parts)}</svg><div class='legend'>{legend}</div>")


def _funnel_svg(report: Report) -> str:
    out = []
    for playbook in sorted({r.playbook for r in report.funnel}):
        rows = [r for r in report.funnel if r.playbook == playbook]
        top = max((r.reached for r in rows), default=0) or 1
        bars = "".join(
            f"<g transform='translate(0,{i * 26})'><text x='0' y='15' font-size='12'>"
            f"{_e(r.stage)}</text><rect x='110' y='3' height='16' "
            f"width='{400 * r.reached / top:.1f}' fill='{PALETTE[i % len(PALETTE)]}'/>"
            f"<text x='{115 + 400 * r.reached / top:.1f}' y='15' font-size='12'>"
            f"{r.reached:,} reached · {r.converted:,} converted</text></g>"
            for i, r in enumerate(rows))
        out.append(f"<h3>{_e(playbook)}</h3><svg width='720' height='{26 * len(rows)}'>"
                   f"{bars}</svg>")
    return "".join(out)


def _every_day(report: Report) -> dict[str, dict[str, int]]:
    """Every day of the run, with zeros where nothing was sent, so the axis is honest."""
    days: dict[str, dict[str, int]] = {}
    for ts in range(report.start - report.start % 86_400, report.end, 86_400):
        day = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
        days[day] = report.sends_per_day.get(day, {})
    for day, counts in report.sends_per_day.items():
        days.setdefault(day, counts)
    return dict(sorted(days.items()))


def render_html(report: Report) -> str:
    steps = _table(["playbook", "step", "kind", "stage", "entered", "sent", "suppressed",
                    "exited", "converted", "source"],
                   [[r.playbook, r.step, r.kind, r.stage or "", r.entered, r.sent,
                     ", ".join(f"{k} {v}" for k, v in sorted(r.suppressed.items())),
                     r.exited, r.converted, r.location] for r in report.steps], {4, 5, 7, 8})
    goals = _table(["playbook", "goal", "enrolled", "converted", "rate"],
                   [[p, g, n, c, f"{c / n:.1%}" if n else "—"] for p, g, n, c in report.goals],
                   {2, 3, 4})
    arms = _table(["playbook", "split", "arm", "customers", "converted", "rate"],
                  [[a.playbook, a.split, a.arm, a.customers, a.converted, f"{a.rate:.1%}"]
                   for a in report.arms], {3, 4, 5})
    suppressed = _table(["reason/action", "count"],
                        [[k, v] for k, v in report.suppressions.items()], {1})
    skipped = "".join(f"<li>{_e(p)}</li>" for p in report.problems[:50])
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Cadenza simulation</title><style>{STYLE}</style></head><body>
<h1>Cadenza simulation</h1>
<p class="muted">{_e(utc_minute(report.start))} → {_e(utc_minute(report.end))} ·
{report.customers:,} customers · {report.events:,} events · {report.enrollments:,} enrollments</p>
{f"<p class='warn'>Skipped input rows: {_e(report.skipped)}</p><ul>{skipped}</ul>"
 if report.skipped else ""}
<h2>Sends per channel per day (UTC)</h2>{_bars(_every_day(report))}
<h2>Funnel by framework stage</h2>{_funnel_svg(report) or "<p class='muted'>No stages.</p>"}
<h2>Goals</h2>{goals}
<h2>Experiment arms</h2>{arms if report.arms else "<p class='muted'>No splits.</p>"}
<h2>Suppressions</h2>{suppressed}
<h2>Steps</h2>{steps}
</body></html>
"""
