"""Simulation speed: customers/s and peak RSS of `simulate`, next to the raw write limit.

For each N, a cart-recovery-like playbook (event trigger with a filter, wait, branch on an
event-aggregate segment, two sends, exit on order, a goal, an email cap, quiet hours, SMS
consent) runs over 30 days of generated events on a fresh SQLite store. In the same run, the
raw limit writes the same number of rows the engine wrote (inserts and updates, per table) with
plain batched executemany statements to a fresh store with the same schema.

Each N runs in its own process, so its memory is that N's alone: the peak of the total
proportional set size (PSS) of that process and the processes it forks for a split run,
sampled every 250 ms from outside (a sum of each process's own peak RSS would count the
audience they share once per process).

    .venv/bin/python bench/simulate.py [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DAY = 86_400
START = 1_772_323_200  # 2026-03-01T00:00:00Z

SCHEMA = """\
schema {
  customer {
    first_name: string
    email_opt_in: bool
    sms_opt_in: bool
  }
  event cart_abandoned { cart_value: number }
  event order_completed { order_value: number }
}
segment frequent_buyer = count(order_completed in last 30d) >= 2
"""

PLAYBOOK = """\
playbook cart "Cart recovery" {
  framework aarrr
  when event cart_abandoned where event.cart_value >= 30
  audience email_opt_in
  exit when event order_completed
  goal recovered: event order_completed within 7d
  quiet hours 21:00-08:00
  cap email 2 per 1d
  consent sms: sms_opt_in
  reminder: send email "cart" stage activation
  wait 4h
  branch {
    when segment frequent_buyer -> loyal
    else -> nudge
  }
  loyal: send email "loyal" stage retention
  end
  nudge: send sms text "{{ first_name }}, your cart is waiting" stage revenue
}
"""

TEMPLATES = {"cart": "---\nsubject: Your cart, {{ first_name }}\n---\n<p>Come back</p>\n",
             "loyal": "---\nsubject: A thank-you\n---\n<p>For you, {{ first_name }}</p>\n"}
ZONES = ("America/New_York", "Europe/London", "Asia/Tokyo", "America/Los_Angeles", "UTC")


def make_project(root: Path) -> None:
    (root / "templates").mkdir(parents=True)
    (root / "schema.play").write_text(SCHEMA, encoding="utf-8")
    (root / "cart.play").write_text(PLAYBOOK, encoding="utf-8")
    for name, text in TEMPLATES.items():
        (root / "templates" / f"{name}.liquid").write_text(text, encoding="utf-8")


def make_data(n: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    customers, events = [], []
    for i in range(n):
        cid = f"c{i}"
        customers.append({"id": cid, "email": f"{cid}@example.com", "phone": "+15555550100",
                          "timezone": ZONES[i % len(ZONES)],
                          "attributes": {"first_name": f"N{i}", "email_opt_in": rng.random() < .9,
                                         "sms_opt_in": rng.random() < .6}})
        for _ in range(rng.choice((0, 0, 1, 2, 3))):  # history: orders before the start
            events.append((cid, "order_completed", START - rng.randrange(30 * DAY),
                           {"order_value": 40}))
        if rng.random() < 0.6:
            at = START + rng.randrange(29 * DAY)
            events.append((cid, "cart_abandoned", at, {"cart_value": rng.randrange(10, 200)}))
            if rng.random() < 0.4:
                events.append((cid, "order_completed", at + rng.randrange(2 * DAY),
                               {"order_value": 60}))
    events.sort(key=lambda e: e[2])
    return customers, events


def run_engine(n: int, parts: int | None) -> dict[str, Any]:
    from cadenza.engine.cli.main import quiet_logs
    from cadenza.engine.dataload import Loaded
    from cadenza.engine.simulate import Simulation
    from cadenza.engine.state import Event
    from cadenza.playbooks.project import load_project

    quiet_logs()
    with tempfile.TemporaryDirectory() as tmp:
        make_project(Path(tmp) / "p")
        project = load_project(Path(tmp) / "p").project
        assert project is not None
        customers, raw = make_data(n)
        data = Loaded(customers=customers,
                      events=[Event(customer_id=c, name=e, ts=t, properties=p)
                              for c, e, t, p in raw])
        del raw  # the CLI holds the loaded events only, not a second copy of them
        began = time.perf_counter()
        sim = Simulation(project=project, data=data, start=START, end=START + 30 * DAY,
                         db_path=Path(tmp) / "sim.db", parts=parts)
        sim.run()
        seconds = time.perf_counter() - began
        counts = _counts(sim)
        # A split run's processes each peak on their own: their sum bounds what it held.
        peaks = sim.peaks_kb or [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]
        sim.store.engine.dispose()
    return {"n": n, "seconds": seconds, "rows": counts, "parts": len(peaks),
            "rss_mb": sum(peaks) / 1024}


def _counts(sim: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from cadenza.engine import schema as t

    with sim.store.engine.connect() as conn:
        def count(table: Any) -> int:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        return {"customers": count(t.customers), "events": count(t.events),
                "enrollments": count(t.enrollments), "messages": count(t.messages),
                "suppressions": count(t.suppressions), "conversions": count(t.conversions)}


def run_raw(rows: dict[str, int]) -> float:
    """Plain batched INSERTs of the same rows, and one UPDATE per enrollment and message."""
    from sqlalchemy import bindparam, insert, update

    from cadenza.engine import schema as t
    from cadenza.engine.db import open_engine, sqlite_url

    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(sqlite_url(Path(tmp) / "raw.db"), durable=False)
        began = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(insert(t.customers), [
                {"id": f"c{i}", "email": "x@example.com", "phone": None, "timezone": "UTC",
                 "attributes": {"first_name": "x"}, "email_revoked": False,
                 "sms_revoked": False, "updated_at": 0} for i in range(rows["customers"])])
            conn.execute(insert(t.events), [
                {"customer_id": f"c{i}", "name": "e", "ts": i, "properties": {"v": 1},
                 "received_at": 0} for i in range(rows["events"])])
            conn.execute(insert(t.playbook_versions).values(
                id=1, playbook="p", version=1, graph={}, source_hash="x", created_at=0,
                active=True))
            conn.execute(insert(t.enrollments), [
                {"playbook": "p", "version_id": 1, "customer_id": f"c{i}", "node": "a",
                 "state": "active", "due_at": i, "context": {}, "entered_at": i, "trail": ""}
                for i in range(rows["enrollments"])])
            conn.execute(update(t.enrollments).where(t.enrollments.c.id == bindparam("k"))
                         .values(state="done", trail="a@1;b@2"),
                         [{"k": i + 1} for i in range(rows["enrollments"])])
            conn.execute(insert(t.messages), [
                {"idempotency_key": str(i), "enrollment_id": i, "playbook": "p", "node": "a",
                 "customer_id": f"c{i}", "channel": "email", "body": "hello",
                 "status": "pending", "attempts": 0, "created_at": i}
                for i in range(rows["messages"])])
            conn.execute(update(t.messages).where(t.messages.c.id == bindparam("k"))
                         .values(status="sent", sent_at=1),
                         [{"k": i + 1} for i in range(rows["messages"])])
            conn.execute(insert(t.suppressions), [
                {"enrollment_id": i, "playbook": "p", "node": "a", "customer_id": f"c{i}",
                 "reason": "cap", "action": "deferred", "at": i}
                for i in range(rows["suppressions"])])
            conn.execute(insert(t.conversions), [
                {"enrollment_id": i, "playbook": "p", "goal": "g", "customer_id": f"c{i}",
                 "at": i} for i in range(rows["conversions"])])
        seconds = time.perf_counter() - began
        engine.dispose()
    return seconds


def child(n: int, parts: int | None) -> None:
    print(json.dumps(run_engine(n, parts)))


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            continue
    return out


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def watch_memory(proc: subprocess.Popen[str]) -> int:
    """The largest total PSS (KB) of `proc` and its children, sampled every 250 ms until it
    exits: forked parts share the loaded audience, which a sum of their peak RSS would count
    once per process. 0 where /proc has no smaps_rollup (not Linux)."""
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(_pss_kb(p) for p in _tree(proc.pid)))
        time.sleep(0.25)
    return peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--child", type=int)
    ap.add_argument("--raw", help="(internal) the raw limit for these row counts, as JSON")
    ap.add_argument("--parts", type=int, help="processes per run (default: the engine's choice)")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.parts)
        return
    if args.raw:
        print(json.dumps(run_raw(json.loads(args.raw))))
        return
    print(f"{'N':>9} {'procs':>5} {'seconds':>8} {'cust/s':>8} {'peak RSS':>9} {'rows':>10} "
          f"{'raw s':>7} {'engine/raw':>10}")
    for n in (int(x) for x in args.sizes.split(",")):
        parts = [] if args.parts is None else ["--parts", str(args.parts)]
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(n), *parts],
                                stdout=subprocess.PIPE, text=True)
        peak = watch_memory(proc)
        out = proc.stdout.read() if proc.stdout else ""
        if proc.wait() != 0:
            raise SystemExit(f"the run for N = {n} failed (exit code {proc.returncode})")
        r = json.loads(out.strip().splitlines()[-1])
        # In a process of its own: its row lists are not the engine's memory.
        r["raw_seconds"] = json.loads(subprocess.run(
            [sys.executable, __file__, "--raw", json.dumps(r["rows"])], check=True,
            capture_output=True, text=True).stdout.strip().splitlines()[-1])
        if peak:  # measured from outside: shared pages counted once (PSS), all processes
            r["rss_mb"] = peak / 1024
        rows = sum(r["rows"].values())
        print(f"{n:>9,} {r['parts']:>5} {r['seconds']:>8.1f} {n / r['seconds']:>8,.0f} "
              f"{r['rss_mb']:>7,.0f}MB {rows:>10,} {r['raw_seconds']:>7.1f} "
              f"{r['seconds'] / r['raw_seconds']:>10.1f}x", flush=True)
    print("targets: 1M customers <= 60 s, <= 2 GB peak RSS, engine within 2x of the raw limit")


if __name__ == "__main__":
    main()
