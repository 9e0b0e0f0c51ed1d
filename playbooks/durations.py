"""The longest duration the language takes: longer ones would carry a wait, a window or a
re-entry past the last date the engine's clock can show (the year 9999)."""

from __future__ import annotations

from cadenza.grammar import ast
from cadenza.playbooks.report import Reporter

MAX_DAYS = 36_500  # a hundred years
MAX_SECONDS = MAX_DAYS * 86_400


def check_bounded(d: ast.Duration | None, file: str, rep: Reporter) -> None:
    if d is not None and d.seconds > MAX_SECONDS:
        rep.error("E021", file, d.span, f"the duration '{d.text}' is longer than a hundred "
                  f"years ({MAX_DAYS}d), the longest there is.",
                  hint="write at most 36500d; for \"never again\" write 'reenter never', for "
                       "\"all time\" leave the window out ('count(order_completed)').")
