"""The fast path (our tokenizer feeding Lark's LALR tables, AST built in reductions) gives the
document the stock parse gives (Lark's contextual lexer, tree, tree walk), spans included."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza.grammar.fastpath import FallbackError, FastParser
from cadenza.grammar.parser import _fast_parser, build_parser, parse_stock, parse_text

REPO = Path(__file__).resolve().parents[2]
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BLANK = re.compile(r"[ \t]+")


@functools.cache
def _corpus() -> tuple[tuple[str, str], ...]:
    files = [*sorted((REPO / "examples").rglob("*.play")),
             *sorted((REPO / "tests").rglob("*.play"))]
    return tuple((str(f), f.read_text("utf-8")) for f in files)


@functools.cache
def _keywords() -> tuple[str, ...]:
    words = {t.pattern.value for t in build_parser().terminals
             if _WORD.fullmatch(str(t.pattern.value))}
    return tuple(sorted(words))


def _same(text: str) -> None:
    """parse_text (fast path, falling back when it cannot vouch) equals the stock parse."""
    assert parse_text(text, "f.play") == parse_stock(text, "f.play")


def _fast() -> FastParser:
    fast = _fast_parser()
    assert fast is not None, "the fast path refused the grammar; see FastParser"
    return fast


def test_every_well_formed_file_takes_the_fast_path_and_matches() -> None:
    """Examples and test files: no fallback, and the same items, spans and comments."""
    checked = 0
    for file, text in _corpus():
        doc, diags = parse_stock(text, file)
        if diags or doc is None:
            continue  # a deliberately broken golden file
        assert _fast().parse(text.removeprefix("\ufeff")) == doc.items, file
        assert parse_text(text, file) == (doc, []), file
        checked += 1
    assert checked >= 20


def test_keyword_glued_to_a_name_falls_back_to_lark_quirk_and_all() -> None:
    """Where a keyword is expected and a name is not, Lark's contextual lexer reads
    `eventx` as `event x`; the fast path does not guess, it hands the text to Lark."""
    text = "playbook p {\n  wait for eventx timeout 1d\n}\n"
    _same(text)
    doc, diags = parse_text(text, "f.play")
    assert diags == []
    assert doc is not None


def test_deep_nesting_still_reports_e004_through_the_fallback() -> None:
    text = "segment s = " + "(" * 260 + "x" + ")" * 260 + "\n"
    _same(text)
    assert [d.code for d in parse_text(text, "f.play")[1]] == ["E004"]


def test_depth_limit_is_crossed_at_the_same_nesting() -> None:
    """The fast path counts the depth of the tree Lark would build: around the limit (about
    125 parentheses, 250 `not`s) both paths accept and refuse the same texts."""
    for n in range(115, 135):
        _same("segment s = " + "(" * n + "x" + ")" * n + "\n")
        _same("segment s = " + "count(e where " * (n // 2) + "x" + ")" * (n // 2) + " > 1\n")
    for n in range(240, 256):
        _same("segment s = " + "not " * n + "x\n")


def test_empty_and_blank_files() -> None:
    for text in ("", "\n\n", "# only a comment\n", "\ufeff\n", "  \t\r\n"):
        _same(text)


@settings(max_examples=300)
@given(st.data(), st.integers(0, 10**6))
def test_renamed_words_parse_the_same(data: st.DataObject, at: int) -> None:
    """Replace one word by a keyword, a keyword-like name or a name: wherever that still
    parses, the fast path and Lark agree; wherever it does not, the diagnostics agree."""
    _, text = data.draw(st.sampled_from(_corpus()))
    words = list(_WORD.finditer(text))
    if not words:
        return
    target = words[at % len(words)]
    keyword = st.sampled_from(_keywords())
    word = data.draw(keyword | st.builds(lambda k, s: k + s, keyword,
                                         st.sampled_from(["x", "_", "1", "s"]))
                     | st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True))
    _same(text[: target.start()] + word + text[target.end():])


@settings(max_examples=200)
@given(st.data(), st.integers(0, 10**6),
       st.sampled_from([" ", "\t", "\n", "  # note\n", "\r\n", "\n\n  ", "#\n"]))
def test_changed_blanks_parse_the_same(data: st.DataObject, at: int, blank: str) -> None:
    """Blanks, line breaks and comments between tokens move positions, never meaning."""
    _, text = data.draw(st.sampled_from(_corpus()))
    blanks = list(_BLANK.finditer(text))
    if not blanks:
        return
    target = blanks[at % len(blanks)]
    _same(text[: target.start()] + blank + text[target.end():])


@settings(max_examples=200)
@given(st.data(), st.integers(0, 10**6), st.sampled_from(
    ["in last", "in  last", "inlast", "30d", "30", "09:00", "2026-01-01T00:00Z", "->", "-",
     "==", "=", "<", "<=", '"s"', '"a\\"b"', "true", "false", "(", ")", ".", ",", "%", "+"]))
def test_inserted_tokens_parse_the_same(data: st.DataObject, at: int, token: str) -> None:
    """A token inserted at a blank: the same document, or the same diagnostics."""
    _, text = data.draw(st.sampled_from(_corpus()))
    blanks = list(_BLANK.finditer(text))
    if not blanks:
        return
    target = blanks[at % len(blanks)]
    _same(text[: target.start()] + f" {token} " + text[target.end():])


def test_fast_path_refuses_rather_than_guesses_on_bad_characters() -> None:
    for text in ("playbook p { ~ }", 'playbook p { owner "open\n}', "segment s = x @ y"):
        try:
            _fast().parse(text)
        except FallbackError:
            continue
        raise AssertionError(f"the fast path accepted {text!r}")
