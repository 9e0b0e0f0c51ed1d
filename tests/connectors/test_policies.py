"""Pure helpers: retry decisions, the token bucket, redaction, the Message contract."""

from __future__ import annotations

import random
import threading

import pytest
from structlog.testing import capture_logs

from cadenza import connectors
from cadenza.connectors import (
    DeadLetter,
    Delivered,
    Done,
    Hold,
    InvalidMessageError,
    Message,
    Permanent,
    RecorderConnector,
    RedactProcessor,
    RetryIn,
    RetryPolicy,
    TokenBucket,
    Transient,
    Unknown,
    redact_email,
    redact_phone,
    redact_text,
    sign,
    verify_signature,
)


def test_public_api_is_exactly_all() -> None:
    """Everything in __all__ exists and is sorted, so the engine's imports are stable."""
    assert all(hasattr(connectors, name) for name in connectors.__all__)
    assert connectors.__all__ == sorted(connectors.__all__)


def test_retry_decisions_per_result() -> None:
    """Delivered is done, Permanent dead-letters (opt-out kept), Unknown is held."""
    policy = RetryPolicy(rng=random.Random(1))
    assert policy.decide(Delivered("p1"), 1) == Done("p1")
    assert policy.decide(Permanent("no", opted_out=True), 1) == DeadLetter("no", opted_out=True)
    assert policy.decide(Unknown("timeout"), 1) == Hold("timeout")


def test_backoff_is_full_jitter_and_seeded() -> None:
    """Delays lie in [0, base*2^(n-1)] capped, and a seed reproduces them exactly."""
    first = [RetryPolicy(rng=random.Random(7), base_s=1, max_delay_s=10).backoff(n)
             for n in range(1, 8)]
    again = [RetryPolicy(rng=random.Random(7), base_s=1, max_delay_s=10).backoff(n)
             for n in range(1, 8)]
    assert first == again
    assert all(0 <= delay <= min(10, 2 ** (n - 1)) for n, delay in enumerate(first, 1))


def test_retry_after_is_a_floor_and_attempts_run_out() -> None:
    """Retry-After is never shortened; the last attempt dead-letters; huge waits give up."""
    policy = RetryPolicy(rng=random.Random(3), max_attempts=3, base_s=0.1)
    decision = policy.decide(Transient("429", retry_after_s=30.0), 1)
    assert decision == RetryIn(30.0, 2)
    assert policy.decide(Transient("500"), 3) == DeadLetter("gave up after 3 attempts; last: 500")
    assert policy.decide(Transient("429", 7200.0), 1) == DeadLetter(
        "provider asked to wait 7200 s, beyond the 3600 s limit; last: 429")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_bursts_then_refills() -> None:
    """A bucket allows `capacity` at once, then `rate` per second of (virtual) time."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, capacity=3, clock=clock, sleep=clock.sleep)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.try_acquire()
    assert bucket.acquire()
    assert clock.now == pytest.approx(1.0)
    assert not bucket.acquire(timeout=0.1)


def test_token_bucket_is_thread_safe() -> None:
    """Concurrent try_acquire never hands out more tokens than the bucket holds."""
    bucket = TokenBucket(rate=1e-9, capacity=100, clock=lambda: 0.0)
    taken: list[bool] = []
    lock = threading.Lock()

    def grab() -> None:
        for _ in range(50):
            ok = bucket.try_acquire()
            with lock:
                taken.append(ok)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(taken) == 100


def test_token_bucket_rejects_bad_settings() -> None:
    """A non-positive rate is refused with a sentence quoting it."""
    with pytest.raises(ValueError, match=r"token bucket rate 0 must be positive"):
        TokenBucket(rate=0)


def test_redaction_formats() -> None:
    """E-mails keep the first letter and domain; phones keep country digit and last four."""
    assert redact_email("jane.doe@example.com") == "j***@example.com"
    assert redact_phone("+15551231234") == "+1******1234"
    assert redact_text("to jane@x.example and +44 20 7946 0958") == (
        "to j***@x.example and +4*******0958")


def test_redact_processor_scrubs_stray_addresses() -> None:
    """The structlog processor redacts addresses logged by code that forgot to."""
    with capture_logs(processors=[RedactProcessor()]) as logs:
        import structlog
        structlog.get_logger().info("oops", who="jane.doe@example.com")
    assert logs[0]["who"] == "j***@example.com"


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"message_id": " "}, "message_id is empty"),
    ({"channel": "fax"}, "unknown channel 'fax'; use one of email, sms, webhook."),
    ({"metadata": {"customer_email": "jane@example.com"}}, "must be an id string"),
    ({"metadata": {"Bad Key": "1"}}, "metadata key 'Bad Key' is not a short lower-case"),
])
def test_message_contract(changes: dict[str, object], fragment: str) -> None:
    """A Message refuses empty ids, unknown channels and addresses smuggled into metadata."""
    fields: dict[str, object] = {"message_id": "m1", "channel": "email", "to": "a@b.example"}
    with pytest.raises(InvalidMessageError, match=fragment):
        Message(**{**fields, **changes})  # type: ignore[arg-type]


def test_message_is_frozen_and_repr_hides_content() -> None:
    """Messages cannot change after creation and their repr shows ids only."""
    message = Message(message_id="m1", channel="sms", to="+15551231234", text="secret body",
                      metadata={"playbook": "p"})
    with pytest.raises(AttributeError):
        message.to = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        message.metadata["step"] = "s"  # type: ignore[index]
    assert "+1555" not in repr(message)
    assert "secret body" not in repr(message)


def test_recorder_scripts_results_in_order() -> None:
    """Scripted results come first, then per-recipient ones, then Delivered."""
    recorder = RecorderConnector("sim", "sms", script=[Transient("429", 1.0)],
                                 by_recipient={"+1999": Permanent("x", opted_out=True)})
    first = Message(message_id="1", channel="sms", to="+1000", text="t")
    second = Message(message_id="2", channel="sms", to="+1999", text="t")
    assert recorder.send(first) == Transient("429", 1.0)
    assert recorder.send(second) == Permanent("x", opted_out=True)
    assert recorder.send(first) == Delivered("recorded-3")
    assert [m.message_id for m in recorder.messages] == ["1", "2", "1"]


def test_webhook_signature_round_trip() -> None:
    """verify_signature accepts our own signature, and refuses stale or altered ones."""
    signature = sign(b"k", "1000", b"{}")
    assert verify_signature(b"k", b"{}", "1000", signature, now=1100)
    assert not verify_signature(b"k", b"{}", "1000", signature, now=2000)
    assert not verify_signature(b"k", b"{ }", "1000", signature, now=1000)


def test_a_recorder_that_keeps_nothing_still_answers_and_counts() -> None:
    """keep=False (the simulator's): results and provider ids as usual, no message held."""
    recorder = RecorderConnector("sim", "email", keep=False)
    message = Message(message_id="1", channel="email", to="a@example.com", subject="s",
                      html="<p>h</p>")
    assert recorder.send(message) == Delivered("recorded-1")
    assert recorder.send(message) == Delivered("recorded-2")
    assert recorder.messages == ()
