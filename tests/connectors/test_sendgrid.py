"""SendGrid specifics: the request body, auth failures, sandbox, payload limits."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from cadenza.connectors import Delivered, Permanent, build_connector
from tests.connectors.conftest import SENDGRID_KEY, TO_EMAIL, email_message, sendgrid_config
from tests.providers import FakeSendGrid


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SENDGRID_KEY", SENDGRID_KEY)


@pytest.mark.usefixtures("env")
def test_body_carries_content_and_only_ids(sendgrid_server: FakeSendGrid) -> None:
    """The v3 body has subject, text before html, reply-to, and ids in custom_args/categories."""
    connector = build_connector("email", sendgrid_config(
        sendgrid_server.url, categories=["cadenza"], reply_to="help@shop.example"))
    result = connector.send(email_message())
    assert isinstance(result, Delivered)
    mail = sendgrid_server.mails[-1]
    assert [item["type"] for item in mail["content"]] == ["text/plain", "text/html"]
    assert mail["personalizations"][0]["to"] == [{"email": TO_EMAIL}]
    assert mail["personalizations"][0]["custom_args"] == {
        "cadenza_message_id": "enr-42:reminder:1", "playbook": "cart_recovery",
        "step": "reminder", "enrollment": "enr-42"}
    assert mail["categories"] == ["cadenza", "playbook:cart_recovery"]
    assert mail["reply_to"] == {"email": "help@shop.example"}
    assert "mail_settings" not in mail


@pytest.mark.usefixtures("env")
def test_provider_id_is_the_x_message_id_header(sendgrid_server: FakeSendGrid) -> None:
    """Delivered.provider_id is X-Message-Id, which prefixes sg_message_id in events."""
    connector = build_connector("email", sendgrid_config(sendgrid_server.url))
    result = connector.send(email_message())
    assert isinstance(result, Delivered)
    assert len(result.provider_id) == 22


@pytest.mark.usefixtures("env")
def test_sandbox_mode_is_requested_and_accepted(sendgrid_server: FakeSendGrid) -> None:
    """With sandbox on, the body asks for sandbox_mode and the 200 counts as delivered."""
    connector = build_connector("email", sendgrid_config(sendgrid_server.url, sandbox=True))
    result = connector.send(email_message())
    assert result == Delivered("sandbox:enr-42:reminder:1")
    assert sendgrid_server.mails[-1]["mail_settings"] == {"sandbox_mode": {"enable": True}}


def test_wrong_api_key_is_permanent_with_sendgrids_message(
    sendgrid_server: FakeSendGrid, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 401 is Permanent and quotes SendGrid's error message, never the key."""
    monkeypatch.setenv("TEST_SENDGRID_KEY", "SG.wrong-key")
    with capture_logs() as logs:
        result = build_connector("email", sendgrid_config(sendgrid_server.url)).send(
            email_message())
    assert result == Permanent(
        "HTTP 401: The provided authorization grant is invalid, expired, or revoked", code="401")
    assert "SG.wrong-key" not in repr(logs)


@pytest.mark.usefixtures("env")
def test_payload_too_large_is_permanent(sendgrid_server: FakeSendGrid) -> None:
    """A body over the size limit gets 413, which is Permanent."""
    connector = build_connector("email", sendgrid_config(sendgrid_server.url))
    result = connector.send(email_message(html="x" * 100_000))
    assert isinstance(result, Permanent)
    assert result.code == "413"


@pytest.mark.usefixtures("env")
def test_missing_subject_is_permanent_without_a_request(sendgrid_server: FakeSendGrid) -> None:
    """A mail without subject fails locally with the fix named; nothing is sent."""
    connector = build_connector("email", sendgrid_config(sendgrid_server.url))
    result = connector.send(email_message(subject=None))
    assert result == Permanent("e-mail 'enr-42:reminder:1' has no subject; render one.")
    assert sendgrid_server.received == []


@pytest.mark.usefixtures("env")
def test_validation_errors_are_quoted_with_their_fields(sendgrid_server: FakeSendGrid) -> None:
    """SendGrid's 400 errors are joined into the reason with their field names."""
    connector = build_connector("email", sendgrid_config(sendgrid_server.url, from_email=""))
    result = connector.send(email_message())
    assert isinstance(result, Permanent)
    assert result.reason.startswith("HTTP 400: The from object must be provided")
    assert result.reason.endswith("(field from)")
