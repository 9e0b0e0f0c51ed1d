"""One crash trial: serve under load, a SIGKILL (at a random instant or a named fault point),
the in-flight messages noted, a restart, a drain bounded by one lease period, then the count."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine

from cadenza.connectors.base import DEFAULT_CONCURRENCY
from tests.providers import FakeSendGrid, FakeTwilio

from .ledger import Counts, backlog, count, in_flight, provider_log
from .load import Load
from .project import write_project
from .serve import Serve

LEASE_S = 2  # short, so "stuck after one lease period" is seconds, not minutes
SLACK_S = 30.0  # restart-to-drained allowance beyond the lease: a loaded 2-core machine is slow
FAULT_WAIT_S = 15.0  # a point not reached by then is a random kill instead
MODES = ("random", "after_claim", "after_commit", "after_outbox_claim",
         "after_provider_accept", "after_provider_accept:sms")
HITS = {"after_claim": (1, 6), "after_commit": (1, 6), "after_outbox_claim": (1, 6),
        "after_provider_accept": (1, 30), "after_provider_accept:sms": (1, 10)}


@dataclass(frozen=True)
class Trial:
    db: str  # "sqlite" or "postgres"
    mode: str  # "random" or a fault point of engine/faults.py
    seed: int
    broken: str = ""  # a deliberately broken build (CADENZA_FAULT_BROKEN), to see it fail


@dataclass(frozen=True)
class Outcome:
    trial: Trial
    killed: str  # the point that fired, "random", or "random (point not reached)"
    counts: Counts
    drain_s: float
    seconds: float

    def failures(self) -> list[str]:
        c = self.counts
        checks = {"lost": c.lost, "not_stored": c.not_stored, "dup_outside": c.dup_outside,
                  "extra_enrollments": c.extra_enrollments, "missing": c.missing,
                  "stuck": c.stuck}
        found = [f"{name}={n}" for name, n in checks.items() if n]
        if c.dup_in_window > DEFAULT_CONCURRENCY:  # one kill: the requests out at once
            found.append(f"dup_in_window={c.dup_in_window} (more than the "
                         f"{DEFAULT_CONCURRENCY} requests a connector keeps out at once)")
        return found


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """An empty store: a SQLite file, or a fresh schema on the test PostgreSQL."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'state.db'}"
        return
    from tests.conftest import postgres_schema

    with postgres_schema("crash") as url:
        yield url


def fault_env(trial: Trial, rng: random.Random) -> dict[str, str]:
    env = {"CADENZA_FAULT_BROKEN": trial.broken} if trial.broken else {}
    if trial.mode in HITS:
        env |= {"CADENZA_FAULT_POINT": trial.mode,
                "CADENZA_FAULT_AFTER": str(rng.randint(*HITS[trial.mode]))}
    return env


def run_trial(trial: Trial, workdir: Path, sendgrid: FakeSendGrid,
              twilio: FakeTwilio) -> Outcome:
    began = time.monotonic()
    rng = random.Random(trial.seed)
    project = write_project(workdir / "project", sendgrid.url, twilio.url)
    log = workdir / "serve.log"
    with database(trial.db, workdir) as url:
        first = Serve(project, url, log, LEASE_S, fault_env(trial, rng))
        first.start()
        killed = _load_and_kill(first, trial, rng)
        engine = create_engine(url)
        try:
            in_doubt = in_flight(engine)  # the dead worker's leases: frozen until restart
            broken = {"CADENZA_FAULT_BROKEN": trial.broken} if trial.broken else {}
            second = Serve(project, url, log, LEASE_S, broken)
            second.start()
            drain_s, stuck = _drain(engine, second)
            second.stop()
            emails, texts = provider_log(sendgrid, twilio, trial.seed)
            counts = count(engine, killed[1], in_doubt, stuck, emails, texts)
        finally:
            engine.dispose()
    return Outcome(trial, killed[0], counts, drain_s, time.monotonic() - began)


def _load_and_kill(serve: Serve, trial: Trial, rng: random.Random) -> tuple[str, list[str]]:
    """Run the load until the kill; returns how the process died and the accepted ids."""
    load = Load(serve.port, trial.seed)
    thread = load.start()
    try:
        if trial.mode == "random":
            time.sleep(rng.uniform(0.3, 1.5))
            how = "random"
        elif serve.wait_dead(FAULT_WAIT_S):
            how = trial.mode
        else:
            how = "random (point not reached)"
        serve.kill()
    finally:
        load.stop.set()
        thread.join(timeout=30)
    return how, list(load.accepted)


def _drain(engine: Engine, serve: Serve) -> tuple[float, int]:
    """Seconds until nothing is left to do, and what is left after one lease period + slack."""
    began = time.monotonic()
    deadline = began + LEASE_S + SLACK_S
    left = backlog(engine)
    while left and time.monotonic() < deadline and serve.alive():
        time.sleep(0.1)
        left = backlog(engine)
    return time.monotonic() - began, left
