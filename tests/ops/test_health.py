"""/livez, /readyz and /metrics over HTTP."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import create_engine

from cadenza.engine import schema as t
from cadenza.engine.metrics import CONTENT_TYPE_LATEST
from cadenza.engine.schema import SCHEMA_VERSION
from cadenza.engine.store import Store
from tests.engine.harness import OPEN
from tests.ops.scenario import TestClient, app, drive, service


def test_livez_answers_ok(tmp_path: Path) -> None:
    """/livez is 200 with status ok while the process serves."""
    svc = service(drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"))
    with TestClient(app(svc)) as client:
        response = client.get("/livez")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_ready_on_a_migrated_store(tmp_path: Path, store_url: str) -> None:
    """/readyz is 200 with no problems when the store is reachable and current."""
    svc = service(drive(tmp_path, store_url))
    with TestClient(app(svc)) as client:
        response = client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready", "problems": []})


def test_readyz_reports_an_old_schema(tmp_path: Path, store_url: str) -> None:
    """A store whose schema version row says 0 makes the worker unready, saying what to run."""
    h = drive(tmp_path, store_url)
    svc = service(h)
    with h.store.engine.begin() as conn:
        conn.execute(t.meta.update().where(t.meta.c.key == "schema_version").values(value="0"))
    with TestClient(app(svc)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unready", "problems": [
        f"the store's schema is version 0; this Cadenza needs {SCHEMA_VERSION}: "
        "run `cadenza migrate`."]}


def test_readyz_reports_an_unreachable_database(tmp_path: Path) -> None:
    """A database nobody answers at makes the worker unready; /metrics still answers."""
    svc = service(drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"))
    gone = create_engine("postgresql+psycopg://cadenza@127.0.0.1:1/none")
    OPEN.append(gone)
    svc.store = Store(gone)
    with TestClient(app(svc)) as client:
        ready, metrics = client.get("/readyz"), client.get("/metrics")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unready",
                            "problems": ["the database is unreachable: OperationalError."]}
    assert metrics.status_code == 200
    assert "cadenza_store_up 0.0" in metrics.text.splitlines()


def test_readyz_reports_a_stalled_ticker(tmp_path: Path) -> None:
    """A ticker silent for an hour makes the worker unready with the silence in seconds."""
    svc = service(drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"))
    svc.last_tick = time.time() - 3600
    with TestClient(app(svc)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    [problem] = response.json()["problems"]
    assert problem in {"the ticker has not run for 3600 s.", "the ticker has not run for 3601 s."}


def test_metrics_endpoint_serves_the_text_format(tmp_path: Path, store_url: str) -> None:
    """/metrics answers in Prometheus' text format with the store's and the process's series."""
    svc = service(drive(tmp_path, store_url))
    with TestClient(app(svc)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    lines = response.text.splitlines()
    assert 'cadenza_conversions_total{goal="bought",playbook="cart"} 1.0' in lines
    assert "cadenza_store_up 1.0" in lines
    assert "# TYPE cadenza_due_lag_seconds histogram" in lines
