"""Text -> AST, collecting every syntax error of a file in one run.

The Lark parser is built once per process. Lark's exceptions never leave this module: each
becomes a `Diagnostic` (E001 syntax, E002 unterminated string, E003 encoding, E004 nesting).

Error recovery is panic mode: on an unexpected token we report it, then drop tokens until one
that can start a statement, setting or declaration, and pop the parser's stacks until that token
is acceptable. This touches Lark's interactive-parser state, which is why lark's minor version
is pinned in pyproject.toml.
"""

from __future__ import annotations

import bisect
import functools
import os
import re
from dataclasses import dataclass, field
from importlib import resources

import lark
from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.exceptions import UnexpectedEOF

from cadenza.grammar import ast
from cadenza.grammar.comments import scan_comments
from cadenza.grammar.diagnostics import Diagnostic, Span
from cadenza.grammar.fastpath import FallbackError, FastParser
from cadenza.grammar.gcpause import gc_paused
from cadenza.grammar.transformer import ToAst
from cadenza.grammar.words import describe_expected, describe_token

MAX_TREE_DEPTH = 250
_TO_AST = ToAst()
# Playbook files are small (the largest example is a few KB); a cap keeps a stray data file
# or an attack from tying up `validate`, the language server or `serve`'s deploy path.
MAX_FILE_BYTES = 2 * 1024 * 1024

# Tokens that begin a declaration, a setting, a policy, a step, or close a block: safe places
# to resume after an error.
SYNC_TOKENS = frozenset({
    "SCHEMA", "SEGMENT", "FRAMEWORK", "DEFAULTS", "PLAYBOOK", "TEST", "CUSTOMER", "EVENT",
    "TOUCH", "OWNER", "WHEN", "AUDIENCE", "REENTER", "EXIT", "GOAL", "ON", "QUIET", "SEND",
    "CAP", "CONSENT", "RATE", "TIMEZONE", "TASK", "WAIT", "BRANCH", "SPLIT", "UPDATE", "GOTO",
    "END", "EXPECT", "START", "RUN", "RBRACE", "HOLDOUT", "ELSE", "NAME",
})
# A token starts a statement when only indentation, or a step label, stands before it.
_LINE_START = re.compile(r"\s*(?:[A-Za-z_]\w*\s*:\s*)?")
# Words that start a statement and cannot start a condition (`not`, `segment`, `count`, `now`
# ... can: a condition goes on over lines, so those lines are its rest, not a new statement).
STATEMENT_WORDS = frozenset({
    "send", "wait", "branch", "split", "goto", "end", "task", "update", "exit", "goal",
    "audience", "when", "reenter", "cap", "quiet", "consent", "framework", "touch", "owner",
    "on", "stage", "playbook", "defaults", "schema"})
# A condition's operator left at the end of a line (not inside a string: no quote after it).
_DANGLING = re.compile(r"\s(and|or|not)\s*$")


def _cache_file() -> str | bool:
    """A per-user cache of the built parser (Lark checks the grammar's hash on load).

    Building the LALR tables takes ~0.5 s, most of a `cadenza validate` run; loading them
    takes a few ms. The cache lives in the user's own cache folder, never a shared temp dir,
    because Lark loads it with pickle.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "cadenza")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return False
    return os.path.join(folder, f"grammar-lark{lark.__version__}.pickle")


@functools.lru_cache(maxsize=2)
def build_parser(*, strict: bool = False) -> Lark:
    grammar = resources.files("cadenza.grammar").joinpath("playbook.lark").read_text("utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=True, strict=strict,
                cache=False if strict else _cache_file())


@functools.lru_cache(maxsize=1)
def _fast_parser() -> FastParser | None:
    """None if the grammar has grown a shape the fast path does not mirror (a test fails then);
    cached either way, so a refusal costs once, not once per file."""
    try:
        return FastParser(build_parser(), MAX_TREE_DEPTH)
    except FallbackError:
        return None


@dataclass
class _Recovery:
    file: str
    text: str  # the source, lexed again (once) where the parser folded words into a tree
    lines: list[str]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    last_error_line: int = 0

    def report(self, diagnostic: Diagnostic) -> None:
        # One report per line: later complaints on the same line are echoes of the first.
        if diagnostic.span.line == self.last_error_line:
            return
        self.last_error_line = diagnostic.span.line
        self.diagnostics.append(diagnostic)

    def __call__(self, error: UnexpectedInput) -> bool:
        if isinstance(error, UnexpectedCharacters):
            self.report(_char_diagnostic(self.file, error, self.lines))
            return True
        if isinstance(error, UnexpectedToken):
            return self._on_token(error)
        return False

    def _on_token(self, error: UnexpectedToken) -> bool:
        token = error.token
        if token.type == "$END":
            self.report(_token_diagnostic(self.file, error, self.lines))
            return False
        # A statement broken on the error's line may have swallowed the next line's first
        # word as one of its names (`on 09:00` then `split s {`: 'split' read as a day).
        if self.diagnostics and (token.line or 0) > self.last_error_line and \
                _restart_after_broken(error, self.last_error_line, self.text):
            return True
        # Until the parser consumes a token past the last error, it is still lost in that
        # fault: later complaints are its echoes, not new mistakes.
        if not self.diagnostics or _consumed_since(error, self.last_error_line):
            unfinished = self._dangling(error) or self._unfinished(error)
            if unfinished is not None:  # reported where the statement stopped, and resumed
                self.report(unfinished)
                if _restart_after_broken(error, unfinished.span.line, self.text):
                    return True
            else:
                self.report(_token_diagnostic(self.file, error, self.lines))
        if token.type == "RBRACE" or (token.type in SYNC_TOKENS and self._starts_line(token)):
            _resync(error, token)
        return True  # the token is dropped unless _resync fed it

    def _dangling(self, error: UnexpectedToken) -> Diagnostic | None:
        """`audience a and` with the rest forgotten: a condition may go on over lines, so the
        next line's statement (`send email ...`) was read as the rest of it and fails there.
        The mistake is the operator ending the line above."""
        line = error.token.line or 0
        words = self.lines[line - 1].split() if 0 < line <= len(self.lines) else []
        if not words or words[0] not in STATEMENT_WORDS:
            return None
        before = line - 1
        while before > 0 and self.lines[before - 1].split("#")[0].strip() == "":
            before -= 1
        found = _DANGLING.search(self.lines[before - 1].split("#")[0]) if before else None
        if found is None:
            return None
        word = found.group(1)
        return Diagnostic(
            code="E001", file=self.file,
            span=Span(line=before, col=found.start(1) + 1, end_line=before,
                      end_col=found.end(1) + 1),
            message=f"the condition ends with '{word}'; expected a condition after it.",
            hint=f"finish the condition after '{word}' (it may go on on the next line), or "
                 f"remove the '{word}'; line {line} starts a new statement ('{words[0]}').")

    def _unfinished(self, error: UnexpectedToken) -> Diagnostic | None:
        """`when event x where` with the condition forgotten: the parser read the next line's
        first word (`wait`) as a name of the condition and fails after it. The mistake is the
        end of the line above, and that word starts the next statement."""
        values = error.interactive_parser.parser_state.value_stack
        line = error.token.line or 0
        word = next((i for i, v in enumerate(values) if isinstance(v, Token)
                     and v.line == line and v.type == "NAME"), None)
        if word is None or word == 0 or not all(isinstance(v, Token) for v in values[word:]):
            return None
        token = values[word]
        before = _end_line(values[word - 1])
        if not 0 < before < line or str(token) not in _keywords() or \
                not self._starts_line(token):
            return None
        state = error.interactive_parser.parser_state
        expected = describe_expected(t for t in state.parse_conf.states[state.state_stack[word]]
                                     if t.isupper())  # terminals; the rest are rules
        text = self.lines[before - 1] if before <= len(self.lines) else ""
        return Diagnostic(
            code="E001", file=self.file, span=Span.point(before, len(text.rstrip()) + 1),
            message=f"the line ends before its statement does; expected {expected}.",
            hint=_statement_hint(self.lines, before) or
            "finish the statement on this line; the next line starts a new one.")

    def _starts_line(self, token: Token) -> bool:
        line = token.line or 1
        if line > len(self.lines):
            return False
        before = self.lines[line - 1][: (token.column or 1) - 1]
        return _LINE_START.fullmatch(before) is not None


def _consumed_since(error: UnexpectedToken, line: int) -> bool:
    values = error.interactive_parser.parser_state.value_stack
    if not values:
        return False
    top = values[-1]
    if isinstance(top, Token):
        return (top.line or 0) > line
    if isinstance(top, Tree) and not getattr(top.meta, "empty", True):
        return int(top.meta.end_line) > line
    return False


def _restart_after_broken(error: UnexpectedToken, line: int, text: str) -> bool:
    """Drop the statement still open since the error on `line` and read the later tokens it
    swallowed again, as the start of a new statement; False (nothing changed) if that fails."""
    ip = error.interactive_parser
    state = ip.parser_state
    values = state.value_stack
    base = max((i for i, v in enumerate(values) if isinstance(v, Token) and v.type == "LBRACE"),
               default=-1)
    start = next((i for i in range(base + 1, len(values)) if _end_line(values[i]) >= line), None)
    if start is None or _start_line(values[start]) > line:
        return False
    later = [v for v in values[start:] if _start_line(v) > line]
    if any(not isinstance(v, Token) and _end_line(v) > line for v in values[start:]):
        # A tree (`send` read as a name) holds some of the words: lex them again, and keep
        # the statements before the broken line that the tree holds too.
        later = _relexed(error, _start_position(values[start]), line, text)
    if not later:
        return False
    saved = (list(state.state_stack), list(values))
    del state.state_stack[start + 1:]
    del values[start:]
    try:
        for token in [*later, error.token]:
            lookaheads = {t for t in state.parse_conf.states[state.state_stack[-1]] if t.isupper()}
            ip.feed_token(_as_keyword(token, lookaheads))
    except UnexpectedInput:
        state.state_stack[:], values[:] = saved
        return False
    return True


def _relexed(error: UnexpectedToken, begin: tuple[int, int], broken: int,
             text: str) -> list[Token]:
    """The tokens from `begin` to the error's token but those of the `broken` line, lexed
    again from the source (the parser's stack holds some of them only inside trees)."""
    end = (error.token.line or 0, error.token.column or 0)
    tokens, positions = _lexed(text)
    return [tok for tok in tokens[bisect.bisect_left(positions, begin):
                                  bisect.bisect_left(positions, end)] if tok.line != broken]


@functools.lru_cache(maxsize=2)
def _lexed(text: str) -> tuple[tuple[Token, ...], tuple[tuple[int, int], ...]]:
    """A file's tokens and their positions, lexed once however many errors recover in it
    (lexed again for each, a file of a thousand errors took minutes); empty when it does not
    lex (the stock parse reports that itself)."""
    try:
        tokens = tuple(build_parser().lex(text))
    except UnexpectedInput:
        return (), ()
    return tokens, tuple(_position(tok) for tok in tokens)


def _position(token: Token) -> tuple[int, int]:
    return token.line or 0, token.column or 0


def _start_position(value: object) -> tuple[int, int]:
    if isinstance(value, Token):
        return _position(value)
    meta = getattr(value, "meta", None)
    if meta is None or getattr(meta, "empty", True):
        return 0, 0
    return int(meta.line), int(meta.column)


def _as_keyword(token: Token, accepts: set[str]) -> Token:
    """A word the lexer took for a NAME, as the keyword it is where a statement starts."""
    if token.type != "NAME":
        return token
    keyword = _keywords().get(str(token))
    if keyword is None or keyword not in accepts:
        return token
    return Token.new_borrow_pos(keyword, str(token), token)


@functools.lru_cache(maxsize=1)
def _keywords() -> dict[str, str]:
    return {str(t.pattern.value): t.name for t in build_parser().terminals
            if t.pattern.type == "str"}


def _start_line(value: object) -> int:
    if isinstance(value, Token):
        return value.line or 0
    meta = getattr(value, "meta", None)
    return 0 if meta is None or getattr(meta, "empty", True) else int(meta.line)


def _end_line(value: object) -> int:
    if isinstance(value, Token):
        return value.end_line or value.line or 0
    meta = getattr(value, "meta", None)
    return 0 if meta is None or getattr(meta, "empty", True) else int(meta.end_line)


def _resync(error: UnexpectedToken, token: Token) -> None:
    """Pop the parser's stacks, within the innermost open block, until `token` is acceptable."""
    state = error.interactive_parser.parser_state
    states = state.parse_conf.states
    depth = len(state.state_stack)
    while depth > 1:
        if token.type in states[state.state_stack[depth - 1]]:
            break
        value = state.value_stack[depth - 2] if depth - 2 < len(state.value_stack) else None
        if isinstance(value, Token) and value.type == "LBRACE":
            return  # never pop out of the enclosing block: the error is local to it
        depth -= 1
    else:
        return
    saved = (list(state.state_stack), list(state.value_stack))
    del state.state_stack[depth:]
    del state.value_stack[depth - 1 :]
    try:
        error.interactive_parser.feed_token(token)
    except UnexpectedInput:
        state.state_stack[:], state.value_stack[:] = saved


def _char_diagnostic(file: str, error: UnexpectedCharacters, lines: list[str]) -> Diagnostic:
    span = Span.point(error.line, error.column)
    char = error.char
    if (bad := _twelve_hour(error, lines)) is not None:
        return Diagnostic(
            code="E001", file=file, span=span,
            message=f"'{bad}' is not a time of day here.",
            hint="write the 24-hour clock as HH:MM: 09:00, 13:30, 21:00.")
    if (bad := _bad_duration(error, lines)) is not None:
        return Diagnostic(
            code="E001", file=file, span=span,
            message=f"'{bad}' is not a duration.", hint=DURATION_HINT)
    if char == '"':
        return Diagnostic(
            code="E002", file=file, span=span,
            message="unterminated string: this '\"' has no closing '\"' on the same line.",
            hint='close the string on the same line; write \\" for a quote inside it.',
        )
    if char == "'":
        return Diagnostic(
            code="E001", file=file, span=span,
            message="a string in single quotes: strings are written in double quotes.",
            hint='write "..." (a double quote inside one is \\"); single quotes are for '
                 "strings inside a Liquid template, such as {{ x | date: '%B %d' }}.")
    if char in "*/%":
        return Diagnostic(code="E001", file=file, span=span,
                          message=f"'{char}': the language has no arithmetic.",
                          hint=ARITHMETIC_HINT)
    shown = repr(char)[1:-1]
    expected = describe_expected(error.allowed or set())
    return Diagnostic(
        code="E001", file=file, span=span,
        message=f"unexpected character '{shown}'.",
        hint=f"expected {expected} here." if expected else "remove this character.",
    )


def _bad_duration(error: UnexpectedCharacters, lines: list[str]) -> str | None:
    """`1M`, `2mo`, `3 months` where a duration goes: the word after the digits, not the
    digit the lexer stopped at, is what to fix."""
    if "DURATION" not in (error.allowed or set()) or not 0 < error.line <= len(lines):
        return None
    match = _NUMBER_WORD.match(lines[error.line - 1], error.column - 1)
    return match.group(0) if match else None


def _number_not_duration(error: UnexpectedToken, lines: list[str]) -> str | None:
    """`1.5d`, `2 weeks` where a duration goes: the lexer saw a number and stopped there."""
    token = error.token
    accepts = error.accepts or error.expected or set()
    line = token.line or 0
    if token.type != "NUMBER" or "DURATION" not in accepts or not 0 < line <= len(lines):
        return None
    match = _NUMBER_WORD.match(lines[line - 1], (token.column or 1) - 1)
    return match.group(0) if match and not match.group(0).isdigit() else None


def _number_follows(token: Token, lines: list[str]) -> bool:
    """`event.old_price - 10`: a number with no unit after '+' or '-' (a duration has one)."""
    line = token.line or 0
    if not 0 < line <= len(lines):
        return False
    rest = lines[line - 1][(token.column or 1):]
    return re.match(r"\s*\d+(?:\.\d+)?(?![\w.])", rest) is not None


def _two_events(error: UnexpectedToken, lines: list[str]) -> tuple[str, str] | None:
    """`exit when event a or b`: a trigger, exit or wait names one event; say how to write
    two (one line each) instead of what the parser expected after the first."""
    line = error.token.line or 0
    if not 0 < line <= len(lines):
        return None
    found = _TWO_EVENTS.search(lines[line - 1])
    if found is None or (error.token.column or 0) - 1 < found.start("op"):
        return None
    lead = " ".join(found.group("lead").split())
    a, op, b = found.group("a"), found.group("op"), found.group("b")
    message = (f"'{lead} event' names one event, so '{a} {op} {b}' cannot be written "
               "here.")
    if lead.startswith("wait for"):
        return message, ("wait for one event, and handle the other with an exit or a branch; "
                         "or send both as one event with a property that tells them apart.")
    return message, (f"write one line for each: '{lead} event {a}' and '{lead} event {b}' "
                     "(a playbook may have several of them).")


_TWO_EVENTS = re.compile(
    r"(?P<lead>\b(?:exit\s+when|when|wait\s+for))\s+event\s+(?P<a>\w+)\s*"
    r"(?P<op>\bor\b|\band\b|,)\s*(?P<b>\w+)")


def _twelve_hour(error: UnexpectedCharacters, lines: list[str]) -> str | None:
    """`9am`, `9:30 pm` where a clock time goes."""
    if "CLOCK" not in (error.allowed or set()) or not 0 < error.line <= len(lines):
        return None
    match = _TWELVE_HOUR.match(lines[error.line - 1], error.column - 1)
    return match.group(0) if match else None


_TWELVE_HOUR = re.compile(r"\d{1,2}(?::\d\d)?\s?[aApP]\.?[mM]\.?")
# The whole would-be duration: `36h30` (not `36h`), `1.5d`, `3 months`, `2 weeks`.
_NUMBER_WORD = re.compile(r"\d[\w.]*(?:\s[A-Za-z]+)?")
ARITHMETIC_HINT = ("compute the number where the data comes from and send it as an attribute or "
                   "an event property (drop_pct, days_left), then compare that: "
                   "'where event.drop_pct >= 10'. Times move by durations: '30d ago' and '7d "
                   "from now' in conditions, 'wait until renewal_date - 7d'.")
DURATION_HINT = ("a duration is a whole number and a unit, with no space: 30m, 12h, 2w; "
                 "combine units for the parts (1d12h, not 1.5d); units are w (weeks), d (days), "
                 "h, m (minutes) and s; months and years vary in length, so write 30d or 365d.")


# The forms of statements people most often get wrong, by their first word: a syntax error on
# such a line shows them (Lark's "expected ':'" after a misread word names no real mistake).
STATEMENT_FORMS = {
    "wait": "wait forms: 'wait 3d', 'wait until 09:00', 'wait until monday 09:00' (the next "
            "Monday; there is no 'next'), 'wait until ATTRIBUTE - 30d', 'wait for event E "
            "[where C] [as NAME] timeout 2d [else -> label]'.",
    "exit": "exit forms: 'exit when event E [where C]' (at once, whenever it arrives; no "
            "'within'), 'exit when leaves segment S'.",
    "goal": "goal form: 'goal NAME: event E [where C] within 7d'.",
    "when": "entry forms: 'when event E [where C]', 'when enters segment S', 'when in "
            "segment S', 'when every monday at 09:00 [in \"Europe/London\"]', 'when cron "
            "\"0 9 * * 1\" [in \"Zone\"]', 'when api'.",
    "reenter": "re-entry forms: 'reenter never', 'reenter after 30d'.",
    "cap": "cap form: 'cap email 2 per 7d [else skip|defer]'.",
    "quiet": "quiet hours form: 'quiet hours [email|sms] 21:00-08:00'.",
    "split": "split form: 'split NAME {', then one arm per line ('45% -> a', '45% -> b', "
             "'holdout 10%'), then '}'; arms and holdout add up to 100.",
    "send window": "send window form: 'send window [email|sms] [on DAYS] 09:00-17:00'; DAYS "
                   "such as 'mon-fri', 'weekdays' or 'sat, sun'; without 'on', every day.",
    "send": "send forms: 'send email \"template\" [stage S]', 'send sms text \"...\"', "
            "'send email text \"...\" subject \"...\"'.",
}


def _statement_hint(lines: list[str], line: int) -> str | None:
    if not 1 <= line <= len(lines):
        return None
    words = lines[line - 1].split()
    while words and words[0].endswith(":"):  # a label before the statement
        words = words[1:]
    if not words:
        return None
    return STATEMENT_FORMS.get(" ".join(words[:2])) or STATEMENT_FORMS.get(words[0])


def _token_diagnostic(file: str, error: UnexpectedToken,
                      lines: list[str] | None = None) -> Diagnostic:
    token = error.token
    expected = describe_expected(error.accepts or error.expected)
    if token.type == "$END":
        line, col = _end_position(error)
        return Diagnostic(
            code="E001", file=file, span=Span.point(line, col),
            message=f"the file ends too early; expected {expected}.",
            hint="a block opened with '{' must be closed with '}'.",
        )
    length = max(1, len(str(token)))
    span = Span(line=token.line or 1, col=token.column or 1, end_line=token.line or 1,
                end_col=(token.column or 1) + length)
    if (bad := _number_not_duration(error, lines or [])) is not None:
        return Diagnostic(code="E001", file=file, span=span,
                          message=f"'{bad}' is not a duration.", hint=DURATION_HINT)
    if token.type in ("MINUS", "PLUS") and _number_follows(token, lines or []):
        return Diagnostic(code="E001", file=file, span=span,
                          message=f"'{token}' before a plain number: the language has no "
                                  "arithmetic.", hint=ARITHMETIC_HINT)
    if (two := _two_events(error, lines or [])) is not None:
        return Diagnostic(code="E001", file=file, span=span, message=two[0], hint=two[1])
    forms = _statement_hint(lines or [], span.line)
    return Diagnostic(
        code="E001", file=file, span=span,
        message=f"unexpected {describe_token(token)}; expected {expected}.",
        hint=forms or "check the statement's spelling against docs/language.md.",
    )


def _end_position(error: UnexpectedToken) -> tuple[int, int]:
    token = error.token
    line = getattr(token, "end_line", None) or getattr(token, "line", None) or 1
    col = getattr(token, "end_column", None) or getattr(token, "column", None) or 1
    return line, col


def _too_deep(tree: Tree[Token]) -> Span | None:
    """The position of the first subtree deeper than MAX_TREE_DEPTH (iteratively: no recursion)."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            meta = node.meta
            return Span.point(getattr(meta, "line", 1), getattr(meta, "column", 1))
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))
    return None


def decode(data: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    """UTF-8 (with or without a BOM) -> text, or an E003 diagnostic at the first bad byte."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        bad = data[exc.start : exc.start + 1].hex()
        return None, [Diagnostic(
            code="E003", file=file, span=Span.point(line, col),
            message=f"this file is not valid UTF-8: byte 0x{bad} cannot be decoded.",
            hint="save the file as UTF-8 (every editor offers it).",
        )]


def parse_text(text: str, file: str) -> tuple[ast.Document | None, list[Diagnostic]]:
    """Parse one file. After syntax errors the document holds what recovery kept, so later
    stages can still report their own findings; it is None only when nothing could be kept."""
    text = text.removeprefix("\ufeff")
    with gc_paused():
        items = _fast_items(text)
        if items is None:
            # A syntax error, or input the fast path cannot vouch for: the stock parse owns
            # recovery and every syntax diagnostic.
            return parse_stock(text, file)
        return ast.Document(file=file, items=items, comments=scan_comments(text)), []


def _fast_items(text: str) -> tuple[ast.Item, ...] | None:
    fast = _fast_parser()
    if fast is None:
        return None
    try:
        return fast.parse(text)
    except FallbackError:
        return None


def parse_stock(text: str, file: str) -> tuple[ast.Document | None, list[Diagnostic]]:
    """`parse_text` through Lark's own lexer and tree, with error recovery. Well-formed input
    gives the same document as the fast path (tests/grammar/test_fastpath.py checks it)."""
    text = text.removeprefix("\ufeff")
    recovery = _Recovery(file=file, text=text, lines=text.split("\n"))
    tree: Tree[Token] | None = None
    try:
        tree = build_parser().parse(text, on_error=recovery)
    except UnexpectedEOF:
        pass  # reported by the handler as "the file ends too early"
    except UnexpectedInput as exc:
        if not recovery.diagnostics:
            recovery.report(_fallback(file, exc))
    if tree is None:
        return None, recovery.diagnostics
    deep = _too_deep(tree)
    if deep is not None:
        return None, [Diagnostic(
            code="E004", file=file, span=deep,
            message=f"this expression nests deeper than {MAX_TREE_DEPTH} levels.",
            hint="move parts of the condition into named segments.",
        )]
    items = _TO_AST.transform(tree)
    document = ast.Document(file=file, items=items, comments=scan_comments(text))
    return document, recovery.diagnostics


def _fallback(file: str, exc: UnexpectedInput) -> Diagnostic:
    line = getattr(exc, "line", 1) or 1
    col = getattr(exc, "column", 1) or 1
    return Diagnostic(code="E001", file=file, span=Span.point(line, col),
                      message="the file could not be parsed here.",
                      hint="check the statement's spelling against docs/language.md.")


def parse_bytes(data: bytes, file: str) -> tuple[ast.Document | None, list[Diagnostic]]:
    if len(data) > MAX_FILE_BYTES:
        size = len(data) / (1024 * 1024)
        return None, [Diagnostic(
            code="E005", file=file, span=Span.point(1, 1),
            message=f"this file is {size:.1f} MB, more than the 2 MB a playbook file may be.",
            hint="split it into several .play files; names resolve across the project.")]
    text, problems = decode(data, file)
    if text is None:
        return None, problems
    return parse_text(text, file)
