"""A send window written with `weekdays` (as `wait until weekday` allows) gets the range."""

from __future__ import annotations

import pytest

from tests.playbooks.conftest import Make


@pytest.mark.parametrize(("word", "fix"), [("weekdays", "mon-fri"), ("weekday", "mon-fri"),
                                           ("weekend", "sat-sun")])
def test_send_window_day_group_names_the_range(make_project: Make, word: str, fix: str) -> None:
    """Regression: `send window email on weekdays 09:00-17:00` answered "did you mean
    'wednesday'?", a fix that changes the meaning."""
    loaded = make_project(f"defaults {{\n  send window email on {word} 09:00-17:00\n}}\n"
                          "playbook p {\n  when event order_completed\n"
                          '  send email "welcome"\n}\n')
    assert [(d.code, d.message) for d in loaded.diagnostics] == [
        ("E021", f"a send window takes days, not '{word}': write '{fix}'.")]
