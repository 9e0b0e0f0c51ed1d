"""Bulk writes on SQLite straight through the sqlite3 driver, inside SQLAlchemy's transaction.

SQLAlchemy's `executemany` processes every parameter of every row in Python before the driver
sees it (and for INSERT ... RETURNING it renders multi-VALUES statements), which was most of
the cost of a simulation's writes: 9.5 µs per message row against 5.8 µs here. These run on
the connection's own sqlite3 connection, so they are part of the caller's transaction (begun
with BEGIN IMMEDIATE: this process is the only writer until it commits). JSON columns are
serialised as SQLAlchemy's JSON type would store them (`json.dumps`, None as `null`);
booleans are integers to sqlite3 already. The PostgreSQL counterpart is engine/pgbulk.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Connection, Table
from sqlalchemy.exc import DBAPIError


def _cursor(conn: Connection) -> sqlite3.Cursor:
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection), "litebulk is for SQLite connections"
    return raw.cursor()


def _values(table: Table, names: Sequence[str],
            rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    jsons = {n for n in names if isinstance(table.c[n].type, JSON)}
    if not jsons:
        return [tuple(r[n] for n in names) for r in rows]
    # None too becomes JSON `null`, as SQLAlchemy's JSON type (none_as_null=False) stores it.
    return [tuple(json.dumps(r[n]) if n in jsons else r[n] for n in names) for r in rows]


def _run(conn: Connection, sql: str, values: list[tuple[Any, ...]]) -> None:
    try:
        _cursor(conn).executemany(sql, values)
    except sqlite3.Error as exc:  # callers handle SQLAlchemy's errors, as from conn.execute
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
                skip_existing: str | None = None,
                upsert: tuple[str, Sequence[str]] | None = None) -> None:
    """INSERT every row (all with the same keys); `skip_existing` names a unique column whose
    stored values make a row be left out (ON CONFLICT DO NOTHING); `upsert` (a unique column,
    the columns to set) makes such a row update those columns of the stored one instead."""
    if not rows:
        return
    names = list(rows[0])
    sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "
           f"VALUES ({', '.join('?' for _ in names)})")
    if skip_existing is not None:
        sql += f" ON CONFLICT ({skip_existing}) DO NOTHING"
    if upsert is not None:
        key, columns = upsert
        sets = ", ".join(f"{c} = excluded.{c}" for c in columns)
        sql += f" ON CONFLICT ({key}) DO UPDATE SET {sets}"
    _run(conn, sql, _values(table, names, rows))


def insert_rows_with_ids(conn: Connection, table: Table,
                         rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """INSERT with ids given here, in the rows' order: the next ids SQLite would pick itself
    (max + 1, the table has no AUTOINCREMENT), known since this transaction is the writer."""
    if not rows:
        return []
    last = _cursor(conn).execute(f"SELECT coalesce(max(id), 0) FROM {table.name}").fetchone()
    ids = list(range(int(last[0]) + 1, int(last[0]) + 1 + len(rows)))
    insert_rows(conn, table, [{"id": i, **r} for i, r in zip(ids, rows, strict=True)])
    return ids


def existing(conn: Connection, table: Table, column: str, values: Sequence[Any]) -> set[Any]:
    """Which of `values` the table's `column` holds already."""
    found: set[Any] = set()
    cursor = _cursor(conn)
    for i in range(0, len(values), 500):  # under SQLite's limit of bound parameters
        part = values[i:i + 500]
        marks = ", ".join("?" for _ in part)
        found.update(r[0] for r in cursor.execute(
            f"SELECT {column} FROM {table.name} WHERE {column} IN ({marks})", part))
    return found


def update_rows(conn: Connection, table: Table, key: str,
                rows: Sequence[Mapping[str, Any]]) -> None:
    """UPDATE each row found by `key` to its values (all rows with the same keys)."""
    if not rows:
        return
    names = [n for n in rows[0] if n != key]
    sets = ", ".join(f"{n} = ?" for n in names)
    _run(conn, f"UPDATE {table.name} SET {sets} WHERE {key} = ?",
         _values(table, [*names, key], rows))


def update_by_id(conn: Connection, table: Table, values: Mapping[str, Any],
                 ids: Sequence[int]) -> None:
    """Set the same `values` on every row whose id is in `ids`."""
    if not ids:
        return
    sets = ", ".join(f"{n} = ?" for n in values)
    fixed = tuple(values.values())
    _run(conn, f"UPDATE {table.name} SET {sets} WHERE id = ?", [(*fixed, i) for i in ids])
