"""Property tests: formatting random valid playbooks is idempotent and keeps their AST.

The strategies build source text token by token, then join the tokens with random whitespace
that may hold comments, so comments land everywhere a comment can stand.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza.grammar.format_cond import MAX_WIDTH
from tests.grammar.test_fmt import assert_canonical, fmt, parse

Tokens = list[str]

# Names that are never keywords, so they lex as NAME wherever the grammar puts them.
NAMES = st.sampled_from(["alpha", "beta", "plan", "x1", "cart_value", "vip", "Order", "_tmp"])
DURATIONS = st.sampled_from(["30m", "1h", "7d", "2w", "1d12h", "45s"])
CLOCKS = st.sampled_from(["09:00", "7:30", "21:00", "00:00"])
TIMESTAMPS = st.sampled_from(["2026-03-07T10:00", "2026-03-07T10:00Z", "2026-01-01T00:00:00+09:00"])
NUMBERS = st.sampled_from(["0", "1", "42", "1.50", "99.9"])
# No line-break characters: strings and comments never span lines.
TEXT = st.text(alphabet="abc XYZ#{}()=-><:,.日本語テスト", max_size=12)
STRINGS = st.builds(lambda body, esc: f'"{body}{esc}"', TEXT, st.sampled_from(["", '\\"', "\\\\"]))
COMMENTS = st.builds(lambda body: f"#{body}", TEXT.map(str.rstrip))
SEPARATORS = st.one_of(
    st.sampled_from([" ", " ", " ", "  ", "\t", "\n", "\n  ", "\n\n", "\n\n\n    "]),
    st.builds(lambda c, tail: f"  {c}\n{tail}", COMMENTS, st.sampled_from(["", "  ", "\n"])),
    st.builds(lambda c: f"\n    {c}\n", COMMENTS),
)


def opt(strategy: st.SearchStrategy[Tokens]) -> st.SearchStrategy[Tokens]:
    return st.one_of(st.just([]), strategy)


def seq(*parts: st.SearchStrategy[Tokens]) -> st.SearchStrategy[Tokens]:
    return st.tuples(*parts).map(lambda lists: [t for part in lists for t in part])


def tok(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[Tokens]:
    return strategy.map(lambda t: [t])


def word(*words: str) -> st.SearchStrategy[Tokens]:
    return st.just(list(words))


def joined(strategy: st.SearchStrategy[Tokens], sep: str = ",") -> st.SearchStrategy[Tokens]:
    return st.lists(strategy, min_size=1, max_size=3).map(
        lambda parts: [t for i, p in enumerate(parts) for t in ([sep] if i else []) + p])


def joined_many(strategy: st.SearchStrategy[Tokens]) -> st.SearchStrategy[Tokens]:
    """4 to 8 comma-separated parts: enough to overflow a line."""
    return st.lists(strategy, min_size=4, max_size=8).map(
        lambda parts: [t for i, p in enumerate(parts) for t in ([","] if i else []) + p])


# ------------------------------------------------------------------ conditions
LITERALS = tok(st.one_of(STRINGS, NUMBERS, st.sampled_from(["true", "false"])))
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: [".".join(parts)])


@st.composite
def values(draw: st.DrawFn, depth: int) -> Tokens:
    options = [PATHS, LITERALS, word("now"), seq(tok(DURATIONS), word("ago")),
               seq(tok(DURATIONS), word("from", "now"))]
    if depth > 0:
        options.append(aggregates(depth - 1))
    return draw(st.one_of(*options))


def aggregates(depth: int) -> st.SearchStrategy[Tokens]:
    fn = st.sampled_from(["count", "sum", "avg", "min", "max", "first", "last"])
    target = st.one_of(tok(NAMES), st.tuples(NAMES, NAMES).map(lambda p: [f"{p[0]}.{p[1]}"]))
    return seq(tok(fn), word("("), target, opt(seq(word("where"), conds(depth))),
               opt(seq(word("in last"), tok(DURATIONS))), word(")"))


@st.composite
def atoms(draw: st.DrawFn, depth: int) -> Tokens:
    cmp = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    return draw(st.one_of(
        seq(word("segment"), tok(NAMES)),
        seq(values(depth), tok(cmp), values(depth)),
        seq(values(depth), word("in", "["), joined(LITERALS), word("]")),
        seq(values(depth), word("is", "set")),
        seq(values(depth), word("is", "not", "set")),
        values(depth),
    ))


@st.composite
def conds(draw: st.DrawFn, depth: int = 2) -> Tokens:
    """(kind, tokens) trees flattened to tokens; parentheses where needed, sometimes more."""
    return draw(_cond(depth))[1]


@st.composite
def _cond(draw: st.DrawFn, depth: int) -> tuple[str, Tokens]:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        kind, tokens = "atom", draw(atoms(depth))
    else:
        kind = draw(st.sampled_from(["or", "and", "not"]))
        if kind == "not":
            child_kind, child = draw(_cond(depth - 1))
            tokens = ["not", *_wrap(child, child_kind in ("or", "and") or draw(st.booleans()))]
        else:
            children = draw(st.lists(_cond(depth - 1), min_size=2, max_size=3))
            tokens = []
            for i, (child_kind, child) in enumerate(children):
                needed = child_kind == "or" or (kind == "and" and child_kind == "and")
                tokens += ([kind] if i else []) + _wrap(child, needed or draw(st.booleans()))
    return kind, _wrap(tokens, draw(st.integers(0, 5)) == 0)


def _wrap(tokens: Tokens, wrap: bool) -> Tokens:
    return ["(", *tokens, ")"] if wrap else tokens


# ------------------------------------------------------------------ playbook members
POLICIES = st.one_of(
    seq(word("quiet", "hours"), opt(tok(NAMES)), tok(CLOCKS), word("-"), tok(CLOCKS)),
    seq(word("send", "window"), opt(tok(NAMES)), word("on"),
        joined(seq(tok(NAMES), opt(seq(word("-"), tok(NAMES))))), tok(CLOCKS), word("-"),
        tok(CLOCKS)),
    seq(word("cap"), tok(NAMES), tok(NUMBERS), word("per"), tok(DURATIONS),
        opt(seq(word("else"), tok(NAMES)))),
    seq(word("consent"), tok(NAMES), word(":"), conds()),
    seq(word("rate", "limit"), tok(NAMES), tok(NUMBERS), word("per"), tok(DURATIONS)),
    seq(word("timezone"), tok(STRINGS)),
)
WHERE = opt(seq(word("where"), conds()))
TRIGGERS = st.one_of(
    seq(word("event"), tok(NAMES), WHERE),
    seq(word("enters", "segment"), tok(NAMES)),
    seq(word("every"), tok(NAMES), word("at"), tok(CLOCKS), opt(seq(word("in"), tok(STRINGS)))),
    seq(word("cron"), tok(STRINGS), opt(seq(word("in"), tok(STRINGS)))),
    word("api"),
)
SETTINGS = st.one_of(
    seq(word("framework"), tok(NAMES)),
    seq(word("touch"), tok(NAMES)),
    seq(word("owner"), tok(STRINGS)),
    seq(word("when"), TRIGGERS),
    seq(word("audience"), conds()),
    word("reenter", "never"),
    seq(word("reenter", "after"), tok(DURATIONS)),
    seq(word("exit", "when", "event"), tok(NAMES), WHERE),
    seq(word("exit", "when", "leaves", "segment"), tok(NAMES)),
    seq(word("goal"), tok(NAMES), word(":", "event"), tok(NAMES), WHERE, word("within"),
        tok(DURATIONS)),
    st.sampled_from([["on", "change", "pin"], ["on", "change", "drain"]]),
    seq(word("on", "change", "migrate", "{"),
        st.lists(seq(tok(NAMES), word("->"), tok(NAMES)), max_size=3).map(
            lambda ms: [t for m in ms for t in m]), word("}")),
)
STAGE = opt(seq(word("stage"), tok(NAMES)))
ARROW_TARGET = seq(word("->"), tok(NAMES))
STEPS = st.one_of(
    seq(word("send"), tok(NAMES),
        st.one_of(tok(STRINGS), seq(word("text"), tok(STRINGS),
                                    opt(seq(word("subject"), tok(STRINGS))))),
        opt(seq(word("via"), tok(NAMES))), STAGE),
    seq(word("task"), tok(STRINGS), opt(seq(word("to"), tok(STRINGS))), STAGE),
    seq(word("wait"), tok(DURATIONS)),
    seq(word("wait", "until"), opt(tok(NAMES)), tok(CLOCKS)),
    seq(word("wait", "until"), PATHS,
        opt(seq(tok(st.sampled_from(["+", "-"])), tok(DURATIONS)))),
    seq(word("wait", "for", "event"), tok(NAMES), WHERE, opt(seq(word("as"), tok(NAMES))),
        opt(seq(word("timeout"), tok(DURATIONS))), opt(seq(word("else"), ARROW_TARGET))),
    seq(word("branch", "{"),
        st.lists(seq(word("when"), conds(), ARROW_TARGET), max_size=3).map(
            lambda arms: [t for a in arms for t in a]),
        opt(seq(word("else"), ARROW_TARGET)), word("}")),
    seq(word("split"), opt(tok(NAMES)), word("{"),
        st.lists(seq(tok(NUMBERS), word("%"), ARROW_TARGET), max_size=3).map(
            lambda arms: [t for a in arms for t in a]),
        opt(seq(word("holdout"), tok(NUMBERS), word("%"))), word("}")),
    seq(word("update"), joined(seq(tok(NAMES), word("="), values(1)))),
    seq(word("goto"), tok(NAMES)),
    word("end"),
)
LABELLED_STEPS = seq(opt(seq(tok(NAMES), word(":"))), STEPS)
MEMBERS = st.lists(st.one_of(SETTINGS, POLICIES, LABELLED_STEPS), max_size=8)


# ------------------------------------------------------------------ top-level items
def block(*head: st.SearchStrategy[Tokens], body: st.SearchStrategy[list[Tokens]]) -> (
        st.SearchStrategy[Tokens]):
    flat = body.map(lambda parts: [t for p in parts for t in p])
    return seq(*head, word("{"), flat, word("}"))


FIELDS = st.lists(seq(tok(NAMES), word(":"), st.one_of(
    tok(NAMES), seq(word("enum", "("), joined(tok(NAMES)), word(")")))), max_size=3)
PAIRS = seq(word("{"), opt(seq(joined(seq(tok(NAMES), word("="),
                                          st.one_of(LITERALS, tok(TIMESTAMPS)))),
                               opt(word(",")))), word("}"))
TEST_LINES = st.lists(st.one_of(
    seq(word("playbook"), tok(NAMES)),
    seq(word("customer"), PAIRS),
    seq(word("start"), tok(TIMESTAMPS)),
    seq(word("event"), tok(NAMES), word("at"), tok(TIMESTAMPS), opt(PAIRS)),
    seq(word("expect"), tok(NAMES), opt(tok(STRINGS)), opt(seq(word("at"), tok(TIMESTAMPS)))),
    word("expect", "nothing"),
    seq(word("run", "until"), tok(TIMESTAMPS)),
), max_size=5)
TITLE = opt(tok(STRINGS))
PLAYBOOKS = block(word("playbook"), tok(NAMES), TITLE, body=MEMBERS)
ITEMS = st.one_of(
    seq(word("segment"), tok(NAMES), TITLE, word("="), conds()),
    PLAYBOOKS,
    block(word("schema"), body=st.lists(st.one_of(
        block(word("customer"), body=FIELDS),
        block(word("event"), tok(NAMES), body=FIELDS)), max_size=2)),
    seq(word("framework"), tok(NAMES), TITLE, word("{", "stages"), joined(tok(NAMES)), word("}")),
    block(word("defaults"), body=st.lists(POLICIES, max_size=4)),
    block(word("test"), tok(STRINGS), body=TEST_LINES),
)


@st.composite
def sources(draw: st.DrawFn) -> str:
    """A valid playbook file: random items, tokens joined by random whitespace and comments."""
    items = draw(st.lists(st.one_of(ITEMS, PLAYBOOKS), max_size=4))  # playbooks weigh double
    tokens = [t for item in items for t in item]
    text = draw(st.sampled_from(["", "\n", "# header\n"]))
    for token in tokens:
        text += token + draw(SEPARATORS)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return ("\ufeff" if draw(st.booleans()) else "") + text


# ------------------------------------------------------------------ long statements
# Short atoms and long names: every operand fits a line, so every statement can be wrapped to fit.
LONG_NAMES = st.sampled_from(["customers_who_ordered_recently", "lifetime_value_in_dollars",
                              "preferred_delivery_window", "x"])
SHORT_ATOMS = st.one_of(
    seq(word("segment"), tok(LONG_NAMES)),
    seq(tok(LONG_NAMES), tok(st.sampled_from(["==", ">=", "!="])), tok(NUMBERS)),
    seq(tok(LONG_NAMES), word("is", "set")),
)


@st.composite
def long_conds(draw: st.DrawFn, depth: int = 3) -> tuple[str, Tokens]:
    """An `or`/`and` tree of 2-5 operands a level, up to `depth` deep, without `not`."""
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return "atom", draw(SHORT_ATOMS)
    kind = draw(st.sampled_from(["or", "and"]))
    tokens: Tokens = []
    for i, (child_kind, child) in enumerate(draw(st.lists(long_conds(depth - 1), min_size=2,
                                                          max_size=5))):
        needed = child_kind == "or" or (kind == "and" and child_kind == "and")
        tokens += ([kind] if i else []) + _wrap(child, needed)
    return kind, tokens


LONG_COND = long_conds().map(lambda kind_tokens: kind_tokens[1])
SHORT_VALUES = tok(st.one_of(NUMBERS, st.sampled_from(['"web"', '"America/New_York"', "true"]),
                             TIMESTAMPS))
MANY_PAIRS = seq(word("{"), joined_many(seq(tok(LONG_NAMES), word("="), SHORT_VALUES)),
                 opt(word(",")), word("}"))
LONG_ITEMS = st.one_of(
    seq(word("segment"), tok(NAMES), word("="), LONG_COND),
    block(word("playbook"), tok(NAMES), body=st.lists(st.one_of(
        seq(word("audience"), LONG_COND),
        seq(word("when", "event"), tok(NAMES), word("where"), LONG_COND),
        seq(word("branch", "{", "when"), LONG_COND, ARROW_TARGET, word("}")),
        seq(word("consent"), tok(NAMES), word(":"), LONG_COND),
    ), min_size=1, max_size=3)),
    block(word("test"), tok(STRINGS), body=st.lists(st.one_of(
        seq(word("customer"), MANY_PAIRS),
        seq(word("event"), tok(NAMES), word("at"), tok(TIMESTAMPS), MANY_PAIRS),
    ), min_size=1, max_size=3)),
)


@st.composite
def long_sources(draw: st.DrawFn) -> str:
    """Files of statements too long for one line, tokens joined by whitespace and comments."""
    tokens = [t for item in draw(st.lists(LONG_ITEMS, min_size=1, max_size=3)) for t in item]
    return "".join(token + draw(SEPARATORS) for token in tokens)


def _code_width(line: str) -> int:
    """The width of a line without its trailing comment (these sources have no `#` in strings)."""
    return len(line.split("  #", 1)[0]) if not line.lstrip().startswith("#") else 0


@settings(max_examples=200, deadline=None)
@given(long_sources())
def test_long_statements_wrap_to_fit_and_stay_canonical(source: str) -> None:
    """Wrapped output is idempotent, keeps AST and comments, and every code line fits."""
    out = assert_canonical(source)
    assert [c.text for c in parse(out).comments] == [c.text for c in parse(source).comments]
    assert max(map(_code_width, out.split("\n"))) <= MAX_WIDTH


@settings(max_examples=300, deadline=None)
@given(sources())
def test_formatting_random_playbooks_is_idempotent_and_keeps_the_ast(source: str) -> None:
    """fmt(fmt(x)) == fmt(x) and parse(fmt(x)) == parse(x) once positions are ignored."""
    assert_canonical(source)


@settings(max_examples=300, deadline=None)
@given(sources())
def test_comments_survive_formatting_in_order(source: str) -> None:
    """Every comment of the source appears in the output, in the same order."""
    before = [c.text for c in parse(source).comments]
    after = [c.text for c in parse(fmt(source)).comments]
    assert after == before
