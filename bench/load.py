"""Bounded load on `/v1/batch` while the engine sends: ingest latency, events/s, sends/s and
send lag at 1x, 2x and 4x a base rate, then doubling until it saturates.

Three processes on 127.0.0.1: local SendGrid and Twilio stand-ins (tests/providers, each
request stamped with the time it arrived), the real app (`create_app`, ticker on, the real
SendGrid and Twilio connectors pointed at the stand-ins) under uvicorn, and this one, which
paces `POST /v1/batch` calls at a fixed rate (open loop: a call's latency counts from when it
was due, so waiting for a free connection is counted too). One event in `--send-every`
triggers a playbook that sends at once (email and SMS alternately, each customer once); the
others only get stored.

Per step: the rate asked and the rate accepted, p50/p99 ingest latency, sends/s the providers
received, and the send lag (the provider received the message - its event's batch was posted),
p50/p99. A step saturates when p99 latency or p99 lag passes its bound, the accepted rate
falls below 90 % of the one asked, or a call fails; stepping stops after the first
saturated step past 4x (or at --max-steps). At the end, after the sends drain, every accepted
event is looked up in the store and every send event in the providers' logs: nothing lost,
nothing sent twice.

    .venv/bin/python bench/load.py [--base-rate 100] [--step-seconds 8] [--max-steps 7]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the provider stand-ins live in tests/providers
    sys.path.insert(0, str(ROOT))

from _serve_load import _logs_to, wait_live  # noqa: E402 - bench/ is this script's own folder

CTX = multiprocessing.get_context("spawn")
WRITE_KEY = "wk_load"
SG_KEY = "SG.test-key"
TW_SID, TW_TOKEN = "AC" + "0" * 32, "tw-token"
POOL = 1_000  # customers the non-sending events come from
SCHEMA = """\
schema {
  customer {
    first_name: string
    sms_opt_in: bool
  }
  event clicked { channel: string }
}
"""
PLAYBOOKS = """\
playbook email_now {
  when event clicked where event.channel == "email"
  send email "hello"
}
playbook sms_now {
  when event clicked where event.channel == "sms"
  consent sms: sms_opt_in and phone is set
  send sms text "Hi {{ first_name }}, thanks for the click. Reply STOP to opt out."
}
"""
TEMPLATE = "---\nsubject: Hello {{ first_name }}\n---\n<p>Hello {{ first_name }}</p>\n"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-rate", type=int, default=100, help="events/s at 1x")
    p.add_argument("--step-seconds", type=float, default=8.0, help="load per step")
    p.add_argument("--max-steps", type=int, default=7, help="1x, 2x, 4x, ... at most")
    p.add_argument("--batch-size", type=int, default=50, help="events per /v1/batch call")
    p.add_argument("--send-every", type=int, default=5, help="one event in N sends")
    p.add_argument("--connections", type=int, default=8, help="keep-alive client connections")
    p.add_argument("--max-p99-ms", type=float, default=1000.0, help="saturated past this")
    p.add_argument("--max-lag-s", type=float, default=5.0, help="saturated past this p99 lag")
    p.add_argument("--drain-seconds", type=float, default=30.0,
                   help="most seconds to wait for the last sends after the load")
    p.add_argument("--db", default="", help="a store URL (default: SQLite in a temp folder)")
    return p.parse_args(argv)


# ------------------------------------------------------------------ the events
def send_customer(k: int) -> str:
    return f"s{k:07d}"


def phone(k: int) -> str:
    return f"+1555{k:07d}"


@dataclass
class Plan:
    """Which event goes where: send events come from fresh customers, one each."""

    send_every: int
    sends: int = 0
    events: int = 0

    def call(self) -> tuple[dict[str, Any], int | None]:
        """The next track call, and the send customer's number when it sends."""
        n = self.events
        self.events += 1
        if n % self.send_every:
            return ({"type": "track", "userId": f"p{n % POOL:04d}", "event": "clicked",
                     "messageId": f"L{n}", "properties": {"channel": "none"}}, None)
        k = self.sends
        self.sends += 1
        channel = "email" if k % 2 == 0 else "sms"
        return ({"type": "track", "userId": send_customer(k), "event": "clicked",
                 "messageId": f"L{n}", "properties": {"channel": channel}}, k)


def write_project(root: Path) -> Path:
    project = root / "project"
    (project / "templates").mkdir(parents=True, exist_ok=True)
    (project / "schema.play").write_text(SCHEMA, encoding="utf-8")
    (project / "main.play").write_text(PLAYBOOKS, encoding="utf-8")
    (project / "templates" / "hello.liquid").write_text(TEMPLATE, encoding="utf-8")
    return project


# ------------------------------------------------------------------ child: providers
def providers(pipe: Any) -> None:
    """SendGrid and Twilio stand-ins whose every request is stamped with its arrival time."""
    from tests.providers import FakeSendGrid, FakeTwilio
    from tests.providers.http import Received

    stamps: dict[str, list[tuple[float, bytes]]] = {"email": [], "sms": []}
    lock = threading.Lock()

    class Stamped:
        def __init__(self, channel: str) -> None:
            self.channel = channel

        def record(self, fake: Any, received: Received) -> None:
            with lock:
                stamps[self.channel].append((time.time(), received.body))
            type(fake).__mro__[1].record(fake, received)

    class SendGrid(FakeSendGrid):
        def record(self, received: Received) -> None:
            Stamped("email").record(self, received)

    class Twilio(FakeTwilio):
        def record(self, received: Received) -> None:
            Stamped("sms").record(self, received)

    with SendGrid(api_key=SG_KEY) as sg, Twilio(account_sid=TW_SID, auth_token=TW_TOKEN) as tw:
        pipe.send((sg.url, tw.url))
        while (asked := pipe.recv()) != "stop":
            with lock:
                pipe.send(_recipients(stamps) if asked == "report" else
                          {k: len(v) for k, v in stamps.items()})


def _recipients(stamps: dict[str, list[tuple[float, bytes]]]) -> list[tuple[float, str]]:
    """(arrival time, customer) of every send: SendGrid's first `to`, Twilio's `To`."""
    out = []
    for at, raw in stamps["email"]:
        mail = json.loads(raw)
        out.append((at, mail["personalizations"][0]["to"][0]["email"].split("@")[0]))
    for at, raw in stamps["sms"]:
        number = dict(parse_qsl(raw.decode()))["To"]
        out.append((at, send_customer(int(number[5:]))))
    return out


# ------------------------------------------------------------------ child: the server
def server(url: str, project: Path, log: Path, pipe: Any, sg_url: str, tw_url: str,
           sends: int) -> None:
    """The real app under uvicorn with the real connectors, customers seeded first."""
    import socket

    import uvicorn
    from pydantic import SecretStr

    from cadenza.engine.api.app import create_app
    from cadenza.engine.boot import build_service
    from cadenza.engine.settings import ServeSettings

    _logs_to(log)
    os.environ["SENDGRID_API_KEY"], os.environ["TWILIO_AUTH_TOKEN"] = SG_KEY, TW_TOKEN
    settings = ServeSettings(db=url, write_key=SecretStr(WRITE_KEY), connectors={
        "email": {"type": "sendgrid", "from_email": "hello@shop.example", "host": sg_url},
        "sms": {"type": "twilio", "account_sid": TW_SID, "from_number": "+15550001111",
                "base_url": tw_url}})
    service = build_service(project, settings)
    service.store.upsert_customers(
        [{"id": send_customer(k), "email": f"{send_customer(k)}@example.com",
          "phone": phone(k), "timezone": "UTC",
          "attributes": {"first_name": "Ann", "sms_opt_in": True}} for k in range(sends)]
        + [{"id": f"p{i:04d}", "email": None, "phone": None, "timezone": "UTC",
            "attributes": {}} for i in range(POOL)], now=int(time.time()))
    app = create_app(service, settings, ticker=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))

    def stop_when_told() -> None:
        pipe.recv()
        uv.should_exit = True

    threading.Thread(target=stop_when_told, daemon=True).start()
    pipe.send(sock.getsockname()[1])
    uv.run(sockets=[sock])


# ------------------------------------------------------------------ the paced load
@dataclass
class Call:
    step: int
    due: float  # when it was scheduled to go
    body: bytes
    send_customers: list[int]
    status: int = 0
    posted: float = 0.0  # when the request went out (its events are stored after this)
    done: float = 0.0

    @property
    def latency(self) -> float:
        return self.done - self.due


def paced(port: int, calls: list[Call], connections: int) -> None:
    """POST each call at its `due` time on keep-alive connections; fills status and done."""
    token = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    lock, next_index = threading.Lock(), [0]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if next_index[0] >= len(calls):
                    break
                call = calls[next_index[0]]
                next_index[0] += 1
            delay = call.due - time.time()
            if delay > 0:
                time.sleep(delay)
            call.posted = time.time()
            try:
                conn.request("POST", "/v1/batch", call.body, headers)
                response = conn.getresponse()
                response.read()
                call.status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                call.status = -1
            call.done = time.time()
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def schedule(step: int, rate: float, seconds: float, start: float, size: int,
             plan: Plan) -> list[Call]:
    """The calls of one step: `rate` events/s in batches of `size`, evenly spaced."""
    count = max(1, round(rate * seconds / size))
    out = []
    for i in range(count):
        items, senders = [], []
        for _ in range(size):
            call, k = plan.call()
            items.append(call)
            if k is not None:
                senders.append(k)
        out.append(Call(step=step, due=start + i * seconds / count,
                        body=json.dumps({"batch": items}).encode(), send_customers=senders))
    return out


# ------------------------------------------------------------------ measuring
def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


@dataclass
class Step:
    index: int
    multiple: int
    rate: float
    start: float
    end: float
    calls: list[Call]
    accepted: int = 0
    errors: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    sends_per_s: float = 0.0
    lag_p50_s: float = 0.0
    lag_p99_s: float = 0.0
    unsent: int = 0
    saturated: list[str] = field(default_factory=list)
    during: list[str] = field(default_factory=list)  # why it counted as saturated in the run

    def reasons(self) -> list[str]:
        return self.saturated or [f"2 s after the step: {r}" for r in self.during]


def measure(step: Step, size: int, received: dict[str, list[float]],
            args: argparse.Namespace, now: float | None = None) -> None:
    """Fill in `step`'s figures from the providers' receipts. With `now` (a snapshot taken
    during the run) a send not made yet counts as late by `now` - posted, a lower bound;
    without it (after the drain) a send never made is counted as unsent."""
    step.saturated, step.unsent = [], 0
    ok = [c for c in step.calls if 200 <= c.status < 300]
    step.errors = len(step.calls) - len(ok)
    step.accepted = len(ok) * size
    latencies = [c.latency for c in step.calls]
    step.p50_ms, step.p99_ms = quantile(latencies, 0.5) * 1e3, quantile(latencies, 0.99) * 1e3
    window = max(c.done for c in step.calls) - step.start
    arrivals = [at for times in received.values() for at in times]
    step.sends_per_s = sum(step.start <= at < step.start + window for at in arrivals) / window
    lags = []
    for call in ok:
        for k in call.send_customers:
            times = received.get(send_customer(k))
            if times:
                lags.append(min(times) - call.posted)
            elif now is not None:
                lags.append(now - call.posted)
            else:
                step.unsent += 1
    step.lag_p50_s, step.lag_p99_s = quantile(lags, 0.5), quantile(lags, 0.99)
    accepted_rate = step.accepted / (step.end - step.start)
    if step.p99_ms > args.max_p99_ms:
        step.saturated.append(f"p99 {step.p99_ms:,.0f} ms > {args.max_p99_ms:,.0f}")
    if step.lag_p99_s > args.max_lag_s or step.unsent:
        step.saturated.append(f"lag p99 {step.lag_p99_s:.1f} s > {args.max_lag_s:g}"
                              if not step.unsent else f"{step.unsent} sends not made")
    if accepted_rate < 0.9 * step.rate:
        step.saturated.append(f"accepted {accepted_rate:,.0f}/s < 90 % of {step.rate:,.0f}")
    if step.errors:
        step.saturated.append(f"{step.errors} calls failed")


# ------------------------------------------------------------------ the run
@dataclass
class Result:
    steps: list[Step]
    events_accepted: int
    events_stored_once: int
    events_missing: int
    events_doubled: int
    sends_expected: int
    sends_made: int
    sends_doubled: int
    sends_missing: int
    seconds: float

    @property
    def lost(self) -> int:
        return self.events_missing + self.sends_missing


def run(args: argparse.Namespace, tmp: Path) -> Result:
    began = time.monotonic()
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    project = write_project(tmp)
    url = args.db or f"sqlite:///{tmp / 'load.db'}"
    log = tmp / "server.log"
    most_sends = sum(round(args.base_rate * 2**i * args.step_seconds / args.batch_size)
                     * args.batch_size for i in range(args.max_steps)) // args.send_every + 1
    prov_end, prov_child = CTX.Pipe()
    prov = CTX.Process(target=providers, args=(prov_child,), daemon=True)
    prov.start()
    try:
        sg_url, tw_url = prov_end.recv()
        srv_end, srv_child = CTX.Pipe()
        srv = CTX.Process(target=server, args=(url, project, log, srv_child, sg_url, tw_url,
                                               most_sends), daemon=True)
        srv.start()
        try:
            port = _started(srv, srv_end, log)
            wait_live(port)
            steps, plan = _steps(port, args, prov_end)
            sends = _drain(prov_end, plan.sends, args.drain_seconds)
            srv_end.send("stop")
        finally:
            srv.join(30)
            if srv.is_alive():
                srv.kill()
    finally:
        prov_end.send("stop")
        prov.join(10)
        if prov.is_alive():
            prov.kill()
    return _result(steps, sends, url, args, time.monotonic() - began)


def _started(srv: Any, pipe: Any, log: Path, seconds: float = 180.0) -> int:
    """The server's port once it listens; its log's end if it died first."""
    deadline = time.monotonic() + seconds
    while not pipe.poll(0.5):
        if not srv.is_alive() or time.monotonic() > deadline:
            tail = log.read_text("utf-8")[-3000:] if log.exists() else ""
            raise RuntimeError(f"the server did not start (exit code {srv.exitcode}); its "
                               f"log ends with:\n{tail}")
    return int(pipe.recv())


def _received(prov: Any) -> dict[str, list[float]]:
    prov.send("report")
    out: dict[str, list[float]] = {}
    for at, customer in prov.recv():
        out.setdefault(customer, []).append(at)
    return out


def _steps(port: int, args: argparse.Namespace, prov: Any) -> tuple[list[Step], Plan]:
    plan, steps = Plan(send_every=args.send_every), []
    for i in range(args.max_steps):
        multiple = 2**i
        rate = args.base_rate * multiple
        start = time.time() + 0.2
        calls = schedule(i, rate, args.step_seconds, start, args.batch_size, plan)
        say(f"step {i + 1}: {multiple}x = {rate:,} events/s for {args.step_seconds:g} s")
        paced(port, calls, args.connections)
        step = Step(i, multiple, rate, start, start + args.step_seconds, calls)
        time.sleep(min(2.0, args.max_lag_s))  # let this step's sends arrive before measuring
        measure(step, args.batch_size, _received(prov), args, now=time.time())
        step.during = step.saturated
        steps.append(step)
        if step.during and multiple >= 4:
            break
    return steps, plan


def _drain(prov: Any, expected: int, seconds: float) -> dict[str, list[float]]:
    """The providers' receipts once every send arrived, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        prov.send("count")
        if sum(prov.recv().values()) >= expected or time.monotonic() > deadline:
            return _received(prov)
        time.sleep(0.5)


def _result(steps: list[Step], sends: dict[str, list[float]], url: str,
            args: argparse.Namespace, seconds: float) -> Result:
    accepted: list[str] = []
    expected: set[str] = set()
    for step in steps:
        for call in step.calls:
            if 200 <= call.status < 300:
                accepted += [item["messageId"] for item in json.loads(call.body)["batch"]]
                expected.update(send_customer(k) for k in call.send_customers)
    for step in steps:  # the table's figures: every receipt, after the drain
        measure(step, args.batch_size, sends, args)
    stored = Counter(stored_ids(url))
    return Result(
        steps=steps, events_accepted=len(accepted),
        events_stored_once=sum(1 for m in accepted if stored[m] == 1),
        events_missing=sum(1 for m in accepted if stored[m] == 0),
        events_doubled=sum(1 for n in stored.values() if n > 1),
        sends_expected=len(expected), sends_made=sum(len(v) for v in sends.values()),
        sends_doubled=sum(len(v) - 1 for v in sends.values() if len(v) > 1),
        sends_missing=len(expected - set(sends)), seconds=seconds)


def stored_ids(url: str) -> list[str]:
    from sqlalchemy import create_engine, select

    from cadenza.engine import schema as t

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(t.events.c.message_id).where(
                t.events.c.message_id.like("L%"))).scalars())
    finally:
        engine.dispose()


# ------------------------------------------------------------------ output
def table(result: Result, args: argparse.Namespace) -> list[str]:
    out = ["| step | asked events/s | accepted events/s | p50 ms | p99 ms | sends/s | "
           "lag p50 s | lag p99 s | saturated |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for s in result.steps:
        rate = s.accepted / (s.end - s.start)
        out.append(f"| {s.multiple}x | {s.rate:,} | {rate:,.0f} | {s.p50_ms:,.1f} | "
                   f"{s.p99_ms:,.1f} | {s.sends_per_s:,.1f} | {s.lag_p50_s:.2f} | "
                   f"{s.lag_p99_s:.2f} | {'; '.join(s.reasons()) or 'no'} |")
    knee = next((s for s in result.steps if s.reasons()), None)
    out += ["", f"Saturation: {_knee(knee, result.steps)}",
            f"Checks: {result.events_accepted:,} events accepted, "
            f"{result.events_stored_once:,} stored exactly once "
            f"({result.events_missing} missing, {result.events_doubled} doubled); "
            f"{result.sends_expected:,} sends due, {result.sends_made:,} made "
            f"({result.sends_missing} missing, {result.sends_doubled} twice).",
            f"Run time: {result.seconds:.0f} s; batches of {args.batch_size} events, one in "
            f"{args.send_every} sends (email and SMS alternately), {args.connections} "
            "connections."]
    return out


def _knee(knee: Step | None, steps: list[Step]) -> str:
    if knee is None:
        return (f"none up to {steps[-1].rate:,} events/s ({steps[-1].multiple}x); raise "
                "--max-steps or --base-rate to find it.")
    last_ok = steps[knee.index - 1].rate if knee.index else 0
    return (f"at {knee.rate:,} events/s ({knee.multiple}x): {'; '.join(knee.reasons())}. "
            f"The last step within bounds: {last_ok:,} events/s.")


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    command = shlex.join([".venv/bin/python", "bench/load.py", *argv])
    print(command, flush=True)
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-load-") as tmp:
        result = run(args, Path(tmp))
    print(f"\nMachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"store {args.db.split(':')[0] if args.db else 'SQLite'}.\n")
    print("\n".join(table(result, args)))
    return 1 if result.lost or result.events_doubled or result.sends_doubled else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
