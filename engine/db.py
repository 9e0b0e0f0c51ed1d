"""Opening a store: SQLite (the embedded default) or PostgreSQL, migrated to SCHEMA_VERSION.

SQLite follows SQLAlchemy's documented recipe for correct transactions: the driver's own
transaction handling is turned off and every transaction starts with BEGIN IMMEDIATE, so one
writer at a time holds the lock from the first statement (no upgrade deadlocks), in WAL mode so
readers never wait. Database errors are translated at this boundary into `StoreError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from cadenza.engine.schema import SCHEMA_VERSION, meta, metadata


class StoreError(Exception):
    """The store cannot be opened or used; the message says what to do."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _sqlite_setup(engine: Engine, *, durable: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={'NORMAL' if durable else 'OFF'}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_engine(url: str, *, durable: bool = True) -> Engine:
    """An Engine for `url`, migrated. `durable=False` (simulations) skips fsyncs on SQLite."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"'{url}' is not a database URL; use sqlite:///path/state.db or "
                         "postgresql+psycopg://user@host/db.") from exc
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(url)
            _sqlite_setup(engine, durable=durable)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        migrate(engine)
    except OperationalError as exc:
        raise StoreError(f"cannot open the store at {parsed.render_as_string(hide_password=True)}"
                         f": {exc.orig}. Check that the database exists and is reachable.") from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"the store at {parsed.render_as_string(hide_password=True)} failed: "
                         f"{exc}.") from exc
    return engine


def schema_version(engine: Engine) -> int | None:
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, "meta"):
            return None
        row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    return None if row is None else int(row[0])


def migrate(engine: Engine) -> int:
    """Create or upgrade the schema; returns the version now in place."""
    current = schema_version(engine)
    if current is not None and current > SCHEMA_VERSION:
        raise StoreError(f"this store has schema version {current}, newer than this Cadenza "
                         f"({SCHEMA_VERSION}); upgrade Cadenza before using it.")
    if current == SCHEMA_VERSION:
        return current
    with engine.begin() as conn:
        metadata.create_all(conn)
        if current is None:
            conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
        else:
            conn.execute(update(meta).where(meta.c.key == "schema_version")
                         .values(value=str(SCHEMA_VERSION)))
    return SCHEMA_VERSION
