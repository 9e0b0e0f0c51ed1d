"""Health and metrics for orchestrators and Prometheus: `/livez`, `/readyz`, `/metrics`.

`/livez` answers while the process can serve HTTP at all (restart it when it does not);
`/readyz` answers 503 with the reasons while this worker cannot do its work (database
unreachable, schema not migrated, ticker stalled), so a load balancer routes around it.
None of them needs a key, and none shows a customer's data.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cadenza.engine.metrics import CONTENT_TYPE_LATEST, metrics_of
from cadenza.engine.service import Service
from cadenza.engine.settings import ServeSettings

MIN_STALE_SECONDS = 60.0
STALE_TICKS = 10  # ticks the ticker may miss before the worker counts as stalled


def stale_after(settings: ServeSettings) -> float:
    """Seconds without a tick after which the worker is unready."""
    return max(MIN_STALE_SECONDS, STALE_TICKS * settings.tick_seconds)


def routes(service: Service, settings: ServeSettings) -> list[BaseRoute]:
    metrics = metrics_of(service)
    limit = stale_after(settings)

    async def livez(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        problems = await run_in_threadpool(service.ready, limit)
        if problems:
            return JSONResponse({"status": "unready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready", "problems": []})

    async def scrape(_request: Request) -> Response:
        body = await run_in_threadpool(metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/livez", livez, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", scrape, methods=["GET"])]
