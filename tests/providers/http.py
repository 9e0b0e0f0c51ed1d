"""A threaded HTTP/1.1 server on 127.0.0.1 with recording and scripted faults."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from .faults import Fault, FaultPlan


@dataclass(frozen=True)
class Received:
    """One request as the server read it."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: Any, **headers: str) -> Reply:
        return cls(status, json.dumps(document).encode(),
                   {"Content-Type": "application/json", **headers})


_GIVEN: set[int] = set()
_GIVEN_LOCK = threading.Lock()


def free_port() -> int:
    """A port nothing listens on (bound then released): connecting to it is refused.

    Never the same port twice in one test run: the kernel may hand a just-released port out
    again, and two servers started in parallel (the crash trials run three at once) would then
    race for it; the loser's client would talk to the winner's server without noticing."""
    with _GIVEN_LOCK:
        while True:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _GIVEN:
                _GIVEN.add(port)
                return port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, keep-alive clients stall 40 ms
    # on delayed ACKs and the fake, not the connector, becomes what is measured.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests assert on recordings, not on stderr."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-body (a killed sender): as a real
            self.close_connection = True  # server, act on nothing and record nothing
            return
        received = Received(self.command, self.path, dict(self.headers.items()), body)
        fake = self.server.fake
        with fake.busy():
            self._answer(fake, received)

    def _answer(self, fake: FakeHttpServer, received: Received) -> None:
        fake.record(received)
        if fake.latency_s:
            time.sleep(fake.latency_s)
        fault = fake.faults.next()
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_s)
        reply = fake.fault_reply(fault) if fault and fault.kind == "status" else fake.app(received)
        if fault is not None and fault.kind == "accept_drop":  # acted on it; the answer is lost
            self.close_connection = True
            return
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = do_GET = do_PUT = do_DELETE = _handle  # noqa: N815 - http.server's names


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under a thread pool of clients
    block_on_close = False
    fake: FakeHttpServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that timed out and hung up is the scenario, not a failure."""


class FakeHttpServer:
    """Start with ``start()`` (or as a context manager); ``url`` is ``http://127.0.0.1:port``."""

    def __init__(self, app: Callable[[Received], Reply] | None = None) -> None:
        self.faults = FaultPlan()
        # Every answer this late, as over the internet; `peak` counts requests open at once.
        self.latency_s = 0.0
        self.peak = 0
        self._open = 0
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._app = app
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def app(self, received: Received) -> Reply:
        assert self._app is not None
        return self._app(received)

    def fault_reply(self, fault: Fault) -> Reply:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        return Reply(fault.status, b"", headers)

    @contextmanager
    def busy(self) -> Iterator[None]:
        with self._lock:
            self._open += 1
            self.peak = max(self.peak, self._open)
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1

    def record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self.latency_s, self.peak = 0.0, 0
        self.faults.clear()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
