"""The parser: strict grammar, every syntax error in one run, hostile input never crashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import render_all_text
from cadenza.grammar.parser import build_parser, parse_bytes, parse_text

SAMPLE = Path(__file__).with_name("sample_all_constructs.play")


def _messages(text: str) -> list[tuple[int, int, str, str]]:
    _, diags = parse_text(text, "f.play")
    return [(d.span.line, d.span.col, d.code, d.message) for d in diags]


def test_grammar_builds_strictly() -> None:
    """No terminal collisions and no shift/reduce conflicts (Lark strict mode)."""
    build_parser.cache_clear()
    assert build_parser(strict=True) is not None


def test_sample_parses_every_construct() -> None:
    """The sample with every construct parses without a diagnostic."""
    doc, diags = parse_text(SAMPLE.read_text("utf-8"), str(SAMPLE))
    assert diags == []
    assert doc is not None
    kinds = {type(i).__name__ for i in doc.items}
    assert kinds == {"Schema", "SegmentDecl", "Playbook", "TestDecl"}
    [pb] = [i for i in doc.items if isinstance(i, ast.Playbook)]
    steps = {type(m.step).__name__ for m in pb.members if isinstance(m, ast.StepItem)}
    assert steps >= {"Send", "Wait", "WaitUntilTime", "WaitUntilAttr", "WaitEvent", "Branch",
                     "Split", "Update", "Goto", "End"}


def test_several_syntax_errors_reported_in_one_run() -> None:
    """Three broken lines give three diagnostics; the lines between them still parse."""
    text = ("playbook p {\n  when event x\n  cap email two per 1d\n  send email \"a\"\n"
            "  wait 1h\n  split { 50% -> a holdout 50 }\n  a: end\n  goto a b c\n}\n")
    assert _messages(text) == [
        (3, 13, "E001", "unexpected name 'two'; expected a number."),
        (6, 31, "E001", "unexpected '}'; expected '%'."),
        (8, 12, "E001", "unexpected name 'c'; expected ':'."),
    ]


def test_unterminated_string() -> None:
    """An unclosed string says so and points at the opening quote."""
    assert _messages('playbook p {\n  owner "growth\n}\n')[0] == (
        2, 9, "E002", "unterminated string: this '\"' has no closing '\"' on the same line.")


def test_truncated_file() -> None:
    """A file cut off mid-block reports that it ends too early, naming what was expected."""
    [(line, _, code, message)] = _messages('playbook p {\n  when event x\n')
    assert (line, code) == (2, "E001")
    assert message.startswith("the file ends too early; expected one of ")


def test_invalid_utf8_is_a_diagnostic() -> None:
    """Bytes that are not UTF-8 are reported with their position, not raised."""
    doc, diags = parse_bytes(b"playbook p {\n  owner \"\xff\"\n}\n", "f.play")
    assert doc is None
    assert [(d.code, d.span.line, d.span.col, d.message) for d in diags] == [
        ("E003", 2, 10, "this file is not valid UTF-8: byte 0xff cannot be decoded.")]


def test_bom_crlf_and_japanese_are_accepted() -> None:
    """A BOM, CRLF line ends and Japanese in strings and comments parse cleanly."""
    text = '\ufeffplaybook p "日本語のタイトル" {\r\n  # コメント\r\n  when api\r\n  end\r\n}\r\n'
    doc, diags = parse_bytes(text.encode("utf-8"), "f.play")
    assert diags == []
    assert doc is not None
    [pb] = doc.items
    assert isinstance(pb, ast.Playbook)
    assert pb.title is not None
    assert pb.title.value == "日本語のタイトル"
    assert [c.text for c in doc.comments] == ["# コメント"]


def test_deep_nesting_is_refused_with_a_diagnostic() -> None:
    """Thousands of nested parentheses give E004, not a RecursionError."""
    text = "segment s = " + "(" * 3000 + "x" + ")" * 3000 + "\n"
    [(_, _, code, message)] = _messages(text)
    assert code == "E004"
    assert message == "this expression nests deeper than 250 levels."


def test_oversized_file_is_refused_at_once() -> None:
    """A 5 MB file is refused with E005 before any parsing."""
    data = b'segment s = ltv > 3\n' * (5 * 1024 * 1024 // 20)
    doc, diags = parse_bytes(data, "big.play")
    assert doc is None
    assert [(d.code, d.message) for d in diags] == [
        ("E005", "this file is 5.0 MB, more than the 2 MB a playbook file may be.")]


def test_file_under_the_cap_parses() -> None:
    """A file just under the cap (thousands of items) parses without a diagnostic."""
    line = "segment s{} = ltv > 3\n"
    doc, diags = parse_text("".join(line.format(i) for i in range(4000)), "big.play")
    assert diags == []
    assert doc is not None
    assert len(doc.items) == 4000


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n"])
def test_empty_files_are_valid(text: str) -> None:
    """Empty files and comment-only files hold no items and no errors."""
    doc, diags = parse_text(text, "f.play")
    assert diags == []
    assert doc is not None
    assert doc.items == ()


def test_rendering_has_caret_and_help() -> None:
    """The text rendering shows file:line:col, the source line, a caret and help."""
    text = "playbook p {\n  touch low low2 ;\n}\n"
    _, diags = parse_text(text, "f.play")
    assert render_all_text(diags, {"f.play": text}) == (
        "f.play:2:18: error[E001]: unexpected character ';'.\n"
        "  |\n"
        "2 |   touch low low2 ;\n"
        "  |                  ^\n"
        "  = help: expected ':' here.")


DURATION_HELP = ("a duration is a whole number and a unit, with no space: 30m, 12h, 2w; "
                 "combine units for the parts (1d12h, not 1.5d); units are w (weeks), d (days), "
                 "h, m (minutes) and s; months and years vary in length, so write 30d or 365d.")
CLOCK_HELP = "write the 24-hour clock as HH:MM: 09:00, 13:30, 21:00."


@pytest.mark.parametrize(("line", "message", "hint"), [
    ("wait 1M", "'1M' is not a duration.", DURATION_HELP),
    ("wait 2mo", "'2mo' is not a duration.", DURATION_HELP),
    ("reenter after 1y", "'1y' is not a duration.", DURATION_HELP),
    ("cap email 2 per 1week", "'1week' is not a duration.", DURATION_HELP),
    ("wait 1.5d", "'1.5d' is not a duration.", DURATION_HELP),
    ("wait 2 weeks", "'2 weeks' is not a duration.", DURATION_HELP),
    ("wait 36h30", "'36h30' is not a duration.", DURATION_HELP),
    ("update first_name = 'x'", "a string in single quotes: strings are written in double "
     "quotes.", 'write "..." (a double quote inside one is \\"); single quotes are for strings '
     "inside a Liquid template, such as {{ x | date: '%B %d' }}."),
    ("wait until 9am", "'9am' is not a time of day here.", CLOCK_HELP),
    ("quiet hours 9pm-08:00", "'9pm' is not a time of day here.", CLOCK_HELP),
    ("send window email on mon-fri 9am-5pm", "'9am' is not a time of day here.", CLOCK_HELP),
])
def test_a_unit_or_clock_the_language_lacks_is_named(line: str, message: str, hint: str) -> None:
    """`1M` or `9am` where a duration or an HH:MM goes: the whole word is named, with what to
    write instead, not the digit the lexer stopped at."""
    _, diags = parse_text(f"playbook p {{\n  when api\n  {line}\n  end\n}}\n", "f.play")
    [d] = diags
    assert (d.message, d.hint) == (message, hint)


def test_comment_lines_follow_lark_line_counting() -> None:
    """A U+2028 inside a string is not a line break: no phantom comment appears."""
    doc, diags = parse_text('playbook p {\n  owner "a\u2028#b"\n  when api\n  end\n}\n', "f")
    assert diags == []
    assert doc is not None
    assert doc.comments == ()


@pytest.mark.parametrize(("line", "hint"), [
    ("  wait until next tuesday 09:00", "'wait until monday 09:00' (the next Monday; there is no "
                                        "'next')"),
    ("  exit when event paid within 3d", "'exit when event E [where C]' (at once, whenever it "
                                         "arrives; no 'within')"),
    ("  hold: wait until next tuesday 09:00", "wait forms: "),
])
def test_a_misread_statement_shows_its_forms(line: str, hint: str) -> None:
    """Lark's "expected ':'" names no real mistake; the hint shows what the statement takes."""
    _, diagnostics = parse_text(f"playbook p {{\n  when event x\n{line}\n  end\n}}\n", "p.play")
    assert len(diagnostics) == 1
    assert diagnostics[0].span.line == 3
    assert hint in (diagnostics[0].hint or "")


def test_a_broken_statement_does_not_swallow_the_next_line() -> None:
    """`on 09:00` (the days forgotten) once read the next line's 'split' as a day and reported
    four more errors on correct lines; now only the broken line is reported."""
    text = ("playbook p {\n  when event x\n  send window email on 09:00-17:00\n  split s {\n"
            "    50% -> a\n    50% -> b\n  }\n  a: end\n  b: end\n}\n")
    doc, diagnostics = parse_text(text, "p.play")
    assert [(d.span.line, d.span.col, d.message) for d in diagnostics] == [
        (3, 24, "unexpected '09:00'; expected a name.")]
    assert diagnostics[0].hint == (
        "send window form: 'send window [email|sms] [on DAYS] 09:00-17:00'; DAYS such as "
        "'mon-fri', 'weekdays' or 'sat, sun'; without 'on', every day.")
    assert doc is not None
    [pb] = [i for i in doc.items if isinstance(i, ast.Playbook)]
    labels = [m.label.name for m in pb.members if isinstance(m, ast.StepItem) and m.label]
    assert labels == ["a", "b"]  # the split and its targets survived the recovery


def test_a_send_window_without_days_holds_every_day() -> None:
    """`send window email 09:00-17:00`: no `on DAYS` means every day, and fmt keeps it so."""
    doc, diagnostics = parse_text("playbook p {\n  when event x\n  send window email "
                                  "09:00-17:00\n  end\n}\n", "p.play")
    assert diagnostics == []
    assert doc is not None
    [pb] = [i for i in doc.items if isinstance(i, ast.Playbook)]
    [window] = [m for m in pb.members if isinstance(m, ast.SendWindow)]
    assert window.days == ()


@pytest.mark.parametrize(("line", "col", "message"), [
    ("  when event x where", 21, "the line ends before its statement does; expected one of "
     "'(', 'avg', 'count', 'false', 'first', 'last', 'max', 'min' (or 9 more)."),
    ("  exit when event", 18, "the line ends before its statement does; expected a name."),
])
def test_an_unfinished_line_is_reported_where_it_stops(line: str, col: int,
                                                       message: str) -> None:
    """The condition after `where` forgotten: the next line's `wait` was read as a name and
    the error fell on its `1d`. Now the line that stops short is named, and the next line,
    which is right, parses."""
    doc, diagnostics = parse_text(f"playbook p {{\n  when api\n{line}\n  wait 1d\n  end\n}}\n",
                                  "p.play")
    assert [(d.span.line, d.span.col, d.message) for d in diagnostics] == [(3, col, message)]
    assert doc is not None
    [pb] = [i for i in doc.items if isinstance(i, ast.Playbook)]
    assert [type(m.step).__name__ for m in pb.members if isinstance(m, ast.StepItem)] == [
        "Wait", "End"]


@pytest.mark.parametrize("word", ["and", "or", "not"])
def test_a_condition_ending_with_an_operator_is_reported_on_its_line(word: str) -> None:
    """`audience email_opt_in and` with the rest forgotten: the next line's `send email` was
    read as the rest of the condition, the error fell on the correct `send` line ("expected
    ':'") and the playbook was said to have no steps. Now the operator is named on its own
    line, and the entry before it and the step after it both survive."""
    doc, diagnostics = parse_text(
        f"playbook p {{\n  when event x\n  audience a {word}\n  send email \"t\"\n}}\n", "p.play")
    assert [(d.span.line, d.span.col, d.message) for d in diagnostics] == [
        (3, 14, f"the condition ends with '{word}'; expected a condition after it.")]
    assert diagnostics[0].hint == (
        f"finish the condition after '{word}' (it may go on on the next line), or remove the "
        f"'{word}'; line 4 starts a new statement ('send').")
    assert doc is not None
    [pb] = [i for i in doc.items if isinstance(i, ast.Playbook)]
    kinds = [type(m).__name__ for m in pb.members]
    assert kinds[0] == "Entry"
    assert kinds[-1] == "StepItem"


def test_a_condition_may_still_go_on_over_lines() -> None:
    """A trailing `and` followed by the rest of the condition is not an error."""
    _, diagnostics = parse_text("playbook p {\n  when event x\n  audience a and\n    b\n"
                                "  send email \"t\"\n}\n", "p.play")
    assert diagnostics == []


@pytest.mark.parametrize(("line", "hint"), [
    ("  exit when event a or b", "write one line for each: 'exit when event a' and "
     "'exit when event b' (a playbook may have several of them)."),
    ("  when event a, b", "write one line for each: 'when event a' and 'when event b' "
     "(a playbook may have several of them)."),
])
def test_two_events_in_one_trigger_or_exit_say_how_to_write_them(line: str, hint: str) -> None:
    """`exit when event a or b` used to say "expected ':'"; now it says one event per line."""
    _, diagnostics = parse_text(f"playbook p {{\n  when api\n{line}\n  end\n}}\n", "p.play")
    [d] = diagnostics
    lead = line.split(" event", maxsplit=1)[0].strip()
    assert d.span.line == 3
    assert d.message.startswith(f"'{lead} event' names one event, so 'a ")
    assert d.hint == hint


@pytest.mark.parametrize(("expr", "message"), [
    ("event.old_price * 0.9", "'*': the language has no arithmetic."),
    ("event.old_price - 10", "'-' before a plain number: the language has no arithmetic."),
])
def test_arithmetic_is_named_with_the_workaround(expr: str, message: str) -> None:
    """`*` offered '+'/'-' instead, and `- 10` got help about entry forms; both now say there
    is no arithmetic and how to do without it."""
    _, diagnostics = parse_text(f"playbook p {{\n  when event x where event.new_price <= {expr}"
                                "\n  end\n}\n", "p.play")
    [d] = diagnostics
    assert d.message == message
    assert d.hint.startswith("compute the number where the data comes from")



def test_every_dangling_operator_in_a_file_is_reported_once() -> None:
    """Each broken playbook gets its own one error, and each keeps its step."""
    one = 'playbook p{i} {{\n  when event x\n  audience a and\n  send email "t"\n}}\n'
    doc, diagnostics = parse_text("".join(one.format(i=i) for i in range(3)), "p.play")
    assert [(d.span.line, d.message) for d in diagnostics] == [
        (3 + 5 * i, "the condition ends with 'and'; expected a condition after it.")
        for i in range(3)]
    assert doc is not None
    assert all(isinstance(pb.members[-1], ast.StepItem)
               for pb in doc.items if isinstance(pb, ast.Playbook))


def test_a_condition_going_on_with_not_is_not_called_dangling() -> None:
    """A mistake on a continuation line that starts with `not` is that line's own."""
    _, diagnostics = parse_text('segment keen =\n  a and\n  not b == == "Bo"\n', "p.play")
    [d] = diagnostics
    assert d.span.line == 3
    assert "ends with 'and'" not in d.message
