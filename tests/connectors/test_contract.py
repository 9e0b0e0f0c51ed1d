"""The same contract, run against every connector through its real client and a local fake."""

from __future__ import annotations

import re

import pytest
from structlog.testing import capture_logs

from cadenza.connectors import Delivered, Permanent, SendResult, Transient, Unknown
from tests.connectors.conftest import BODY, SUBJECT, TO_EMAIL, TO_PHONE, Harness, refused_url

NETWORKED = ["sendgrid", "twilio", "smtp", "webhook"]
ALL = [*NETWORKED, "recorder", "console"]


def send_logged(harness: Harness) -> tuple[SendResult, str]:
    with capture_logs() as logs:
        result = harness.connector.send(harness.message)
    return result, repr(logs)


def assert_clean(harness: Harness, logs: str) -> None:
    assert logs != "[]", "every send is logged"
    for secret in harness.secrets:
        assert secret not in logs
    for raw in (TO_EMAIL, TO_PHONE, SUBJECT, BODY, "jane.doe"):
        assert raw not in logs
    assert harness.message.message_id in logs


@pytest.mark.parametrize("harness", ALL, indirect=True)
def test_success_is_delivered_with_a_provider_id(harness: Harness) -> None:
    """A good message comes back Delivered with a non-empty provider id, logged redacted."""
    result, logs = send_logged(harness)
    assert isinstance(result, Delivered), result
    assert result.provider_id
    assert_clean(harness, logs)


@pytest.mark.parametrize("harness", NETWORKED, indirect=True)
def test_rate_limited_is_transient_and_honours_retry_after(harness: Harness) -> None:
    """A 429 (452 for SMTP) is Transient carrying the provider's Retry-After seconds."""
    assert harness.faults is not None
    harness.faults.add(harness.scenario_faults["rate_limited"])
    result, logs = send_logged(harness)
    assert isinstance(result, Transient), result
    assert result.retry_after_s == harness.retry_after_s
    assert_clean(harness, logs)


@pytest.mark.parametrize("harness", NETWORKED, indirect=True)
def test_server_error_is_transient(harness: Harness) -> None:
    """A 500 (421 for SMTP) is Transient, and the next send succeeds."""
    assert harness.faults is not None
    harness.faults.add(harness.scenario_faults["server_error"])
    result, logs = send_logged(harness)
    assert isinstance(result, Transient), result
    assert_clean(harness, logs)
    assert isinstance(harness.connector.send(harness.message), Delivered)


@pytest.mark.parametrize("harness", NETWORKED, indirect=True)
def test_rejected_is_permanent(harness: Harness) -> None:
    """A 400 (550 for SMTP) is Permanent and not an opt-out."""
    assert harness.faults is not None
    harness.faults.add(harness.scenario_faults["rejected"])
    result, logs = send_logged(harness)
    assert isinstance(result, Permanent), result
    assert not result.opted_out
    assert_clean(harness, logs)


@pytest.mark.parametrize("harness", NETWORKED, indirect=True)
def test_timeout_after_sending_is_unknown(harness: Harness) -> None:
    """A reply slower than the client's timeout is Unknown, never Transient."""
    assert harness.faults is not None
    harness.faults.add(harness.scenario_faults["timeout"])
    result, logs = send_logged(harness)
    assert isinstance(result, Unknown), result
    assert_clean(harness, logs)


@pytest.mark.parametrize("harness", NETWORKED, indirect=True)
def test_connection_dropped_after_sending_is_unknown(harness: Harness) -> None:
    """A hang-up after the request was read is Unknown: it may have been acted on."""
    assert harness.faults is not None
    harness.faults.add(harness.scenario_faults["dropped"])
    result, logs = send_logged(harness)
    assert isinstance(result, Unknown), result
    assert_clean(harness, logs)


@pytest.mark.parametrize("harness", NETWORKED, indirect=True)
def test_connection_refused_is_transient(harness: Harness) -> None:
    """Nothing listening means nothing was sent: Transient, safe to retry."""
    assert harness.rebuild is not None
    url = refused_url()
    changes = {"sendgrid": {"host": url}, "twilio": {"base_url": url},
               "smtp": {"port": int(url.rsplit(":", 1)[1])}, "webhook": {"url": url}}
    harness.connector = harness.rebuild(**changes[harness.kind])
    result, logs = send_logged(harness)
    assert isinstance(result, Transient), result
    assert result.retry_after_s is None
    assert_clean(harness, logs)


@pytest.mark.parametrize("harness", ALL, indirect=True)
def test_message_for_another_channel_is_permanent(harness: Harness) -> None:
    """A message routed to the wrong channel's connector is Permanent with the fix named."""
    other = "sms" if harness.connector.channel != "sms" else "email"
    message = harness.message.__class__(
        message_id="x-1", channel=other, to=harness.message.to, text="t", subject="s")
    result = harness.connector.send(message)
    assert isinstance(result, Permanent)
    assert re.search(rf"route it to an? {other} connector", result.reason)


@pytest.mark.parametrize("harness", ["sendgrid", "twilio", "recorder"], indirect=True)
def test_concurrent_sends_all_succeed(harness: Harness) -> None:
    """One connector shared by 8 threads delivers every message (the dispatcher's pool)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: harness.connector.send(harness.message), range(40)))
    assert all(isinstance(result, Delivered) for result in results), results
    assert len({result.provider_id for result in results if isinstance(result, Delivered)}) == 40
