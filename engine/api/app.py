"""The Starlette app of `cadenza serve`: every route module mounted, the ticker in the lifespan."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from cadenza.engine.api import admin, events, health, openapi, status, webhooks
from cadenza.engine.boot import build_service
from cadenza.engine.scheduler import Ticker
from cadenza.engine.service import Service
from cadenza.engine.settings import ServeSettings, load_settings


def create_app(service: Service, settings: ServeSettings, *, ticker: bool | None = None,
               ) -> Starlette:
    """The app; `ticker` (default: the `ticker` setting) runs the engine in this process."""
    if ticker is None:
        ticker = settings.ticker
    routes = [*health.routes(service, settings), *events.routes(service, settings),
              *webhooks.routes(service, settings), *admin.routes(service, settings),
              *openapi.routes(service, settings), *status.routes(service, settings)]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # The project, the compiled statements and the libraries live as long as the server:
        # frozen, the collector's full passes skip them instead of pausing every request.
        # Young objects die young here (a request's parsed calls, a batch's rows): collecting
        # after 50,000 allocations instead of 700 keeps the pauses out of the ingest tail
        # (bench/serve.py: p99 55 -> 40 ms) for a bounded amount of extra garbage.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        # The ticker thread runs Python for whole batches; a request waiting for the GIL got it
        # back only every 5 ms, several times per request. 0.5 ms: PostgreSQL ingest p99
        # 95-107 -> 63-70 ms, 8,100-9,300 -> 10,600-11,900 events/s (bench/serve.py, two runs).
        switch = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        running = Ticker(service, settings.tick_seconds) if ticker else None
        if running is not None:
            running.start()
        try:
            yield
        finally:
            # SIGTERM: uvicorn stops accepting and drains requests, then we stop ticking;
            # the batch in hand commits (or rolls back whole), leases need no release.
            if running is not None:
                running.stop()
            service.dispatcher.close()
            service.store.engine.dispose()
            sys.setswitchinterval(switch)

    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=ERROR_HANDLERS)


async def _not_found(request: Request, _exc: Exception) -> JSONResponse:
    # Every refusal has the same body (docs/api.md), a mistyped path included.
    return JSONResponse({"code": "not_found", "message": f"There is no {request.url.path}; "
                         "the routes are listed at /openapi.json."}, 404)


async def _wrong_method(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"code": "method_not_allowed", "message": f"{request.method} is not "
                         f"accepted at {request.url.path}; /openapi.json lists what is."}, 405,
                        getattr(exc, "headers", None))  # Allow: the methods that are


def from_environment() -> Starlette:
    """The app for uvicorn's worker processes, configured through CADENZA_* variables."""
    root = Path(os.environ["CADENZA_PROJECT"])
    settings = load_settings(root)
    return create_app(build_service(root, settings), settings)


ERROR_HANDLERS = {404: _not_found, 405: _wrong_method}
