"""Upgrading a store made by an earlier Cadenza: its rows kept, its indexes brought up to date."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, select, text, update

from cadenza.engine import schema as t
from cadenza.engine.db import open_engine, schema_version, sqlite_url
from cadenza.engine.schema import SCHEMA_VERSION
from cadenza.engine.state import Event
from cadenza.engine.store import Store


def _as_version_5(url: str) -> None:
    """The store as version 5 left it: every event in one (processed, ts) index."""
    engine = open_engine(url)
    Store(engine).insert_events([Event("c1", "signup", 10, {}), Event("c2", "signup", 20, {})],
                                received_at=30)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_events_unprocessed"))
        conn.execute(text("CREATE INDEX ix_events_pending ON events (processed, ts)"))
        conn.execute(update(t.meta).where(t.meta.c.key == "schema_version").values(value="5"))
    engine.dispose()


def test_a_version_5_store_gets_the_index_of_pending_events_only(store_url: str) -> None:
    _as_version_5(store_url)
    engine = open_engine(store_url)
    try:
        assert schema_version(engine) == SCHEMA_VERSION == 6
        names = {i["name"] for i in inspect(engine).get_indexes("events")}
        assert "ix_events_unprocessed" in names
        assert "ix_events_pending" not in names
        store = Store(engine)
        assert store.work(100, 10) == ["c1", "c2"]  # the pending events, through the new index
        with engine.connect() as conn:
            assert conn.execute(select(t.events.c.customer_id)
                                .order_by(t.events.c.id)).scalars().all() == ["c1", "c2"]
    finally:
        engine.dispose()


def test_the_pending_events_query_reads_the_partial_index_on_sqlite(tmp_path: Path) -> None:
    """The query must repeat the index's own condition (`processed IS 0`) for SQLite to use
    it; a bound parameter there would make it scan the table."""
    engine = open_engine(sqlite_url(tmp_path / "s.db"))
    ev = t.events
    query = (select(ev.c.customer_id).where(ev.c.processed.is_(False), ev.c.ts <= 5)
             .order_by(ev.c.ts).limit(10))
    with engine.connect() as conn:
        sql = str(query.compile(conn))
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", (5, 10, 0)).all()
    engine.dispose()
    assert "USING INDEX ix_events_unprocessed" in str(plan)
