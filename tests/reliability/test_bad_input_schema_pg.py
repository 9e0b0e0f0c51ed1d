"""The schemathesis trial of test_bad_input_schema.py on PostgreSQL, with fewer examples.

PostgreSQL refuses what SQLite keeps (NUL in text, values wider than their column), and a
store error answers 503 'retry'; one run here found traits wider than their columns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.api.conftest import Api
from tests.conftest import postgres_problem, postgres_schema
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
    with postgres_schema("st") as url:
        yield from serve(tmp_path_factory.mktemp("schemathesis-pg"), url, APP, ANSWERS)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          # as in the SQLite trial: the bound is max_examples, not timing heuristics
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
def test_every_answer_conforms_on_postgresql(case: Any, served_pg: Api) -> None:
    """No 5xx on PostgreSQL either; every answer as documented."""
    check(case, ANSWERS)
