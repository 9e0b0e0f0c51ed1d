"""Database faults: PostgreSQL restarted under `cadenza serve` while events pour in; SQLite on
a full disk or a read-only file.

PostgreSQL runs as a private cluster on its own port (the shared one at 5432 serves other
suites and must never be restarted); the trial is skipped with its reason when the cluster
cannot be made here.
"""

from __future__ import annotations

import resource
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select

from cadenza.engine import schema as t
from tests.engine.harness import OPEN
from tests.providers.faults import StormPlan
from tests.reliability.dbfaults import (
    Load,
    PrivatePostgres,
    ReadyProbe,
    delivery_violations,
    outage_violations,
    sendgrid_toml,
    serve,
    wait_ready,
    write_project,
)
from tests.reliability.storm import SG_KEY, StormSendGrid, until

pytestmark = pytest.mark.timeout(300)  # a wedged engine fails the test, not the run

OUTAGE_S = 4.0
ENV = {"STORM_SG_KEY": SG_KEY}


@pytest.fixture
def sendgrid(monkeypatch: pytest.MonkeyPatch) -> Iterator[StormSendGrid]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with StormSendGrid(api_key=SG_KEY) as fake:
        fake.setup_storm(StormPlan([(None, 1)]))  # no faults: every request logged
        yield fake


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    try:
        pg = PrivatePostgres()
        pg.create()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"a private PostgreSQL cluster cannot be created here: {exc}")
    try:
        yield pg
    finally:
        pg.destroy()


def test_postgres_restart_under_load(tmp_path: Path, private_pg: PrivatePostgres,
                                     sendgrid: StormSendGrid) -> None:
    """serve keeps running through a restart: /readyz says so, the API answers 503 (never 500
    or a hang), and every event answered 2xx is stored once and its email sent once."""
    root = write_project(tmp_path / "project", sendgrid_toml(sendgrid.url))
    served = serve(root, private_pg.url, ENV)
    try:
        wait_ready(served)
        load, probe = Load(served.url), ReadyProbe(served.url)
        threads = [load.run(), probe.run()]
        until(lambda: len(load.accepted) >= 50, 30, "50 events accepted before the outage")
        stopping_at = time.monotonic()
        private_pg.stop("fast")
        down_at = time.monotonic()  # stopped: from here on the database is really down
        time.sleep(OUTAGE_S)
        starting_at = time.monotonic()  # the server may accept before start() returns
        private_pg.start()
        up_at = time.monotonic()
        until(lambda: _ready_since(probe, up_at), 60, "/readyz to recover")
        recovered_at = time.monotonic()
        accepted_then = len(load.accepted)
        until(lambda: len(load.accepted) >= accepted_then + 50, 30, "50 more events accepted")
        load.stop.set()
        probe.stop.set()
        for thread in threads:
            thread.join(timeout=70)
        assert served.proc.poll() is None, served.stderr[-3000:]
        engine = _engine(private_pg.url)
        try:
            until(lambda: _sent(engine) >= len(load.accepted), 90,
                  f"{len(load.accepted)} emails sent")
        except AssertionError as exc:
            raise AssertionError(f"{exc} Outbox: {_statuses(engine)}; serve said:\n"
                                 f"{served.stderr[-4000:]}") from None
        outage = [(s, p) for sent, done, s, p in probe.seen
                  if down_at <= sent and done <= starting_at]
        figures = {"accepted": len(load.accepted), "refused_503": load.refused,
                   "statuses": load.statuses, "slowest_request_s": round(load.slowest_s, 2),
                   "outage_s": round(up_at - stopping_at, 1),
                   "unready_s": round(recovered_at - stopping_at, 1),
                   "readyz_503_during_outage": sum(s == 503 for s, _ in outage)}
        print("postgres restart figures:", figures)  # docs/reliability.md quotes these
        assert outage_violations(load, outage) == []
        assert _delivery_violations(engine, load, sendgrid) == []
    finally:
        code = served.stop()
    assert code == 0, served.stderr[-3000:]


def _ready_since(probe: ReadyProbe, since: float) -> bool:
    return any(sent > since and status == 200 for sent, _, status, _ in probe.seen)


def _engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    OPEN.append(engine)
    return engine


def _sent(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.messages)
                                .where(t.messages.c.status == "sent")).scalar_one())


def _statuses(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.messages.c.status, func.count())
                            .group_by(t.messages.c.status))
        out = {str(status): int(n) for status, n in rows}
        out["events_unprocessed"] = int(conn.execute(
            select(func.count()).select_from(t.events)
            .where(t.events.c.processed.is_(False))).scalar_one())
    return out


def _delivery_violations(engine: Engine, load: Load, sendgrid: StormSendGrid) -> list[str]:
    with engine.connect() as conn:
        stored = list(conn.execute(select(t.events.c.message_id)).scalars())
        messages = [(r.status, r.idempotency_key) for r in conn.execute(
            select(t.messages.c.status, t.messages.c.idempotency_key))]
    return delivery_violations(load.accepted, stored, messages,
                               [h.key for h in sendgrid.logged()])


def test_the_checkers_catch_a_broken_service() -> None:
    """The same checkers over what a broken service would produce: a 500 and a hang during
    the outage, /readyz green while the database was gone, an accepted event lost, an event
    stored twice, a message left pending, and an email sent twice."""
    load = Load("", accepted=["a", "b", "c"], refused=0, slowest_s=31.0,
                failures=["HTTP 500: Internal Server Error"])
    outage = [(200, []), (503, ["the ticker has not run for 75 s."])]
    found = "\n".join(outage_violations(load, outage))
    for part in ("HTTP 500", "31.0 s", "no request met the outage", "/readyz answered 200",
                 "without saying the database is unreachable"):
        assert part in found
    stored, messages = ["a", "b", "b"], [("sent", "k1"), ("pending", "k2")]
    found = "\n".join(delivery_violations(load.accepted, stored, messages, ["k1", "k1"]))
    for part in ("stored 2 times", "answered 2xx but not stored", "'pending'",
                 "reached the provider 2 times"):
        assert part in found


# ------------------------------------------------------------------ SQLite
def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _limit_file_size(limit: int) -> object:
    def preexec() -> None:
        # SIGXFSZ would kill the process outright; ignored, the write fails with EFBIG and
        # SQLite reports it, which is what a full disk looks like to the engine.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def _sqlite_project(tmp: Path, sendgrid: StormSendGrid) -> tuple[Path, Path]:
    root = write_project(tmp / "project", sendgrid_toml(sendgrid.url))
    return root, root / ".cadenza" / "state.db"


def test_sqlite_disk_full_stops_with_a_clear_error(tmp_path: Path,
                                                   sendgrid: StormSendGrid) -> None:
    """A full disk (RLIMIT_FSIZE: writes past the size fail as on a full disk) stops serve
    with a sentence saying so; the store passes integrity_check and a healthy copy resumes."""
    root, db = _sqlite_project(tmp_path, sendgrid)
    first = serve(root, None, ENV)
    wait_ready(first)  # creates and migrates the store at full size
    assert first.stop() == 0
    limit = db.stat().st_size + 2 * 1024 * 1024
    served = serve(root, None, ENV, preexec=_limit_file_size(limit))
    try:
        wait_ready(served)
        load = Load(served.url, pad=400)
        thread = load.run(retry_for_s=1.0)
        try:
            until(lambda: served.proc.poll() is not None, 60, "serve to stop on the full disk")
        except AssertionError as exc:
            raise AssertionError(f"{exc} serve said:\n{served.stderr[-4000:]}") from None
        load.stop.set()
        thread.join(timeout=30)
    finally:
        code = served.stop()
    print("disk full figures:", {"accepted": len(load.accepted), "refused_503": load.refused,
                                 "limit_bytes": limit, "exit": code,
                                 "said": _error_line(served.stderr)})
    assert code != 0
    assert "disk is full" in served.stderr, served.stderr[-3000:]
    assert _integrity(db) == "ok"
    _resume_on_a_healthy_copy(tmp_path, root, load)


def _error_line(stderr: str) -> str:
    return next((line for line in reversed(stderr.splitlines()) if line.startswith("error:")),
                "")


def _resume_on_a_healthy_copy(tmp: Path, root: Path, load: Load) -> None:
    """Every event answered 2xx before the fault is in the store, and serve runs again."""
    engine = create_engine(f"sqlite:///{root / '.cadenza' / 'state.db'}")
    OPEN.append(engine)
    with engine.connect() as conn:
        stored = set(conn.execute(select(t.events.c.message_id)).scalars())
    assert set(load.accepted) <= stored
    again = serve(root, None, ENV)
    try:
        wait_ready(again)
    finally:
        assert again.stop() == 0, again.stderr[-3000:]


def test_sqlite_read_only_store_refuses_to_start(tmp_path: Path,
                                                 sendgrid: StormSendGrid) -> None:
    """A store that cannot be written (immutable file: read-only even for root) stops serve at
    start with a sentence; once writable again, serve runs on it."""
    root, db = _sqlite_project(tmp_path, sendgrid)
    first = serve(root, None, ENV)
    wait_ready(first)
    assert first.stop() == 0
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True, check=False).returncode:
        pytest.skip("chattr +i is not allowed here, and root ignores file modes")
    play = root / "main.play"  # a changed project: serving it must write a new version
    play.write_text(play.read_text("utf-8").replace('"hello"\n', '"hello"\n  wait 1d\n'),
                    encoding="utf-8")
    try:
        served = serve(root, None, ENV)
        code = served.proc.wait(timeout=60)
        served.stop()
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True, check=False)
    print("read-only said:", _error_line(served.stderr))
    assert code == 1, served.stderr[-3000:]
    assert "cannot deploy the project to the store: the store is read-only" in served.stderr, (
        served.stderr[-3000:])
    assert "Traceback" not in served.stderr
    assert _integrity(db) == "ok"
    _resume_on_a_healthy_copy(tmp_path, root, Load(""))
