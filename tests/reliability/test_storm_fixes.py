"""Regression tests for what the fault storms and the database trials found in the dispatcher:
rate limits allowed 2N per window, retries came before Retry-After, and an outcome the store
could not write was lost (so the message would be sent again when its lease ran out)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from cadenza.connectors import Transient
from cadenza.connectors.ratelimit import TokenBucket
from cadenza.connectors.recorder import RecorderConnector
from cadenza.connectors.retry import RetryPolicy
from cadenza.engine import schema as t
from cadenza.engine.sendwindow import SendWindow
from cadenza.engine.simulate import recorders
from cadenza.engine.state import Event
from tests.engine.harness import Harness, ts
from tests.reliability.storm import busiest_window

PLAY = """\
playbook hello {
  when event clicked
  send email "hello"
}
"""


def _stream(limit: Any, clock: list[float], seconds: float, step: float) -> list[float]:
    """Try a send every `step` seconds for `seconds`; the moments sends were allowed."""
    allowed = []
    while clock[0] < seconds:
        if limit.try_acquire():
            allowed.append(clock[0])
        clock[0] += step
    return allowed


def test_send_window_never_exceeds_n_in_any_window() -> None:
    """20 per 1 s over a steady stream: at most 20 in any sliding second, at full rate."""
    clock = [0.0]
    sent = _stream(SendWindow(20, 1.0, clock=lambda: clock[0]), clock, 10.0, 0.01)
    assert busiest_window(sent, 1.0)[0] == 20
    assert len(sent) == 200


def test_a_full_token_bucket_lets_2n_through_in_one_window() -> None:
    """Why SendWindow replaced TokenBucket(rate=N, capacity=N): a burst plus the refill."""
    clock = [0.0]
    sent = _stream(TokenBucket(rate=20, capacity=20, clock=lambda: clock[0]), clock, 10.0, 0.01)
    assert busiest_window(sent, 1.0)[0] >= 39


def test_send_window_counts_a_send_from_when_its_request_finished() -> None:
    clock = [0.0]
    window = SendWindow(1, 1.0, clock=lambda: clock[0])
    slot = window.take()
    assert slot is not None
    clock[0] = 0.4  # the request took 0.4 s
    window.settle(slot)
    clock[0] = 1.2
    assert not window.try_acquire()
    assert window.wait_time() == pytest.approx(0.2)
    clock[0] = 1.5
    assert window.try_acquire()


def test_concurrent_requests_are_each_counted_from_their_own_finish() -> None:
    """Two requests out together, the second finishing first: each slot moves to its own
    finish, so the window frees when the earlier finish is a second old, not before."""
    clock = [0.0]
    window = SendWindow(2, 1.0, clock=lambda: clock[0])
    first, second = window.take(), window.take()
    assert window.take() is None
    clock[0] = 0.2
    window.settle(second)
    clock[0] = 0.7
    window.settle(first)
    clock[0] = 1.1
    assert window.take() is None  # 0.2 and 0.7 are both within the last second
    clock[0] = 1.25
    assert window.take() is not None  # the one settled at 0.2 has left the window
    assert window.take() is None


def _harness(tmp: Path, email: RecorderConnector) -> Harness:
    connectors = recorders()
    connectors["email"] = email
    h = Harness(tmp, f"sqlite:///{tmp / 'store.db'}", PLAY, connectors=connectors)
    h.customers({"id": "ana"})
    h.runtime.process([Event(customer_id="ana", name="clicked", ts=ts("2026-03-02T10:00Z"),
                             properties={})], ts("2026-03-02T10:00Z"))
    return h


def test_retry_after_counts_from_the_answer_rounded_up(tmp_path: Path) -> None:
    """A 429 answered at 100.9 s with Retry-After 1 may be retried at 102, never at 101 (the
    tick's `now` is truncated to 100, and may be older still after a long tick)."""
    email = RecorderConnector(name="email", channel="email",
                              script=[Transient("HTTP 429", retry_after_s=1.0)])
    h = _harness(tmp_path, email)
    answered = float(ts("2026-03-02T10:00Z")) + 0.9
    h.dispatcher.clock = lambda: answered
    h.dispatcher.policy = RetryPolicy(base_s=0.01, max_delay_s=0.01)  # Retry-After decides
    h.dispatcher.dispatch(ts("2026-03-02T10:00Z"))
    [row] = h.rows(t.messages)
    assert (row.status, row.next_attempt_at) == ("failed", ts("2026-03-02T10:00Z") + 2)


def test_an_outcome_the_store_could_not_write_is_written_later_not_resent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database drops while a send is in flight: the provider accepted it, recording
    fails. The next dispatch writes the outcome first; the message is never sent again."""
    email = RecorderConnector(name="email", channel="email")
    h = _harness(tmp_path, email)
    record = h.store.record_results
    calls = {"n": 0}

    def flaky(conn: Any, rows: list[dict[str, Any]], owner: str) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("UPDATE messages", None, Exception("server closed"))
        record(conn, rows, owner)

    monkeypatch.setattr(h.store, "record_results", flaky)
    now = ts("2026-03-02T10:00Z")
    with pytest.raises(OperationalError):
        h.dispatcher.dispatch(now)
    assert h.dispatcher.dispatch(now + 600) == 0  # the lease (300 s) ran out meanwhile
    [row] = h.rows(t.messages)
    assert row.status == "sent"
    assert len(email.sent) == 1


class _SlowEmail(RecorderConnector):
    def send(self, message: Any) -> Any:
        time.sleep(0.6)  # a provider answering slowly, near the client's timeout
        return super().send(message)


def test_a_claim_is_handed_back_before_its_lease_runs_out(tmp_path: Path) -> None:
    """Slow sends: after half the lease the rest of the claim goes back to pending, so no other
    worker takes over rows this one is still working through (and sends them again)."""
    email = _SlowEmail(name="email", channel="email")
    h = _harness(tmp_path, email)
    h.customers({"id": "bo"}, {"id": "cy"})
    h.runtime.process([Event(customer_id=c, name="clicked", ts=ts("2026-03-02T10:00Z"),
                             properties={}) for c in ("bo", "cy")], ts("2026-03-02T10:00Z"))
    h.dispatcher.lease_s = 2
    assert h.dispatcher.dispatch(ts("2026-03-02T10:00Z")) == 2  # 1.2 s > half the lease
    rows = sorted((r.status, r.lease_owner) for r in h.rows(t.messages))
    assert rows == [("pending", None), ("sent", None), ("sent", None)]
    assert len(email.sent) == 2


def test_a_request_still_out_counts_past_the_window() -> None:
    """Regression: a slot was dropped a window after it was taken even with its request still
    out, so a slow provider let more than N through in one window."""
    clock = [0.0]
    window = SendWindow(2, 1.0, clock=lambda: clock[0])
    slow, quick = window.take(), window.take()
    clock[0] = 1.5
    assert window.take() is None  # both still out
    assert window.wait_time() == 1.0  # their finish is not known yet: a whole window
    window.settle(quick)
    assert window.take() is None  # quick finished now: it counts until 2.5
    clock[0] = 2.5
    assert window.take() is not None
    window.settle(slow)
    window.settle(slow)  # twice changes nothing


@pytest.mark.parametrize("seed", range(40))
def test_send_window_matches_a_plain_model(seed: int) -> None:
    """Random takes and out-of-order settles against the obvious list: a slot counts while
    its request is out and `per` after it finished; the same answers to `take` and
    `wait_time` at every step."""
    rnd = random.Random(seed)
    clock = [0.0]
    count, per = rnd.randint(1, 5), rnd.choice([1.0, 2.0])
    window = SendWindow(count, per, clock=lambda: clock[0])
    finished: list[float] = []
    out: list[object] = []
    for _ in range(200):
        clock[0] += rnd.choice([0.0, 0.1, 0.3, 0.7])
        now = clock[0]
        recent = [t for t in finished if t > now - per]
        if rnd.random() < 0.5:
            slot = window.take()
            assert (slot is not None) == (len(recent) + len(out) < count)
            if slot is not None:
                out.append(slot)
        elif out:
            window.settle(out.pop(rnd.randrange(len(out))))
            finished.append(now)
            recent.append(now)
        if len(recent) + len(out) < count:
            expected = 0.0
        else:
            expected = min(recent) + per - now if recent else per
        assert window.wait_time() == pytest.approx(expected)
