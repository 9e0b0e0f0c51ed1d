"""The ticker: a wake that arrives while a tick runs is served by that tick going round again,
not lost until the next interval (APScheduler skips runs of a job that is still running)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from cadenza.engine.scheduler import Ticker


@dataclass
class _Stats:
    steps: int = 0
    events: int = 0
    customers: int = 0


@dataclass
class _Dispatcher:
    resume_at: float | None = None


@dataclass
class _SlowService:
    """Each tick takes `seconds`; records when ticks began."""

    seconds: float
    wake: threading.Event = field(default_factory=threading.Event)
    dispatcher: _Dispatcher = field(default_factory=_Dispatcher)
    began: list[float] = field(default_factory=list)
    store: object = None

    def tick(self) -> tuple[_Stats, int]:
        self.began.append(time.monotonic())
        time.sleep(self.seconds)
        return _Stats(), 0

    def next_due(self) -> int | None:
        return None

    def check_fatal(self, exc: BaseException) -> None:
        raise AssertionError(f"no tick may fail here: {exc!r}")


def _start(service: _SlowService, interval: float) -> Ticker:
    ticker = Ticker(service, interval=interval)  # type: ignore[arg-type]
    ticker.scheduler.add_job(ticker._tick, "interval", seconds=interval, id="tick",
                             coalesce=True, max_instances=1, misfire_grace_time=None,
                             next_run_time=None)
    ticker.scheduler.start()
    ticker._waker.start()
    return ticker


def test_a_wake_during_a_tick_runs_another_tick_at_once() -> None:
    service = _SlowService(seconds=0.4)
    ticker = _start(service, interval=30.0)
    try:
        service.wake.set()  # the first tick, woken by an ingest
        _until(lambda: len(service.began) >= 1)
        time.sleep(0.1)
        service.wake.set()  # arrives while that tick still runs
        _until(lambda: len(service.began) >= 2)
    finally:
        ticker.stop()
    assert service.began[1] - service.began[0] < 1.0  # not the 30 s interval


def test_an_idle_ticker_does_not_spin() -> None:
    service = _SlowService(seconds=0.0)
    ticker = _start(service, interval=30.0)
    try:
        service.wake.set()
        _until(lambda: len(service.began) >= 1)
        time.sleep(0.5)
    finally:
        ticker.stop()
    assert len(service.began) == 1


def _until(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.01)
    raise AssertionError("the ticker did not tick in time")
