"""textDocument/formatting: `cadenza fmt` for the buffer, as one whole-document edit."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from cadenza.engine.lsp.positions import whole_document
from cadenza.grammar.formatter import format_document
from cadenza.grammar.parser import parse_text


def format_edits(text: str, file: str, codec: PositionCodec) -> list[types.TextEdit]:
    """No edit when the text is already canonical, and none when it has syntax errors: a
    document recovered from errors lacks what recovery dropped, so formatting it would delete
    the user's text (the diagnostics already say what is wrong)."""
    doc, problems = parse_text(text, file)
    if doc is None or problems:
        return []
    formatted = format_document(doc, text)
    if formatted == text:
        return []
    return [types.TextEdit(range=whole_document(text, codec), new_text=formatted)]
