"""The service benchmark: drain rate of due steps, an APScheduler baseline, and event ingest.

1. Drain: N customers each wait in `when event clicked -> wait 1h -> send email "x"` and the
   waits are all due. Workers run `service.tick()` until nothing is left; the rate is durable
   sends per second (committed to the outbox and dispatched to a recording connector), from
   the first tick to the last. SQLite with one worker; PostgreSQL with 1, 2 and 4 worker
   processes sharing one database. Every run is checked: N outbox rows, N distinct
   idempotency keys, all sent, no open enrollment left, and each key dispatched exactly once.
2. Baseline, same run: what users build without Cadenza -- one APScheduler 3.11 DateTrigger
   job per wait in a SQLAlchemyJobStore, each job writing one row; jobs/s until all have run.
3. Ingest: the real app (`create_app(..., ticker=True)`) under uvicorn in its own process, and
   from this one, keep-alive `POST /v1/batch` calls of 100 events on a few connections; then
   every accepted event is looked up in the store.

The due waits are set up once per database (the set-up time is shown too) and cloned for each
PostgreSQL run (CREATE DATABASE ... TEMPLATE). Bench databases are created and dropped here.

    .venv/bin/python bench/serve.py [--due 100000] [--baseline-due 20000] [--no-pg]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shlex
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

from _serve_load import (
    FLOOR_BATCH,
    batch_body,
    message_id,
    post_batches,
    wait_live,
    write_project,
)

PG_URL = os.environ.get("CADENZA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
WRITE_KEY = "wk_bench"
CTX = multiprocessing.get_context("spawn")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--due", type=int, default=100_000, help="due waits to drain per run")
    p.add_argument("--baseline-due", type=int, default=20_000,
                   help="APScheduler jobs per baseline run (its rate is compared per second)")
    p.add_argument("--pg-baseline-due", type=int, default=10_000,
                   help="APScheduler jobs on PostgreSQL (its add_job is ~1 ms a job)")
    p.add_argument("--workers", default="1,2,4", help="PostgreSQL worker processes per run")
    p.add_argument("--ingest-batches", type=int, default=3_000,
                   help="most /v1/batch calls (of 100 events) per ingest run")
    p.add_argument("--ingest-seconds", type=float, default=10.0,
                   help="most seconds of load per ingest run")
    p.add_argument("--connections", type=int, default=4, help="concurrent keep-alive clients")
    p.add_argument("--ingest-rate", type=float, default=10_000,
                   help="events/s of the paced ingest run (0: no paced run)")
    p.add_argument("--paced-seconds", type=float, default=15.0,
                   help="seconds of the paced ingest run")
    p.add_argument("--warmup-seconds", type=float, default=2.0,
                   help="seconds of paced calls before it, not counted in its latencies")
    p.add_argument("--no-ticker", action="store_true",
                   help="diagnosis: ingest with the app's ticker off (events stay pending)")
    p.add_argument("--pg", default=PG_URL, help="a PostgreSQL URL whose user may CREATE DATABASE")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    p.add_argument("--no-pg-baseline", action="store_true", help="skip APScheduler on PostgreSQL")
    p.add_argument("--no-ingest-pg", action="store_true", help="skip ingest on PostgreSQL")
    p.add_argument("--skip", default="", help="comma list of: drain, baseline, ingest")
    p.add_argument("--profile", action="store_true",
                   help="cProfile the SQLite drain worker (its rate is then not comparable)")
    return p.parse_args(argv)


# ------------------------------------------------------------------ databases
class Postgres:
    """Creates and drops this run's databases through an AUTOCOMMIT admin connection."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self.admin = create_engine(url, isolation_level="AUTOCOMMIT")
        self.prefix = f"cadenza_bench_{os.getpid()}"
        self.made: list[str] = []

    def problem(self) -> str | None:
        from sqlalchemy import text

        try:
            with self.admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means: skip PostgreSQL, say why
            return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        return None

    def create(self, name: str, template: str | None = None) -> str:
        from sqlalchemy import text

        full = f"{self.prefix}_{name}"
        clause = f" TEMPLATE {self.prefix}_{template}" if template else ""
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {full}{clause}"))
        self.made.append(full)
        return self.url.set(database=full).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        from sqlalchemy import text

        full = f"{self.prefix}_{name}"
        with self.admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {full} WITH (FORCE)"))
        if full in self.made:
            self.made.remove(full)

    def close(self) -> None:
        for full in list(self.made):
            self.drop(full.removeprefix(f"{self.prefix}_"))
        self.admin.dispose()


@contextmanager
def child(target, *args):
    """A spawned process running `target(*args)`, joined (or killed) on the way out."""
    proc = CTX.Process(target=target, args=args)
    proc.start()
    try:
        yield proc
    finally:
        proc.join(timeout=60)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _get(queue, procs, timeout: float = 1200.0):
    """The next result from a child; fails fast when a child died without sending one."""
    from queue import Empty

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return queue.get(timeout=1.0)
        except Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"a bench child exited with {dead[0].exitcode}; "
                                   "see its log in the temporary folder") from None
    raise TimeoutError("a bench child sent nothing in time")


# ------------------------------------------------------------------ 1. drain
def seed(url: str, project: Path, n: int, log: Path) -> dict:
    import _serve_load

    out = CTX.Queue()
    with child(_serve_load.seed, url, project, n, log, out) as proc:
        return _get(out, [proc])


def copy_store(src_url: str, dst_url: str) -> dict:
    """Copy every table of a seeded store into a fresh one (ids and sequences kept)."""
    from sqlalchemy import create_engine, insert, select, text

    from cadenza.engine.db import open_engine
    from cadenza.engine.schema import metadata
    from cadenza.engine.store import chunks

    began = time.perf_counter()
    src, dst = create_engine(src_url), open_engine(dst_url)  # open_engine writes `meta`
    try:
        with src.connect() as read, dst.begin() as write:
            for table in metadata.sorted_tables:
                rows = [dict(r._mapping) for r in read.execute(select(table))]
                if table.name == "meta" or not rows:
                    continue
                for part in chunks(rows, 10_000):
                    write.execute(insert(table), part)
                serial = [c.name for c in table.primary_key.columns if c.autoincrement is True]
                for col in serial:
                    write.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col}'), "
                        f"(SELECT max({col}) FROM {table.name}))"))
    finally:
        src.dispose()
        dst.dispose()
    return {"copy_s": time.perf_counter() - began}


def drain(url: str, project: Path, workers: int, log: Path, profile: bool = False) -> dict:
    import _serve_load

    ready, out, go = CTX.Queue(), CTX.Queue(), CTX.Event()
    procs = [CTX.Process(target=_serve_load.drain,
                         args=(url, project, log, ready, go, out, profile))
             for _ in range(workers)]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            _get(ready, procs)
        go.set()
        results = [_get(out, procs) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    keys = [k for r in results for k in r["keys"]]
    span = max(r["last"] for r in results) - min(r["first"] for r in results)
    return {"seconds": span, "calls": len(keys), "distinct_calls": len(set(keys)),
            "ticks": sum(r["ticks"] for r in results), "idle": sum(r["idle"] for r in results),
            "steps": sum(r["steps"] for r in results), **outbox(url)}


def outbox(url: str) -> dict:
    from sqlalchemy import case, create_engine, distinct, func, select

    from cadenza.engine import schema as t

    msg, e = t.messages, t.enrollments
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows, keys, sent = conn.execute(select(
                func.count(), func.count(distinct(msg.c.idempotency_key)),
                func.sum(case((msg.c.status == "sent", 1), else_=0)))).one()
            still_open = conn.execute(select(func.count()).select_from(e).where(
                e.c.state.in_(("active", "waiting")))).scalar_one()
    finally:
        engine.dispose()
    return {"rows": rows, "keys": keys, "sent": sent or 0, "open": still_open}


def drain_checks(r: dict, n: int) -> list[str]:
    """What went wrong in a drain run (empty: all good)."""
    wrong = []
    if r["rows"] != n or r["keys"] != n:
        wrong.append(f"outbox has {r['rows']} rows with {r['keys']} distinct keys, not {n}")
    if r["sent"] != n:
        wrong.append(f"{r['sent']} outbox rows are 'sent', not {n}")
    if r["open"]:
        wrong.append(f"{r['open']} enrollments are still open")
    if r["distinct_calls"] != n:
        wrong.append(f"{r['distinct_calls']} distinct keys reached the connector, not {n}")
    if r["calls"] != r["distinct_calls"]:
        wrong.append(f"{r['calls'] - r['distinct_calls']} messages were dispatched twice or "
                     "more (connector calls for a key already sent)")
    return wrong


def floor(url: str, n: int) -> dict:
    """The floor (`_serve_load.floor`) on a copy of the seeded store, checked like a drain."""
    import _serve_load

    out = CTX.Queue()
    with child(_serve_load.floor, url, out) as proc:
        r = _get(out, [proc])
    keys = r.pop("keys")
    r.update(seconds=r["last"] - r["first"], calls=len(keys), distinct_calls=len(set(keys)),
             **outbox(url))
    r["wrong"] = drain_checks(r, n)
    return r


def copy_sqlite(src: Path, dst: Path) -> None:
    import shutil

    for suffix in ("", "-wal", "-shm"):
        if Path(f"{src}{suffix}").exists():
            shutil.copy(f"{src}{suffix}", f"{dst}{suffix}")


# ------------------------------------------------------------------ 2. baseline
def baseline(url: str, n: int) -> dict:
    import _serve_load

    out = CTX.Queue()
    with child(_serve_load.baseline, url, n, out) as proc:
        r = _get(out, [proc])
    r["seconds"], r["n"] = r["last"] - r["first"], n
    wrong = []
    if not r["finished"] or r["errors"]:
        wrong.append(f"{r['ok']} jobs ran, {r['errors']} failed, of {n}")
    if r["rows"] != n or r["distinct"] != n:
        wrong.append(f"{r['rows']} send rows ({r['distinct']} distinct), not {n}")
    if r["jobs_left"]:
        wrong.append(f"{r['jobs_left']} jobs left in the job store")
    r["wrong"] = wrong
    return r


# ------------------------------------------------------------------ 3. ingest
def ingest(url: str, project: Path, log: Path, bodies: list[bytes], size: int,
           args: argparse.Namespace, separate: bool = False) -> dict:
    """One server under load. `separate`: the server without its ticker (`serve --no-ticker`)
    and the engine in a process of its own (`cadenza work`), as on PostgreSQL they may run."""
    import _serve_load

    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    parent, child_end = CTX.Pipe()
    with child(_serve_load.serve, url, project, WRITE_KEY, log, child_end,
               not args.no_ticker and not separate) as proc, \
            (child(_serve_load.work, url, project, log) if separate
             else nullcontext()) as worker:
        if not parent.poll(120):
            raise RuntimeError(f"the server did not start (exit code {proc.exitcode}); "
                               f"see {log}")
        port = parent.recv()
        wait_live(port)
        runs = {}
        warm, paced = paced_calls(args, size)
        if paced:  # first, at the stated rate; then as fast as the connections go
            # Warm-up, not counted in the latencies: the first calls and the first ticks
            # compile every statement and open every pooled connection (one stall of 50-90
            # ms in the first second, enough to be an 800-call run's p99 on its own).
            runs["warm-up"] = post_batches(port, WRITE_KEY, bodies[:warm], PACED_CONNECTIONS,
                                           args.warmup_seconds, rate=args.ingest_rate / size)
            elapsed, calls = post_batches(port, WRITE_KEY, bodies[warm:paced],
                                          PACED_CONNECTIONS, args.paced_seconds,
                                          rate=args.ingest_rate / size)
            runs["paced"] = elapsed, [(i + warm, st, lat) for i, st, lat in calls]
        # The saturating run's calls are the bodies after the paced ones (new message ids).
        elapsed, calls = post_batches(port, WRITE_KEY, bodies[paced:], args.connections,
                                      args.ingest_seconds)
        runs["saturating"] = elapsed, [(i + paced, st, lat) for i, st, lat in calls]
        handled = handled_share(url)  # before the engine stops: what it kept up with
        parent.send("stop")
        if worker is not None:
            worker.terminate()  # SIGTERM: `cadenza work` finishes its batch and exits 0
    stored = stored_ids(url)
    out = {name: _ingest_figures(elapsed, calls, size) for name, (elapsed, calls) in runs.items()}
    accepted = {message_id(index, i) for _, calls in runs.values()
                for index, st, _ in calls if 200 <= st < 300 for i in range(size)}
    r = out["saturating"]
    r["paced"], r["warm-up"] = out.get("paced"), out.get("warm-up")
    r.update(missing=len(accepted - set(stored)), extra=len(set(stored) - accepted),
             duplicates=len(stored) - len(set(stored)), handled=handled)
    return r


def handled_share(url: str) -> float:
    """The share of stored events the engine has handled (turned into enrollments) so far."""
    from sqlalchemy import create_engine, func, select

    from cadenza.engine import schema as t

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            done, total = conn.execute(select(
                func.count().filter(t.events.c.processed.is_(True)), func.count())).one()
    finally:
        engine.dispose()
    return done / total if total else 1.0


PACED_CONNECTIONS = 8  # more than the paced rate needs, so a slow answer does not hold a slot


def paced_calls(args: argparse.Namespace, size: int) -> tuple[int, int]:
    """The warm-up's calls, and where the paced run's calls end (both 0 with no paced run)."""
    if not args.ingest_rate:
        return 0, 0
    per_s = args.ingest_rate / size
    warm = int(per_s * args.warmup_seconds)
    return warm, warm + int(per_s * args.paced_seconds)


def _ingest_figures(elapsed: float, calls: list[tuple[int, int, float]], size: int) -> dict:
    ok = [c for c in calls if 200 <= c[1] < 300]
    latencies = sorted(c[2] for c in calls)
    return {"calls": len(calls), "ok": len(ok), "errors": len(calls) - len(ok),
            "events": len(ok) * size, "seconds": elapsed,
            "p50": statistics.quantiles(latencies, n=100)[49] if len(latencies) > 1 else 0.0,
            "p99": statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else 0.0}


def stored_ids(url: str) -> list[str]:
    from sqlalchemy import create_engine, select

    from cadenza.engine import schema as t

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(t.events.c.message_id).where(
                t.events.c.message_id.is_not(None))).scalars())
    finally:
        engine.dispose()


# ------------------------------------------------------------------ the run
class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp = args, tmp
        self.project = write_project(tmp)
        self.log = tmp / "children.log"
        self.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
        self.pg: Postgres | None = None
        self.notes: list[str] = []
        self.failures: list[str] = []
        self.drains: list[tuple[str, str, dict]] = []  # (label, store kind, result)
        self.floors: dict[str, dict] = {}  # store kind -> the floor's result
        self.seeds: list[tuple[str, dict]] = []
        self.baselines: dict[str, dict] = {}
        self.ingests: list[tuple[str, dict]] = []

    def open_pg(self) -> None:
        if self.args.no_pg:
            self.notes.append("PostgreSQL skipped (--no-pg).")
            return
        pg = Postgres(self.args.pg)
        problem = pg.problem()
        if problem is None:
            self.pg = pg
        else:
            pg.admin.dispose()
            self.notes.append(f"PostgreSQL skipped: {problem}")

    def run_drains(self) -> None:
        n = self.args.due
        url = f"sqlite:///{self.tmp / 'drain.db'}"
        say(f"drain: seeding {n:,} due waits on SQLite")
        self.seeds.append(("SQLite", seed(url, self.project, n, self.log)))
        if self.pg is not None:
            say("drain: copying the seeded store to PostgreSQL")
            self.seeds.append(("PostgreSQL", copy_store(url, self.pg.create("seed"))))
        copy_sqlite(self.tmp / "drain.db", self.tmp / "floor.db")
        say("drain: SQLite, 1 worker")
        self._drain("SQLite, 1 worker", "sqlite", url, 1, self.args.profile)
        say("floor: SQLite, the same writes without the engine")
        self._floor("sqlite", f"sqlite:///{self.tmp / 'floor.db'}")
        if self.pg is None:
            return
        say("floor: PostgreSQL, the same writes without the engine")
        try:
            self._floor("postgresql", self.pg.create("floor", template="seed"))
        finally:
            self.pg.drop("floor")
        for w in [int(x) for x in self.args.workers.split(",") if x.strip()]:
            say(f"drain: PostgreSQL, {w} worker process(es)")
            run_url = self.pg.create("run", template="seed")
            try:
                self._drain(f"PostgreSQL, {w} process{'es' if w > 1 else ''}", "postgresql",
                            run_url, w, False)
            finally:
                self.pg.drop("run")
        self.pg.drop("seed")

    def _drain(self, label: str, kind: str, url: str, workers: int, profile: bool) -> None:
        r = drain(url, self.project, workers, self.log, profile)
        r["wrong"], r["workers"] = drain_checks(r, self.args.due), workers
        self.failures += [f"drain {label}: {w}" for w in r["wrong"]]
        self.drains.append((label, kind, r))

    def _floor(self, kind: str, url: str) -> None:
        r = floor(url, self.args.due)
        self.failures += [f"floor {kind}: {w}" for w in r["wrong"]]
        self.floors[kind] = r

    def run_baselines(self) -> None:
        n = self.args.baseline_due
        say(f"baseline: APScheduler, {n:,} date jobs, SQLite job store")
        self.baselines["sqlite"] = baseline(f"sqlite:///{self.tmp / 'aps.db'}", n)
        if self.pg is not None and not self.args.no_pg_baseline:
            pg_n = self.args.pg_baseline_due
            say(f"baseline: APScheduler, {pg_n:,} date jobs, PostgreSQL job store")
            try:
                self.baselines["postgresql"] = baseline(self.pg.create("aps"), pg_n)
            finally:
                self.pg.drop("aps")
        for kind, r in self.baselines.items():
            self.failures += [f"baseline {kind}: {w}" for w in r["wrong"]]

    def run_ingests(self) -> None:
        size, customers = 100, 10_000
        a = self.args
        paced = paced_calls(a, size)[1]
        bodies = [batch_body(b, size, customers) for b in range(paced + a.ingest_batches)]
        say("ingest: SQLite")
        self._ingest("SQLite", f"sqlite:///{self.tmp / 'ingest.db'}", bodies, size)
        if self.pg is not None and not self.args.no_ingest_pg:
            for label, separate in (("PostgreSQL, ticker in the API process", False),
                                    ("PostgreSQL, `serve --no-ticker` + `cadenza work`", True)):
                say(f"ingest: {label}")
                try:
                    self._ingest(label, self.pg.create("ingest"), bodies, size, separate)
                finally:
                    self.pg.drop("ingest")

    def _ingest(self, label: str, url: str, bodies: list[bytes], size: int,
                separate: bool = False) -> None:
        r = ingest(url, self.project, self.log, bodies, size, self.args, separate)
        wrong = []
        if r["missing"] or r["duplicates"]:
            wrong.append(f"{r['missing']} accepted events missing, {r['duplicates']} stored "
                         "twice")
        for run in (r, r["paced"] or {"errors": 0}, r["warm-up"] or {"errors": 0}):
            if run["errors"]:
                wrong.append(f"{run['errors']} of {run['calls']} calls were not 2xx")
        r["wrong"] = wrong
        self.failures += [f"ingest {label}: {w}" for w in wrong]
        self.ingests.append((label, r))

    def run(self) -> None:
        self.open_pg()
        try:
            if "drain" not in self.skip:
                self.run_drains()
            if "baseline" not in self.skip:
                self.run_baselines()
            if "ingest" not in self.skip:
                self.run_ingests()
        finally:
            if self.pg is not None:
                self.pg.close()


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ output
def report(b: Bench, command: str) -> list[str]:
    a = b.args
    out = [f"    {command}", "",
           f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
           f"{sqlite_and_pg_versions(b)}. Children log JSON lines to a file, as "
           "`cadenza serve` does.", ""]
    if b.drains:
        out += drain_table(b, a.due)
    if b.floors:
        out += floor_table(b, a.due)
    if b.baselines:
        out += baseline_table(b)
    if b.ingests:
        out += ingest_table(b, a)
    out += [f"Note: {note}" for note in b.notes]
    return out


def sqlite_and_pg_versions(b: Bench) -> str:
    import sqlite3

    text = f"SQLite {sqlite3.sqlite_version}"
    if b.pg is not None:
        from sqlalchemy import text as sql

        try:
            with b.pg.admin.connect() as conn:
                text += ", PostgreSQL " + conn.execute(sql("SHOW server_version")).scalar_one()
        except Exception:  # the version is decoration; the admin engine may be disposed
            text += ", PostgreSQL"
    return text


def _check(wrong: list[str]) -> str:
    return "ok" if not wrong else "FAILED (see below)"


def drain_table(b: Bench, n: int) -> list[str]:
    out = [f"Drain: {n:,} waits due at once (`wait 1h` then `send email`), recording "
           "connector; durable sends/s = rows committed to the outbox and dispatched, first "
           "tick to last. Baseline: APScheduler on the same kind of store (table below), "
           "compared per second.", "",
           "| configuration | due | seconds | durable sends/s | APScheduler jobs/s | "
           "ours / baseline | ticks | checks |",
           "|---|---:|---:|---:|---:|---:|---:|---|"]
    for label, kind, r in b.drains:
        rate = b.args.due / r["seconds"]
        base = b.baselines.get(kind) or b.baselines.get("sqlite")
        base_rate = base["n"] / base["seconds"] if base else None
        base_text = "-" if base_rate is None else f"{base_rate:,.0f}" + (
            "" if kind in b.baselines else " (SQLite)")
        ratio = "-" if base_rate is None else f"{rate / base_rate:.1f}x"
        profiled = " (profiled)" if b.args.profile and kind == "sqlite" else ""
        out.append(f"| {label}{profiled} | {n:,} | "
                   f"{r['seconds']:.1f} | {rate:,.0f} | {base_text} | {ratio} | "
                   f"{r['ticks']} | {_check(r['wrong'])} |")
    out.append("")
    for store, s in b.seeds:
        if "copy_s" in s:
            out.append(f"Set-up on {store}: the SQLite set-up copied table by table in "
                       f"{s['copy_s']:.1f} s, then cloned per run (CREATE DATABASE ... "
                       "TEMPLATE).")
            continue
        out.append(f"Set-up on {store}: {n:,} customers and clicks stored in "
                   f"{s['load_s']:.1f} s, then processed by the engine into {n:,} waits in "
                   f"{s['process_s']:.1f} s ({n / s['process_s']:,.0f} events/s).")
    out.append("")
    return out


def floor_table(b: Bench, n: int) -> list[str]:
    out = ["Floor: the durable writes of the same drain with no engine, as plain SQL through "
           f"the driver in one process: per batch of {FLOOR_BATCH} due waits one transaction "
           "that ends them and queues their messages, one that claims those messages, then "
           "per message a no-op send and its outcome committed on its own (PostgreSQL "
           "without waiting for the WAL flush, as `serve`). *floor / baseline* is the most "
           "any engine that commits each outcome before the next send could reach against "
           "the baseline; *ours / floor* is what the engine keeps of the floor.", "",
           "| store | seconds | sends/s | floor / baseline | ours (1 process) / floor | "
           "checks |",
           "|---|---:|---:|---:|---:|---|"]
    for kind, r in b.floors.items():
        rate = n / r["seconds"]
        base = b.baselines.get(kind)
        ours = next((d for _, k, d in b.drains if k == kind and d["workers"] == 1), None)
        vs_base = "-" if base is None else f"{rate / (base['n'] / base['seconds']):.1f}x"
        vs_ours = "-" if ours is None else f"{n / ours['seconds'] / rate:.2f}"
        name = "SQLite (WAL)" if kind == "sqlite" else "PostgreSQL"
        out.append(f"| {name} | {r['seconds']:.1f} | {rate:,.0f} | {vs_base} | {vs_ours} | "
                   f"{_check(r['wrong'])} |")
    out.append("")
    return out


def baseline_table(b: Bench) -> list[str]:
    out = ["Baseline: one APScheduler 3.11 `DateTrigger` job per wait in a "
           "`SQLAlchemyJobStore`, all due, `misfire_grace_time=None`, BackgroundScheduler with "
           "its default pool of 10 threads; each job inserts one row (the send). The rate is "
           f"extrapolated to {b.args.due:,} waits as if it stayed constant (its due-job query "
           "loads every due job at once, so more jobs are unlikely to run faster).", "",
           "| job store | jobs | add_job s | run s | jobs/s | checks |",
           "|---|---:|---:|---:|---:|---|"]
    for kind, r in b.baselines.items():
        name = "SQLite (WAL)" if kind == "sqlite" else "PostgreSQL"
        out.append(f"| {name} | {r['n']:,} | {r['add_s']:.1f} | {r['seconds']:.1f} | "
                   f"{r['n'] / r['seconds']:,.0f} | {_check(r['wrong'])} |")
    out.append("")
    return out


def ingest_table(b: Bench, a: argparse.Namespace) -> list[str]:
    paced = (f"first {a.warmup_seconds:g} s of warm-up (not counted), then "
             f"{a.paced_seconds:g} s paced at {a.ingest_rate:,.0f} events/s "
             f"({a.ingest_rate / 100:,.0f} calls/s on up to {PACED_CONNECTIONS} connections, "
             "each latency counted from the moment its call was due), then "
             if a.ingest_rate else "")
    out = [f"Ingest: `POST /v1/batch` with 100 events per call from a separate process, "
           f"{paced}saturating: {a.connections} keep-alive connections each posting its next "
           f"call as soon as the last is answered, at most {a.ingest_batches:,} calls or "
           f"{a.ingest_seconds:g} s. The app (`create_app(..., ticker={not a.no_ticker})`) runs "
           "under uvicorn, its ticker (or a `cadenza work` process) turning the events into "
           "enrollments meanwhile; *handled* is the share of stored events it had handled when "
           "the load stopped. Afterwards every accepted event is looked up in the store.", "",
           "| store | load | calls (2xx) | events accepted | seconds | events/s | p50 ms | "
           "p99 ms | stored exactly once | handled |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for label, r in b.ingests:
        once = "yes" if not r["wrong"] else "NO (see below)"
        if r["extra"]:
            once += f" (+{r['extra']} stored without a 2xx)"
        runs = [("saturating", r)]
        if r["paced"] is not None:
            runs.insert(0, (f"paced {a.ingest_rate:,.0f}/s", r["paced"]))
        for name, run in runs:
            out.append(f"| {label} | {name} | {run['ok']:,} | {run['events']:,} | "
                       f"{run['seconds']:.1f} | {run['events'] / run['seconds']:,.0f} | "
                       f"{run['p50'] * 1000:.1f} | {run['p99'] * 1000:.1f} | {once} | "
                       f"{r['handled']:.0%} |")
    out.append("")
    return out


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    command = shlex.join([".venv/bin/python", "bench/serve.py", *argv])
    print(command, flush=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-serve-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            bench.run()
        except BaseException:
            log = bench.log.read_text("utf-8") if bench.log.exists() else ""
            print("the children's log ends with:\n" + "\n".join(log.splitlines()[-30:]))
            raise
        lines = report(bench, command)
    print()
    print("\n".join(lines))
    print(f"Total run time: {time.monotonic() - began:.0f} s.")
    if bench.failures:
        print("\nFAILED CHECKS:")
        print("\n".join(f"- {f}" for f in bench.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
