"""Several processes opening one fresh store at once (`serve` beside `work`, N workers)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from cadenza.engine.db import open_engine, schema_version
from cadenza.engine.schema import SCHEMA_VERSION

CTX = multiprocessing.get_context("spawn")


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
    go, out = CTX.Event(), CTX.Queue()
    procs = [CTX.Process(target=_open, args=(store_url, go, out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    go.set()
    answers = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert answers == ["ok"] * 4
    engine = open_engine(store_url)
    assert schema_version(engine) == SCHEMA_VERSION
    engine.dispose()
