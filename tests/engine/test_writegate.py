"""SQLite's write lock is handed out first come, first served within a process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from cadenza.engine import db
from cadenza.engine.db import open_engine, sqlite_url
from cadenza.engine.runtime import MIN_BATCH, Runtime
from cadenza.engine.writegate import WriteGate


def test_waiters_get_the_gate_in_arrival_order() -> None:
    gate, order = WriteGate(), []
    assert gate.acquire("first", 1)
    threads = []
    for name in ("a", "b", "c"):
        def wait(name: str = name) -> None:
            assert gate.acquire(name, 10)
            order.append(name)
            gate.release(name)
        threads.append(threading.Thread(target=wait))
        threads[-1].start()
        while len(gate._queue) < len(threads):  # each waits before the next arrives
            time.sleep(0.001)
    gate.release("first")
    for th in threads:
        th.join(10)
    assert order == ["a", "b", "c"]
    assert gate.owner is None


def test_release_by_someone_else_does_nothing_and_a_wait_can_time_out() -> None:
    gate = WriteGate()
    assert gate.acquire("owner", 1)
    gate.release("stranger")
    assert gate.owner == "owner"
    assert not gate.acquire("late", 0.05)
    assert not gate._queue  # the timed-out waiter left the queue
    gate.release("owner")
    assert gate.acquire("late", 0.05)


def test_a_queued_writer_starts_as_soon_as_the_holder_commits(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "s.db"))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    waited: list[float] = []

    def writer() -> None:
        asked = time.perf_counter()
        with engine.begin() as conn:
            waited.append(time.perf_counter() - asked)
            conn.execute(text("INSERT INTO t VALUES (2)"))

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        th = threading.Thread(target=writer)
        th.start()
        time.sleep(0.3)
        held_until = time.perf_counter()
    th.join(10)
    # It waited for the holder (0.3 s) and no poll interval after it.
    assert 0.25 < waited[0] < 0.3 + (time.perf_counter() - held_until) + 0.05
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 2
    engine.dispose()


def test_a_gate_timeout_is_a_database_error_that_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "GATE_TIMEOUT_S", 0.1)
    engine = open_engine(sqlite_url(tmp_path / "s.db"))
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            failure.append(exc)

    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
        th = threading.Thread(target=writer)
        th.start()
        th.join(10)
    assert "this process's earlier transactions held it" in str(failure[0])
    with engine.begin() as conn:  # the gate is free again after the holder committed
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()


def test_a_rolled_back_transaction_frees_the_gate(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "s.db"))
    def fail_inside() -> None:
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_inside()
    done = threading.Event()

    def writer() -> None:
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
        done.set()

    threading.Thread(target=writer).start()
    assert done.wait(5)
    engine.dispose()


def test_batches_shrink_to_the_time_budget_and_grow_back() -> None:
    runtime = Runtime.__new__(Runtime)
    runtime.batch_seconds, runtime.batch_size, runtime._max_batch = 0.02, 500, 500
    runtime.contended = None
    runtime._resize(0.2)  # ten times too slow: halve, not collapse
    assert runtime.batch_size == 250
    for _ in range(20):
        runtime._resize(1.0)
    assert runtime.batch_size == MIN_BATCH
    for _ in range(20):
        runtime._resize(0.001)
    assert runtime.batch_size == 500  # never above the configured size


def test_batches_keep_their_full_size_while_nobody_waits() -> None:
    runtime = Runtime.__new__(Runtime)
    runtime.batch_seconds, runtime.batch_size, runtime._max_batch = 0.02, 40, 500
    waiting = [False]
    runtime.contended = lambda: waiting[0]
    runtime._resize(1.0)  # slow, but no one is queued behind it: grow
    assert runtime.batch_size == 80
    waiting[0] = True
    runtime._resize(1.0)
    assert runtime.batch_size == 40


def test_the_gate_counts_who_waits(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "s.db"))
    gate = db.write_gate(engine)
    assert gate is not None
    assert gate.waiting() == 0
    started = threading.Event()

    def writer() -> None:
        started.set()
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))

    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
        th = threading.Thread(target=writer)
        th.start()
        started.wait(5)
        deadline = time.monotonic() + 5
        while gate.waiting() == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert gate.waiting() == 1
    th.join(5)
    assert gate.waiting() == 0
    engine.dispose()
