"""Spans (lines and columns from 1, in code points) <-> LSP positions (from 0, in the
negotiated code units: UTF-16 unless the client offers another encoding)."""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from cadenza.grammar.diagnostics import Span


def source_lines(text: str) -> list[str]:
    # Lark counts lines by "\n" only, so spans do too.
    return text.split("\n")


def to_position(line: int, col: int, lines: Sequence[str], codec: PositionCodec) -> types.Position:
    """A 1-based (line, code-point column) -> an LSP position, clamped to the text."""
    row = min(max(line - 1, 0), max(len(lines) - 1, 0))
    text = lines[row] if lines else ""
    upto = text[: max(col - 1, 0)]
    return types.Position(line=row, character=codec.client_num_units(upto))


def to_range(span: Span, lines: Sequence[str], codec: PositionCodec) -> types.Range:
    start = to_position(span.line, span.col, lines, codec)
    end = to_position(span.end_line, span.end_col, lines, codec)
    if (end.line, end.character) < (start.line, start.character):
        end = start
    return types.Range(start=start, end=end)


def whole_document(text: str, codec: PositionCodec) -> types.Range:
    lines = source_lines(text)
    end = types.Position(line=len(lines) - 1, character=codec.client_num_units(lines[-1]))
    return types.Range(start=types.Position(line=0, character=0), end=end)


def cursor(position: types.Position, lines: Sequence[str],
           codec: PositionCodec) -> tuple[int, int]:
    """An LSP position -> (line index from 0, code-point column from 0), clamped to the text."""
    if not lines:
        return 0, 0
    row = min(position.line, len(lines) - 1)
    text = lines[row]
    units = 0
    for i, ch in enumerate(text):
        if units >= position.character:
            return row, i
        units += codec.client_num_units(ch)
    return row, len(text)
