"""Durable sends/s through the engine's dispatcher when the provider takes its time to answer.

Over the internet a SendGrid or Twilio request takes ~100-300 ms, so one request at a time is
a few messages per second whatever the engine costs. Each run here: N outbox rows made by a
one-step playbook on a fresh SQLite store, then `Dispatcher.dispatch` until all are sent (each
outcome committed as it arrives), through the real SendGrid and Twilio clients to the local
fakes (tests.providers, in a separate process) answering after `--latency-ms`; a connector's
`concurrency` 1 (one at a time) next to the default (8) and 32, in the same run. The ceiling
is concurrency / latency.

Run from the repository root:  PYTHONPATH=. .venv/bin/python bench/latency.py [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import structlog

from cadenza.connectors import build_connector
from cadenza.connectors.base import DEFAULT_CONCURRENCY
from cadenza.engine import schema as t
from cadenza.engine.simulate import recorders
from cadenza.engine.state import Event
from tests.engine.harness import Harness, ts
from tests.providers import FakeSendGrid, FakeTwilio

KEY, SID, TOKEN = "SG.bench-key", "AC" + "4" * 32, "bench-token"
AT = "2026-03-02T10:00Z"
PLAYS = {"email": 'playbook p {\n  when event clicked\n  send email "hello"\n}\n',
         "sms": 'playbook p {\n  when event clicked\n  send sms text "Hi {{ first_name }}"\n}\n'}


def serve(conn: Any, latency_s: float) -> None:
    """Child process: the fakes in their own interpreter, answering `latency_s` late."""
    with FakeSendGrid(api_key=KEY) as sendgrid, FakeTwilio(SID, TOKEN) as twilio:
        sendgrid.latency_s = twilio.latency_s = latency_s
        conn.send((sendgrid.url, twilio.url))
        conn.recv()


def connector(channel: str, url: str, concurrency: int) -> Any:
    if channel == "email":
        return build_connector("email", {"type": "sendgrid", "api_key_env": "BENCH_SG_KEY",
                                         "host": url, "from_email": "shop@shop.example",
                                         "concurrency": concurrency})
    return build_connector("sms", {"type": "twilio", "account_sid": SID, "base_url": url,
                                   "auth_token_env": "BENCH_TWILIO_TOKEN",
                                   "from_number": "+15550001111", "concurrency": concurrency})


def run(channel: str, url: str, concurrency: int, n: int) -> float:
    """Sends/s draining `n` due messages through one dispatcher."""
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(Path(tmp), f"sqlite:///{tmp}/s.db", PLAYS[channel],
                    connectors={**recorders(), channel: connector(channel, url, concurrency)})
        h.customers(*({"id": f"c{i:05d}", "email_opt_in": True, "sms_opt_in": True,
                       "first_name": "Ann", "phone": f"+1555{i:07d}"} for i in range(n)))
        h.runtime.process([Event(customer_id=f"c{i:05d}", name="clicked", ts=ts(AT) - 60,
                                 properties={}) for i in range(n)], ts(AT))
        began = time.perf_counter()
        while h.dispatcher.dispatch(ts(AT)):
            pass
        seconds = time.perf_counter() - began
        h.dispatcher.close()
        statuses = Counter(r.status for r in h.rows(t.messages))
        h.store.engine.dispose()
    assert statuses == {"sent": n}, f"{channel} c={concurrency}: {dict(statuses)}"
    return n / seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=6.0, help="about this long per run")
    ap.add_argument("--concurrency", default=f"1,{DEFAULT_CONCURRENCY},32")
    args = ap.parse_args()
    os.environ.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
                      BENCH_SG_KEY=KEY, BENCH_TWILIO_TOKEN=TOKEN)
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    latency = args.latency_ms / 1000
    widths = [int(x) for x in args.concurrency.split(",")]
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child, latency), daemon=True)
    server.start()
    rows = []
    try:
        urls = dict(zip(("email", "sms"), parent.recv(), strict=True))
        for channel in ("email", "sms"):
            for width in widths:
                n = max(20, int(args.seconds * min(width / latency, 2000)))
                rows.append((channel, width, n, run(channel, urls[channel], width, n)))
    finally:
        parent.send("stop")
        server.join(timeout=5)
    print(f"latency bench: provider answers after {args.latency_ms:.0f} ms; fakes in a "
          "separate process on 127.0.0.1; SQLite store; each outcome committed as it arrives")
    print(f"{'channel':<8}{'concurrency':>12}{'messages':>10}{'sends/s':>10}"
          f"{'ceiling/s':>11}{'vs one at a time':>18}")
    base = {ch: r for ch, w, _, r in rows if w == 1}
    for channel, width, n, rate in rows:
        ratio = f"{rate / base[channel]:.1f}x" if channel in base else "-"
        print(f"{channel:<8}{width:>12}{n:>10}{rate:>10,.1f}{width / latency:>11,.0f}"
              f"{ratio:>18}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
