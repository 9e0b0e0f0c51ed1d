"""Bugs the crash trials found, each pinned by a fast test of its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from cadenza.connectors import Delivered, Message, SendResult
from cadenza.engine import schema as t
from cadenza.engine.boot import build_service
from cadenza.engine.settings import ServeSettings
from cadenza.engine.state import Event
from tests.engine.harness import Harness, ts

from .project import write_project

PLAY = 'playbook p {\n  when event clicked\n  send email "hello"\n}\n'
AT = "2026-03-02T10:00Z"


def test_serve_leases_outbox_rows_for_lease_seconds(tmp_path: Path) -> None:
    """`lease_seconds` reaches the dispatcher: a killed sender's rows come back after it, not
    after a hard-coded 300 s (trials killed after the outbox claim found rows still leased)."""
    root = write_project(tmp_path / "project", "http://127.0.0.1:9", "http://127.0.0.1:9")
    settings = ServeSettings(db=f"sqlite:///{tmp_path / 'state.db'}", lease_seconds=7)
    service = build_service(root, settings.model_copy(update={"connectors": {}}))
    try:
        assert service.dispatcher.lease_s == 7
    finally:
        service.store.engine.dispose()


class _Crash(BaseException):
    """The process dying mid-send: nothing after it runs."""


@dataclass
class _DiesOnThird:
    name: str = "email"
    channel: str = "email"
    sent: int = 0

    def send(self, message: Message) -> SendResult:
        self.sent += 1
        if self.sent == 3:
            raise _Crash
        return Delivered(provider_id=f"p{self.sent}")


def test_each_send_is_recorded_before_the_next(tmp_path: Path) -> None:
    """A crash during the third send of a claim leaves the first two `sent`, so only the one
    in flight can repeat (kills after a provider's answer re-sent the whole claim's emails)."""
    connector = _DiesOnThird()
    h = Harness(tmp_path, f"sqlite:///{tmp_path / 's.db'}", PLAY,
                connectors={"email": connector})  # type: ignore[dict-item]
    h.customers(*({"id": f"c{i}"} for i in range(5)))
    h.runtime.process([Event(customer_id=f"c{i}", name="clicked", ts=ts(AT), properties={})
                       for i in range(5)], ts(AT))
    with pytest.raises(_Crash):
        h.dispatcher.dispatch(ts(AT))
    status = sorted(r.status for r in h.rows(t.messages))
    assert status == ["claimed", "claimed", "claimed", "sent", "sent"]


SMS_PLAY = ('playbook p {\n  when event clicked\n  consent sms: sms_opt_in\n'
            '  send sms text "hi"\n}\n')


@dataclass
class _SmsDiesOnThird(_DiesOnThird):
    name: str = "sms"
    channel: str = "sms"


def test_a_crash_mid_claim_holds_only_the_sms_in_flight(tmp_path: Path) -> None:
    """After a kill during the third SMS of a claim, that one is held as unknown (Twilio may
    have it) and the two never tried are sent by the next worker; the trials found every
    untried SMS of the claim held for an operator."""
    connector = _SmsDiesOnThird()
    h = Harness(tmp_path, f"sqlite:///{tmp_path / 's.db'}", SMS_PLAY,
                connectors={"sms": connector})  # type: ignore[dict-item]
    h.customers(*({"id": f"c{i}", "sms_opt_in": True} for i in range(5)))
    h.runtime.process([Event(customer_id=f"c{i}", name="clicked", ts=ts(AT), properties={})
                       for i in range(5)], ts(AT))
    h.dispatcher.lease_s = 60
    with pytest.raises(_Crash):
        h.dispatcher.dispatch(ts(AT))
    assert sorted(r.status for r in h.rows(t.messages)) == [
        "claimed", "claimed", "sending", "sent", "sent"]
    h.dispatcher.owner = "the-next-worker"
    assert h.dispatcher.dispatch(ts(AT) + 61) == 2  # after the lease: the untried two
    assert sorted(r.status for r in h.rows(t.messages)) == [
        "sent", "sent", "sent", "sent", "unknown"]
    assert connector.sent == 5  # the held one was not sent again
