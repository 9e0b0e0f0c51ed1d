"""Suite-wide settings: hypothesis profiles (CI runs the larger one) and the store fixture
every suite shares: each store test runs on SQLite and on PostgreSQL (fresh schema each)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import structlog
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from cadenza.engine.cli.main import quiet_logs

settings.register_profile("dev", deadline=None, max_examples=100,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=400, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")





PG_URL = os.environ.get("CADENZA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1/test")


def postgres_problem() -> str | None:
    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except (OperationalError, ImportError) as exc:
        return f"PostgreSQL is not reachable at {PG_URL}: {type(exc).__name__}"
    return None


@contextmanager
def postgres_schema(prefix: str) -> Iterator[str]:
    """A URL on a fresh schema of the test PostgreSQL, dropped afterwards; callers check
    `postgres_problem()` first (and skip, or report, with its reason)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield make_url(PG_URL).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    """Close every pooled connection a test opened (PostgreSQL warns about leaked ones)."""
    from tests.engine.harness import OPEN

    yield
    while OPEN:
        OPEN.pop().dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with nothing in it yet; the engine migrates it on open."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    problem = postgres_problem()
    if problem is not None:
        pytest.skip(problem)
    with postgres_schema("eng") as url:
        yield url


@pytest.fixture
def quiet_cli_logs() -> Iterator[None]:
    """Commands print reports, not logs — as under `cadenza`, whose main() sets this up; tests
    that invoke the click group directly ask for it."""


    saved = structlog.get_config()
    quiet_logs()
    yield
    structlog.configure(**saved)
