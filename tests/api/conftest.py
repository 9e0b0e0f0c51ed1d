"""An API over a real Service on a real store: SQLite always, PostgreSQL where it matters."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.routing import BaseRoute

from cadenza.engine import schema as t
from cadenza.engine.api import admin, events, openapi, webhooks
from cadenza.engine.api.app import ERROR_HANDLERS
from cadenza.engine.db import open_engine
from cadenza.engine.service import Service
from cadenza.engine.settings import ServeSettings
from cadenza.engine.simulate import recorders
from cadenza.engine.store import Store
from cadenza.playbooks.project import load_project
from tests.engine.harness import SCHEMA, TEMPLATES

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient and warns when it falls back to httpx,
    # which works the same for these tests (the dev dependencies pin httpx).
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

WRITE_KEY = "wk_test_123"
ADMIN_KEY = "admin-secret"
PUBLIC_URL = "https://hooks.shop.example"
PLAY = """\
playbook onboarding {
  when api
  send email "hello"
}
playbook recovery {
  when event cart_abandoned
  send email "again"
}
"""


def basic(key: str = WRITE_KEY, password: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{key}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


BEARER = {"Authorization": f"Bearer {ADMIN_KEY}"}


def make_settings(**overrides: Any) -> ServeSettings:
    values: dict[str, Any] = {"write_key": SecretStr(WRITE_KEY),
                              "admin_key": SecretStr(ADMIN_KEY), "public_url": PUBLIC_URL}
    return ServeSettings(**{**values, **overrides})


def all_routes(service: Service, settings: ServeSettings) -> list[BaseRoute]:
    return [*events.routes(service, settings), *admin.routes(service, settings),
            *webhooks.routes(service, settings), *openapi.routes(service, settings)]


class Api:
    """A Service on a fresh store, its app and a TestClient; `rows` reads a table."""

    def __init__(self, root: Path, url: str, settings: ServeSettings) -> None:
        project = root / "project"
        project.mkdir(exist_ok=True)
        (project / "schema.play").write_text(SCHEMA, encoding="utf-8")
        (project / "main.play").write_text(PLAY, encoding="utf-8")
        (project / "templates").mkdir(exist_ok=True)
        for name, body in TEMPLATES.items():
            (project / "templates" / f"{name}.liquid").write_text(body, "utf-8")
        loaded = load_project(project)
        assert loaded.project is not None, loaded.diagnostics
        self.service = Service(project=loaded.project, store=Store(open_engine(url)),
                               connectors=recorders())
        self.settings = settings
        self.app = Starlette(routes=all_routes(self.service, settings),
                             exception_handlers=ERROR_HANDLERS)
        self.client = TestClient(self.app)

    def rows(self, table: Any) -> list[Any]:
        with self.service.store.engine.connect() as conn:
            return list(conn.execute(select(table).order_by(*table.primary_key.columns)))

    def events(self) -> list[tuple[str, str, int, dict[str, Any], str | None]]:
        return [(r.customer_id, r.name, r.ts, r.properties, r.message_id)
                for r in self.rows(t.events)]

    def attributes(self, customer: str) -> dict[str, Any]:
        return next(dict(r.attributes) for r in self.rows(t.customers) if r.id == customer)

    def close(self) -> None:
        self.client.close()
        self.service.store.engine.dispose()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests never go through a proxy from the environment."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


ApiFactory = Callable[..., Api]


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[ApiFactory]:
    """Build an Api on SQLite (or on `url`) with the test settings, overridable."""
    built: list[Api] = []

    def build(url: str | None = None, **overrides: Any) -> Api:
        api = Api(tmp_path, url or f"sqlite:///{tmp_path / 'store.db'}",
                  make_settings(**overrides))
        built.append(api)
        return api

    yield build
    for api in built:
        api.close()


@pytest.fixture
def api(make_api: ApiFactory) -> Api:
    """The API on SQLite, write and admin keys set."""
    return make_api()


@pytest.fixture
def any_api(make_api: ApiFactory, store_url: str) -> Api:
    """The API on SQLite and on PostgreSQL."""
    return make_api(store_url)

