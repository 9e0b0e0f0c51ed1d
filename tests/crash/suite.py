"""Many trials per database, round-robin over the kill modes, and the summary table."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tests.providers import FakeSendGrid, FakeTwilio

from .project import SENDGRID_KEY, SID, TWILIO_TOKEN
from .trial import MODES, Outcome, Trial, run_trial

PARALLEL = 3  # trials at once: each spends most of its time waiting for a process to start
COLUMNS = ("trials", "kills by point", "accepted", "enrollments", "emails", "sms",
           "dup in window", "dup outside", "sms held", "missing", "stuck", "lost",
           "not stored", "failed", "drain max s")


@dataclass
class DbResult:
    db: str
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: str = ""

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failures()]

    def total(self, name: str) -> int:
        return sum(getattr(o.counts, name) for o in self.outcomes)


def postgres_problem() -> str | None:
    from tests.conftest import postgres_problem as problem

    return problem()


def run_db(db: str, trials: int, seed: int, broken: str = "",
           progress: Callable[[str], object] | None = None, parallel: int = PARALLEL,
           deadline: float | None = None) -> DbResult:
    """`trials` trials, `parallel` at a time: each has its own store, its own `serve` and
    its own customers, so they share only the provider servers (and the machine). Past
    `deadline` (time.monotonic()) no new trial starts; the table says how many ran."""
    result = DbResult(db)
    if db == "postgres" and (problem := postgres_problem()) is not None:
        result.skipped = problem
        return result
    with FakeSendGrid(api_key=SENDGRID_KEY) as sendgrid, \
            FakeTwilio(account_sid=SID, auth_token=TWILIO_TOKEN) as twilio, \
            ThreadPoolExecutor(max_workers=parallel) as pool:

        def one(trial: Trial) -> Outcome | None:
            if deadline is not None and time.monotonic() > deadline:
                return None
            with tempfile.TemporaryDirectory(prefix="cadenza-crash-") as workdir:
                return run_trial(trial, Path(workdir), sendgrid, twilio)

        futures = [pool.submit(one, Trial(db, MODES[i % len(MODES)], seed + i, broken))
                   for i in range(trials)]
        for future in as_completed(futures):
            if (outcome := future.result()) is not None:
                result.outcomes.append(outcome)
                if progress is not None:
                    progress(line(outcome))
    result.outcomes.sort(key=lambda o: o.trial.seed)
    return result


def run_suite(dbs: list[str], trials: int, seed: int = 1, broken: str = "",
              progress: Callable[[str], object] | None = None, parallel: int = PARALLEL,
              minutes: float | None = None) -> list[DbResult]:
    """Each database in turn; a time budget is shared out evenly between them."""
    share = None if minutes is None else minutes * 60 / len(dbs)
    return [run_db(db, trials, seed, broken, progress, parallel,
                   None if share is None else time.monotonic() + share) for db in dbs]


def line(o: Outcome) -> str:
    c = o.counts
    return (f"{o.trial.db:8} seed={o.trial.seed:<5} killed={o.killed:28} accepted={c.accepted:4} "
            f"emails={c.emails:4} sms={c.sms:4} in-window={c.dup_in_window} "
            f"held={c.sms_unknown} drain={o.drain_s:4.1f}s total={o.seconds:4.1f}s "
            f"{' '.join(o.failures()) or 'ok'}")


def summary_table(results: list[DbResult]) -> str:
    rows = [COLUMNS]
    for r in results:
        if r.skipped:
            rows.append((r.db, f"skipped: {r.skipped}", *[""] * (len(COLUMNS) - 2)))
            continue
        kills = Counter(o.killed for o in r.outcomes)
        rows.append((
            f"{r.db}: {len(r.outcomes)}", ", ".join(f"{k} {n}" for k, n in sorted(kills.items())),
            *(str(r.total(n)) for n in ("accepted", "enrollments", "emails", "sms",
                                        "dup_in_window", "dup_outside", "sms_unknown",
                                        "missing", "stuck", "lost", "not_stored")),
            str(len(r.failed)), f"{max((o.drain_s for o in r.outcomes), default=0):.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    out = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
           for row in rows]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(out)
