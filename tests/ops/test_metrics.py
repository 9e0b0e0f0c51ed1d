"""Prometheus metrics read from the store at scrape time, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from cadenza.engine import schema as t
from cadenza.engine.metrics import Metrics, metrics_of
from cadenza.engine.state import Event
from cadenza.engine.store import Store
from tests.engine.harness import ts
from tests.ops.scenario import drive, grouped, service

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def series(found: Samples, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    """One metric's samples keyed by the given label values, in that order."""
    return {tuple(dict(key)[label] for label in labels): value
            for (sample, key), value in found.items() if sample == name}


def test_store_metrics_equal_the_database(tmp_path: Path, store_url: str) -> None:
    """Every store-backed series equals a grouped count over its table."""
    h = drive(tmp_path, store_url)
    svc = service(h)
    svc.ingest([Event(customer_id="a", name="clicked", ts=ts("2026-03-03T08:30Z"),
                      properties={})])
    found = samples(metrics_of(svc).exposition().decode())
    m, s, c, e = t.messages, t.suppressions, t.conversions, t.enrollments
    assert series(found, "cadenza_messages_total", "channel", "playbook", "step", "status") == \
        grouped(h, m, "channel", "playbook", "node", "status")
    assert series(found, "cadenza_suppressions_total", "channel", "playbook", "step", "reason",
                  "action") == grouped(h, s, "channel", "playbook", "node", "reason", "action")
    assert series(found, "cadenza_conversions_total", "playbook", "goal") == \
        grouped(h, c, "playbook", "goal")
    assert series(found, "cadenza_enrollments", "playbook", "state") == \
        grouped(h, e, "playbook", "state")
    assert series(found, "cadenza_events_total", "processed") == {("true",): 6, ("false",): 1}
    assert found[("cadenza_store_up", ())] == 1


def test_store_metrics_match_the_scenario(tmp_path: Path, store_url: str) -> None:
    """Four sends, a dead email, a quiet-hours deferral, a conversion, four in flight."""
    h = drive(tmp_path, store_url)
    found = samples(metrics_of(service(h)).exposition().decode())
    assert series(found, "cadenza_messages_total", "step", "status") == {
        ("reminder", "sent"): 3, ("reminder", "dead"): 1, ("thanks", "sent"): 1}
    assert series(found, "cadenza_suppressions_total", "step", "reason", "action") == {
        ("reminder", "quiet_hours", "deferred"): 1}
    assert series(found, "cadenza_conversions_total", "playbook", "goal") == {
        ("cart", "bought"): 1}
    assert series(found, "cadenza_enrollments", "playbook", "state") == {
        ("cart", "active"): 4, ("ping", "done"): 1}
    assert series(found, "cadenza_dispatch_attempts_total", "channel", "outcome") == {
        ("email", "sent"): 3, ("email", "retry"): 0, ("email", "dead"): 1,
        ("email", "unknown"): 0, ("sms", "sent"): 1, ("sms", "retry"): 0, ("sms", "dead"): 0,
        ("sms", "unknown"): 0}


def test_dispatch_attempts_count_retries_before_the_last_outcome(tmp_path: Path,
                                                                 store_url: str) -> None:
    """A message on its third attempt counts two retries; a failed one's attempts are retries."""
    h = drive(tmp_path, store_url)
    m = t.messages
    with h.store.engine.begin() as conn:
        conn.execute(m.update().where(m.c.customer_id == "a").values(attempts=3))
        conn.execute(m.update().where(m.c.customer_id == "c").values(status="failed",
                                                                     attempts=2))
        conn.execute(m.update().where(m.c.customer_id == "b").values(status="opened"))
    found = samples(metrics_of(service(h)).exposition().decode())
    assert series(found, "cadenza_dispatch_attempts_total", "channel", "outcome") == {
        ("email", "sent"): 2, ("email", "retry"): 4, ("email", "dead"): 1,
        ("email", "unknown"): 0, ("sms", "sent"): 1, ("sms", "retry"): 0, ("sms", "dead"): 0,
        ("sms", "unknown"): 0}


def test_process_metrics_count_what_this_process_did(tmp_path: Path) -> None:
    """Due lag, ingested events and ticks are kept per Metrics object, not shared."""
    h = drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    one, other = Metrics(h.store), Metrics(h.store)
    one.observe_due_lag(2.5)
    one.observe_due_lag(-1.0)
    one.count_ingested(3)
    one.count_ingested(0)
    one.count_tick()
    found = samples(one.exposition().decode())
    assert found[("cadenza_due_lag_seconds_count", ())] == 2
    assert found[("cadenza_due_lag_seconds_sum", ())] == 2.5
    assert found[("cadenza_due_lag_seconds_bucket", (("le", "0.1"),))] == 1
    assert found[("cadenza_due_lag_seconds_bucket", (("le", "5.0"),))] == 2
    assert found[("cadenza_ingest_events_total", ())] == 3
    assert found[("cadenza_ticks_total", ())] == 1
    assert samples(other.exposition().decode())[("cadenza_ticks_total", ())] == 0


def test_metrics_of_keeps_one_registry_per_service(tmp_path: Path) -> None:
    """The same service always gets the same Metrics; another service gets its own."""
    h = drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    first, second = service(h), service(h)
    assert metrics_of(first) is metrics_of(first)
    assert metrics_of(first) is not metrics_of(second)


def test_unreachable_store_reports_store_down(tmp_path: Path) -> None:
    """With the database gone, a scrape still answers: store_up 0 and the process series."""
    from sqlalchemy import create_engine

    h = drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    gone = create_engine("postgresql+psycopg://cadenza@127.0.0.1:1/none")
    metrics = Metrics(Store(gone))
    found = samples(metrics.exposition().decode())
    gone.dispose()
    assert found[("cadenza_store_up", ())] == 0
    assert found[("cadenza_ticks_total", ())] == 0
    assert not series(found, "cadenza_messages_total", "status")
    assert h.rows(t.messages)


def test_every_metric_is_documented(tmp_path: Path) -> None:
    """Each family /metrics exposes is named in docs/operations.md."""
    h = drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    docs = (Path(__file__).parents[2] / "docs" / "operations.md").read_text("utf-8")
    text = metrics_of(service(h)).exposition().decode()
    names = {f.name + ("_total" if f.type == "counter" else "")
             for f in text_string_to_metric_families(text) if not f.name.endswith("_created")}
    assert len(names) == 10
    assert {n for n in names if f"`{n}`" not in docs} == set()
