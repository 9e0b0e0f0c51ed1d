"""A send window written with `weekdays`, `weekends` or `daily` (the words `wait until
weekday` and `when every weekend` know) means those days."""

from __future__ import annotations

import pytest

from cadenza.playbooks import model as m
from tests.playbooks.conftest import Make


def _window(make_project: Make, days: str) -> m.SendWindow:
    on = f" on {days}" if days else ""
    loaded = make_project(f"defaults {{\n  send window email{on} 09:00-17:00\n}}\n"
                          "playbook p {\n  when event order_completed\n"
                          '  send email "welcome"\n}\n')
    assert loaded.project is not None, loaded.diagnostics
    [window] = loaded.project.defaults.windows
    return window


@pytest.mark.parametrize(("days", "numbers"), [
    ("weekdays", (0, 1, 2, 3, 4)), ("weekday", (0, 1, 2, 3, 4)), ("Weekends", (5, 6)),
    ("daily", (0, 1, 2, 3, 4, 5, 6)), ("weekend, mon", (0, 5, 6)),
    ("", (0, 1, 2, 3, 4, 5, 6)),  # no `on DAYS` at all: every day
])
def test_send_window_day_groups(make_project: Make, days: str, numbers: tuple[int, ...]) -> None:
    """Regression: `on weekdays` once answered "did you mean 'wednesday'?"."""
    assert _window(make_project, days).days == numbers


def test_a_group_cannot_bound_a_range(make_project: Make) -> None:
    loaded = make_project("defaults {\n  send window email on weekday-sun 09:00-17:00\n}\n"
                          "playbook p {\n  when event order_completed\n"
                          '  send email "welcome"\n}\n')
    assert [(d.code, d.message) for d in loaded.diagnostics] == [
        ("E021", "'weekday' is a group of days and cannot end or start a range.")]
