"""SIGTERM under load: `cadenza serve` stops cleanly and every accepted event is stored."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.crash.load import post_batch
from tests.providers.http import free_port

REPO = Path(__file__).resolve().parents[2]


def _wait_ready(port: int, deadline: float) -> None:
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("cadenza serve did not come up within the deadline")


def test_sigterm_under_load_loses_no_accepted_event(tmp_path: Path) -> None:
    """Batches keep coming; SIGTERM; exit 0, and every batch answered 2xx is in the store."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "cart_recovery", project,
                    ignore=shutil.ignore_patterns(".cadenza"))
    port = free_port()
    env = {**os.environ, "CADENZA_WRITE_KEY": "wk", "NO_PROXY": "127.0.0.1,localhost"}
    log_path = tmp_path / "serve.log"  # a file, not a pipe: an unread pipe fills and blocks
    log_file = log_path.open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "cadenza.engine.cli", "serve", str(project), "--port",
         str(port)], env=env, stdout=subprocess.DEVNULL, stderr=log_file)
    accepted: list[str] = []
    stop = threading.Event()

    def load() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            ids = [f"m-{n}-{i}" for i in range(50)]
            batch = [{"type": "track", "userId": f"c{i:03d}", "event": "cart_abandoned",
                      "messageId": mid, "properties": {"cart_value": 40}}
                     for i, mid in enumerate(ids)]
            if post_batch(port, "wk", batch) == 200:
                accepted.extend(ids)
            n += 1

    try:
        _wait_ready(port, time.time() + 30)
        worker = threading.Thread(target=load)
        worker.start()
        time.sleep(1.5)
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
        stop.set()
        worker.join(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)
        log_file.close()
    err = log_path.read_text(errors="replace")
    assert code == 0, err[-3000:]
    assert "maximum number of running instances" not in err  # operators see no false alarm
    assert accepted, "the load never got a batch accepted"
    with sqlite3.connect(project / ".cadenza" / "state.db") as db:
        stored = {r[0] for r in db.execute("SELECT message_id FROM events")}
        duplicates = db.execute("SELECT count(*) - count(DISTINCT message_id) FROM events"
                                ).fetchone()[0]
    assert set(accepted) <= stored
    assert duplicates == 0
