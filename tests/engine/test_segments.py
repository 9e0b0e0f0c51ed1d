"""Segments evaluated by the database, on SQLite and PostgreSQL, against hand-computed answers."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, delete, insert
from sqlalchemy.exc import OperationalError

from cadenza.engine.db import open_engine, sqlite_url
from cadenza.engine.evaluate import (
    Env,
    EventRecord,
    evaluate,
    reference_aggregate,
    reference_env,
    truth,
)
from cadenza.engine.schema import customers, events
from cadenza.engine.segments import aggregate_value, cond_sql, matching_ids, segment_ids
from cadenza.playbooks import model as m
from cadenza.playbooks.project import load_project
from tests.conftest import postgres_schema

PG_URL = os.environ.get("CADENZA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
DAY = 86_400
NOW = 1_700_000_000

Row = dict[str, Any]
Event = tuple[str, str, int, dict[str, Any]]  # customer id, name, ts, properties


# ------------------------------------------------------------------ stores (shared with the
# property tests)
def _postgres_reachable() -> str | None:
    probe = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with probe.connect():
            return None
    except OperationalError as exc:
        return f"PostgreSQL is not reachable at {PG_URL}: {exc.orig}"
    finally:
        probe.dispose()


@contextmanager
def postgres_store() -> Iterator[Engine]:
    """A migrated store in a fresh PostgreSQL schema, dropped afterwards."""
    reason = _postgres_reachable()
    if reason is not None:
        pytest.skip(reason)
    with postgres_schema("seg") as url:
        engine = open_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def open_store(kind: str, folder: Path) -> Iterator[Engine]:
    if kind == "postgresql":
        with postgres_store() as engine:
            yield engine
        return
    engine = open_engine(sqlite_url(folder / "store.db"), durable=False)
    try:
        yield engine
    finally:
        engine.dispose()


STORE_KINDS = [pytest.param("sqlite"),
               pytest.param("postgresql", marks=pytest.mark.postgres)]


def load(engine: Engine, rows: Sequence[Row], history: Sequence[Event]) -> None:
    """Replace the store's customers and events with `rows` and `history`."""
    with engine.begin() as conn:
        conn.execute(delete(events))
        conn.execute(delete(customers))
        if rows:
            conn.execute(insert(customers), [
                {"id": r["id"], "email": r.get("email"), "phone": r.get("phone"),
                 "timezone": r.get("timezone"), "attributes": r.get("attributes", {}),
                 "updated_at": 0} for r in rows])
        if history:
            conn.execute(insert(events), [
                {"customer_id": cid, "name": name, "ts": ts, "properties": props,
                 "received_at": ts} for cid, name, ts, props in history])


def reference_ids(cond: m.Cond, rows: Sequence[Row], history: Sequence[Event], now: int,
                  segments: Mapping[str, m.Segment]) -> set[str]:
    """The ids the Python reference finds, customer by customer."""
    found: set[str] = set()
    for row in rows:
        own = [EventRecord(name=n, ts=ts, properties=p) for cid, n, ts, p in history
               if cid == row["id"]]
        if evaluate(cond, reference_env(row, own, now, segments)):
            found.add(row["id"])
    return found


# ------------------------------------------------------------------ the project and its data
SCHEMA = """\
schema {
  customer {
    plan: enum(free, pro, team)
    ltv: number
    vip: bool
    renewal_date: timestamp
    seats: number
    seats_used: number
  }
  event order_completed { order_value: number  category: string }
  event page_viewed { path: string }
}
"""

SEGMENTS = """\
segment big_ltv = ltv >= 100
segment paying = plan in ["pro", "team"]
segment renewal_known = renewal_date is set
segment renewal_unknown = renewal_date is not set
segment reachable = email is set
segment frequent = count(order_completed where event.order_value >= 30 in last 30d) >= 2
segment spender = sum(order_completed.order_value in last 90d) >= 250
segment small_spender = sum(order_completed.order_value in last 90d) < 100
segment lapsed = last(order_completed) < 30d ago
segment never_bought = count(order_completed) == 0
segment vips = vip
segment not_vips = not vip
segment not_pro = not plan == "pro"
segment paying_vip = segment paying and segment vips
segment nested = segment paying_vip or segment lapsed
segment not_pro_member = not segment pro_member
segment pro_member = plan == "pro"
segment full = seats is set and seats_used >= seats
segment coffee = count(order_completed where event.category == "coffee") >= 1
segment renewing_soon = renewal_date > now and renewal_date <= 30d from now
segment big_basket =
  avg(order_completed.order_value) >= 60 or max(order_completed.order_value) >= 300
segment early = first(order_completed) < 60d ago and min(order_completed.order_value) < 30
"""

ROWS: list[Row] = [
    {"id": "ann", "email": "ann@example.com",
     "attributes": {"plan": "pro", "ltv": 150, "vip": True, "renewal_date": NOW + 10 * DAY,
                    "seats": 5, "seats_used": 5}},
    {"id": "bob", "attributes": {"plan": "free", "ltv": 50.5, "vip": False,
                                 "renewal_date": None, "seats": 5, "seats_used": 2}},
    {"id": "cid", "email": "cid@example.com", "attributes": {}},
    {"id": "dee", "attributes": {"plan": "team", "ltv": 100, "vip": True,
                                 "renewal_date": NOW + 40 * DAY}},
]

HISTORY: list[Event] = [
    ("ann", "order_completed", NOW - 1 * DAY, {"order_value": 40, "category": "coffee"}),
    ("ann", "order_completed", NOW - 10 * DAY, {"order_value": 35}),
    ("ann", "order_completed", NOW - 40 * DAY, {"order_value": 200}),
    ("ann", "order_completed", NOW - 100 * DAY, {"order_value": 500}),
    ("bob", "order_completed", NOW - 2 * DAY, {"order_value": 10}),
    ("bob", "order_completed", NOW - 5 * DAY, {"order_value": 50}),
    ("bob", "order_completed", NOW + 1 * DAY, {"order_value": 100}),  # not happened yet
    ("dee", "order_completed", NOW - 70 * DAY, {"order_value": 20}),
    ("dee", "page_viewed", NOW - 1 * DAY, {"path": "/"}),
    ("cid", "page_viewed", NOW - 1 * DAY, {"path": "/"}),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> m.Project:
    root = tmp_path_factory.mktemp("segments_project")
    (root / "schema.play").write_text(SCHEMA, encoding="utf-8")
    (root / "segments.play").write_text(SEGMENTS, encoding="utf-8")
    loaded = load_project(root)
    assert loaded.project is not None, loaded.diagnostics
    assert not loaded.diagnostics
    return loaded.project


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with open_store(request.param, tmp_path) as engine:
        load(engine, ROWS, HISTORY)
        yield engine


def members(engine: Engine, project: m.Project, name: str) -> set[str]:
    """Segment members by SQL, checked against the Python reference on the way."""
    with engine.connect() as conn:
        found = segment_ids(conn, name, now=NOW, segments=project.segments,
                            schema=project.schema_)
    expected = reference_ids(m.InSegment(name=name), ROWS, HISTORY, NOW, project.segments)
    assert found == expected, f"SQL and the Python reference disagree on '{name}'"
    return found


# ------------------------------------------------------------------ hand-written cases
def test_attribute_compare(store: Engine, project: m.Project) -> None:
    """A number attribute compares as a number; a missing one never matches."""
    assert members(store, project, "big_ltv") == {"ann", "dee"}


def test_enum_in_list(store: Engine, project: m.Project) -> None:
    """`in [...]` matches enum members in the list and not missing values."""
    assert members(store, project, "paying") == {"ann", "dee"}


def test_is_set_on_missing_key_and_json_null(store: Engine, project: m.Project) -> None:
    """A missing key and a JSON null are both 'not set'; `is set` is never unknown."""
    assert members(store, project, "renewal_known") == {"ann", "dee"}
    assert members(store, project, "renewal_unknown") == {"bob", "cid"}


def test_builtin_column_is_read_from_its_column(store: Engine, project: m.Project) -> None:
    """`email` is the customers.email column, not an attribute."""
    assert members(store, project, "reachable") == {"ann", "cid"}


def test_count_in_window_with_where(store: Engine, project: m.Project) -> None:
    """count() counts only the named event, inside the window, passing the where-filter."""
    assert members(store, project, "frequent") == {"ann"}


def test_count_of_nothing_is_zero(store: Engine, project: m.Project) -> None:
    """A customer without such events has count 0; events after `now` do not count."""
    assert members(store, project, "never_bought") == {"cid"}


def test_sum_of_a_property(store: Engine, project: m.Project) -> None:
    """sum() adds a number property over the window; future events are left out."""
    assert members(store, project, "spender") == {"ann"}


def test_sum_of_nothing_is_null(store: Engine, project: m.Project) -> None:
    """sum() over no events is NULL, so `sum(...) < 100` is unknown, not true, without orders."""
    assert members(store, project, "small_spender") == {"bob", "dee"}


def test_last_older_than_30_days_ago(store: Engine, project: m.Project) -> None:
    """last() is the latest ts; `< 30d ago` needs one event and none in the last 30 days."""
    assert members(store, project, "lapsed") == {"dee"}


def test_first_min_avg_max(store: Engine, project: m.Project) -> None:
    """first/min/avg/max aggregate the right events and properties."""
    assert members(store, project, "early") == {"dee"}
    assert members(store, project, "big_basket") == {"ann"}


def test_where_on_a_string_property(store: Engine, project: m.Project) -> None:
    """Inside an aggregate's where, `event.category` is the aggregated event's property."""
    assert members(store, project, "coffee") == {"ann"}


def test_bool_attribute_and_its_negation(store: Engine, project: m.Project) -> None:
    """A JSON bool stands alone as a condition; `not` of a missing bool is unknown."""
    assert members(store, project, "vips") == {"ann", "dee"}
    assert members(store, project, "not_vips") == {"bob"}


def test_nested_segments(store: Engine, project: m.Project) -> None:
    """Segments inside segments are inlined, recursively."""
    assert members(store, project, "paying_vip") == {"ann", "dee"}
    assert members(store, project, "nested") == {"ann", "dee"}


def test_not_over_missing_value(store: Engine, project: m.Project) -> None:
    """`not plan == "pro"` is unknown when plan is missing, so it does not match."""
    assert members(store, project, "not_pro") == {"bob", "dee"}


def test_not_segment_counts_unknown_as_out(store: Engine, project: m.Project) -> None:
    """Membership is two-valued: `not segment X` matches customers whose X is unknown."""
    assert members(store, project, "not_pro_member") == {"bob", "cid", "dee"}


def test_attribute_against_attribute(store: Engine, project: m.Project) -> None:
    """Two attributes compare with each other, typed by the schema."""
    assert members(store, project, "full") == {"ann"}


def test_timestamp_attribute_against_now(store: Engine, project: m.Project) -> None:
    """Timestamps are epoch seconds compared with `now` plus or minus an offset."""
    assert members(store, project, "renewing_soon") == {"ann"}


def test_among_restricts_the_answer(store: Engine, project: m.Project) -> None:
    """`among` keeps only the listed ids, unknown ids included harmlessly."""
    cond = project.segments["paying"].cond
    with store.connect() as conn:
        found = matching_ids(conn, cond, now=NOW, segments=project.segments,
                             among=["dee", "bob", "nobody"])
        assert found == {"dee"}
        assert matching_ids(conn, cond, now=NOW, segments=project.segments, among=[]) == set()


def test_aggregate_value_matches_the_reference(store: Engine, project: m.Project) -> None:
    """aggregate_value gives one customer's aggregate as the Python scan does."""
    cond = project.segments["spender"].cond
    assert isinstance(cond, m.Cmp)
    assert isinstance(cond.left, m.Agg)
    agg = cond.left
    with store.connect() as conn:
        for cid in ("ann", "bob", "cid"):
            own = [EventRecord(name=n, ts=ts, properties=p) for c, n, ts, p in HISTORY
                   if c == cid]
            got = aggregate_value(conn, agg, cid, now=NOW, segments=project.segments)
            assert got == reference_aggregate(agg, own, NOW)
        with pytest.raises(ValueError, match="no customer 'zed'"):
            aggregate_value(conn, agg, "zed", now=NOW, segments=project.segments)


def test_nested_aggregate_inside_where(store: Engine, project: m.Project) -> None:
    """An aggregate inside another's where uses its own events, correlated to the customer."""
    inner = m.Agg(fn="count", event="page_viewed")
    cond = m.Cmp(op=">=", right=m.Const(value=1), left=m.Agg(
        fn="count", event="order_completed",
        where=m.Cmp(op=">=", left=inner, right=m.Const(value=1))))
    with store.connect() as conn:
        found = matching_ids(conn, cond, now=NOW, segments=project.segments)
    assert found == {"dee"}
    assert found == reference_ids(cond, ROWS, HISTORY, NOW, project.segments)


# ------------------------------------------------------------------ what SQL cannot do
def test_event_ref_outside_an_aggregate_is_refused() -> None:
    """`event.x` outside an aggregate raises ValueError naming the ref."""
    cond = m.Cmp(op=">=", left=m.Ref(scope="event", name="cart_value"), right=m.Const(value=1))
    with pytest.raises(ValueError, match=r"'event\.cart_value'"):
        cond_sql(cond, now=NOW, segments={})


def test_bound_ref_is_refused() -> None:
    """A bound event's property raises ValueError naming the ref."""
    cond = m.Present(value=m.Ref(scope="bound", var="order", name="order_value"))
    with pytest.raises(ValueError, match=r"'order\.order_value'"):
        cond_sql(cond, now=NOW, segments={})


def test_unknown_segment_is_refused(project: m.Project) -> None:
    """Asking for a segment that does not exist raises ValueError naming it."""
    with pytest.raises(ValueError, match="unknown segment 'nope'"):
        cond_sql(m.InSegment(name="nope"), now=NOW, segments=project.segments)


# ------------------------------------------------------------------ the Python evaluator
def _env(**customer: Any) -> Env:
    return Env(customer=customer, now=NOW, event={"cart_value": 40},
               bound={"order": {"order_value": 12}})


def test_three_valued_logic() -> None:
    """and/or/not over unknown follow SQL: false wins and, true wins or, not unknown is unknown."""
    unknown = m.Cmp(op="==", left=m.Ref(scope="customer", name="plan"), right=m.Const(value="pro"))
    yes = m.Truth(value=m.Const(value=True))
    no = m.Truth(value=m.Const(value=False))
    env = _env()
    assert truth(unknown, env) is None
    assert truth(m.Negation(item=unknown), env) is None
    assert truth(m.AllOf(items=(unknown, no)), env) is False
    assert truth(m.AllOf(items=(unknown, yes)), env) is None
    assert truth(m.AnyOf(items=(unknown, yes)), env) is True
    assert truth(m.AnyOf(items=(unknown, no)), env) is None
    assert truth(m.OneOf(value=m.Ref(scope="customer", name="plan"), items=()), env) is False
    assert evaluate(m.Negation(item=unknown), env) is False


def test_event_and_bound_refs_in_python() -> None:
    """The runtime's evaluator reads the trigger event and bound events."""
    env = _env()
    big_cart = m.Cmp(op=">=", left=m.Ref(scope="event", name="cart_value"),
                     right=m.Const(value=30))
    small_order = m.Cmp(op="<", left=m.Ref(scope="bound", var="order", name="order_value"),
                        right=m.Const(value=20))
    missing = m.Present(value=m.Ref(scope="bound", var="refund", name="amount"))
    assert evaluate(m.AllOf(items=(big_cart, small_order)), env)
    assert truth(missing, env) is False


def test_oracles_must_be_given() -> None:
    """An Env without an in_segment callable says so instead of guessing."""
    with pytest.raises(ValueError, match="in_segment"):
        evaluate(m.InSegment(name="vips"), Env(customer={}, now=NOW))
