"""The number a playbook reads from an SMS reply (`event.number`)."""

from __future__ import annotations

import pytest

from cadenza.engine.feedback import reply_number


@pytest.mark.parametrize(("body", "number"), [
    ("9", 9), ("I'd say 7 out of 10", 7), ("-1", -1), ("no idea", None),
    ("order 1234567890123456 arrived", None),  # a long digit run is not a score
    ("9" * 5000, None),  # past int()'s 4,300-digit limit: text, not an error
])
def test_the_first_short_number_of_a_reply(body: str, number: int | None) -> None:
    assert reply_number(body) == number
