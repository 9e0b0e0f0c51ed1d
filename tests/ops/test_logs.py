"""serve's JSON logs: addresses redacted, timestamps intact, each send traceable to the
playbook version, enrollment and step that made it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from cadenza.engine.logs import configure_json_logs
from tests.engine.harness import Harness


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


def test_each_send_logs_its_playbook_version_enrollment_and_step(tmp_path: Path,
                                                                 store_url: str) -> None:
    """An operator grepping one customer's send finds which deployed version sent it."""
    h = Harness(tmp_path, store_url,
                'playbook p {\n  when event clicked\n  greet: send email "hello"\n}\n')
    h.customers({"id": "ana", "email_opt_in": True})
    with capture_logs() as logs:
        h.run("2026-03-02T10:00Z", ("ana", "clicked", "2026-03-02T09:00Z", {}))
    sent = [line for line in logs if line["event"] == "message.dispatched"]
    assert len(sent) == 1, logs
    assert sent[0]["playbook"] == "p"
    assert sent[0]["version"] == 1
    assert sent[0]["step"] == "greet"
    assert sent[0]["outcome"] == "sent"
    assert isinstance(sent[0]["enrollment"], int)


def test_json_logs_take_what_orjson_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    """A value orjson cannot write (an integer past 64 bits, an object) still makes a line."""
    configure_json_logs()
    try:
        structlog.get_logger("t").info("odd", big=2**70, thing=object())
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        structlog.reset_defaults()
    assert line["big"] == 2**70
    assert line["thing"].startswith("<object object")
