"""`cadenza serve --no-ticker` beside `cadenza work`: the API and the engine in two processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import postgres_problem, postgres_schema
from tests.crash.load import post_batch
from tests.engine.harness import write_project
from tests.ops.test_sigterm import _wait_ready
from tests.providers.http import free_port

SCHEMA = """\
schema {
  customer { first_name: string }
  event clicked { plan: string }
}
"""
PLAYBOOK = """\
playbook hello {
  when event clicked
  send email "hi"
}
"""
TEMPLATE = "---\nsubject: Hi\n---\n<p>Hello {{ first_name }}</p>\n"


def _project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project", PLAYBOOK, SCHEMA, {"hi": TEMPLATE})


def _cadenza(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cadenza.engine.cli", *args], check=False,
                          text=True, capture_output=True, timeout=120, env=env)


def test_work_refuses_sqlite(tmp_path: Path) -> None:
    done = _cadenza("work", str(_project(tmp_path)))
    assert done.returncode == 1
    assert "cadenza work needs PostgreSQL" in done.stderr
    assert "on SQLite `cadenza serve` runs the engine itself" in done.stderr


def test_serve_without_ticker_refuses_sqlite(tmp_path: Path) -> None:
    done = _cadenza("serve", str(_project(tmp_path)), "--no-ticker")
    assert done.returncode == 1
    assert "--no-ticker (ticker = false) needs PostgreSQL" in done.stderr
    assert "drop --no-ticker" in done.stderr


def _state(url: str) -> tuple[int, list[str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            enrolled = conn.execute(text("SELECT count(*) FROM enrollments")).scalar_one()
            statuses = list(conn.execute(text("SELECT status FROM messages")).scalars())
    finally:
        engine.dispose()
    return int(enrolled), statuses


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status), response.read().decode()


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=30)


@pytest.mark.postgres
def test_api_process_and_work_process_share_postgres(tmp_path: Path) -> None:
    """The API alone stores events and runs nothing; `work` then enrolls and sends; both stop
    with exit 0 on SIGTERM, and `work` serves its own metrics."""
    if (problem := postgres_problem()) is not None:
        pytest.skip(problem)
    project = _project(tmp_path)
    port, metrics_port = free_port(), free_port()
    env = {**os.environ, "CADENZA_WRITE_KEY": "wk", "NO_PROXY": "127.0.0.1,localhost"}
    logs = [tmp_path / "serve.log", tmp_path / "work.log"]
    with postgres_schema("work") as url, logs[0].open("wb") as api_log, \
            logs[1].open("wb") as work_log:
        api = subprocess.Popen([sys.executable, "-m", "cadenza.engine.cli", "serve",
                                str(project), "--db", url, "--port", str(port), "--no-ticker"],
                               env=env, stdout=subprocess.DEVNULL, stderr=api_log)
        work = None
        try:
            _wait_ready(port, time.time() + 30)
            calls = [{"type": "identify", "userId": "u1", "messageId": "m1",
                      "traits": {"email": "ann@example.com", "first_name": "Ann"}},
                     {"type": "track", "userId": "u1", "event": "clicked", "messageId": "m2",
                      "properties": {"plan": "pro"}}]
            assert post_batch(port, "wk", calls) == 200
            time.sleep(1.5)
            assert _state(url) == (0, []), "the API process ran the engine despite --no-ticker"
            assert _get(f"http://127.0.0.1:{port}/readyz")[0] == 200
            work = subprocess.Popen([sys.executable, "-m", "cadenza.engine.cli", "work",
                                     str(project), "--db", url, "--metrics-port",
                                     str(metrics_port)],
                                    env=env, stdout=subprocess.DEVNULL, stderr=work_log)
            deadline = time.time() + 30
            while _state(url) != (1, ["sent"]) and time.time() < deadline:
                time.sleep(0.2)
            assert _state(url) == (1, ["sent"])
            status, body = _get(f"http://127.0.0.1:{metrics_port}/metrics")
            ticks = [line for line in body.splitlines()
                     if line.startswith("cadenza_ticks_total ")]
            assert status == 200
            assert ticks, body
            assert float(ticks[0].split()[1]) >= 1
        finally:
            codes = [_stop(p) for p in (work, api) if p is not None]
    text_logs = [p.read_text(errors="replace") for p in logs]
    assert codes == [0, 0], text_logs
    assert "cadenza: stopped (the batch in hand committed)." in text_logs[1]


def test_serve_on_a_taken_port_says_so_before_it_starts(tmp_path: Path) -> None:
    """It printed "serving on ..." and then uvicorn's own error, exiting 3."""
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        done = _cadenza("serve", str(_project(tmp_path)), "--port", str(port))
    assert done.returncode == 1
    assert done.stderr == (f"error: cadenza serve cannot listen on 127.0.0.1:{port}: Address "
                           "already in use. Stop what holds it, or pass another --port.\n")
    assert not (tmp_path / "project" / ".cadenza").exists()  # no store was made either
