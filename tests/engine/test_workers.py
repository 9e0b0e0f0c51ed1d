"""Several worker processes on one PostgreSQL: every due step runs once, nothing is lost."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cadenza.engine import schema as t
from cadenza.engine.db import open_engine
from cadenza.engine.runtime import Runtime
from cadenza.engine.state import Event
from cadenza.engine.store import Store
from cadenza.playbooks.project import load_project
from tests.engine.harness import OPEN, TEMPLATES, write_project
from tests.engine.workers import work

pytestmark = pytest.mark.postgres
N = 20_000
T0 = 1_772_445_600  # 2026-03-02T10:00Z
PLAY = 'playbook p {\n  when event clicked\n  wait 1h\n  send email "again"\n}\n'


def _project(tmp: Path) -> Path:
    return write_project(tmp / "project", PLAY, templates={"again": TEMPLATES["again"]})


def _due_waits(root: Path, url: str) -> Store:
    """N customers, each waiting an hour after a click at T0."""
    loaded = load_project(root)
    assert loaded.project is not None
    store = Store(open_engine(url))
    OPEN.append(store.engine)
    store.upsert_customers([{"id": f"c{i}", "email": f"c{i}@example.com", "phone": None,
                             "timezone": "UTC", "attributes": {}} for i in range(N)], now=T0)
    runtime = Runtime(project=loaded.project, store=store, batch_size=5000)
    runtime.deploy(T0)
    runtime.process([Event(customer_id=f"c{i}", name="clicked", ts=T0, properties={})
                     for i in range(N)], T0)
    return store


def _spawn(n: int, root: Path, url: str, log: Path,
           lease_s: int = 60) -> list[multiprocessing.process.BaseProcess]:
    ctx = multiprocessing.get_context("spawn")
    start = time.time()
    procs = [ctx.Process(target=work, args=(str(root), url, str(log), start, T0 + 3601.0,
                                             lease_s)) for _ in range(n)]
    for p in procs:
        p.start()
    return procs


def _outcome(store: Store, log: Path) -> tuple[int, int, Counter[str], Counter[str]]:
    m = t.messages
    with store.engine.connect() as conn:
        rows = conn.execute(select(func.count(), func.count(m.c.idempotency_key.distinct()))
                            .select_from(m)).one()
        status = Counter(dict(conn.execute(select(m.c.status, func.count())
                                           .group_by(m.c.status)).all()))
    sends = Counter(log.read_text(encoding="utf-8").split()) if log.exists() else Counter()
    return rows[0], rows[1], status, sends


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_share_due_work_exactly_once(tmp_path: Path, store_url: str,
                                             workers: int) -> None:
    """2 or 4 processes drain 20,000 due steps: 20,000 outbox rows, each sent once."""
    if not store_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL; SQLite has one writer by design")
    root = _project(tmp_path)
    store = _due_waits(root, store_url)
    log = tmp_path / "sent.log"
    procs = _spawn(workers, root, store_url, log)
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    rows, distinct, status, sends = _outcome(store, log)
    assert (rows, distinct) == (N, N)
    assert status == Counter({"sent": N})
    assert len(sends) == N
    assert max(sends.values()) == 1


def test_a_killed_worker_loses_nothing(tmp_path: Path, store_url: str) -> None:
    """SIGKILL one of two workers mid-drain: the other takes over; only in-doubt mail repeats."""
    if not store_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL; SQLite has one writer by design")
    root = _project(tmp_path)
    store = _due_waits(root, store_url)
    log = tmp_path / "sent.log"
    victim, survivor = _spawn(2, root, store_url, log, lease_s=3)
    time.sleep(3.0)
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    victim.join()
    survivor.join(timeout=300)
    assert survivor.exitcode == 0
    rows, distinct, status, sends = _outcome(store, log)
    assert (rows, distinct) == (N, N)  # every due step ran once: no journey lost or doubled
    assert status == Counter({"sent": N})  # every message went out
    assert len(sends) == N
    repeated = sum(n - 1 for n in sends.values())
    assert repeated <= 5000  # at most one claimed outbox batch of the killed worker (in doubt)
