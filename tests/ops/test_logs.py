"""serve's JSON logs: addresses redacted, timestamps intact."""

from __future__ import annotations

import json

import pytest
import structlog

from cadenza.engine.logs import configure_json_logs


def test_json_logs_redact_addresses_but_not_timestamps(capsys: pytest.CaptureFixture[str]) -> None:
    """A log line is JSON; a phone number and an e-mail are masked; the ISO timestamp is whole."""
    configure_json_logs()
    try:
        structlog.get_logger("t").info("sent", to="+15555550123", email="ana@example.com")
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        structlog.reset_defaults()
    assert line["event"] == "sent"
    assert "5550123" not in line["to"]
    assert "ana@" not in line["email"]
    assert "*" not in line["timestamp"]
    assert line["timestamp"].endswith("Z")
