"""The console connector: what a local `serve` without providers prints."""

from __future__ import annotations

import io

from cadenza.connectors import Message
from cadenza.connectors.base import Delivered
from cadenza.connectors.console import ConsoleConnector


def test_an_email_line_redacts_the_address_and_shows_no_content() -> None:
    out = io.StringIO()
    result = ConsoleConnector(name="email", channel="email", stream=out).send(Message(
        message_id="1:start:0", channel="email", to="ana@example.com", subject="Secret",
        html="<p>Secret</p>", metadata={"playbook": "p"}))
    line = out.getvalue()
    assert isinstance(result, Delivered)
    assert line.startswith("[console:email] email 1:start:0 -> ")
    assert "ana@example.com" not in line
    assert "Secret" not in line
    assert line.rstrip().endswith("playbook=p")


def test_a_task_line_names_the_queue_and_the_title() -> None:
    """A task is for the team: a local run shows who must do what (addresses still masked)."""
    out = io.StringIO()
    ConsoleConnector(name="task", channel="webhook", stream=out).send(Message(
        message_id="1:call:0", channel="webhook", to="vip-team",
        text="Call Ana (ana@example.com) about her plan", metadata={"step": "call"}))
    line = out.getvalue()
    assert 'webhook 1:call:0 -> queue "vip-team": Call Ana (' in line
    assert "ana@example.com" not in line
    assert line.rstrip().endswith("step=call")
