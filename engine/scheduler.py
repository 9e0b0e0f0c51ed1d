"""APScheduler drives the engine in `serve`: one ticker job, never one job per customer.

The ticker job calls `Service.tick()` (run what is due, send the outbox), then moves its own
next run to the next due instant when that is sooner than the regular interval. Ingesting an
event wakes it at once. APScheduler reads the wall clock; the engine never does — it gets `now`
from the service's clock, so the same engine runs on virtual time in `simulate` and tests.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from cadenza.engine.service import CHANNEL, Service

JOB = "tick"
log = structlog.get_logger("cadenza.ticker")


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
                self._run_soon(datetime.now(UTC))

    def _run_soon(self, when: datetime) -> None:
        job = self.scheduler.get_job(JOB)
        if job is not None and (job.next_run_time is None or when < job.next_run_time):
            job.modify(next_run_time=when)

    def _tick(self) -> None:
        began = time.monotonic()
        try:
            stats, sent = self.service.tick()
        except Exception:  # a failed tick is retried by the next one; say why, keep running
            log.exception("tick.failed")
            return
        self.ticks += 1
        if stats.steps or sent or stats.events:
            log.info("tick", customers=stats.customers, steps=stats.steps, sent=sent,
                     seconds=round(time.monotonic() - began, 3))
        due = self.service.next_due()
        if due is not None:
            at = datetime.fromtimestamp(due, UTC)
            if at < datetime.now(UTC) + timedelta(seconds=self.interval):
                self._run_soon(max(at, datetime.now(UTC)))
