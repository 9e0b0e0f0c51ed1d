"""SendGrid Signed Event Webhook: verification, freshness, replays and event parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cadenza.connectors import (
    ConnectorConfigError,
    MalformedWebhookError,
    MemorySeenKeys,
    ReplayedWebhookError,
    SendGridEventReceiver,
    SignatureError,
    StaleWebhookError,
)
from tests.providers import SendGridSigner

NOW = 1_800_000_000


def event(kind: str, **extra: object) -> dict[str, object]:
    return {"email": "jane.doe@example.com", "timestamp": NOW - 5, "event": kind,
            "sg_event_id": f"ev-{kind}", "sg_message_id": "abc123XYZ.filter0001.1.0",
            "cadenza_message_id": "enr-42:reminder:1", **extra}


@pytest.fixture(scope="module")
def signer() -> SendGridSigner:
    return SendGridSigner()


@pytest.fixture
def receiver(signer: SendGridSigner) -> SendGridEventReceiver:
    return SendGridEventReceiver(signer.public_key, seen=MemorySeenKeys(), clock=lambda: NOW)


def body_of(*events: dict[str, object]) -> bytes:
    return json.dumps(list(events)).encode()


def test_valid_batch_is_parsed(receiver: SendGridEventReceiver, signer: SendGridSigner) -> None:
    """A signed, fresh batch becomes DeliveryEvents with our id and the X-Message-Id."""
    body = body_of(event("delivered"), event("open"))
    events = receiver.receive(body, signer.headers(body, str(NOW)))
    assert [item.kind for item in events] == ["delivered", "open"]
    first = events[0]
    assert first.event_id == "ev-delivered"
    assert first.provider_message_id == "abc123XYZ"
    assert first.message_id == "enr-42:reminder:1"
    assert first.occurred_at == datetime.fromtimestamp(NOW - 5, tz=UTC)
    assert not first.revokes_consent
    assert "jane.doe" not in repr(first)


@pytest.mark.parametrize(("item", "revokes", "bounce"), [
    (event("unsubscribe"), True, None),
    (event("group_unsubscribe", asm_group_id=3), True, None),
    (event("spamreport"), True, None),
    (event("bounce", type="bounce", status="5.1.1", reason="550 no such user"), True, "hard"),
    (event("bounce", type="blocked", status="4.0.0"), False, "soft"),
    (event("dropped", reason="Bounced Address"), False, None),
    (event("deferred"), False, None),
    (event("processed"), False, None),
    (event("click", url="https://shop.example/cart"), False, None),
])
def test_consent_revoking_kinds(
    receiver: SendGridEventReceiver, signer: SendGridSigner,
    item: dict[str, object], revokes: bool, bounce: str | None,
) -> None:
    """Unsubscribes, spam reports and hard bounces revoke consent; the rest do not."""
    body = body_of(item)
    (parsed,) = receiver.receive(body, signer.headers(body, str(NOW)))
    assert parsed.kind == item["event"]
    assert parsed.revokes_consent is revokes
    assert parsed.bounce == bounce


def test_unknown_event_kinds_are_skipped(
    receiver: SendGridEventReceiver, signer: SendGridSigner,
) -> None:
    """An event kind SendGrid adds later does not fail the batch."""
    body = body_of(event("machine_opened"), event("delivered"))
    assert [e.kind for e in receiver.receive(body, signer.headers(body, str(NOW)))] == [
        "delivered"]


def test_unsigned_request_is_rejected(receiver: SendGridEventReceiver) -> None:
    """A request without the signature header is refused, naming the header."""
    with pytest.raises(SignatureError) as caught:
        receiver.receive(body_of(event("open")), {})
    assert str(caught.value) == (
        "the SendGrid event webhook request has no X-Twilio-Email-Event-Webhook-Signature "
        "header; enable the Signed Event Webhook in SendGrid and make sure the proxy forwards "
        "the header.")


def test_forged_body_is_rejected(receiver: SendGridEventReceiver, signer: SendGridSigner) -> None:
    """A body changed after signing (or signed with another key) is refused."""
    headers = signer.headers(body_of(event("open")), str(NOW))
    with pytest.raises(SignatureError) as caught:
        receiver.receive(body_of(event("unsubscribe")), headers)
    assert str(caught.value) == (
        "the SendGrid event webhook signature does not match the body; check that the "
        "configured public key is SendGrid's current Verification Key and that the raw body is "
        "passed on unmodified.")
    other = SendGridSigner()
    body = body_of(event("open"))
    with pytest.raises(SignatureError):
        receiver.receive(body, other.headers(body, str(NOW)))


def test_garbage_signature_is_rejected(receiver: SendGridEventReceiver) -> None:
    """A signature that is not base64 DER is a mismatch, not a crash."""
    headers = {"X-Twilio-Email-Event-Webhook-Signature": "not base64!",
               "X-Twilio-Email-Event-Webhook-Timestamp": str(NOW)}
    with pytest.raises(SignatureError):
        receiver.receive(body_of(event("open")), headers)


@pytest.mark.parametrize(("stamp", "when"), [(NOW - 3600, "3600 s old"),
                                             (NOW + 900, "900 s in the future")])
def test_stale_or_future_timestamp_is_rejected(
    receiver: SendGridEventReceiver, signer: SendGridSigner, stamp: int, when: str,
) -> None:
    """A validly signed request outside the freshness window is refused."""
    body = body_of(event("open"))
    with pytest.raises(StaleWebhookError) as caught:
        receiver.receive(body, signer.headers(body, str(stamp)))
    assert str(caught.value) == (
        f"the SendGrid event webhook timestamp {stamp} is {when}, outside the 300 s window; "
        "check this server's clock, or treat it as a replay.")


def test_replay_is_rejected_and_dedup_key_exposed(
    receiver: SendGridEventReceiver, signer: SendGridSigner,
) -> None:
    """The same signed batch twice is refused; each event exposes sg_event_id for dedup."""
    body = body_of(event("delivered"))
    headers = signer.headers(body, str(NOW))
    (first,) = receiver.receive(body, headers)
    assert first.event_id == "ev-delivered"
    with pytest.raises(ReplayedWebhookError) as caught:
        receiver.receive(body, headers)
    assert str(caught.value) == (
        f"this SendGrid event batch (timestamp {NOW}) was already accepted; a replayed request "
        "is refused — its events are stored once.")


def test_signed_non_json_is_malformed(
    receiver: SendGridEventReceiver, signer: SendGridSigner,
) -> None:
    """A correctly signed body that is not a JSON array is refused as malformed."""
    for body in (b"{not json", b'{"event": "open"}'):
        with pytest.raises(MalformedWebhookError):
            receiver.receive(body, signer.headers(body, str(NOW)))


def test_bad_public_key_is_a_config_error() -> None:
    """A public key that is not a base64 ECDSA key fails at construction with the fix."""
    with pytest.raises(ConnectorConfigError) as caught:
        SendGridEventReceiver("not-a-key")
    assert str(caught.value) == (
        "the SendGrid event webhook public key is not a base64 ECDSA key; copy the "
        "'Verification Key' from Mail Settings > Signed Event Webhook.")


def test_a_signed_body_nested_too_deeply_is_refused_with_a_reason(
        receiver: SendGridEventReceiver, signer: SendGridSigner) -> None:
    """Only SendGrid can sign, but a hostile or broken body still gets a 4xx, not a crash."""
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(MalformedWebhookError, match="nested too deeply"):
        receiver.receive(body, signer.headers(body, str(NOW)))


def test_an_impossible_event_time_leaves_the_event_undated(
        receiver: SendGridEventReceiver, signer: SendGridSigner) -> None:
    body = body_of(event("delivered", timestamp=1e300))
    [item] = receiver.receive(body, signer.headers(body, str(NOW)))
    assert (item.kind, item.occurred_at) == ("delivered", None)
