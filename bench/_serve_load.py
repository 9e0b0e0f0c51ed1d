"""The processes `bench/serve.py` starts, and its HTTP load generator.

Everything here runs in a child started with the `spawn` method (so each child imports only
what it uses and shares no GIL with the parent), except `post_batches`, the load generator,
which runs in the parent against the server child over loopback.

Children log as `cadenza serve` does (JSON lines, INFO), into a file in the bench's temporary
folder, so the per-message log cost is measured but no terminal I/O is.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

T0 = 1_772_323_200  # 2026-03-01T00:00:00Z: the clicks; the waits are due an hour later
WAIT_S = 3_600
SCHEMA = """\
schema {
  customer {
    first_name: string
  }
  event clicked { plan: string }
}
"""
PLAYBOOK = """\
playbook nudge {
  when event clicked
  wait 1h
  send email "x"
}
"""
TEMPLATE = "---\nsubject: Hello\n---\n<p>Hello {{ first_name }}</p>\n"


def write_project(root: Path) -> Path:
    """A one-playbook project: a click starts a one-hour wait, then one e-mail."""
    project = root / "project"
    (project / "templates").mkdir(parents=True, exist_ok=True)
    (project / "schema.play").write_text(SCHEMA, encoding="utf-8")
    (project / "main.play").write_text(PLAYBOOK, encoding="utf-8")
    (project / "templates" / "x.liquid").write_text(TEMPLATE, encoding="utf-8")
    return project


def wait_live(port: int, seconds: float = 60.0) -> None:
    """Until `serve` on `port` answers /livez (raises its last error after `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def customer_id(i: int) -> str:
    return f"c{i:07d}"


# ------------------------------------------------------------------ child set-up
def _logs_to(path: Path) -> None:
    """`cadenza serve`'s JSON logs, written to `path` instead of the terminal."""
    from cadenza.engine.logs import configure_json_logs

    sys.stderr = open(path, "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115
    configure_json_logs()


def _service(url: str, project_dir: Path, now: int | None):
    from cadenza.engine.db import open_engine
    from cadenza.engine.service import Service
    from cadenza.engine.simulate import recorders
    from cadenza.engine.store import Store
    from cadenza.playbooks.project import load_project

    loaded = load_project(project_dir)
    assert loaded.project is not None, loaded.diagnostics
    store = Store(open_engine(url))
    if now is None:
        return Service(project=loaded.project, store=store, connectors=recorders())
    return Service(project=loaded.project, store=store, connectors=recorders(),
                   clock=lambda: now)


# ------------------------------------------------------------------ drain: seed and workers
def seed(url: str, project_dir: Path, n: int, log: Path, out) -> None:
    """N customers, N clicks at T0 processed at T0: N waits, all due at T0 + 1h."""
    from cadenza.engine.state import Event

    _logs_to(log)
    service = _service(url, project_dir, T0)
    began = time.perf_counter()
    for start in range(0, n, 20_000):
        ids = range(start, min(n, start + 20_000))
        service.store.upsert_customers([
            {"id": customer_id(i), "email": f"{customer_id(i)}@example.com", "phone": None,
             "timezone": "UTC", "attributes": {"first_name": f"Ann {i}"}} for i in ids], now=T0)
        service.ingest([Event(customer_id=customer_id(i), name="clicked", ts=T0,
                              properties={"plan": "pro"}) for i in ids])
    loaded = time.perf_counter()
    stats, sent = service.tick()
    assert stats.steps == n, f"{stats.steps} steps ran at set-up, not {n}"
    assert sent == 0, f"{sent} messages were sent at set-up, none expected"
    service.store.engine.dispose()
    out.put({"load_s": loaded - began, "process_s": time.perf_counter() - loaded})


def _left(store, now: int) -> bool:
    """Whether any step is still due or any message still waits to be sent."""
    from sqlalchemy import select

    from cadenza.engine import schema as t

    e, msg = t.enrollments, t.messages
    with store.engine.connect() as conn:
        due = conn.execute(select(e.c.id).where(e.c.state.in_(("active", "waiting")),
                                                e.c.due_at <= now).limit(1)).first()
        unsent = conn.execute(select(msg.c.id).where(msg.c.status.in_(("pending", "failed")),
                                                     msg.c.next_attempt_at <= now)
                              .limit(1)).first()
    return due is not None or unsent is not None


def drain(url: str, project_dir: Path, log: Path, ready, go, out, profile: bool) -> None:
    """One worker: `service.tick()` in a loop from `go` until nothing due or unsent is left."""
    _logs_to(log)
    now = T0 + WAIT_S
    service = _service(url, project_dir, now)
    ready.put(True)
    go.wait()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    first = time.time()
    ticks = idle = steps = 0
    while time.time() - first < 900:
        stats, sent = service.tick()
        ticks += 1
        steps += stats.steps
        if stats.steps or sent:
            continue
        if not _left(service.store, now):
            break
        idle += 1
        time.sleep(0.005)  # the work left is claimed by another worker right now
    last = time.time()
    if profiler is not None:
        import pstats

        profiler.disable()
        print("\n# cProfile of the SQLite drain worker (cumulative, top 30)")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(30)
        sys.stdout.flush()
    keys = [m.message_id for m in service.connectors["email"].messages]  # type: ignore[attr-defined]
    service.store.engine.dispose()
    out.put({"first": first, "last": last, "ticks": ticks, "idle": idle, "steps": steps,
             "keys": keys})


# ------------------------------------------------------------------ baseline: APScheduler
_SENDS: dict[str, object] = {}


def record_send(wait_id: int) -> None:
    """The baseline's job body: one durable row per due wait (the "send")."""
    from sqlalchemy import text

    with _SENDS["engine"].begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("INSERT INTO bench_sends (wait_id, sent_at) VALUES (:w, :t)"),
                     {"w": wait_id, "t": time.time()})


def _baseline_engine(url: str):
    from sqlalchemy import create_engine, event

    if not url.startswith("sqlite"):
        return create_engine(url, pool_size=12, max_overflow=4)
    engine = create_engine(url, pool_size=12, max_overflow=4)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # the same pragmas as Cadenza's store
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def baseline(url: str, n: int, out) -> None:
    """One DateTrigger job per wait in a SQLAlchemyJobStore, run by a BackgroundScheduler."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from sqlalchemy import text

    engine = _baseline_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_sends (wait_id INTEGER NOT NULL, "
                          "sent_at DOUBLE PRECISION NOT NULL)"))
    _SENDS["engine"] = engine
    scheduler = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=engine)},
                                    timezone=UTC)  # default executor: a pool of 10 threads
    done, counts, lock = threading.Event(), {"ok": 0, "error": 0}, threading.Lock()

    def count(event) -> None:
        with lock:
            counts["error" if event.exception else "ok"] += 1
            if counts["ok"] + counts["error"] >= n:
                done.set()

    scheduler.add_listener(count, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start(paused=True)
    began, due = time.perf_counter(), datetime.now(UTC)
    for i in range(n):
        scheduler.add_job(record_send, "date", run_date=due, args=[i], id=f"wait-{i}",
                          misfire_grace_time=None)
    added = time.perf_counter()
    first = time.time()
    scheduler.resume()
    finished = done.wait(timeout=900)
    last = time.time()
    scheduler.shutdown(wait=True)
    with engine.connect() as conn:
        rows, distinct = conn.execute(text(
            "SELECT count(*), count(DISTINCT wait_id) FROM bench_sends")).one()
        left = conn.execute(text("SELECT count(*) FROM apscheduler_jobs")).scalar_one()
    engine.dispose()
    out.put({"add_s": added - began, "first": first, "last": last, "finished": finished,
             "ok": counts["ok"], "errors": counts["error"], "rows": rows, "distinct": distinct,
             "jobs_left": left})


# ------------------------------------------------------------------ ingest: the server
def serve(url: str, project_dir: Path, write_key: str, log: Path, pipe,
          ticker: bool = True) -> None:
    """The real app under uvicorn on a free loopback port; stops when the parent says so."""
    import socket

    import uvicorn
    from pydantic import SecretStr

    from cadenza.engine.api.app import create_app
    from cadenza.engine.settings import ServeSettings

    _logs_to(log)
    service = _service(url, project_dir, None)
    settings = ServeSettings(db=url, write_key=SecretStr(write_key))
    app = create_app(service, settings, ticker=ticker)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))  # as `cadenza serve`

    def stop_when_told() -> None:
        pipe.recv()
        server.should_exit = True

    threading.Thread(target=stop_when_told, daemon=True).start()
    pipe.send(sock.getsockname()[1])
    server.run(sockets=[sock])


# ------------------------------------------------------------------ ingest: the load
def message_id(batch: int, item: int) -> str:
    return f"m{batch}-{item}"


def batch_body(batch: int, size: int, customers: int) -> bytes:
    calls = [{"type": "track", "event": "clicked", "messageId": message_id(batch, i),
              "userId": customer_id((batch * size + i) % customers),
              "properties": {"plan": "pro"}} for i in range(size)]
    return json.dumps({"batch": calls}).encode()


def post_batches(port: int, write_key: str, bodies: list[bytes], connections: int,
                 seconds: float, rate: float | None = None,
                 ) -> tuple[float, list[tuple[int, int, float]]]:
    """POST the bodies on `connections` keep-alive connections until done or out of time.

    Without `rate`, each connection posts its next call as soon as the last is answered (the
    most the server takes; the latency is then mostly queueing behind the other connections).
    With `rate` (calls/s), call i is due at i / rate from the start, whatever came back
    before, and its latency counts from that moment, so a slow answer that holds up the next
    calls is charged to them too (no coordinated omission).

    Returns the elapsed seconds and (batch index, HTTP status or -1, latency s) per call.
    """
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    order, lock = itertools.count(), threading.Lock()
    results: list[tuple[int, int, float]] = []
    began = time.perf_counter()
    deadline = began + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[tuple[int, int, float]] = []
        while time.perf_counter() < deadline:
            with lock:
                index = next(order)
            if index >= len(bodies):
                break
            start = time.perf_counter()
            if rate is not None:
                start = began + index / rate
                if start >= deadline:
                    break
                time.sleep(max(0.0, start - time.perf_counter()))
            try:
                conn.request("POST", "/v1/batch", bodies[index], headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = -1
            mine.append((index, status, time.perf_counter() - start))
        conn.close()
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, results


def work(url: str, project_dir: Path, log: Path) -> None:
    """`cadenza work` itself: the engine alone, until SIGTERM (its connectors print: the
    ingest load's waits fall due after the run, so nothing is sent)."""
    from cadenza.engine.cli.work import run

    _logs_to(log)
    run(project_dir, url, None)



# ------------------------------------------------------------------ floor: the writes alone
FLOOR_BATCH = 500  # the engine's batch_size in `serve`


def _floor_sql(pg: bool) -> dict[str, str]:
    """The durable writes a drain makes per batch and per send, as plain SQL (`?` or `%s`)."""
    lock = " FOR UPDATE SKIP LOCKED" if pg else ""
    sql = {
        "due": "SELECT id, customer_id FROM enrollments WHERE state IN ('active', 'waiting') "
               f"AND due_at <= ? ORDER BY due_at LIMIT {FLOOR_BATCH}{lock}",
        "end": "UPDATE enrollments SET state = 'done', node = NULL, due_at = NULL, "
               "ended_at = ?, end_reason = 'completed', trail = trail || ? WHERE id = ?",
        "queue": "INSERT INTO messages (idempotency_key, enrollment_id, playbook, node, "
                 "customer_id, channel, to_address, subject, body, status, attempts, "
                 "next_attempt_at, created_at) "
                 "VALUES (?, ?, 'nudge', '3', ?, 'email', ?, 'Hello', ?, 'pending', 0, ?, ?)",
        "claim": "UPDATE messages SET lease_owner = ?, lease_until = ? WHERE id IN ("
                 "SELECT id FROM messages WHERE status = 'pending' AND next_attempt_at <= ? "
                 f"AND lease_owner IS NULL ORDER BY next_attempt_at LIMIT {FLOOR_BATCH}"
                 f"{lock}) RETURNING id, idempotency_key",
        "sent": "UPDATE messages SET status = 'sent', attempts = 1, provider_id = ?, "
                "sent_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
    }
    return {k: v.replace("?", "%s") for k, v in sql.items()} if pg else sql


def _floor_connection(url: str, pg: bool):
    """A DBAPI connection in autocommit, and a context manager for one transaction on it."""
    from contextlib import contextmanager

    from sqlalchemy.engine import make_url

    if pg:
        import psycopg

        con = psycopg.connect(make_url(url).set(drivername="postgresql")
                              .render_as_string(hide_password=False), autocommit=True)
        con.execute("SET synchronous_commit = off")
        return con, con.transaction
    import sqlite3

    con = sqlite3.connect(make_url(url).database, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def transaction():
        con.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            con.rollback()
            raise
        con.commit()

    return con, transaction


def floor(url: str, out) -> None:
    """The same drain with no engine: per batch of due waits one transaction that ends them
    and queues their messages, then a claim of those messages, then per message a no-op send
    and its outcome committed on its own (as `serve` commits each, on PostgreSQL without
    waiting for the WAL flush, as `serve` does). What the database and driver cost alone."""
    pg = not url.startswith("sqlite")
    sql, now, sent = _floor_sql(pg), T0 + WAIT_S, []
    con, transaction = _floor_connection(url, pg)
    cur = con.cursor()
    first = time.time()
    while True:
        with transaction():
            due = cur.execute(sql["due"], (now,)).fetchall()
            cur.executemany(sql["end"], [(now, f";3@{now}", eid) for eid, _ in due])
            cur.executemany(sql["queue"], [
                (f"{eid}:3:1", eid, cid, f"{cid}@example.com", f"<p>Hello {cid}</p>", now, now)
                for eid, cid in due])
        if not due:
            break
        with transaction():
            claimed = cur.execute(sql["claim"], ("floor", now + 300, now)).fetchall()
        for mid, key in claimed:
            sent.append(key)  # the recording connector
            with transaction():
                cur.execute(sql["sent"], (f"recorded-{len(sent)}", now, mid))
    last = time.time()
    con.close()
    out.put({"first": first, "last": last, "keys": sent})
