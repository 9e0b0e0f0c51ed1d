"""The schemathesis trial of test_bad_input_schema.py on PostgreSQL, with fewer examples.

PostgreSQL refuses what SQLite keeps (NUL in text, values wider than their column), and a
store error answers 503 'retry'; one run here found traits wider than their columns.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.api.conftest import Api
from tests.conftest import PG_URL, postgres_problem
from tests.reliability.test_bad_input_schema import Forward, check, conformance_schema, serve

pytestmark = pytest.mark.postgres
EXAMPLES = 10  # per operation and mode: the SQLite run covers breadth, this one the store
ANSWERS: Counter[tuple[str, int]] = Counter()
APP = Forward()
schema = conformance_schema(APP)


@pytest.fixture(scope="module")
def served_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app on a fresh PostgreSQL schema (skipped with the reason when none is reachable)."""
    problem = postgres_problem()
    if problem is not None:
        pytest.skip(problem)
    name = f"st_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    url = make_url(PG_URL).update_query_dict(
        {"options": f"-csearch_path={name}"}).render_as_string(hide_password=False)
    yield from serve(tmp_path_factory.mktemp("schemathesis-pg"), url, APP, ANSWERS)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
    admin.dispose()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          # as in the SQLite trial: the bound is max_examples, not timing heuristics
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
def test_every_answer_conforms_on_postgresql(case: Any, served_pg: Api) -> None:
    """No 5xx on PostgreSQL either; every answer as documented."""
    check(case, ANSWERS)
