"""A small project driven on virtual time: sends, a quiet-hours deferral, a conversion, a dead
letter; and a Service over its store with the clock stopped at the end."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

from cadenza.connectors import Permanent
from cadenza.connectors.recorder import RecorderConnector
from cadenza.engine import schema as t
from cadenza.engine.api import health, status
from cadenza.engine.service import Service
from cadenza.engine.settings import ServeSettings
from cadenza.engine.simulate import recorders
from tests.engine.harness import Harness, ts

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient and warns when it falls back to httpx,
    # which works the same here (the dev dependencies pin httpx).
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

__all__ = ["TestClient", "app", "drive", "grouped", "service", "step_counts"]

PLAY = """\
playbook cart "Win back carts" {
  framework aarrr
  when event cart_abandoned
  consent sms: sms_opt_in
  quiet hours 21:00-08:00
  goal bought: event order_completed within 3d
  reminder: send email "hello" stage activation
  pause: wait 1d
  nudge: send sms text "Your cart misses you" stage revenue
}

playbook ping "Thank clickers" {
  when event clicked
  consent sms: sms_opt_in
  thanks: send sms text "Thanks for the click"
}
"""
NOW = "2026-03-03T09:00Z"
KEY = "s3cret-admin"
DORA = "dora.explorer@example.com"
DORA_PHONE = "+15551231234"


def drive(tmp: Path, url: str) -> Harness:
    """a sent, b deferred by quiet hours then sent, c converted, d's email dead, d texted."""
    connectors = recorders()
    connectors["email"] = RecorderConnector(name="email", channel="email", by_recipient={
        DORA: Permanent(reason=f"mailbox {DORA} does not exist")})
    h = Harness(tmp, url, PLAY, connectors=connectors)
    h.customers({"id": "a", "sms_opt_in": True}, {"id": "b"}, {"id": "c"},
                {"id": "d", "email": DORA, "phone": DORA_PHONE, "sms_opt_in": True})
    h.run(NOW, ("a", "cart_abandoned", "2026-03-02T10:00Z", {}),
          ("b", "cart_abandoned", "2026-03-02T22:00Z", {}),
          ("c", "cart_abandoned", "2026-03-02T11:00Z", {}),
          ("c", "order_completed", "2026-03-02T12:00Z", {"order_value": 40}),
          ("d", "cart_abandoned", "2026-03-02T13:00Z", {}),
          ("d", "clicked", "2026-03-02T14:00Z", {}))
    return h


def service(h: Harness) -> Service:
    return Service(project=h.project, store=h.store, connectors=recorders(),
                   clock=lambda: float(ts(NOW)))


def app(svc: Service, admin_key: str = KEY) -> Starlette:
    settings = ServeSettings(admin_key=admin_key)  # type: ignore[arg-type]
    return Starlette(routes=[*health.routes(svc, settings), *status.routes(svc, settings)])


def grouped(h: Harness, table: Any, *names: str, where: Any = None) -> dict[tuple[Any, ...], int]:
    """Row counts per group, straight from the database: the oracle the surfaces must match."""
    columns = [table.c[n] for n in names]
    stmt = select(*columns, func.count()).group_by(*columns)
    if where is not None:
        stmt = stmt.where(where)
    with h.store.engine.connect() as conn:
        return {tuple(r[:-1]): r[-1] for r in conn.execute(stmt)}


def step_counts(h: Harness) -> dict[tuple[str, str], int]:
    """(step, measure) -> count as the status page should show it, read from the database."""
    e, msg = t.enrollments, t.messages
    out: dict[tuple[str, str], int] = {}
    for (node,), n in grouped(h, e, "node", where=e.c.state.in_(("active", "waiting"))).items():
        out[(node, "in_flight")] = n
    for (node,), n in grouped(h, msg, "node", where=msg.c.sent_at.is_not(None)).items():
        out[(node, "sent")] = n
    with h.store.engine.connect() as conn:
        trails = conn.execute(select(e.c.trail).where(
            e.c.id.in_(select(t.conversions.c.enrollment_id)))).scalars().all()
    for trail in trails:
        for node in {x.split("@")[0] for x in trail.split(";") if x}:
            out[(node, "converted")] = out.get((node, "converted"), 0) + 1
    return out
