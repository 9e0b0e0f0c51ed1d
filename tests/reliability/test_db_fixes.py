"""Regression tests for what the database-fault trials found: a failed SQLite COMMIT kept the
write gate (every later transaction of the process then waited 30 s and failed: `serve` wedged
on a full disk), and a full or read-only store left `serve` running and /readyz green."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from cadenza.engine import db
from cadenza.engine.db import fatal_store_error, open_engine
from tests.engine.harness import OPEN
from tests.ops.scenario import TestClient, app, drive, service


def test_a_failed_commit_opens_the_write_gate(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A COMMIT that fails (here a deferred foreign key; on a full disk an I/O error) raises a
    SQLAlchemy error, and the next transaction starts at once instead of timing out."""
    monkeypatch.setattr(db, "GATE_TIMEOUT_S", 3.0)
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    OPEN.append(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE child (pid INTEGER REFERENCES parent (id) "
                          "DEFERRABLE INITIALLY DEFERRED)"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO child (pid) VALUES (99)"))  # checked at COMMIT
    began = time.monotonic()
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM child")).scalar_one() == 0
    assert time.monotonic() - began < 1.0


def _sqlite_error(code: int, name: str, message: str) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    exc.sqlite_errorname = name  # type: ignore[attr-defined]
    return exc


def test_full_and_read_only_stores_are_fatal_and_outages_are_not() -> None:
    full = fatal_store_error(_sqlite_error(13, "SQLITE_FULL", "database or disk is full"))
    assert full is not None
    assert full.startswith("the store's disk is full or failing")
    ioerr = fatal_store_error(_sqlite_error(778, "SQLITE_IOERR_WRITE", "disk I/O error"))
    assert ioerr is not None
    read_only = fatal_store_error(_sqlite_error(8, "SQLITE_READONLY", "attempt to write"))
    assert read_only is not None
    assert read_only.startswith("the store is read-only")
    assert fatal_store_error(_sqlite_error(5, "SQLITE_BUSY", "database is locked")) is None
    assert fatal_store_error(ConnectionError("server closed the connection")) is None


def test_a_fatal_store_error_stops_the_service_and_fails_readyz(tmp_path: Path) -> None:
    svc = service(drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"))
    stopped: list[bool] = []
    svc.on_fatal = lambda: stopped.append(True)
    svc.check_fatal(_sqlite_error(13, "SQLITE_FULL", "database or disk is full"))
    svc.check_fatal(_sqlite_error(13, "SQLITE_FULL", "database or disk is full"))
    assert stopped == [True]  # once
    with TestClient(app(svc)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["problems"][0].startswith("the store's disk is full or failing")
