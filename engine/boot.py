"""Building a Service from a project folder and settings: what `serve` and its workers share."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from sqlalchemy.exc import OperationalError

from cadenza.connectors import Connector, build_registry
from cadenza.connectors.console import ConsoleConnector
from cadenza.engine.db import StoreError, fatal_store_error, open_engine, sqlite_url
from cadenza.engine.deploy import apply, source_hash
from cadenza.engine.service import Service
from cadenza.engine.settings import ServeSettings, SettingsError
from cadenza.engine.store import Store
from cadenza.playbooks.project import LoadedProject, load_project

STATE_DIR = ".cadenza"


class BootError(Exception):
    """The service cannot start; the message (and diagnostics, if any) say why."""

    def __init__(self, message: str, loaded: LoadedProject | None = None) -> None:
        super().__init__(message)
        self.loaded = loaded


def database_url(root: Path, settings: ServeSettings) -> str:
    if settings.db:
        return settings.db
    state = root / STATE_DIR
    state.mkdir(exist_ok=True)
    return sqlite_url(state / "state.db")


def connectors(settings: ServeSettings) -> dict[str, Connector]:
    """Configured connectors; channels without one print to the console (nothing is sent)."""
    registry = build_registry(settings.connectors) if settings.connectors else None
    out: dict[str, Connector] = {n: registry.get(n) for n in registry} if registry else {}
    for channel, kind in (("email", "email"), ("sms", "sms"), ("webhook", "webhook"),
                          ("task", "webhook")):
        out.setdefault(channel, ConsoleConnector(name=channel, channel=kind))  # type: ignore[arg-type]
    return out


def build_service(root: Path, settings: ServeSettings) -> Service:
    loaded = load_project(root)
    if loaded.project is None:
        raise BootError(f"the project at {root} has errors; fix them before serving.", loaded)
    on_postgres = database_url(root, settings).startswith("postgresql")
    if settings.workers > 1 and not on_postgres:
        raise SettingsError("several workers need PostgreSQL (--db postgresql+psycopg://...); "
                            "SQLite allows one writer.")
    if not settings.ticker and not on_postgres:
        raise SettingsError("--no-ticker (ticker = false) needs PostgreSQL (--db "
                            "postgresql+psycopg://...): on SQLite the engine must run in the "
                            "API's own process, the one writer; drop --no-ticker.")
    store = Store(open_engine(database_url(root, settings)))
    # Serving a folder deploys it, as `cadenza apply` would (a no-op when already applied).
    try:
        apply(store, loaded.project, source_hash(root, list(loaded.sources)),
              int(time.time()), git_commit(root))
    except OperationalError as exc:  # e.g. a read-only or full SQLite file: say so, no trace
        reason = fatal_store_error(exc.orig) or f"{exc.orig}"
        raise StoreError(f"cannot deploy the project to the store: {reason}") from exc
    return Service(project=loaded.project, store=store, connectors=connectors(settings),
                   batch_size=settings.batch_size, lease_s=settings.lease_seconds)


def git_commit(root: Path) -> str | None:
    """HEAD's commit when the project is a git checkout."""
    try:
        run = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=False,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return run.stdout.strip() or None if run.returncode == 0 else None
