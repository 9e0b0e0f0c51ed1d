"""A large simulation split by customer over the machine's cores, then merged into one store.

Customers never affect each other in the engine: caps, consent, segments, re-entry, goals and
experiment arms are all per customer, and a scheduled entry enrolls the audience it finds. So
the audience and its events are split by a stable hash of the customer id, each part is
simulated on its own SQLite file (the first in this process, the others each in a forked
one) (the same engine, the same clock steps),
and the parts are merged into the simulation's store: the first part's file becomes the store
and the others are appended with their ids moved past the ones already there (an outbox row's
idempotency key, `enrollment:node:attempt`, moves with its enrollment). Reports and
`cadenza explain` read the merged store as they read a single run's; a test holds the reports
of a split and an unsplit run to equality.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import resource
import sqlite3
import sys
import traceback
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from cadenza.engine import schema as t
from cadenza.engine.dataload import Loaded
from cadenza.engine.state import Event

T = TypeVar("T")
SHARD_FROM = 40_000  # customers: below this a second process costs more than it saves
Progress = Callable[[int, int], None]
# Tables with one copy per part (the deployed versions and the schema version): kept once.
SHARED = ("meta", "playbook_versions", "deployments")
# Tables whose rows another part may repeat (the same schedule fire time): kept once.
IDEMPOTENT = ("schedule_fires", "feedback_events")


def default_count(customers: int) -> int:
    """How many parts a simulation of `customers` runs in (1: not split) where it can fork."""
    if customers < SHARD_FROM:
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


def can_fork() -> bool:
    # Forked children share the loaded audience without copying it; spawn would pickle it.
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


def part_of(customer_id: str, parts: int) -> int:
    return zlib.crc32(customer_id.encode()) % parts


def split(data: Loaded, parts: int) -> list[Loaded]:
    """The audience and its events in `parts`, each customer with all of their events."""
    out = [Loaded() for _ in range(parts)]
    for customer in data.customers:
        out[part_of(str(customer["id"]), parts)].customers.append(customer)
    for event in data.events:  # in time order, as loaded
        out[part_of(event.customer_id, parts)].events.append(event)
    return out


@dataclass
class Packed:
    """A part's audience and events, pickled in slices before the fork. A part that read the
    loaded objects themselves would write their reference counts, and so copy every memory
    page it shares with the other processes: each would hold most of the audience again."""

    customers: list[bytes]
    # Slices of five columns: customer ids, names, times, properties, message ids (a third
    # quicker to pickle than a tuple per event, and packing runs before any part starts).
    events: list[bytes]

    def customer_slices(self) -> Iterator[list[dict[str, Any]]]:
        return _drain(self.customers)

    def event_slices(self) -> Iterator[list[Event]]:
        return ([Event(*fields) for fields in zip(*columns, strict=True)]
                for columns in _drain(self.events))


def pack(piece: Loaded, size: int) -> Packed:
    return Packed(customers=_pickled(piece.customers, size, lambda rows: rows),
                  events=_pickled(piece.events, size, lambda rows: (
                      [e.customer_id for e in rows], [e.name for e in rows],
                      [e.ts for e in rows], [e.properties for e in rows],
                      [e.message_id for e in rows])))


def _pickled(rows: Sequence[T], size: int,
             as_slice: Callable[[Sequence[T]], object]) -> list[bytes]:
    return [pickle.dumps(as_slice(rows[i:i + size]), protocol=pickle.HIGHEST_PROTOCOL)
            for i in range(0, len(rows), size)]


def _drain(chunks: list[bytes]) -> Iterator[Any]:
    while chunks:  # each slice freed once read
        yield pickle.loads(chunks.pop(0))  # pickled by this process before the fork


def part_path(db_path: Path, k: int) -> Path:
    return db_path.with_name(f"{db_path.name}.part{k}")


# ------------------------------------------------------------------ running the parts
def run_parts(run_one: Callable[[int, Progress], None], parts: int, span: int,
              progress: Progress | None) -> list[int]:
    """`run_one(k, progress)` for every part: part 0 in this process once the others are
    forked, the others each in a forked one; returns the forked parts' peak RSS (KB).

    This process runs a part itself rather than wait: a child's refcount writes copy the
    shared pages it touches, so every process holding the audience costs about one more copy.
    Raises RuntimeError naming the part and its error when one fails."""
    ctx = multiprocessing.get_context("fork")
    done = [ctx.Value("q", 0, lock=False) for _ in range(parts)]
    pipes = [ctx.Pipe(duplex=False) for _ in range(parts)]
    procs = [ctx.Process(target=_child, args=(run_one, k, done[k], pipes[k][1]),
                         name=f"cadenza-sim-part{k}") for k in range(1, parts)]
    for proc in procs:
        proc.start()
    for _, sender in pipes:
        sender.close()

    def own_progress(at: int, _total: int) -> None:
        done[0].value = at
        if progress is not None:
            progress(min(int(v.value) for v in done), span)

    try:
        run_one(0, own_progress)
        mine: int | str = 0
    except Exception as exc:  # the others finish first: no process is left behind
        mine = traceback.format_exception_only(type(exc), exc)[-1].strip()
    while any(proc.is_alive() for proc in procs):
        own_progress(int(done[0].value), span)
        for proc in procs:
            proc.join(timeout=0.2 / parts)
    results = [mine, *(_result(k, pipes[k][0]) for k in range(1, parts))]
    failed = [(k, r) for k, r in enumerate(results) if isinstance(r, str)]
    if failed:
        k, reason = failed[0]
        raise RuntimeError(f"simulation part {k + 1} of {parts} failed: {reason}")
    return [int(r) for r in results[1:]]


def _result(k: int, receiver: Connection) -> int | str:
    try:
        result: int | str = receiver.recv() if receiver.poll() else (
            f"the process of part {k + 1} ended without a result")
    except EOFError:
        result = f"the process of part {k + 1} ended without a result"
    receiver.close()
    return result


def _child(run_one: Callable[[int, Progress], None], k: int, done: Any,
           sender: Connection) -> None:
    def progress(at: int, _total: int) -> None:
        done.value = at

    try:
        run_one(k, progress)
        sender.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    except BaseException as exc:  # reported to the parent, which raises it with the part
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        sender.send(last)
    finally:
        sender.close()


# ------------------------------------------------------------------ merging
def merge(target: Path, parts: Sequence[Path]) -> None:
    """Make `target` the store of all parts: the first part's file, with the others' rows
    appended (ids moved past those already in it); the part files are removed."""
    for part in parts:  # each part's WAL folded into its file, so the file alone is whole
        with sqlite3.connect(part) as db:
            db.execute("PRAGMA journal_mode=DELETE")
        db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(parts[0], target)
    db = sqlite3.connect(target, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")
        # The appended rows land all over the customer indexes: with SQLite's default 2 MB
        # cache their pages were read and written back again and again (a 1M merge: 9.5 s
        # with it, 4.7 s with 64 MB). The engine itself runs faster with the default.
        db.execute("PRAGMA cache_size=-65536")
        db.execute("BEGIN IMMEDIATE")
        for k, part in enumerate(parts[1:], start=1):
            db.execute("ATTACH DATABASE ? AS part", (str(part),))
            _check_same_versions(db, k)
            _append(db)
            db.execute("COMMIT")  # DETACH needs no open transaction
            db.execute("DETACH DATABASE part")
            db.execute("BEGIN IMMEDIATE")
        db.execute("COMMIT")
    finally:
        db.close()
    for part in parts[1:]:
        part.unlink(missing_ok=True)


def _check_same_versions(db: sqlite3.Connection, k: int) -> None:
    query = "SELECT id, playbook, version, source_hash FROM {}.playbook_versions ORDER BY id"
    if db.execute(query.format("main")).fetchall() != db.execute(query.format("part")).fetchall():
        raise RuntimeError(f"simulation part {k + 1} deployed other playbook versions than "
                           "part 1; the parts cannot be merged (this is a bug in Cadenza).")


def _append(db: sqlite3.Connection) -> None:
    """Every table of the attached part into main, ids moved past main's."""
    enrollment_shift = _max_id(db, "enrollments")
    for table in t.metadata.sorted_tables:
        if table.name in SHARED:
            continue
        names = [c.name for c in table.columns]
        shift = _max_id(db, table.name) if "id" in names and table.name != "customers" else 0
        exprs = [_moved(name, shift, enrollment_shift) for name in names]
        verb = "INSERT OR IGNORE" if table.name in IDEMPOTENT else "INSERT"
        db.execute(f"{verb} INTO main.{table.name} ({', '.join(names)}) "
                   f"SELECT {', '.join(exprs)} FROM part.{table.name}")


def _moved(name: str, shift: int, enrollment_shift: int) -> str:
    if name == "id" and shift:
        return f"id + {shift}"
    if name == "enrollment_id":
        return f"enrollment_id + {enrollment_shift}"
    if name == "idempotency_key":  # "enrollment:node:attempt"
        return (f"CAST(enrollment_id + {enrollment_shift} AS TEXT) || "
                "substr(idempotency_key, length(CAST(enrollment_id AS TEXT)) + 1)")
    return name


def _max_id(db: sqlite3.Connection, table: str) -> int:
    return int(db.execute(f"SELECT coalesce(max(id), 0) FROM main.{table}").fetchone()[0])

