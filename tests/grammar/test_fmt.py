"""The canonical formatter: golden files, layout rules and the fmt/parse round trip.

Golden cases live in tests/golden/fmt/ as NAME.in.play / NAME.out.play pairs; run with
CADENZA_UPDATE_GOLDEN=1 to rewrite the .out.play files from the current formatter.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from cadenza.grammar import ast
from cadenza.grammar.format_cond import MAX_WIDTH, format_cond
from cadenza.grammar.formatter import format_document
from cadenza.grammar.parser import parse_text

GOLDEN = Path(__file__).parent.parent / "golden" / "fmt"
SAMPLE = Path(__file__).parent / "sample_all_constructs.play"
EXAMPLES = Path(__file__).parents[2] / "examples"
EXAMPLE_FILES = sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*.play"))
CASES = sorted(p.name.removesuffix(".in.play") for p in GOLDEN.glob("*.in.play"))
_POSITION_KEYS = frozenset({"span", "line", "col"})


def parse(source: str) -> ast.Document:
    doc, diagnostics = parse_text(source, "case.play")
    # A document recovered from syntax errors lacks the dropped tokens: never format one.
    assert not diagnostics, [d.message for d in diagnostics]
    assert doc is not None
    return doc


def fmt(source: str) -> str:
    return format_document(parse(source), source)


def _without_positions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_positions(v) for k, v in value.items() if k not in _POSITION_KEYS}
    if isinstance(value, list | tuple):
        return [_without_positions(v) for v in value]
    return value


def shape(source: str) -> Any:
    """The AST of `source` with every position removed; comments reduce to their texts."""
    return _without_positions(dataclasses.asdict(parse(source)))


def read_source(path: Path) -> str:
    # Bytes, not read_text(): universal newlines would hide the CRLF the case is about.
    return path.read_bytes().decode("utf-8")


def assert_canonical(source: str) -> str:
    """Format `source` and check the properties every output must have; returns the output."""
    out = fmt(source)
    assert shape(out) == shape(source)
    assert fmt(out) == out
    assert out == "" or (out.endswith("\n") and not out.endswith("\n\n"))
    assert "\r" not in out
    assert "\ufeff" not in out
    assert all(line == line.rstrip() for line in out.split("\n"))
    assert "\n\n\n" not in out
    return out


# ------------------------------------------------------------------ golden files
def test_golden_cases_exist() -> None:
    """The golden directory holds at least eight cases, each with its expected output."""
    assert len(CASES) >= 8
    assert all((GOLDEN / f"{name}.out.play").exists() for name in CASES)


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    """Each NAME.in.play formats to NAME.out.play, idempotently and without changing the AST."""
    out = assert_canonical(read_source(GOLDEN / f"{name}.in.play"))
    expected = GOLDEN / f"{name}.out.play"
    if os.environ.get("CADENZA_UPDATE_GOLDEN") == "1":
        expected.write_bytes(out.encode("utf-8"))
    assert out == read_source(expected)


def test_golden_outputs_are_fixed_points() -> None:
    """Every expected output is already canonical: formatting it changes nothing."""
    for name in CASES:
        out = read_source(GOLDEN / f"{name}.out.play")
        assert fmt(out) == out, name


def test_crlf_bom_case_really_has_crlf_and_bom() -> None:
    """The CRLF + BOM input keeps its bytes in git, so the case tests what it claims."""
    data = (GOLDEN / "crlf_bom.in.play").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_sample_with_every_construct_round_trips() -> None:
    """The all-constructs sample formats idempotently to the same AST."""
    assert_canonical(read_source(SAMPLE))


# ------------------------------------------------------------------ conditions
def _cond(text: str) -> str:
    item = parse(f"segment s = {text}").items[0]
    assert isinstance(item, ast.SegmentDecl)
    return format_cond(item.cond)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("a or b and c", "a or b and c"),
        ("(a or b) and c", "(a or b) and c"),
        ("a and (b and c)", "a and (b and c)"),
        ("(a or b) or c", "(a or b) or c"),
        ("not (a and b)", "not (a and b)"),
        ("not (a or b)", "not (a or b)"),
        ("(not a) and b", "not a and b"),
        ("not not a", "not not a"),
        ("((a))", "a"),
        ("(a == 1) or (b != 2)", "a == 1 or b != 2"),
    ],
)
def test_condition_parentheses_are_minimal(written: str, canonical: str) -> None:
    """Conditions get only the parentheses their tree needs."""
    assert _cond(written) == canonical


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ('x  in["a" ,"b"]', 'x in ["a", "b"]'),
        ("count( order_completed where event.v>1 in   last 30d )",
         "count(order_completed where event.v > 1 in last 30d)"),
        ("d<30d   ago", "d < 30d ago"),
        ("d>=7d from   now", "d >= 7d from now"),
        ("d<=now", "d <= now"),
        ("x is   set", "x is set"),
        ("x is not   set", "x is not set"),
        ("segment   vip", "segment vip"),
        ("n == 1.50", "n == 1.50"),
        ('s == "say \\"hi\\""', 's == "say \\"hi\\""'),
    ],
)
def test_condition_spacing_is_canonical(written: str, canonical: str) -> None:
    """Atoms print with single spaces, and literals exactly as written."""
    assert _cond(written) == canonical


# ------------------------------------------------------------------ layout
def test_durations_and_clocks_print_as_written() -> None:
    """`90m` stays `90m` and `1d12h` stays `1d12h`: formatting never recomputes a value."""
    out = assert_canonical("playbook p { wait 90m wait 1d12h wait until 7:05 }")
    assert out == "playbook p {\n  wait 90m\n  wait 1d12h\n  wait until 7:05\n}\n"


def test_top_level_items_are_one_blank_line_apart() -> None:
    """Top-level items get exactly one blank line between them, however the source spaced them."""
    out = assert_canonical("segment a = x segment b = y\n\n\n\nsegment c = z")
    assert out == "segment a = x\n\nsegment b = y\n\nsegment c = z\n"


def test_blank_lines_inside_blocks_are_kept_once_never_added() -> None:
    """Several blank lines collapse to one; none appear where the source had none."""
    source = "playbook p {\n\n  touch low\n\n\n\n  owner \"o\"\n  end\n\n}\n"
    out = assert_canonical(source)
    assert out == "playbook p {\n  touch low\n\n  owner \"o\"\n  end\n}\n"


def test_trailing_comment_follows_code_after_two_spaces() -> None:
    """A comment after code stays at the end of that line, two spaces after the code."""
    out = assert_canonical("playbook p {\n  end      # done\n}\n")
    assert out == "playbook p {\n  end  # done\n}\n"


def test_own_line_comment_takes_the_indentation_of_the_next_line() -> None:
    """Own-line comments are indented like the line after them; before a closing brace, like
    the lines inside the block it closes."""
    source = "playbook p {\n# about end\n        end\n    # before the brace\n}\n"
    out = assert_canonical(source)
    assert out == "playbook p {\n  # about end\n  end\n  # before the brace\n}\n"


def test_comments_in_a_collapsed_construct_keep_their_order() -> None:
    """Comments inside a condition written over several lines keep their order."""
    source = "segment s = a  # one\n  # two\n  and b  # three\nsegment t = c\n"
    out = assert_canonical(source)
    assert out == "segment s = a and b  # one\n\n# two\n# three\nsegment t = c\n"


def test_step_labels_share_the_line_with_their_step() -> None:
    """`label:` written on its own line joins its step: `label: step`."""
    out = assert_canonical("playbook p {\n  first:\n\n    send email \"x\"\n}\n")
    assert out == 'playbook p {\n  first: send email "x"\n}\n'


def test_one_line_blocks_open_one_arm_per_line() -> None:
    """Branch, split and migrate bodies written on one line get one arm per line."""
    out = assert_canonical(
        "playbook p { on change migrate { a -> b c -> d } "
        "s: split { 50% -> a 50% -> b } branch { when x -> a else -> b } }"
    )
    assert out == (
        "playbook p {\n  on change migrate {\n    a -> b\n    c -> d\n  }\n"
        "  s: split {\n    50% -> a\n    50% -> b\n  }\n"
        "  branch {\n    when x -> a\n    else -> b\n  }\n}\n"
    )


def test_test_properties_stay_on_one_line() -> None:
    """Customer and event properties that fit print on one line, without a trailing comma."""
    source = (
        'test "t" {\n  customer {\n    a = 1,\n    b = "x",\n  }\n'
        "  event e at 2026-01-01T00:00 {}\n}"
    )
    out = assert_canonical(source)
    assert out == 'test "t" {\n  customer { a = 1, b = "x" }\n  event e at 2026-01-01T00:00\n}\n'


def test_empty_blocks_still_close_on_their_own_line() -> None:
    """An empty block prints `{` and `}` on separate lines, like every other block."""
    assert assert_canonical("defaults{}") == "defaults {\n}\n"


def test_empty_and_comment_only_files() -> None:
    """An empty file stays empty; a file of comments keeps them, ending in one newline."""
    assert assert_canonical("") == ""
    assert assert_canonical("  # a\n\n\n   # b   \n\n") == "# a\n\n# b\n"


def test_japanese_in_strings_and_comments_is_preserved() -> None:
    """UTF-8 text outside ASCII survives formatting byte for byte."""
    source = 'playbook p "カート" {# 日本語のコメント\n send email text "こんにちは{{ name }}" }'
    out = assert_canonical(source)
    assert out == (
        'playbook p "カート" {  # 日本語のコメント\n'
        '  send email text "こんにちは{{ name }}"\n}\n'
    )


def test_crlf_and_bom_give_lf_output() -> None:
    """A BOM is dropped and CRLF line ends become LF."""
    out = assert_canonical("\ufeffsegment a = x  # c\r\n\r\n\r\nsegment b = y\r\n")
    assert out == "segment a = x  # c\n\nsegment b = y\n"


# ------------------------------------------------------------------ wrapping long lines
LONG_A = "count(order_completed in last 30d) >= 2"
LONG_B = "sum(order_completed.order_value in last 90d) >= 500"
LONG_C = 'loyalty_tier in ["gold", "platinum", "diamond"]'


def test_a_line_of_exactly_the_maximum_width_stays_whole() -> None:
    """100 columns fit; 101 wrap at the top-level operator."""
    head = "segment s = a and "
    fitting = head + "b" * (MAX_WIDTH - len(head))
    assert assert_canonical(fitting) == fitting + "\n"
    too_long = fitting + "b"
    assert assert_canonical(too_long) == f"segment s = a\n    and {'b' * (MAX_WIDTH - 17)}\n"


def test_long_condition_breaks_before_each_top_level_operator() -> None:
    """The first operand stays; each further one starts a line 4 spaces deeper with its operator."""
    out = assert_canonical(f"segment s = {LONG_A} and {LONG_B} and segment vip")
    assert out == f"segment s = {LONG_A}\n    and {LONG_B}\n    and segment vip\n"


def test_too_long_parenthesised_operand_breaks_inside_one_level_deeper() -> None:
    """A parenthesised operand that still does not fit breaks after `(`, 4 more spaces in."""
    out = assert_canonical(f"playbook p {{ audience segment vip and ({LONG_A} or {LONG_B} "
                           f"or {LONG_C}) and x }}")
    assert out == (
        "playbook p {\n"
        "  audience segment vip\n"
        f"      and ({LONG_A}\n"
        f"          or {LONG_B}\n"
        f"          or {LONG_C})\n"
        "      and x\n"
        "}\n"
    )


def test_and_inside_or_breaks_deeper_than_the_or() -> None:
    """A first operand that is an unparenthesised `and` hangs its own operands deeper."""
    out = assert_canonical(f"segment s = {LONG_A} and {LONG_B} or {LONG_C}")
    assert out == f"segment s = {LONG_A}\n        and {LONG_B}\n    or {LONG_C}\n"


def test_tail_follows_the_last_operand() -> None:
    """A branch arm's `-> target` and a goal's `within` end the last line."""
    out = assert_canonical(
        f"playbook p {{ goal g: event e where {LONG_A} and {LONG_B} within 7d "
        f"branch {{ when {LONG_A} or {LONG_B} -> t }} t: end }}")
    assert out == (
        "playbook p {\n"
        f"  goal g: event e where {LONG_A}\n      and {LONG_B} within 7d\n"
        f"  branch {{\n    when {LONG_A}\n        or {LONG_B} -> t\n  }}\n"
        "  t: end\n}\n"
    )


def test_long_head_moves_the_condition_to_its_own_line() -> None:
    """When the first line would still overflow, the condition starts on the next line."""
    title = '"' + "A title long enough to push the first operand past the limit" + '"'
    out = assert_canonical(f"segment s {title} = {LONG_A} and {LONG_B}")
    assert out == f"segment s {title} =\n    {LONG_A} and {LONG_B}\n"
    out = assert_canonical(f"segment s {title} = {LONG_A} and {LONG_B} and {LONG_C}")
    assert out == f"segment s {title} =\n    {LONG_A}\n    and {LONG_B}\n    and {LONG_C}\n"


def test_unbreakable_conditions_stay_on_one_line() -> None:
    """`not (...)`, comparisons and aggregates never break, even past the limit."""
    source = f"segment s = not ({LONG_A} and {LONG_B} and {LONG_C})"
    assert assert_canonical(source) == source + "\n"


def test_trailing_comment_ends_the_last_line_of_a_wrapped_statement() -> None:
    """A wrapped statement is one statement for comments; the comment does not count as width."""
    source = f"segment s = {LONG_A}  # why\n  and {LONG_B} and segment vip\nsegment t = x\n"
    out = assert_canonical(source)
    assert out == (f"segment s = {LONG_A}\n    and {LONG_B}\n    and segment vip  # why\n"
                   "\nsegment t = x\n")
    short = assert_canonical(f"segment s = {LONG_A}  # {'x' * 80}\n")
    assert short == f"segment s = {LONG_A}  # {'x' * 80}\n"


def test_long_test_properties_put_one_pair_per_line() -> None:
    """Pairs go one a line, one level in, commas between, and `}` under the statement."""
    pairs = ", ".join(f'field_{i} = "value number {i}"' for i in range(4))
    out = assert_canonical(
        f"test \"t\" {{ customer {{ {pairs}, }} event e at 2026-01-01T00:00 {{ {pairs} }} }}")
    body = "".join(f'    field_{i} = "value number {i}",\n' for i in range(3))
    block = f'{body}    field_3 = "value number 3"\n  }}\n'
    assert out == (f'test "t" {{\n  customer {{\n{block}'
                   f"  event e at 2026-01-01T00:00 {{\n{block}}}\n")


def test_long_update_hangs_one_assignment_per_line() -> None:
    """A long `update` keeps its first assignment and hangs the others 4 spaces deeper."""
    source = ("playbook p { l: update plan = event.plan, seats = event.seats, "
              "renewal_date = event.renewal_date, subscribed_at = now }")
    assert assert_canonical(source) == (
        "playbook p {\n  l: update plan = event.plan,\n      seats = event.seats,\n"
        "      renewal_date = event.renewal_date,\n      subscribed_at = now\n}\n"
    )


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_examples_are_canonical(name: str) -> None:
    """Every example file is already in the canonical layout: formatting changes nothing."""
    source = read_source(EXAMPLES / name)
    assert fmt(source) == source
