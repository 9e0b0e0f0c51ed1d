"""Messages per second through the SendGrid and Twilio connectors vs. a bare HTTP loop.

Both sides hit the same local fake servers (tests.providers) on 127.0.0.1 in the same run:

- connector: ``connector.send(message)`` through the vendor's real client, result mapping
  and structlog (JSON-rendered into a ReturnLogger, so no terminal I/O is measured);
- bare keep-alive: ``http.client`` on one persistent connection, same method, path, auth
  and body -- the ceiling for a single sender thread;
- bare new-connection: the same with a fresh TCP connection per request, which is what
  urllib (and so the SendGrid client) does.

Run from the repository root:  PYTHONPATH=. .venv/bin/python bench/dispatch.py [N]
"""

from __future__ import annotations

import base64
import http.client
import json
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

import structlog

from cadenza.connectors import Delivered, Message, build_connector
from tests.providers import FakeSendGrid, FakeTwilio

API_KEY = "SG.bench-key"
SID = "AC" + "3" * 32
TOKEN = "bench-token"


def rate(count: int, run: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(count):
        run()
    return count / (time.perf_counter() - start)


def interleaved(count: int, *runs: Callable[[], object], rounds: int = 5) -> tuple[float, ...]:
    """Median rate per run over rounds that alternate the runs, so noise hits all alike."""
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for index, run in enumerate(runs):
            samples[index].append(rate(count // rounds, run))
    return tuple(statistics.median(sample) for sample in samples)


def bare(url: str, path: str, body: bytes, headers: dict[str, str], keep_alive: bool):
    host = urlsplit(url)
    state: dict[str, http.client.HTTPConnection] = {}

    def post() -> None:
        conn = state.get("c") if keep_alive else None
        if conn is None:
            conn = http.client.HTTPConnection(host.hostname or "", host.port, timeout=10)
            state["c"] = conn
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        response.read()
        if response.status >= 300:
            raise RuntimeError(f"bare loop got HTTP {response.status}")
        if not keep_alive:
            conn.close()

    return post


def serve(conn) -> None:
    """Child process: the fakes get their own interpreter, so no GIL is shared with us."""
    with FakeSendGrid(api_key=API_KEY) as sendgrid, FakeTwilio(SID, TOKEN) as twilio:
        conn.send((sendgrid.url, twilio.url))
        conn.recv()


def sendgrid_case(url: str, count: int) -> tuple[float, ...]:
    os.environ["BENCH_SENDGRID_KEY"] = API_KEY
    connector = build_connector("email", {"type": "sendgrid", "api_key_env": "BENCH_SENDGRID_KEY",
                                          "host": url, "from_email": "shop@shop.example"})
    message = Message(message_id="m-1", channel="email", to="jane@example.com",
                      subject="Hello", text="Hi there", html="<p>Hi there</p>",
                      metadata={"playbook": "bench"})
    assert isinstance(connector.send(message), Delivered)
    body = json.dumps(connector.build_body(message)).encode()  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    return interleaved(
        count,
        lambda: connector.send(message),
        bare(url, "/v3/mail/send", body, headers, keep_alive=True),
        bare(url, "/v3/mail/send", body, headers, keep_alive=False),
    )


def twilio_case(url: str, count: int) -> tuple[float, ...]:
    os.environ["BENCH_TWILIO_TOKEN"] = TOKEN
    connector = build_connector("sms", {"type": "twilio", "account_sid": SID,
                                        "auth_token_env": "BENCH_TWILIO_TOKEN",
                                        "from_number": "+15550001111", "base_url": url})
    message = Message(message_id="m-1", channel="sms", to="+15551231234", text="Hi there")
    assert isinstance(connector.send(message), Delivered)
    body = urlencode({"To": message.to, "From": "+15550001111", "Body": "Hi there"}).encode()
    auth = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}",
               "Content-Type": "application/x-www-form-urlencoded"}
    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    return interleaved(
        count,
        lambda: connector.send(message),
        bare(url, path, body, headers, keep_alive=True),
        bare(url, path, body, headers, keep_alive=False),
    )


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child,), daemon=True)
    server.start()
    try:
        sendgrid_url, twilio_url = parent.recv()
        results = {"sendgrid": sendgrid_case(sendgrid_url, count),
                   "twilio": twilio_case(twilio_url, count)}
    finally:
        parent.send("stop")
        server.join(timeout=5)
    print(f"dispatch bench: {count} messages per column, median of 5 interleaved rounds, one "
          "sender thread, fake servers in a separate process on 127.0.0.1")
    print(f"{'provider':<10}{'connector/s':>13}{'bare keep-alive/s':>19}{'ratio':>8}"
          f"{'bare new-conn/s':>17}{'ratio':>8}")
    for name, (connector, keep, fresh) in results.items():
        print(f"{name:<10}{connector:>13,.0f}{keep:>19,.0f}{connector / keep:>8.2f}"
              f"{fresh:>17,.0f}{connector / fresh:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
