"""SIGTERM under load: `cadenza serve` stops cleanly and every accepted event is stored."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(port: int, body: dict[str, object]) -> int:
    auth = base64.b64encode(b"wk:").decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/batch", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0  # refused or reset: the server is stopping; the client would retry


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
    port = _free_port()
    env = {**os.environ, "CADENZA_WRITE_KEY": "wk", "NO_PROXY": "127.0.0.1,localhost"}
    server = subprocess.Popen(
        [sys.executable, "-m", "cadenza.engine.cli", "serve", str(project), "--port",
         str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    accepted: list[str] = []
    stop = threading.Event()

    def load() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            ids = [f"m-{n}-{i}" for i in range(50)]
            batch = [{"type": "track", "userId": f"c{i:03d}", "event": "cart_abandoned",
                      "messageId": mid, "properties": {"cart_value": 40}}
                     for i, mid in enumerate(ids)]
            if _post(port, {"batch": batch}) == 200:
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
        err = server.communicate(timeout=30)[1].decode(errors="replace")
    assert code == 0, err
    assert accepted, "the load never got a batch accepted"
    with sqlite3.connect(project / ".cadenza" / "state.db") as db:
        stored = {r[0] for r in db.execute("SELECT message_id FROM events")}
        duplicates = db.execute("SELECT count(*) - count(DISTINCT message_id) FROM events"
                                ).fetchone()[0]
    assert set(accepted) <= stored
    assert duplicates == 0
