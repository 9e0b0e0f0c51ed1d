"""APScheduler drives the engine in `serve`: one ticker job, never one job per customer.

The ticker job calls `Service.tick()` (run what is due, send the outbox), then moves its own
next run to the next due instant when that is sooner than the regular interval. Ingesting an
event wakes it at once; a wake that arrives while a tick runs makes that tick go round again
instead of rescheduling a job that is still running (APScheduler would skip that run as "maximum
number of running instances reached" and the wake would wait a whole interval).

APScheduler reads the wall clock; the engine never does — it gets `now` from the service's
clock, so the same engine runs on virtual time in `simulate` and tests.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from cadenza.engine.service import CHANNEL, Service

JOB = "tick"
log = structlog.get_logger("cadenza.ticker")


class _SkippedWhileRunning(logging.Filter):
    """Drops APScheduler's "skipped: maximum number of running instances" for the ticker: a
    tick that outlasts the interval keeps going round itself, so the skipped run loses nothing
    and the warning would only teach operators to ignore warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_SkippedWhileRunning())


class Ticker:
    def __init__(self, service: Service, interval: float) -> None:
        self.service = service
        self.interval = interval
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self._stop = threading.Event()
        self._waker = threading.Thread(target=self._wake_loop, name="cadenza-waker",
                                       daemon=True)
        self._listener = threading.Thread(target=self._listen, name="cadenza-listen",
                                          daemon=True)
        self.ticks = 0
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def start(self) -> None:
        self.scheduler.add_job(self._tick, "interval", seconds=self.interval, id=JOB,
                               coalesce=True, max_instances=1, misfire_grace_time=None,
                               next_run_time=datetime.now(UTC))
        self.scheduler.start()
        self._waker.start()
        if self.service.store.engine.dialect.name == "postgresql":
            self._listener.start()

    def stop(self) -> None:
        """Stop taking new ticks; the tick in hand finishes (its batch commits or rolls back)."""
        self._stop.set()
        self.service.wake.set()
        self.scheduler.shutdown(wait=True)
        self._waker.join(timeout=5)
        if self._listener.is_alive():
            self._listener.join(timeout=5)

    def _listen(self) -> None:
        """Wake on NOTIFY from any worker's ingest; the interval tick is the fallback."""
        import psycopg  # noqa: PLC0415 - PostgreSQL only; psycopg is an optional extra

        url = self.service.store.engine.url.set(drivername="postgresql")
        while not self._stop.is_set():
            try:
                with psycopg.connect(url.render_as_string(hide_password=False),
                                     autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.service.wake.set()
            except psycopg.Error:
                log.warning("listen.reconnecting")
                self._stop.wait(5.0)

    def _wake_loop(self) -> None:
        while not self._stop.is_set():
            if self.service.wake.wait(timeout=1.0) and not self._stop.is_set():
                self.service.wake.clear()
                self._wake()

    def _wake(self) -> None:
        with self._lock:
            if self._running:
                self._again = True
                return
        self._run_soon(datetime.now(UTC))

    def _run_soon(self, when: datetime) -> None:
        job = self.scheduler.get_job(JOB)
        if job is not None and (job.next_run_time is None or when < job.next_run_time):
            job.modify(next_run_time=when)

    def _tick(self) -> None:
        with self._lock:
            self._running = True
        try:
            outcome = self._tick_once()
            while outcome is not None and outcome[0] and not self._stop.is_set():
                outcome = self._tick_once()
        finally:
            with self._lock:
                self._running = False
        if outcome is not None:  # after a failure the interval retries; the store may be down
            self._schedule_next(outcome[1])

    def _tick_once(self) -> tuple[bool, int | None] | None:
        """One tick: whether it must go round again at once (woken meanwhile, or it did work
        and more is due now) and the next due instant; None when it failed."""
        with self._lock:
            self._again = False
        began = time.monotonic()
        try:
            stats, sent = self.service.tick()
            due = self.service.next_due()
        except Exception as exc:  # a failed tick is retried by the next one; say why, go on
            log.exception("tick.failed")
            self.service.check_fatal(exc)  # unless no retry can help (a full disk)
            return None
        self.ticks += 1
        if stats.steps or sent or stats.events:
            log.info("tick", customers=stats.customers, steps=stats.steps, sent=sent,
                     seconds=round(time.monotonic() - began, 3))
        due_now = bool(stats.steps or sent) and due is not None and due <= time.time()
        with self._lock:
            return self._again or due_now, due

    def _schedule_next(self, due: int | None) -> None:
        # Compared as numbers: a due time past the year 9999 (an attribute there plus an
        # offset) has no datetime, and raising here would stop the ticker for everyone.
        if due is not None and due < time.time() + self.interval:
            self._run_soon(datetime.fromtimestamp(max(due, time.time()), UTC))
        resume = self.service.dispatcher.resume_at
        if resume is not None:  # a rate limit held sends back: come back when it frees
            self._run_soon(max(datetime.fromtimestamp(resume, UTC), datetime.now(UTC)))
