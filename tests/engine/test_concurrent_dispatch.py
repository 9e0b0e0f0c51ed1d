"""Several requests out at once per connector (its `concurrency`), and nothing lost or sent
twice when the store fails while some are out."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from cadenza.connectors import Delivered, Message, SendResult, build_connector
from cadenza.engine import schema as t
from cadenza.engine.sendwindow import SendWindow
from cadenza.engine.simulate import recorders
from cadenza.engine.state import Event
from cadenza.engine.store import Store
from tests.engine.harness import Harness, ts
from tests.providers import FakeSendGrid

PLAY = 'playbook p {\n  when event clicked\n  send email "hello"\n}\n'
AT = "2026-03-02T10:00Z"


class SlowEmail:
    """An email connector whose every answer takes `delay_s`; counts requests open at once."""

    name, channel = "email", "email"

    def __init__(self, max_in_flight: int, delay_s: float = 0.02) -> None:
        self.max_in_flight, self.delay_s = max_in_flight, delay_s
        self.calls: list[str] = []
        self.peak = self._open = 0
        self._lock = threading.Lock()

    def send(self, message: Message) -> SendResult:
        with self._lock:
            self._open += 1
            self.peak = max(self.peak, self._open)
            self.calls.append(message.message_id)
        time.sleep(self.delay_s)
        with self._lock:
            self._open -= 1
        return Delivered(f"slow-{message.message_id}")


def _enrolled(tmp_path: Path, url: str, n: int, email: Any) -> Harness:
    h = Harness(tmp_path, url, PLAY, connectors={**recorders(), "email": email})
    h.customers(*({"id": f"c{i:02d}", "email_opt_in": True} for i in range(n)))
    h.runtime.process([Event(customer_id=f"c{i:02d}", name="clicked", ts=ts(AT) - 60,
                             properties={}) for i in range(n)], ts(AT))
    return h


def _statuses(h: Harness) -> Counter[str]:
    return Counter(r.status for r in h.rows(t.messages))


def test_a_connector_has_at_most_its_concurrency_out_at_once(tmp_path: Path,
                                                            store_url: str) -> None:
    """20 e-mails through a connector that takes 4 at a time: 4 are out together, never 5,
    and each is sent once and recorded as sent."""
    slow = SlowEmail(max_in_flight=4)
    h = _enrolled(tmp_path, store_url, 20, slow)
    assert h.dispatcher.dispatch(ts(AT)) == 20
    assert slow.peak == 4
    assert sorted(Counter(slow.calls).values()) == [1] * 20
    assert _statuses(h) == {"sent": 20}
    h.dispatcher.close()


def test_one_at_a_time_without_a_concurrency(tmp_path: Path, store_url: str) -> None:
    slow = SlowEmail(max_in_flight=1, delay_s=0.005)
    h = _enrolled(tmp_path, store_url, 6, slow)
    assert h.dispatcher.dispatch(ts(AT)) == 6
    assert slow.peak == 1


def test_a_store_outage_with_requests_out_loses_no_answer(
        tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store fails on the third outcome while others are out: the round stops sending,
    keeps every answer it got, and the next round writes them before sending the rest, so
    every message goes out exactly once."""
    slow = SlowEmail(max_in_flight=4)
    h = _enrolled(tmp_path, store_url, 12, slow)
    real = Store.record_results
    writes = 0

    def flaky(conn: Any, rows: list[dict[str, Any]], owner: str) -> None:
        nonlocal writes
        writes += 1
        if writes == 3:
            raise OperationalError("UPDATE messages", None, Exception("server closed"))
        real(conn, rows, owner)

    monkeypatch.setattr(Store, "record_results", staticmethod(flaky))
    with pytest.raises(OperationalError):
        h.dispatcher.dispatch(ts(AT))
    out = len(slow.calls)
    assert out < 12, "the round went on sending with the store down"
    kept = [r for r in h.dispatcher.unrecorded if r["status"] == "sent"]
    assert len(kept) == out - 2  # two were written before the failure
    monkeypatch.setattr(Store, "record_results", staticmethod(real))
    while h.dispatcher.dispatch(ts(AT)):
        pass
    assert sorted(Counter(slow.calls).values()) == [1] * 12
    assert _statuses(h) == {"sent": 12}
    h.dispatcher.close()


def test_sendgrid_requests_go_out_together(tmp_path: Path, store_url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The real SendGrid client, `concurrency = 3`, a provider that answers in 50 ms: three
    requests are open at the provider at once, and it receives each e-mail once."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key")
    with FakeSendGrid(api_key="SG.test-key") as fake:
        fake.latency_s = 0.05
        email = build_connector("email", {"type": "sendgrid", "host": fake.url,
                                          "from_email": "shop@example.com", "concurrency": 3})
        h = _enrolled(tmp_path, store_url, 9, email)
        assert h.dispatcher.dispatch(ts(AT)) == 9
        ids = [m["personalizations"][0]["custom_args"]["cadenza_message_id"]
               for m in fake.mails]
    h.dispatcher.close()
    assert fake.peak == 3
    assert sorted(Counter(ids).values()) == [1] * 9
    assert _statuses(h) == {"sent": 9}


class ArrivalsEmail(SlowEmail):
    """Each request reaches the provider `reach` s after it leaves and is answered `total` s
    after it left (a slow connection, then a slow answer); notes each arrival."""

    def __init__(self, timings: list[tuple[float, float]]) -> None:
        super().__init__(max_in_flight=2)
        self.timings, self.arrivals = list(timings), []

    def send(self, message: Message) -> SendResult:
        with self._lock:
            reach, total = self.timings.pop(0) if self.timings else (0.0, 0.01)
        time.sleep(reach)
        with self._lock:
            self.arrivals.append(time.monotonic())
        time.sleep(total - reach)
        return Delivered(f"d-{message.message_id}")


def test_requests_out_at_once_never_break_the_rate_limit(tmp_path: Path, store_url: str) -> None:
    """Regression: a slot left the window `per` after it was taken although its request was
    still out; a request that reached the provider late then shared a window with two more."""
    email = ArrivalsEmail([(0.25, 0.3), (0.25, 0.7)])
    h = _enrolled(tmp_path, store_url, 5, email)
    h.dispatcher.limits = {"email": SendWindow(2, 0.3)}
    deadline = time.monotonic() + 20
    while _statuses(h) != {"sent": 5} and time.monotonic() < deadline:
        h.dispatcher.dispatch(ts(AT))
        time.sleep(0.01)
    h.dispatcher.close()
    assert _statuses(h) == {"sent": 5}
    busiest = max(sum(1 for b in email.arrivals if a <= b < a + 0.3) for a in email.arrivals)
    assert busiest <= 2


def test_close_writes_what_a_failed_write_held_back(
        tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shutdown right after a failed write: the answers kept in memory are written on the
    way out, so the messages are not sent again when their leases run out."""
    slow = SlowEmail(max_in_flight=4)
    h = _enrolled(tmp_path, store_url, 8, slow)
    real = Store.record_results

    def down(conn: Any, rows: list[dict[str, Any]], owner: str) -> None:
        raise OperationalError("UPDATE messages", None, Exception("server closed"))

    monkeypatch.setattr(Store, "record_results", staticmethod(down))
    with pytest.raises(OperationalError):
        h.dispatcher.dispatch(ts(AT))
    assert h.dispatcher.unrecorded
    monkeypatch.setattr(Store, "record_results", staticmethod(real))
    h.dispatcher.close()
    assert h.dispatcher.unrecorded == []
    assert _statuses(h)["sent"] == len(slow.calls)
