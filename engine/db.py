"""Opening a store: SQLite (the embedded default) or PostgreSQL, migrated to SCHEMA_VERSION.

SQLite follows SQLAlchemy's documented recipe for correct transactions: the driver's own
transaction handling is turned off and every transaction starts with BEGIN IMMEDIATE, so one
writer at a time holds the lock from the first statement (no upgrade deadlocks), in WAL mode so
readers never wait. Database errors are translated at this boundary into `StoreError`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError

from cadenza.engine.schema import SCHEMA_VERSION, events, meta, metadata
from cadenza.engine.writegate import WriteGate

GATE_TIMEOUT_S = 30.0  # as long as SQLite's own busy_timeout below
_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


class StoreError(Exception):
    """The store cannot be opened or used; the message says what to do."""


class NoStoreError(StoreError):
    """A SQLite store file that does not exist, where one was to be read."""


# SQLite's primary result codes for faults no retry fixes: the operator must act.
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL = 8, 10, 13


def fatal_store_error(exc: BaseException | None) -> str | None:
    """A sentence for a store fault that retrying cannot fix (SQLite on a full or failing disk,
    or a file it may not write), else None. PostgreSQL outages are not fatal: workers retry."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    name = getattr(exc, "sqlite_errorname", str(code))
    if code & 0xFF in (_SQLITE_FULL, _SQLITE_IOERR):
        return (f"the store's disk is full or failing (SQLite: {exc}, {name}); free space or "
                "fix the disk, then start cadenza serve again: every transaction in the store "
                "is whole or absent.")
    if code & 0xFF == _SQLITE_READONLY:
        return (f"the store is read-only (SQLite: {exc}, {name}); make the database file, "
                "its -wal and -shm files and their folder writable by this user, then start "
                "cadenza serve again.")
    return None


def write_gate(engine: Engine) -> WriteGate | None:
    """The gate in front of a SQLite store's write lock (None for PostgreSQL)."""
    return _GATES.get(engine)


def _gate_closed() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(
        f"database is locked: this process's earlier transactions held it for "
        f"{GATE_TIMEOUT_S:.0f} s"))


def sqlite_write(conn: Connection, sql: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """`sql` once per row in one short transaction, straight through the sqlite3 driver;
    returns the rows changed. For the dispatcher's per-send writes, one per message: through
    SQLAlchemy (events, statement cache, result set-up) each cost three times the commit.
    The transaction takes the same gate and BEGIN IMMEDIATE as every other, and a failure
    comes back as SQLAlchemy's error, as from `conn.execute`."""
    gate = _GATES[conn.engine]
    if not gate.acquire(conn, GATE_TIMEOUT_S):
        raise _gate_closed()
    raw = conn.connection.dbapi_connection
    assert raw is not None
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            cursor.executemany(sql, rows)
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        return int(cursor.rowcount)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc
    finally:
        gate.release(conn)


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

    gate = WriteGate()
    _GATES[engine] = gate

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if not gate.acquire(conn, GATE_TIMEOUT_S):
            raise _gate_closed()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.release(conn)
            raise

    # The events fire before SQLAlchemy's own COMMIT/ROLLBACK; ending the transaction here
    # first lets the gate open only when SQLite's lock is free (the driver's call after this
    # finds no transaction and does nothing).
    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        try:
            dbapi.commit()
        except sqlite3.Error as exc:
            # A COMMIT that fails (a full disk, an I/O error) must still open the gate, or
            # every later transaction of this process waits for it in vain: undo, then raise
            # it as SQLAlchemy would, so callers see a database error (the API answers 503).
            with contextlib.suppress(sqlite3.Error):
                dbapi.rollback()
            raise DBAPIError.instance("COMMIT", None, exc, sqlite3.Error) from exc
        finally:
            gate.release(conn)

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Any) -> None:
        try:
            conn.connection.dbapi_connection.rollback()
        finally:
            gate.release(conn)


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
        if (fatal := fatal_store_error(exc.orig)) is not None:
            raise StoreError(f"cannot use the store at {parsed.render_as_string()}: "
                             f"{fatal}") from exc
        raise StoreError(f"cannot open the store at {parsed.render_as_string(hide_password=True)}"
                         f": {exc.orig}. Check that the database exists and is reachable.") from exc
    except SQLAlchemyError as exc:
        # The driver's own words: SQLAlchemy's text adds a statement and a web link.
        raise StoreError(f"the store at {parsed.render_as_string(hide_password=True)} failed: "
                         f"{getattr(exc, 'orig', None) or exc}.") from exc
    return engine


def open_existing(url: str) -> Engine:
    """`open_engine` for commands that only read (`plan`, `diff --db`): a SQLite file that is
    not there is an error, not a new empty store that reports no one in flight."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return open_engine(url)  # it says what a URL looks like
    path = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and path not in ("", ":memory:") and \
            not Path(path).is_file():
        raise NoStoreError(f"there is no store at {path}: the file does not exist. Check the "
                         "path (sqlite:///relative or sqlite:////absolute); `cadenza serve` or "
                         "`cadenza apply` creates a store.")
    return open_engine(url)


def schema_version(engine: Engine) -> int | None:
    with engine.connect() as conn:
        return _version(conn)


def _version(conn: Connection) -> int | None:
    if not conn.dialect.has_table(conn, "meta"):
        return None
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    return None if row is None else int(row[0])


# Any fixed numbers: PostgreSQL advisory locks that let one process at a time migrate, or
# record a deployment.
MIGRATE_LOCK = 7_300_412_001
DEPLOY_LOCK = 7_300_412_002


def one_at_a_time(conn: Connection, key: int) -> None:
    """Hold `key` until this transaction ends (PostgreSQL; SQLite's writers take turns
    already): processes starting together must not both do what only one should."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _upgrade(conn: Connection, current: int) -> None:
    """What `create_all` does not do to tables that exist: their new indexes."""
    if current < 6:
        conn.execute(text("DROP INDEX IF EXISTS ix_events_pending"))
        next(i for i in events.indexes if i.name == "ix_events_unprocessed").create(
            conn, checkfirst=True)


def migrate(engine: Engine) -> int:
    """Create or upgrade the schema; returns the version now in place."""
    current = schema_version(engine)
    if current is not None and current > SCHEMA_VERSION:
        raise StoreError(f"this store has schema version {current}, newer than this Cadenza "
                         f"({SCHEMA_VERSION}); upgrade Cadenza before using it.")
    if current == SCHEMA_VERSION:
        return current
    with engine.begin() as conn:
        # `serve` and `work` (or N workers) started together on a fresh database all find no
        # schema; without the lock the second CREATE TABLE fails on the first's. The others
        # wait here, then find the schema in place.
        one_at_a_time(conn, MIGRATE_LOCK)
        current = _version(conn)
        if current == SCHEMA_VERSION:
            return current
        metadata.create_all(conn)  # new tables, with their indexes
        if current is not None:
            _upgrade(conn, current)
        if current is None:
            conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
        else:
            conn.execute(update(meta).where(meta.c.key == "schema_version")
                         .values(value=str(SCHEMA_VERSION)))
    return SCHEMA_VERSION
