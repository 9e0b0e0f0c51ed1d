"""Helpers for the database-fault trials: a private PostgreSQL cluster, `cadenza serve` in a
subprocess, and an event client that retries on 503 and remembers what was accepted."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.providers.http import free_port

CADENZA = [sys.executable, "-m", "cadenza.engine.cli"]
PLAY = """\
schema {
  customer { plan: string }
  event signed_up { plan: string }
}

playbook welcome "Welcome" {
  when event signed_up
  send email "hello"
}
"""
TEMPLATE = "---\nsubject: Welcome\n---\n<p>Welcome</p>\n"


def write_project(root: Path, toml: str) -> Path:
    (root / "templates").mkdir(parents=True)
    (root / "main.play").write_text(PLAY, encoding="utf-8")
    (root / "templates" / "hello.liquid").write_text(TEMPLATE, encoding="utf-8")
    (root / "cadenza.toml").write_text(toml, encoding="utf-8")
    return root


def sendgrid_toml(url: str) -> str:
    return ("[connectors.email]\ntype = \"sendgrid\"\napi_key_env = \"STORM_SG_KEY\"\n"
            f"host = \"{url}\"\nfrom_email = \"shop@shop.example\"\ntimeout_s = 2\n")


# ------------------------------------------------------------------ private PostgreSQL
class PrivatePostgres:
    """A throw-away cluster on its own port, so restarting it disturbs nobody else's tests."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found and shutil.which("pg_ctl") is None:
            raise RuntimeError("no pg_ctl in /usr/lib/postgresql/*/bin or on PATH")
        self.bin = Path(found[-1]).parent if found else Path(str(shutil.which("pg_ctl"))).parent
        self.root = Path(tempfile.mkdtemp(prefix="cadenza-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def create(self) -> None:
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        made = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed: {made.stderr.strip()[-300:]}")
        self.start()

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        started = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"),
                            "-o", opts, "-w", "-t", "60", "start")
        if started.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()[-300:]}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


# ------------------------------------------------------------------ cadenza serve
@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)
        finally:
            if self.reader is not None:
                self.reader.join(timeout=10)  # it ends at EOF, once the process is gone
            if self.proc.stderr is not None:
                self.proc.stderr.close()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


def serve(root: Path, db: str | None, env: dict[str, str],
          preexec: Callable[[], None] | None = None) -> Served:
    """`cadenza serve` on a free port; stderr is read by a thread (never a file: an RLIMIT_FSIZE
    trial limits every file the process writes)."""
    port = free_port()
    args = [*CADENZA, "serve", str(root), "--port", str(port)]
    if db:
        args += ["--db", db]
    full = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "CADENZA_TICK_SECONDS": "0.5", **env}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=full, preexec_fn=preexec)  # noqa: PLW1509 - limits only
    served = Served(proc, f"http://127.0.0.1:{port}")

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            served.lines.append(line)

    served.reader = threading.Thread(target=drain, daemon=True)
    served.reader.start()
    return served


def wait_ready(served: Served, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise AssertionError(f"cadenza serve exited with {served.proc.returncode}:\n"
                                 f"{served.stderr[-3000:]}")
        try:
            if httpx.get(f"{served.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"cadenza serve was not ready within {seconds:g} s:\n"
                         f"{served.stderr[-3000:]}")


# ------------------------------------------------------------------ event load
@dataclass
class Load:
    """Batches of track calls, each retried on 503 until stored; what the API answered."""

    url: str
    per_batch: int = 5
    pad: int = 0  # bytes of padding per event: fills a disk faster
    accepted: list[str] = field(default_factory=list)  # message ids answered 2xx
    refused: int = 0  # 503 answers
    statuses: dict[int, int] = field(default_factory=dict)
    slowest_s: float = 0.0
    failures: list[str] = field(default_factory=list)  # answers that are neither 2xx nor 503
    given_up: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def batch(self) -> tuple[list[str], dict[str, Any]]:
        ids = [uuid.uuid4().hex for _ in range(self.per_batch)]
        calls: list[dict[str, Any]] = []
        for i in ids:  # an address first, so the welcome email has somewhere to go
            calls.append({"type": "identify", "userId": f"u-{i}",
                          "traits": {"email": f"{i}@example.com"}})
            calls.append({"type": "track", "userId": f"u-{i}", "event": "signed_up",
                          "messageId": i, "properties": {"plan": "pro" + "x" * self.pad}})
        return ids, {"batch": calls}

    def send(self, client: httpx.Client, retry_for_s: float) -> None:
        ids, body = self.batch()
        deadline = time.monotonic() + retry_for_s
        while time.monotonic() < deadline:
            began = time.monotonic()
            try:
                answer = client.post(f"{self.url}/v1/batch", json=body)
            except httpx.HTTPError as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.2)
                continue
            self.slowest_s = max(self.slowest_s, time.monotonic() - began)
            self.statuses[answer.status_code] = self.statuses.get(answer.status_code, 0) + 1
            if answer.status_code == 200:
                self.accepted.extend(ids)
                return
            if answer.status_code == 503:
                self.refused += 1
            else:
                self.failures.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
            time.sleep(0.2)
        self.given_up.extend(ids)

    def run(self, retry_for_s: float = 60, gap_s: float = 0.05) -> threading.Thread:
        def loop() -> None:
            with httpx.Client(timeout=10) as client:
                while not self.stop.is_set():
                    self.send(client, retry_for_s)
                    time.sleep(gap_s)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread


@dataclass
class ReadyProbe:
    """Polls /readyz; keeps (monotonic times the request was sent and answered, status,
    problems). Only an answer sent and received wholly inside the outage must say 503: one that
    waited for a thread while the database came back may rightly say 200."""

    url: str
    seen: list[tuple[float, float, int, list[str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> threading.Thread:
        def loop() -> None:
            with httpx.Client(timeout=10) as client:
                while not self.stop.is_set():
                    sent = time.monotonic()
                    try:
                        answer = client.get(f"{self.url}/readyz")
                        self.seen.append((sent, time.monotonic(), answer.status_code,
                                          answer.json().get("problems", [])))
                    except (httpx.HTTPError, ValueError) as exc:
                        self.seen.append((sent, time.monotonic(), 0, [type(exc).__name__]))
                    time.sleep(0.2)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread


# ------------------------------------------------------------------ checkers
def outage_violations(load: Load, outage: list[tuple[int, list[str]]]) -> list[str]:
    """What the API and /readyz did wrong while the database was down, as sentences."""
    out = [f"an event call got {failure} instead of 2xx or 503." for failure in load.failures]
    if load.given_up:
        out.append(f"{len(load.given_up)} events were never accepted, even after retries.")
    if load.slowest_s >= 10:
        out.append(f"an event call took {load.slowest_s:.1f} s; it must answer at once.")
    if load.refused == 0:
        out.append("no request met the outage (no 503): the trial proved nothing.")
    for status, problems in outage:
        if status == 200:
            out.append("/readyz answered 200 while the database was down.")
        elif not any("the database is unreachable" in p for p in problems):
            out.append(f"/readyz answered {status} without saying the database is "
                       f"unreachable: {problems}.")
    return out


def delivery_violations(accepted: list[str], stored: list[str],
                        messages: list[tuple[str, str]], sent_keys: list[str]) -> list[str]:
    """Events answered 2xx but lost or doubled, messages not sent, emails sent twice."""
    out: list[str] = []
    counts: dict[str, int] = {}
    for message_id in stored:
        counts[message_id] = counts.get(message_id, 0) + 1
    out += [f"event {m!r} is stored {n} times." for m, n in counts.items() if n > 1]
    out += [f"event {m!r} was answered 2xx but not stored." for m in accepted
            if m not in counts]
    if len(messages) != len(counts):
        out.append(f"{len(counts)} stored events made {len(messages)} messages, not one each.")
    out += [f"message {k!r} ended {s!r}, not sent." for s, k in messages if s != "sent"]
    reached: dict[str, int] = {}
    for key in sent_keys:
        reached[key] = reached.get(key, 0) + 1
    out += [f"message {k!r} reached the provider {n} times." for k, n in reached.items()
            if n > 1]
    out += [f"message {k!r} is sent but never reached the provider." for s, k in messages
            if s == "sent" and k not in reached]
    return out
