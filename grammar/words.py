"""Terminal names -> words a marketer understands ("a duration such as 7d", not DURATION)."""

from __future__ import annotations

from collections.abc import Iterable

from lark import Token

_NAMED = {
    "NAME": "a name",
    "STRING": 'a quoted string ("...")',
    "NUMBER": "a number",
    "DURATION": "a duration such as 30m, 1h or 7d",
    "CLOCK": "a time of day such as 09:00",
    "TIMESTAMP": "a timestamp such as 2026-03-07T10:00Z",
    "CMP": "a comparison (==, !=, <, <=, >, >=)",
    "IN_LAST": "'in last'",
    "$END": "the end of the file",
}
_PUNCT = {
    "LBRACE": "{", "RBRACE": "}", "LPAR": "(", "RPAR": ")", "LSQB": "[", "RSQB": "]",
    "COLON": ":", "COMMA": ",", "EQUAL": "=", "MINUS": "-", "PLUS": "+", "PERCENT": "%",
    "DOT": ".", "__ANON_0": "->",
}
_MAX_LISTED = 8


def word_for(terminal: str) -> str:
    if terminal in _NAMED:
        return _NAMED[terminal]
    if terminal in _PUNCT:
        return f"'{_PUNCT[terminal]}'"
    return f"'{terminal.lower()}'"


def describe_expected(terminals: Iterable[str]) -> str:
    words = sorted({word_for(t) for t in terminals if not t.startswith("__IGNORE")})
    if not words:
        return ""
    if len(words) > _MAX_LISTED:
        shown = ", ".join(words[:_MAX_LISTED])
        return f"one of {shown} (or {len(words) - _MAX_LISTED} more)"
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} or {words[-1]}"


def describe_token(token: Token) -> str:
    value = str(token)
    if token.type == "NAME":
        return f"name '{value}'"
    if token.type == "STRING":
        return f"string {value}"
    if token.type in ("NUMBER", "DURATION", "CLOCK", "TIMESTAMP"):
        return f"'{value}'"
    return f"'{value}'"
