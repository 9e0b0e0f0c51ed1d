"""The real `segment-analytics-python` client against Cadenza served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from segment.analytics import Client
from segment.analytics.request import APIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cadenza.engine import schema as t
from tests.api.conftest import WRITE_KEY, Api, ApiFactory


class FailFirst:
    """Test-only ASGI middleware: answers 500 to the first `n` requests.

    `lose_response=True` lets each of those requests reach the app (the events are stored)
    and replaces the answer with a 500 — a response lost on the way back, which is when a
    client's retry would double events without messageId deduplication.
    """

    def __init__(self, app: ASGIApp, n: int, *, lose_response: bool) -> None:
        self.app, self.left, self.lose_response = app, n, lose_response
        self.requests = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self._lock:
            self.requests += 1
            fail = self.left > 0
            self.left -= fail
        if not fail:
            await self.app(scope, receive, send)
            return
        if self.lose_response:
            async def swallow(message: Message) -> None:
                pass
            await self.app(scope, receive, swallow)
        await send({"type": "http.response.start", "status": 500,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body",
                    "body": b'{"code": "injected", "message": "injected failure."}'})


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Run `app` with uvicorn in a thread on a free loopback port; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def stored(api: Api) -> list[tuple[str, str, str | None]]:
    return [(r.customer_id, r.name, r.message_id) for r in api.rows(t.events)]


def test_sync_client_tracks_and_identifies(any_api: Api) -> None:
    """Tracks, a page and an identify from the real client are stored; traits set attributes."""
    with serve(any_api.app) as url:
        client = Client(WRITE_KEY, host=url, sync_mode=True, timeout=5)
        sent = [client.track("ana", "cart_abandoned", {"cart_value": 40})[1],
                client.track("ana", "order_completed", {"order_value": 40})[1],
                client.page("ana", name="Pricing")[1]]
        client.identify("ana", {"first_name": "Ana", "tier": "gold"})
    assert stored(any_api) == [("ana", m.get("event", m["type"]), m["messageId"]) for m in sent]
    assert any_api.attributes("ana") == {"first_name": "Ana", "tier": "gold"}


def test_gzip_client(api: Api) -> None:
    """The client's gzip option is understood."""
    with serve(api.app) as url:
        client = Client(WRITE_KEY, host=url, sync_mode=True, gzip=True, timeout=5)
        client.track("ana", "clicked")
    assert [name for _, name, _ in stored(api)] == ["clicked"]


def test_wrong_write_key_is_reported_to_the_client(api: Api) -> None:
    """The client sees our 401 code and message (it reads both from the JSON body)."""
    with serve(api.app) as url:
        client = Client("wk_wrong", host=url, sync_mode=True, timeout=5)
        with pytest.raises(APIError, match="unauthorized") as info:
            client.track("ana", "clicked")
    assert info.value.status == 401
    assert stored(api) == []


@pytest.mark.parametrize("lose_response", [False, True], ids=["refused", "response-lost"])
def test_retries_after_500s_store_every_event_once(
        make_api: ApiFactory, store_url: str, lose_response: bool) -> None:
    """The client retries 500s; every event is stored exactly once (messageId dedup)."""
    api = make_api(store_url)
    app = FailFirst(api.app, 3, lose_response=lose_response)
    errors: list[Any] = []
    with serve(app) as url:
        client = Client(WRITE_KEY, host=url, upload_interval=0.05, upload_size=4,
                        max_retries=10, timeout=5,
                        on_error=lambda exc, batch: errors.append(exc))
        sent = [client.track(f"c{i % 3}", "clicked", {"n": i})[1] for i in range(10)]
        client.identify("c0", {"score": 7})
        client.flush()
        client.join()
    assert errors == []
    assert app.requests > 3
    rows = stored(api)
    assert sorted(m for _, _, m in rows) == sorted(m["messageId"] for m in sent)
    assert len(rows) == 10
    assert api.attributes("c0") == {"score": 7}
