"""The steady event load: `/v1/batch` calls, each enrolling new customers; the ids of every
event answered 2xx are kept, since those are what the service promised not to lose."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from .serve import WRITE_KEY

PER_CALL = 5  # customers (identify + track each) per /v1/batch call


def customer(seed: int, n: int) -> tuple[str, str, str]:
    """Id, email and phone of a trial's nth customer: unique across the trials running at once
    against the same provider servers, so every send is traced to its trial and customer."""
    return f"t{seed}-{n}", f"t{seed}-{n}@example.com", f"+1555{seed:05d}{n:05d}"


@dataclass
class Load:
    port: int
    seed: int
    accepted: list[str] = field(default_factory=list)  # customer ids whose event got a 2xx
    refused: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    n: int = 0

    def _call(self) -> list[dict[str, object]]:
        calls: list[dict[str, object]] = []
        for _ in range(PER_CALL):
            cid, email, phone = customer(self.seed, self.n)
            self.n += 1
            calls.append({"type": "identify", "userId": cid, "traits": {
                "email": email, "phone": phone, "sms_opt_in": True}})
            calls.append({"type": "track", "userId": cid, "event": "cart_abandoned",
                          "messageId": f"ev-{cid}", "properties": {"cart_value": 40}})
        return calls

    def post(self, calls: list[dict[str, object]]) -> int:
        return post_batch(self.port, WRITE_KEY, calls)

    def run(self) -> None:
        while not self.stop.is_set():
            calls = self._call()
            if 200 <= self.post(calls) < 300:
                self.accepted += [str(c["userId"]) for c in calls if c["type"] == "track"]
            else:
                self.refused += 1
            self.stop.wait(0.1)  # steady, not flat out: the trial is about crashes, not speed

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="crash-load", daemon=True)
        thread.start()
        return thread


def post_batch(port: int, write_key: str, calls: list[dict[str, object]]) -> int:
    """POST /v1/batch; the HTTP status, or 0 when the server refused or reset the connection
    (it died or is stopping: the events are not acknowledged, a client would retry)."""
    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/batch", data=json.dumps({"batch": calls}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0
