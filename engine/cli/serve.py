"""`cadenza serve PROJECT`: the event API, the ticker and the status page, under uvicorn."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import click

from cadenza.connectors import ConnectorConfigError
from cadenza.engine.cli.output import boot_failed, finish
from cadenza.engine.db import StoreError
from cadenza.engine.settings import SettingsError, load_settings


def run(project: Path, db: str | None, host: str | None, port: int | None,
        workers: int | None, ticker: bool | None = None) -> int:
    import uvicorn

    from cadenza.engine.api.app import create_app
    from cadenza.engine.boot import BootError, build_service
    from cadenza.engine.logs import configure_json_logs

    try:
        settings = load_settings(project, db=db, host=host, port=port, workers=workers,
                                 ticker=ticker)
        taken = _address_taken(settings.host, settings.port)
        if taken is not None:
            click.echo(f"error: cadenza serve cannot listen on {settings.host}:{settings.port}: "
                       f"{taken}. Stop what holds it, or pass another --port.", err=True)
            return 1
        configure_json_logs()
        if settings.workers > 1:
            build_service(project, settings).store.engine.dispose()  # check before forking
            os.environ["CADENZA_PROJECT"] = str(project.resolve())
            for key, value in (("DB", settings.db), ("HOST", settings.host)):
                if value:
                    os.environ[f"CADENZA_{key}"] = value
            os.environ["CADENZA_TICKER"] = str(settings.ticker).lower()
            uvicorn.run("cadenza.engine.api.app:from_environment", factory=True,
                        host=settings.host, port=settings.port, workers=settings.workers,
                        log_level="warning")
            return 0
        service = build_service(project, settings)
        # A full disk or read-only SQLite file: stop as SIGTERM does, then say why and exit 1.
        service.on_fatal = lambda: os.kill(os.getpid(), signal.SIGTERM)
        app = create_app(service, settings)
    except (BootError, SettingsError, StoreError, ConnectorConfigError) as exc:
        return boot_failed(exc)
    alone = "" if settings.ticker else "; API only: `cadenza work` runs what is due"
    click.echo(f"cadenza: serving {project} on http://{settings.host}:{settings.port} "
               f"(status page at /, metrics at /metrics{alone})", err=True)
    _stop_quietly()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    if service.fatal is not None:
        click.echo(f"error: cadenza serve stopped: {service.fatal}", err=True)
        return 1
    click.echo("cadenza: stopped (requests drained, the batch in hand committed).", err=True)
    return 0


def _address_taken(host: str, port: int) -> str | None:
    """Why (host, port) cannot be listened on, or None: checked before the store is opened and
    "serving" is printed, since uvicorn would only log it and exit 3."""
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        return os.strerror(exc.errno) if exc.errno else str(exc)
    return None


def _stop_quietly() -> None:
    """uvicorn drains on SIGTERM/SIGINT, then re-raises the signal to the handler it found:
    make that handler ours, so a graceful stop ends with exit code 0."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)


@click.command("serve")
@click.argument("project", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--db", help="Database URL (default: SQLite in PROJECT/.cadenza/state.db).")
@click.option("--host", help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(min=1, max=65535), help="Port (default 8600).")
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes (more than one needs PostgreSQL).")
@click.option("--no-ticker", "no_ticker", is_flag=True, default=None,
              help="Answer HTTP only; `cadenza work` processes run the engine (PostgreSQL).")
def command(project: Path, db: str | None, host: str | None, port: int | None,
            workers: int | None, no_ticker: bool | None) -> None:
    """Run PROJECT's playbooks on real time: event API, engine, sends, status page."""
    finish(run(project, db, host, port, workers, None if not no_ticker else False))
