"""The status page (`GET /`): what is deployed, where customers are, what went out, what died.

Server-rendered, self-contained HTML (inline CSS, no script, no network fetches), behind the
admin key: `Authorization: Bearer KEY`, or `?key=KEY` so a browser can open it. Addresses are
shown redacted (`a***@example.com`, `+1******1234`) and message subjects and bodies never
appear. Every count carries a `data-count` attribute so tests (and scrapers) read exact values.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

from sqlalchemy import Connection, func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from cadenza.connectors import redact_address, redact_text
from cadenza.engine import schema as t
from cadenza.engine.api.health import stale_after
from cadenza.engine.machine import deferred_until
from cadenza.engine.service import Service
from cadenza.engine.settings import ServeSettings
from cadenza.playbooks import describe as d
from cadenza.playbooks import model as m
from cadenza.playbooks.render import edges, mermaid

DAY = 86_400
LATEST = 50
OPEN_STATES = ("active", "waiting")
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


# ------------------------------------------------------------------ what the page shows
@dataclass
class StepView:
    id: str
    kind: str
    what: str
    stage: str | None
    ways_out: list[str]
    in_flight: int = 0
    sent: int = 0
    suppressed: dict[tuple[str, str], int] = field(default_factory=dict)  # (reason, action)
    converted: int = 0


@dataclass
class PlaybookView:
    name: str
    title: str
    framework: str | None
    version: int
    source_hash: str
    git_commit: str | None
    deployed_at: int
    steps: list[StepView]
    mermaid: str
    in_flight_by_version: dict[int, int]


@dataclass
class Status:
    project: str
    now: int
    problems: list[str]
    last_tick: float
    playbooks: list[PlaybookView]
    messages_24h: dict[tuple[str, str], int]  # (channel, status)
    suppressions_24h: dict[tuple[str, str, str], int]  # (channel, reason, action)
    latest_messages: list[dict[str, Any]]
    latest_suppressions: list[dict[str, Any]]
    dead: list[dict[str, Any]]
    dead_total: int


def _detail(text: str) -> str:
    """The engine's own "until EPOCH" as a time; anything else (render errors) redacted."""
    until = deferred_until(text)
    return redact_text(text) if until is None else f"until {_ts(until)}"


def _who(customer_id: str) -> str:
    """Customer ids are shown as they are, unless they are an address themselves."""
    return redact_text(customer_id) if "@" in customer_id or customer_id.startswith("+") \
        else customer_id


def _steps(pb: m.Playbook) -> list[StepView]:
    out = []
    for s in pb.steps:
        ways = [f"{label} → {target or 'end'}" if label else f"→ {target or 'end'}"
                for target, label in edges(s)]
        out.append(StepView(id=s.id, kind=s.kind, what=d.step(s)[:80],
                            stage=getattr(s, "stage", None), ways_out=ways))
    return out


def _step_counts(conn: Connection, views: dict[tuple[str, str], StepView]) -> None:
    e, msg, sup = t.enrollments, t.messages, t.suppressions
    for pb, node, n in conn.execute(select(e.c.playbook, e.c.node, func.count())
                                    .where(e.c.state.in_(OPEN_STATES))
                                    .group_by(e.c.playbook, e.c.node)):
        if (pb, node) in views:
            views[(pb, node)].in_flight = n
    for pb, node, n in conn.execute(select(msg.c.playbook, msg.c.node, func.count())
                                    .where(msg.c.sent_at.is_not(None))
                                    .group_by(msg.c.playbook, msg.c.node)):
        if (pb, node) in views:
            views[(pb, node)].sent = n
    for pb, node, reason, action, n in conn.execute(
            select(sup.c.playbook, sup.c.node, sup.c.reason, sup.c.action, func.count())
            .group_by(sup.c.playbook, sup.c.node, sup.c.reason, sup.c.action)):
        if (pb, node) in views:
            views[(pb, node)].suppressed[(reason, action)] = n
    converted = select(t.conversions.c.enrollment_id).distinct()
    for pb, trail in conn.execute(select(e.c.playbook, e.c.trail).where(e.c.id.in_(converted))):
        for node in {x.split("@", 1)[0] for x in (trail or "").split(";") if x}:
            if (pb, node) in views:
                views[(pb, node)].converted += 1


def _playbooks(service: Service, conn: Connection) -> list[PlaybookView]:
    pv, e = t.playbook_versions, t.enrollments
    active = service.runtime.active
    rows = {r.id: r for r in conn.execute(select(pv).where(
        pv.c.id.in_([v.id for v in active.values()])))}
    numbers: dict[int, int] = dict(conn.execute(select(pv.c.id, pv.c.version)).all())
    by_version: dict[str, dict[int, int]] = defaultdict(dict)
    for pb, vid, n in conn.execute(select(e.c.playbook, e.c.version_id, func.count())
                                   .where(e.c.state.in_(OPEN_STATES))
                                   .group_by(e.c.playbook, e.c.version_id)):
        by_version[pb][numbers.get(vid, 0)] = n
    out: list[PlaybookView] = []
    views: dict[tuple[str, str], StepView] = {}
    for name, version in active.items():
        pb, row = version.playbook, rows[version.id]
        steps = _steps(pb)
        views.update({(name, s.id): s for s in steps})
        out.append(PlaybookView(
            name=name, title=pb.title, framework=pb.framework, version=row.version,
            source_hash=row.source_hash, git_commit=row.git_commit, deployed_at=row.created_at,
            steps=steps, mermaid=mermaid(pb, service.project.frameworks),
            in_flight_by_version=dict(sorted(by_version[name].items()))))
    _step_counts(conn, views)
    return out


def _recent(conn: Connection, since: int) -> tuple[dict[Any, int], dict[Any, int]]:
    msg, sup = t.messages, t.suppressions
    sent = {(c, s): n for c, s, n in conn.execute(
        select(msg.c.channel, msg.c.status, func.count()).where(msg.c.created_at >= since)
        .group_by(msg.c.channel, msg.c.status).order_by(msg.c.channel, msg.c.status))}
    held = {(c or "", r, a): n for c, r, a, n in conn.execute(
        select(sup.c.channel, sup.c.reason, sup.c.action, func.count())
        .where(sup.c.at >= since).group_by(sup.c.channel, sup.c.reason, sup.c.action)
        .order_by(sup.c.channel, sup.c.reason, sup.c.action))}
    return sent, held


def _message_row(r: Any) -> dict[str, Any]:
    return {"at": r.created_at, "playbook": r.playbook, "step": r.node, "channel": r.channel,
            "customer": _who(r.customer_id),
            "to": redact_address(r.to_address) if r.to_address else "",
            "status": r.status, "attempts": r.attempts,
            "error": redact_text(r.last_error or "")}


def _rows(conn: Connection, since: int) -> tuple[list[dict[str, Any]], ...]:
    msg, sup = t.messages, t.suppressions
    columns = [msg.c.id, msg.c.created_at, msg.c.playbook, msg.c.node, msg.c.channel,
               msg.c.customer_id, msg.c.to_address, msg.c.status, msg.c.attempts,
               msg.c.last_error]  # never subject or body
    latest = [_message_row(r) for r in conn.execute(
        select(*columns).where(msg.c.created_at >= since).order_by(msg.c.id.desc())
        .limit(LATEST))]
    held = [{"at": r.at, "playbook": r.playbook, "step": r.node, "channel": r.channel or "",
             "customer": _who(r.customer_id), "reason": r.reason, "action": r.action,
             "detail": _detail(r.detail or "")}
            for r in conn.execute(select(sup).where(sup.c.at >= since)
                                  .order_by(sup.c.id.desc()).limit(LATEST))]
    dead = [_message_row(r) for r in conn.execute(
        select(*columns).where(msg.c.status == "dead").order_by(msg.c.id.desc()).limit(LATEST))]
    return latest, held, dead


def gather(service: Service, settings: ServeSettings) -> Status:
    """Everything the page shows, read in one connection."""
    now = service.now()
    problems = service.ready(stale_after(settings))
    with service.store.engine.connect() as conn:
        playbooks = _playbooks(service, conn)
        sent, held = _recent(conn, now - DAY)
        latest, latest_held, dead = _rows(conn, now - DAY)
        dead_total = conn.execute(select(func.count()).select_from(t.messages)
                                  .where(t.messages.c.status == "dead")).scalar_one()
    return Status(project=service.project.name, now=now, problems=problems,
                  last_tick=service.last_tick, playbooks=playbooks, messages_24h=sent,
                  suppressions_24h=held, latest_messages=latest,
                  latest_suppressions=latest_held, dead=dead, dead_total=dead_total)


# ------------------------------------------------------------------ HTML
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2937;
background:#f3f4f6}
header{background:#111827;color:#f9fafb;padding:14px 24px;display:flex;gap:24px;
align-items:baseline;flex-wrap:wrap}
header h1{font-size:18px;margin:0}
main{padding:16px 24px;max-width:1280px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px 16px;
margin:0 0 16px}
h2{font-size:16px;margin:4px 0 10px}
h3{font-size:15px;margin:0 0 6px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #f0f1f3;vertical-align:top}
th{font-weight:600;color:#4b5563;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#6b7280;font-size:12px}
.ok{color:#15803d}.bad{color:#b91c1c}
.pill{display:inline-block;padding:0 6px;border-radius:9px;background:#eef2ff;
font-size:12px;margin:1px 2px 1px 0;white-space:nowrap}
.kind{font-family:ui-monospace,monospace;font-size:12px;color:#374151}
.bar{height:6px;background:#60a5fa;border-radius:3px;margin-top:2px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
details pre{background:#f9fafb;padding:8px;overflow:auto;font-size:12px}
.empty{color:#9ca3af;font-style:italic}
.scroll{overflow-x:auto}
td.t{white-space:nowrap}
"""


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _n(value: int, name: str) -> str:
    return f'<td class="n" data-count="{escape(name)}">{value}</td>'


def _table(head: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    cells = "".join(f'<th class="n">{escape(h[1:])}</th>' if h.startswith("#")
                    else f"<th>{escape(h)}</th>" for h in head)
    return (f'<div class="scroll"><table><thead><tr>{cells}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _step_row(s: StepView, widest: int) -> str:
    held = "".join(
        f'<span class="pill" data-reason="{escape(r)}" data-action="{escape(a)}" '
        f'data-count="{n}">{escape(r.replace("_", " "))} · {escape(a)} {n}</span>'
        for (r, a), n in sorted(s.suppressed.items()))
    bar = f'<div class="bar" style="width:{100 * s.in_flight // widest}%"></div>' \
        if s.in_flight else ""
    return (f'<tr data-step="{escape(s.id)}"><td><b>{escape(s.id)}</b><br>'
            f'<span class="kind">{escape(s.what)}</span></td>'
            f"<td>{escape(s.kind)}</td><td>{escape(s.stage or '')}</td>"
            f'<td class="meta">{"<br>".join(escape(w) for w in s.ways_out)}</td>'
            f'<td class="n" data-count="in_flight">{s.in_flight}{bar}</td>'
            f"{_n(s.sent, 'sent')}<td>{held}</td>{_n(s.converted, 'converted')}</tr>")


LEGEND = ("In flight: open enrollments whose next step is this one (customers in a wait are "
          "counted at the step after it). Sent: messages a connector accepted. Suppressed: "
          "sends deferred or skipped by a policy. Converted: enrollments that passed this step "
          "and reached a goal.")


def _playbook(pb: PlaybookView) -> str:
    widest = max([1, *(s.in_flight for s in pb.steps)])
    rows = [_step_row(s, widest) for s in pb.steps]
    older = ", ".join(f"v{v}: {n}" for v, n in pb.in_flight_by_version.items()
                      if v != pb.version)
    commit = f" · commit {escape(pb.git_commit[:12])}" if pb.git_commit else ""
    return (f'<section class="playbook" data-playbook="{escape(pb.name)}">'
            f"<h3>{escape(pb.name)} <span class=\"pill\" data-version=\"{pb.version}\">"
            f"v{pb.version}</span> {escape(pb.title)}</h3>"
            f'<p class="meta">source {escape(pb.source_hash[:12])}{commit} · deployed '
            f"{_ts(pb.deployed_at)} · framework {escape(pb.framework or 'none')}"
            f"{' · in flight on older versions: ' + escape(older) if older else ''}</p>"
            + _table(["step", "kind", "stage", "next", "#in flight", "#sent", "suppressed",
                      "#converted"], rows, "no steps")
            + f'<p class="meta">{LEGEND}</p>'
            + "<details><summary>Mermaid source</summary><pre>"
            f"{escape(pb.mermaid)}</pre></details></section>")


def _recent_html(s: Status) -> str:
    sent = [f'<tr data-channel="{escape(c)}" data-status="{escape(st)}"><td>{escape(c)}</td>'
            f"<td>{escape(st)}</td>{_n(n, 'messages')}</tr>"
            for (c, st), n in s.messages_24h.items()]
    held = [f'<tr data-channel="{escape(c)}" data-reason="{escape(r)}" '
            f'data-action="{escape(a)}"><td>{escape(c or "-")}</td><td>{escape(r)}</td>'
            f"<td>{escape(a)}</td>{_n(n, 'suppressions')}</tr>"
            for (c, r, a), n in s.suppressions_24h.items()]
    return ('<section id="last-24h"><h2>Last 24 hours</h2><div class="grid"><div>'
            "<h3>Messages by channel and status</h3>"
            + _table(["channel", "status", "#messages"], sent, "no messages")
            + "</div><div><h3>Suppressions by channel and reason</h3>"
            + _table(["channel", "reason", "action", "#count"], held, "no suppressions")
            + "</div></div></section>")


def _message_table(rows: list[dict[str, Any]], with_error: bool, empty: str) -> str:
    out = [f"<tr><td class=\"t\">{_ts(r['at'])}</td><td>{escape(r['playbook'])}</td>"
           f"<td>{escape(r['step'])}</td><td>{escape(r['channel'])}</td>"
           f"<td>{escape(r['customer'])}</td><td class=\"to\">{escape(r['to'])}</td>"
           f"<td>{escape(r['status'])}</td><td class=\"n\">{r['attempts']}</td>"
           + (f"<td>{escape(r['error'])}</td>" if with_error else "") + "</tr>" for r in rows]
    head = ["created", "playbook", "step", "channel", "customer", "to", "status", "#attempts"]
    return _table([*head, "last error"] if with_error else head, out, empty)


def _suppression_table(rows: list[dict[str, Any]]) -> str:
    out = [f"<tr><td class=\"t\">{_ts(r['at'])}</td><td>{escape(r['playbook'])}</td>"
           f"<td>{escape(r['step'])}</td><td>{escape(r['channel'])}</td>"
           f"<td>{escape(r['customer'])}</td><td>{escape(r['reason'])}</td>"
           f"<td>{escape(r['action'])}</td><td>{escape(r['detail'])}</td></tr>" for r in rows]
    return _table(["at", "playbook", "step", "channel", "customer", "reason", "action",
                   "detail"], out, "no suppressions in the last 24 hours")


def render(s: Status) -> str:
    ready = ('<span class="ok" id="readiness">ready</span>' if not s.problems else
             '<span class="bad" id="readiness">unready: '
             + escape(" ".join(s.problems)) + "</span>")
    tick = _ts(s.last_tick) if s.last_tick else "not yet"
    playbooks = "".join(_playbook(pb) for pb in s.playbooks) or \
        '<p class="empty">no playbooks deployed</p>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Cadenza · {escape(s.project)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>Cadenza · {escape(s.project)}</h1><span>{ready}</span>"
        f'<span class="meta">now {_ts(s.now)} · last tick {tick}</span></header><main>'
        f'<section id="playbooks"><h2>Deployed playbooks</h2>{playbooks}</section>'
        + _recent_html(s)
        + f'<section id="messages"><h2>Latest messages (last 24 h, up to {LATEST})</h2>'
        + _message_table(s.latest_messages, False, "no messages in the last 24 hours")
        + f'</section><section id="suppressions"><h2>Latest suppressions (last 24 h, up to '
        f"{LATEST})</h2>" + _suppression_table(s.latest_suppressions)
        + f'</section><section id="dead"><h2>Dead letters <span class="pill" '
        f'data-count="dead">{s.dead_total}</span></h2>'
        + _message_table(s.dead, True, "no dead letters")
        + "</section></main></body></html>")


# ------------------------------------------------------------------ the route
def authorized(request: Request, key: str) -> bool:
    """True without a configured key, or when the bearer token or `?key=` matches it."""
    if not key:
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    offered = [token.strip()] if scheme.lower() == "bearer" else []
    offered.append(request.query_params.get("key", ""))
    return any(hmac.compare_digest(o.encode(), key.encode()) for o in offered if o)


UNAUTHORIZED = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Cadenza · '
    "admin key needed</title></head><body><h1>401 · admin key needed</h1><p>This page needs "
    "the admin key (CADENZA_ADMIN_KEY): send <code>Authorization: Bearer KEY</code>, or open "
    "<code>/?key=KEY</code> in a browser.</p></body></html>")


def routes(service: Service, settings: ServeSettings) -> list[BaseRoute]:
    key = settings.admin_key.get_secret_value()

    async def page(request: Request) -> Response:
        if not authorized(request, key):
            return HTMLResponse(UNAUTHORIZED, status_code=401, headers={
                **HEADERS, "WWW-Authenticate": 'Bearer realm="cadenza"'})
        status = await run_in_threadpool(gather, service, settings)
        return HTMLResponse(render(status), headers=HEADERS)

    return [Route("/", page, methods=["GET"])]


__all__ = ["Status", "authorized", "gather", "render", "routes"]
