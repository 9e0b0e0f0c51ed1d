"""Property tests: the SQL of random conditions selects exactly whom the Python reference does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from cadenza.engine.segments import matching_ids
from cadenza.playbooks import model as m
from tests.engine.test_segments import (
    STORE_KINDS,
    Event,
    Row,
    load,
    open_store,
    reference_ids,
)

DAY = 86_400
NOW = 1_700_000_000
HERE = m.Location(file="property.play", line=1, col=1)
ENUM = ("a", "b", "c")
WORDS = ("x", "y", "z", "")
EVENT_NAMES = ("buy", "view", "click")

SCHEMA = m.Schema(
    customer={"id": m.AttrType(type="string"), "email": m.AttrType(type="string"),
              "n": m.AttrType(type="number"), "k": m.AttrType(type="number"),
              "s": m.AttrType(type="string"), "e": m.AttrType(type="enum", members=ENUM),
              "b": m.AttrType(type="bool"), "t": m.AttrType(type="timestamp")},
    events={name: {"v": m.AttrType(type="number"), "w": m.AttrType(type="number"),
                   "c": m.AttrType(type="string"), "f": m.AttrType(type="bool")}
            for name in EVENT_NAMES},
)

# The CI profile raises max_examples for every test; keep at least 150 here.
EXAMPLES = settings(max_examples=max(150, settings().max_examples))

# ------------------------------------------------------------------ data
# Halves and small integers: sums and averages are exact in binary floating point, so the order
# in which a database adds them cannot change a comparison.
numbers = st.one_of(st.integers(-6, 6), st.integers(-12, 12).map(lambda i: i / 2))


def _attribute(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, st.none())  # None: a JSON null


@st.composite
def customer_rows(draw: st.DrawFn) -> list[Row]:
    count = draw(st.integers(1, 7))
    rows: list[Row] = []
    for i in range(count):
        values = {
            "n": draw(_attribute(numbers)), "k": draw(_attribute(numbers)),
            "s": draw(_attribute(st.sampled_from(WORDS))),
            "e": draw(_attribute(st.sampled_from(ENUM))),
            "b": draw(_attribute(st.booleans())),
            "t": draw(_attribute(st.integers(-60, 60).map(lambda d: NOW + d * DAY))),
        }
        # Some keys are left out altogether, others kept as JSON null.
        kept = draw(st.sets(st.sampled_from(sorted(values))))
        email = draw(st.one_of(st.none(), st.just(f"c{i}@example.com")))
        rows.append({"id": f"c{i}", "email": email,
                     "attributes": {k: v for k, v in values.items() if k in kept}})
    return rows


# Whole hours over the last 90 days, exactly on the windows' edges, and a little after NOW
# (events that have not happened yet and must not count).
offsets = st.one_of(st.integers(-90 * 24, 0).map(lambda h: h * 3600),
                    st.sampled_from((0, 1, 7, 30, 45, 90)).map(lambda d: -d * DAY),
                    st.integers(1, 48).map(lambda h: h * 3600))


@st.composite
def histories(draw: st.DrawFn, rows: list[Row]) -> list[Event]:
    ids = [r["id"] for r in rows]
    out: list[Event] = []
    for _ in range(draw(st.integers(0, 25))):
        props = {"v": draw(numbers), "w": draw(numbers), "c": draw(st.sampled_from(WORDS)),
                 "f": draw(st.booleans())}
        kept = draw(st.sets(st.sampled_from(sorted(props))))
        ts = NOW + draw(offsets)
        out.append((draw(st.sampled_from(ids)), draw(st.sampled_from(EVENT_NAMES)), ts,
                    {k: v for k, v in props.items() if k in kept}))
    return out


# ------------------------------------------------------------------ conditions
OPS = ("==", "!=", "<", "<=", ">", ">=")
EQ = ("==", "!=")


def _ref(name: str) -> m.Ref:
    return m.Ref(scope="customer", name=name)


def _eref(name: str) -> m.Ref:
    return m.Ref(scope="event", name=name)


def _const(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[m.Const]:
    return strategy.map(lambda v: m.Const(value=v))


def _cmp(left: st.SearchStrategy[m.Value], ops: tuple[str, ...],
         right: st.SearchStrategy[m.Value]) -> st.SearchStrategy[m.Cond]:
    return st.builds(lambda lv, op, rv, flip: m.Cmp(op=op, left=rv, right=lv) if flip
                     else m.Cmp(op=op, left=lv, right=rv),
                     left, st.sampled_from(ops), right, st.booleans())


rels = st.integers(-60, 60).map(lambda d: m.Rel(offset_s=d * DAY))
number_refs = st.sampled_from(("n", "k")).map(_ref)

customer_leaves: st.SearchStrategy[m.Cond] = st.one_of(
    _cmp(number_refs, OPS, _const(numbers)),
    _cmp(number_refs, OPS, number_refs),
    _cmp(st.just(_ref("s")), EQ, _const(st.sampled_from(WORDS))),
    _cmp(st.just(_ref("e")), EQ, _const(st.sampled_from(ENUM))),
    _cmp(st.just(_ref("b")), EQ, _const(st.booleans())),
    _cmp(st.just(_ref("t")), OPS, rels),
    st.builds(lambda items: m.OneOf(value=_ref("e"), items=tuple(items)),
              st.lists(_const(st.sampled_from(ENUM)), min_size=1, max_size=3)),
    st.builds(lambda items: m.OneOf(value=_ref("s"), items=tuple(items)),
              st.lists(_const(st.sampled_from(WORDS)), min_size=1, max_size=3)),
    st.builds(lambda name, neg: m.Present(value=_ref(name), negated=neg),
              st.sampled_from(("n", "s", "e", "b", "t", "email")), st.booleans()),
    st.just(m.Truth(value=_ref("b"))),
)

event_leaves: st.SearchStrategy[m.Cond] = st.one_of(
    _cmp(st.sampled_from(("v", "w")).map(_eref), OPS, _const(numbers)),
    _cmp(st.just(_eref("c")), EQ, _const(st.sampled_from(WORDS))),
    st.just(m.Truth(value=_eref("f"))),
    st.builds(lambda name, neg: m.Present(value=_eref(name), negated=neg),
              st.sampled_from(("v", "c", "f")), st.booleans()),
    customer_leaves,
)


def _tree(leaves: st.SearchStrategy[m.Cond], max_leaves: int) -> st.SearchStrategy[m.Cond]:
    def extend(children: st.SearchStrategy[m.Cond]) -> st.SearchStrategy[m.Cond]:
        several = st.lists(children, min_size=1, max_size=3).map(tuple)
        return st.one_of(several.map(lambda items: m.AllOf(items=items)),
                         several.map(lambda items: m.AnyOf(items=items)),
                         children.map(lambda item: m.Negation(item=item)))

    return st.recursive(leaves, extend, max_leaves=max_leaves)


windows = st.one_of(st.none(), st.sampled_from((1, 7, 30, 45, 90)).map(lambda d: d * DAY))
wheres = st.one_of(st.none(), _tree(event_leaves, 3))
counts = st.builds(lambda ev, where, window: m.Agg(fn="count", event=ev, where=where,
                                                    window_s=window),
                   st.sampled_from(EVENT_NAMES), wheres, windows)
numeric_aggs = st.builds(lambda fn, ev, prop, where, window: m.Agg(
    fn=fn, event=ev, prop=prop, where=where, window_s=window),
    st.sampled_from(("sum", "avg", "min", "max")), st.sampled_from(EVENT_NAMES),
    st.sampled_from(("v", "w")), wheres, windows)
time_aggs = st.builds(lambda fn, ev, where, window: m.Agg(fn=fn, event=ev, where=where,
                                                           window_s=window),
                      st.sampled_from(("first", "last")), st.sampled_from(EVENT_NAMES), wheres,
                      windows)

aggregate_leaves: st.SearchStrategy[m.Cond] = st.one_of(
    _cmp(counts, OPS, _const(st.integers(0, 4))),
    _cmp(numeric_aggs, OPS, _const(st.integers(-20, 20).map(lambda i: i / 2))),
    _cmp(numeric_aggs, OPS, number_refs),
    _cmp(time_aggs, OPS, rels),
    _cmp(time_aggs, OPS, st.just(_ref("t"))),
    st.builds(lambda agg, neg: m.Present(value=agg, negated=neg), time_aggs, st.booleans()),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, m.Segment], list[m.Cond]]:
    """A few segments (each may use earlier ones) and conditions that may use any of them."""
    segments: dict[str, m.Segment] = {}
    for i in range(draw(st.integers(0, 3))):
        leaves = st.one_of(customer_leaves, aggregate_leaves,
                           *([st.sampled_from(sorted(segments)).map(
                               lambda n: m.InSegment(name=n))] if segments else []))
        segments[f"s{i}"] = m.Segment(name=f"s{i}", cond=draw(_tree(leaves, 4)), location=HERE)
    # `not segment X` is where membership's two values show: give it its own leaf.
    refs: list[st.SearchStrategy[m.Cond]] = []
    if segments:
        names = st.sampled_from(sorted(segments))
        refs = [names.map(lambda n: m.InSegment(name=n)),
                names.map(lambda n: m.Negation(item=m.InSegment(name=n)))]
    leaves = st.one_of(customer_leaves, aggregate_leaves, *refs)
    conds = draw(st.lists(_tree(leaves, 6), min_size=1, max_size=4))
    return segments, conds


# ------------------------------------------------------------------ the properties
@pytest.fixture(scope="module", params=STORE_KINDS)
def shared_store(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder: Path = tmp_path_factory.mktemp("property_store")
    with open_store(request.param, folder) as engine:
        yield engine


@EXAMPLES
@given(data=st.data())
def test_sql_matches_python_reference(shared_store: Engine, data: st.DataObject) -> None:
    """For random customers, events and conditions, matching_ids == the Python reference."""
    rows = data.draw(customer_rows(), label="customers")
    history = data.draw(histories(rows), label="events")
    segments, conds = data.draw(scenarios(), label="conditions")
    load(shared_store, rows, history)
    with shared_store.connect() as conn:
        for cond in conds:
            found = matching_ids(conn, cond, now=NOW, segments=segments, schema=SCHEMA)
            assert found == reference_ids(cond, rows, history, NOW, segments), cond


def test_big_among_list_on_sqlite(tmp_path: Path) -> None:
    """An `among` of 5,000 ids (more than SQLite's variable limit) is chunked and complete."""
    rows: list[Row] = [{"id": f"c{i:05}", "attributes": {"n": i % 3}} for i in range(6000)]
    cond = m.Cmp(op="==", left=_ref("n"), right=m.Const(value=0))
    among = [f"c{i:05}" for i in range(500, 5500)]
    with open_store("sqlite", tmp_path) as engine:
        load(engine, rows, [])
        with engine.connect() as conn:
            found = matching_ids(conn, cond, now=NOW, segments={}, among=among)
    assert found == {f"c{i:05}" for i in range(500, 5500) if i % 3 == 0}
