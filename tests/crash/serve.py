"""`cadenza serve` as a child process: started with a fault plan, killed, stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.providers.http import free_port

from .project import SENDGRID_KEY, TWILIO_TOKEN

WRITE_KEY = "crash-wk"


@dataclass
class Serve:
    """One `cadenza serve` run; `fault` is the CADENZA_FAULT_* environment it starts with."""

    project: Path
    db: str
    log: Path
    lease_s: int
    fault: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CADENZA_")}
        return {**base, "CADENZA_WRITE_KEY": WRITE_KEY, "CADENZA_TEST_BUILD": "1",
                "CADENZA_LEASE_SECONDS": str(self.lease_s), "CADENZA_TICK_SECONDS": "0.2",
                "CADENZA_BATCH_SIZE": "20", "CRASH_SENDGRID_KEY": SENDGRID_KEY,
                "CRASH_TWILIO_TOKEN": TWILIO_TOKEN, "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost", **self.fault}

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cadenza.engine.cli", "serve", str(self.project),
                 "--db", self.db, "--port", str(self.port)],
                env=self.env(), stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return  # died before answering: a fault point hit while booting, or a bug
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/livez", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"cadenza serve did not come up in {timeout:.0f} s; see {self.log}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_dead(self, timeout: float) -> bool:
        """True when the process ended by itself (a fault point fired) within `timeout`."""
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and wait: a graceful stop, after which the store is quiet."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout=30)
