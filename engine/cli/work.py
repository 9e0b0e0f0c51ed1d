"""`cadenza work PROJECT --db URL`: the engine alone, beside `cadenza serve --no-ticker`.

On PostgreSQL the API and the engine can run in separate processes: `serve --no-ticker`
answers HTTP only and one or more `work` processes run the ticker (due steps, sends,
schedules), woken by the API's NOTIFY. Each then has a core and an interpreter lock of its
own; in the same process the ticker's batches took turns with the requests (bench/serve.py:
the ingest p99 is the difference, docs/performance.md). SQLite has one writer and keeps the
engine inside `serve`.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cadenza.connectors import ConnectorConfigError
from cadenza.engine.cli.output import boot_failed, finish
from cadenza.engine.db import StoreError
from cadenza.engine.settings import SettingsError, load_settings

if TYPE_CHECKING:
    from cadenza.engine.service import Service


def run(project: Path, db: str | None, metrics_port: int | None) -> int:
    from cadenza.engine.boot import BootError, build_service, database_url
    from cadenza.engine.logs import configure_json_logs
    from cadenza.engine.scheduler import Ticker

    try:
        settings = load_settings(project, db=db)
        if not database_url(project, settings).startswith("postgresql"):
            raise SettingsError("cadenza work needs PostgreSQL (--db postgresql+psycopg://... "
                                "or CADENZA_DB); on SQLite `cadenza serve` runs the engine "
                                "itself, so start that instead.")
        configure_json_logs()
        service = build_service(project, settings)
    except (BootError, SettingsError, StoreError, ConnectorConfigError) as exc:
        return boot_failed(exc)
    stop = threading.Event()
    service.on_fatal = stop.set
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if metrics_port is not None:
        _serve_metrics(service, settings.host, metrics_port)
    ticker = Ticker(service, settings.tick_seconds)
    ticker.start()
    click.echo(f"cadenza: working on {project} (the engine only; metrics "
               f"{'at :' + str(metrics_port) if metrics_port else 'off'})", err=True)
    stop.wait()
    ticker.stop()  # the batch in hand commits or rolls back whole; leases expire by themselves
    service.dispatcher.close()
    service.store.engine.dispose()
    if service.fatal is not None:
        click.echo(f"error: cadenza work stopped: {service.fatal}", err=True)
        return 1
    click.echo("cadenza: stopped (the batch in hand committed).", err=True)
    return 0


def _serve_metrics(service: Service, host: str, port: int) -> None:
    """`/metrics` of this process (ticks, due lag, and the store's totals) on `port`."""
    from prometheus_client import start_http_server

    from cadenza.engine.metrics import metrics_of

    start_http_server(port, addr=host, registry=metrics_of(service).registry)


@click.command("work")
@click.argument("project", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--db", help="PostgreSQL URL (as given to `cadenza serve --no-ticker`).")
@click.option("--metrics-port", type=click.IntRange(min=1, max=65535),
              help="Serve this process's Prometheus /metrics on this port.")
def command(project: Path, db: str | None, metrics_port: int | None) -> None:
    """Run PROJECT's engine (due steps, sends) without the API, beside `serve --no-ticker`."""
    finish(run(project, db, metrics_port))
