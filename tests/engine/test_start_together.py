"""Several processes opening one fresh store at once (`serve` beside `work`, N workers)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cadenza.engine import schema as t
from cadenza.engine.db import open_engine, schema_version
from cadenza.engine.schema import SCHEMA_VERSION

CTX = multiprocessing.get_context("spawn")


def _all_at_once(target: Callable[..., None], *args: str, n: int = 4) -> list[str]:
    """`target(*args, go, out)` in `n` processes released together; their answers."""
    go, out = CTX.Event(), CTX.Queue()
    procs = [CTX.Process(target=target, args=(*args, go, out)) for _ in range(n)]
    for proc in procs:
        proc.start()
    go.set()
    answers = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    return answers


def _open(url: str, go: Any, out: Any) -> None:
    go.wait()
    try:
        open_engine(url).dispose()
        out.put("ok")
    except Exception as exc:  # reported to the test
        out.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("trial", range(3))
def test_processes_migrating_one_fresh_store_at_once_all_start(
        store_url: str, tmp_path: Path, trial: int) -> None:
    """Regression: on PostgreSQL the second CREATE TABLE failed on the first's ("duplicate
    key value violates unique constraint pg_type_typname_nsp_index") and `cadenza work`
    would not start beside `serve --no-ticker` on a new database."""
    assert _all_at_once(_open, store_url) == ["ok"] * 4
    engine = open_engine(store_url)
    assert schema_version(engine) == SCHEMA_VERSION
    engine.dispose()


def _deploy(url: str, project_dir: str, go: Any, out: Any) -> None:
    from cadenza.engine.deploy import apply
    from cadenza.engine.store import Store
    from cadenza.playbooks.project import load_project

    loaded = load_project(Path(project_dir))
    assert loaded.project is not None
    store = Store(open_engine(url))
    go.wait()
    try:
        apply(store, loaded.project, "digest-1", 1_772_323_200)
        out.put("ok")
    except Exception as exc:  # reported to the test
        out.put(f"{type(exc).__name__}: {exc}")
    finally:
        store.engine.dispose()


@pytest.mark.parametrize("trial", range(3))
def test_processes_deploying_one_project_at_once_record_it_once(
        store_url: str, tmp_path: Path, trial: int) -> None:
    """Regression: `serve --no-ticker` and `cadenza work` started together both deployed the
    folder; the second failed on the first's playbook version ("uq_playbook_version")."""
    (tmp_path / "main.play").write_text(
        "schema { event clicked {} }\nplaybook p {\n  when event clicked\n"
        '  send email text "Hi" subject "Hi"\n}\n', encoding="utf-8")
    assert _all_at_once(_deploy, store_url, str(tmp_path)) == ["ok"] * 4
    engine = open_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.deployments)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(t.playbook_versions)).scalar() == 1
    engine.dispose()
