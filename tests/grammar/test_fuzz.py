"""Hostile input: mutations of the examples and random bytes never raise, only diagnose.

CI (CI=true) runs 2,000 mutated projects plus 1,000 random byte strings; a developer run
uses a tenth of that.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Diagnostic
from cadenza.grammar.parser import parse_bytes
from cadenza.playbooks.compiler import ProjectInput, compile_project
from cadenza.playbooks.project import _templates, play_files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCALE = 10 if os.environ.get("CI") else 1


@functools.cache
def _corpus() -> tuple[tuple[Path, Path, bytes], ...]:
    return tuple((root, f, f.read_bytes()) for root in sorted(EXAMPLES.iterdir())
                 if root.is_dir() for f in play_files(root))


@functools.cache
def _parsed(path: Path) -> ast.Document | None:
    return parse_bytes(path.read_bytes(), str(path))[0]


def _mutate(data: bytes, kind: int, a: int, b: int, junk: bytes) -> bytes:
    n = len(data) or 1
    i, j = sorted((a % n, b % n))
    match kind:
        case 0:
            return data[:i] + data[j:]  # delete a range
        case 1:
            return data[:i] + junk + data[i:]  # insert junk
        case 2:
            return data[:j]  # truncate
        case 3:
            return data[:i] + data[i:j] * 3 + data[j:]  # repeat a range
        case 4:
            return data[:i] + b"(" * 300 + data[i:]  # deep nesting
        case _:
            return data[:i] + junk + data[j:]  # replace a range


def _check(diagnostics: list[Diagnostic]) -> None:
    for d in diagnostics:
        assert d.span.line >= 1
        assert d.span.col >= 1
        assert d.message
        assert d.message[-1] in ".?", d.message


@settings(max_examples=200 * SCALE)
@given(st.data(), st.integers(0, 5), st.integers(0, 10**6), st.integers(0, 10**6),
       st.binary(max_size=40) | st.sampled_from(
           [b"}", b"{", b'"', b"->", b"when ", b"goto x", b"\xff\xfe", b"\x00", b"wait",
            b"segment", b"%", b"1d", b"09:00", b"\n"]))
def test_mutated_examples_compile_to_diagnostics(data: st.DataObject, kind: int, a: int,
                                                 b: int, junk: bytes) -> None:
    """A mutated example file never raises: parse and compile end in diagnostics or a graph."""
    root, target, original = data.draw(st.sampled_from(_corpus()))
    mutated = _mutate(original, kind, a, b, junk)
    doc, found = parse_bytes(mutated, str(target))
    _check(found)
    docs = [d for _, f, _ in _corpus() if f.parent.is_relative_to(root) and f != target
            for d in [_parsed(f)] if d is not None]
    if doc is not None:
        docs.append(doc)
    templates, _ = _templates(root, [])
    _, rep = compile_project(ProjectInput(name="fuzz", root=str(root), timezone="UTC",
                                          documents=docs, templates=templates))
    _check(rep.diagnostics)


@settings(max_examples=100 * SCALE)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data: bytes) -> None:
    """Arbitrary bytes give a document or diagnostics, never an exception."""
    doc, found = parse_bytes(data, "random.play")
    _check(found)
    assert doc is not None or found
