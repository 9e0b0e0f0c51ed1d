"""A small project and a runtime around it, driven on virtual time by the tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from cadenza.connectors import Connector
from cadenza.engine import schema as t
from cadenza.engine.db import open_engine
from cadenza.engine.dispatch import Dispatcher
from cadenza.engine.runtime import Runtime
from cadenza.engine.simulate import recorders
from cadenza.engine.state import Event
from cadenza.engine.store import Store
from cadenza.playbooks.project import load_project

SCHEMA = """\
schema {
  customer {
    first_name: string
    email_opt_in: bool
    sms_opt_in: bool
    tier: enum(basic, gold)
    score: number
  }
  event cart_abandoned { cart_value: number }
  event order_completed { order_value: number }
  event clicked { }
}
"""
TEMPLATES = {"hello": "---\nsubject: Hi {{ first_name }}\n---\n<p>Hello {{ first_name }}</p>\n",
             "again": "---\nsubject: Again\n---\n<p>Again</p>\n"}


OPEN: list[Engine] = []  # disposed after each test (tests/conftest.py)


def write_project(root: Path, play: str, schema: str = SCHEMA,
                  templates: Mapping[str, str] = TEMPLATES) -> Path:
    """A project folder: `schema.play`, `main.play` and `templates/NAME.liquid`."""
    (root / "templates").mkdir(parents=True)
    (root / "schema.play").write_text(schema, encoding="utf-8")
    (root / "main.play").write_text(play, encoding="utf-8")
    for name, text in templates.items():
        (root / "templates" / f"{name}.liquid").write_text(text, encoding="utf-8")
    return root


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%MZ")


class Harness:
    def __init__(self, tmp: Path, url: str, play: str, *, start: str = "2026-03-02T00:00Z",
                 connectors: dict[str, Connector] | None = None) -> None:
        loaded = load_project(write_project(tmp / "project", play))
        assert loaded.project is not None, loaded.diagnostics
        self.project = loaded.project
        self.store = Store(open_engine(url))
        OPEN.append(self.store.engine)
        self.runtime = Runtime(project=self.project, store=self.store)
        self.runtime.deploy(ts(start))
        self.dispatcher = Dispatcher(store=self.store, connectors=connectors or recorders())

    def customers(self, *rows: dict[str, Any]) -> None:
        self.store.upsert_customers([{
            "id": r["id"], "email": r.get("email", f"{r['id']}@example.com"),
            "phone": r.get("phone", "+15555550100"), "timezone": r.get("timezone", "UTC"),
            "attributes": {k: v for k, v in r.items()
                           if k not in ("id", "email", "phone", "timezone")}} for r in rows],
            now=0)

    def run(self, until: str, *events: tuple[str, str, str, dict[str, Any]]) -> None:
        evs = [Event(customer_id=c, name=n, ts=ts(at), properties=p) for c, n, at, p in events]
        self.runtime.process(evs, ts(until))
        while self.dispatcher.dispatch(ts(until)):
            pass

    def sends(self) -> list[tuple[str, str, str | None, str]]:
        m = t.messages
        with self.store.engine.connect() as conn:
            return [(r.customer_id, r.channel, r.template, iso(r.created_at)) for r in
                    conn.execute(select(m).order_by(m.c.created_at, m.c.id))]

    def suppressions(self) -> list[tuple[str, str, str, str]]:
        s = t.suppressions
        with self.store.engine.connect() as conn:
            return [(r.customer_id, r.node, r.reason, r.action) for r in
                    conn.execute(select(s).order_by(s.c.at, s.c.id))]

    def enrollments(self) -> list[tuple[str, str, str, str | None]]:
        e = t.enrollments
        with self.store.engine.connect() as conn:
            return [(r.customer_id, r.playbook, r.state, r.end_reason) for r in
                    conn.execute(select(e).order_by(e.c.id))]

    def rows(self, table: Any) -> list[Any]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(select(table)))
