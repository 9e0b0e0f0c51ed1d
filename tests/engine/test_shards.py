"""A simulation split over processes (engine/shards.py), or replayed in one step of the clock,
reports what one process stepping a day at a time reports."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cadenza.engine import shards
from cadenza.engine.dataload import Loaded, load_data
from cadenza.engine.report import build_report
from cadenza.engine.schedules import SEGMENT_INTERVAL
from cadenza.engine.simulate import Simulation
from cadenza.engine.state import Event
from cadenza.engine.timing import parse_timestamp
from cadenza.playbooks import model as m
from cadenza.playbooks.project import load_project

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if (p / "cadenza.toml").is_file())
START = parse_timestamp("2026-03-01T00:00:00Z")
END = START + 31 * 86_400

pytestmark = [pytest.mark.usefixtures("quiet_cli_logs"),
              pytest.mark.skipif(not shards.can_fork(), reason="splits need fork (Linux)")]


def _example(root: Path) -> tuple[m.Project, Loaded]:
    project = load_project(root).project
    assert project is not None
    data = load_data(project, root / "data" / "customers.jsonl", root / "data" / "events.jsonl")
    return project, data


def _outcome(project: m.Project, data: Loaded, db: Path, parts: int,
             window: int | None = None) -> dict[str, Any]:
    sim = Simulation(project=project, data=data, start=START, end=END, db_path=db, parts=parts,
                     window=window)
    try:
        sim.run()
        report = build_report(project, sim.store, START, END).as_json()
    finally:
        sim.store.engine.dispose()
    with sqlite3.connect(db) as conn:
        # Each customer's own timeline, without the ids (a split run numbers them otherwise).
        sends = sorted(conn.execute(
            "SELECT customer_id, playbook, node, channel, status, created_at, body "
            "FROM messages"))
        journeys = sorted(conn.execute(
            "SELECT customer_id, playbook, state, node, entered_at, ended_at, end_reason, trail "
            "FROM enrollments"))
        held = sorted(conn.execute(
            "SELECT customer_id, playbook, node, reason, action, at FROM suppressions"))
        keys_follow = conn.execute(
            "SELECT count(*) FROM messages m JOIN enrollments e ON e.id = m.enrollment_id "
            "AND e.customer_id = m.customer_id AND m.idempotency_key LIKE e.id || ':%'"
        ).fetchone()[0]
    conn.close()
    return {"report": report, "sends": sends, "journeys": journeys, "held": held,
            "keys_follow": keys_follow == len(sends)}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_a_split_run_matches_one_process(example: Path, tmp_path: Path) -> None:
    """Every example, in one process and split in three: the same report, and the same
    journeys, sends and suppressions for every customer, with each outbox key still naming
    its own enrollment."""
    project, data = _example(example)
    one = _outcome(project, data, tmp_path / "one.db", parts=1)
    split = _outcome(project, data, tmp_path / "split.db", parts=3)
    assert one["keys_follow"]
    assert split["keys_follow"]
    assert split == one
    assert not list(tmp_path.glob("split.db.part*")), "the part files are left behind"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_whole_span_at_once_matches_a_day_at_a_time(example: Path, tmp_path: Path) -> None:
    """Unless segments or schedules enroll customers, the clock takes the whole span in one
    step (every customer replayed once); a day at a time gives the same journeys, sends,
    suppressions and report. Where they do (the clock moves a birthday into its segment),
    the clock still stops every 15 minutes, or every day for schedules alone."""
    project, data = _example(example)
    playbooks = project.playbooks.values()
    watches = any(isinstance(e, m.SegmentEntry | m.SegmentExit)
                  for pb in playbooks for e in (*pb.entries, *pb.exits))
    window = SEGMENT_INTERVAL if watches else 86_400
    daily = _outcome(project, data, tmp_path / "daily.db", parts=1, window=window)
    at_once = _outcome(project, data, tmp_path / "once.db", parts=1)
    assert daily["sends"], "the example sends nothing: the comparison shows nothing"
    assert at_once == daily


def test_the_whole_span_at_once_reports_its_progress(tmp_path: Path) -> None:
    """The progress bar of a run in one step of the clock moves as batches of customers are
    done, never backwards, and ends full."""
    project, data = _example(REPO / "examples" / "cart_recovery")
    seen: list[tuple[int, int]] = []
    sim = Simulation(project=project, data=data, start=START, end=END,
                     db_path=tmp_path / "p.db", parts=1)
    try:
        sim.run(lambda done, total: seen.append((done, total)))
    finally:
        sim.store.engine.dispose()
    span = END - START
    assert len(seen) >= 2
    assert all(total == span and 0 <= done <= span for done, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1] == (span, span)


def test_the_audience_is_split_by_customer() -> None:
    """All of a customer's events go with the customer, in time order."""
    data = Loaded(customers=[{"id": f"c{i}"} for i in range(50)],
                  events=[Event(customer_id=f"c{i % 50}", name="x", ts=i, properties={})
                          for i in range(500)])
    parts = shards.split(data, 3)
    assert sum(len(p.customers) for p in parts) == 50
    for part in parts:
        ids = {c["id"] for c in part.customers}
        assert all(e.customer_id in ids for e in part.events)
        assert [e.ts for e in part.events] == sorted(e.ts for e in part.events)
    assert all(p.customers for p in parts)


def test_a_failing_part_names_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error inside a part's process comes back as one sentence naming the part."""
    project, data = _example(REPO / "examples" / "cart_recovery")

    def broken(_self: Simulation, _progress: object) -> None:
        raise ValueError("the disk went away")

    monkeypatch.setattr(Simulation, "_run", broken)  # the forked parts inherit it
    sim = Simulation(project=project, data=data, start=START, end=END,
                     db_path=tmp_path / "sim.db", parts=2)
    with pytest.raises(RuntimeError, match=r"^simulation part 1 of 2 failed: "
                                           r"ValueError: the disk went away$"):
        sim.run()
    sim.store.engine.dispose()


def test_large_audiences_split_small_ones_do_not() -> None:
    assert shards.default_count(shards.SHARD_FROM - 1) == 1
    assert shards.default_count(1_000_000) >= 1


def test_simulate_parts_option_gives_the_same_report(tmp_path: Path) -> None:
    """`cadenza simulate --parts 2` prints what one process prints."""
    from click.testing import CliRunner

    from cadenza.engine.cli.main import cli

    outputs = []
    for parts in ("1", "2"):
        result = CliRunner().invoke(cli, [
            "simulate", str(REPO / "examples" / "cart_recovery"), "--start",
            "2026-03-01T00:00:00Z", "--days", "31", "--format", "json", "--parts", parts,
            "--db", str(tmp_path / f"{parts}.db")])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert outputs[0] == outputs[1]
    assert '"steps"' in outputs[0]
