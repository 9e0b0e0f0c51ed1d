"""Schemathesis against the served OpenAPI document: every answer conforms, none is a 500.

Every documented operation gets schema-valid (positive) and schema-violating (negative)
requests, with the right credentials; the default checks assert that no answer is a 5xx, that
each status, content type and body is the documented one, that valid data is accepted and
invalid data refused. `test_checker_catches_a_broken_handler` proves the checks bite.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis import GenerationMode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cadenza.engine.api import openapi
from cadenza.engine.api.app import create_app
from tests.api.conftest import ADMIN_KEY, PUBLIC_URL, Api, basic, make_settings
from tests.providers.signing import SendGridSigner

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
EXAMPLES = 25  # per operation and mode; 12 operations x 2 modes, ~30 s on a quiet machine
ANSWERS: Counter[tuple[str, int]] = Counter()  # (operation, status): what the trial saw


class Forward:
    """An ASGI app standing in for the one the fixture builds: the schema needs its app at
    import (its checks send their own follow-up requests, e.g. without credentials, through
    it), the store only exists once a test runs."""

    def __init__(self) -> None:
        self.app: Starlette | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the `served` fixture sets the app"
        await self.app(scope, receive, send)


def conformance_schema(app: Forward) -> Any:
    """The served document as a schemathesis schema whose requests go to `app`."""
    loaded = schemathesis.openapi.from_dict(openapi.document(PUBLIC_URL))
    loaded.app = app
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    # 413 is the documented refusal of a batch over 2,500 calls (docs/api.md, "Limits"); the
    # check's default list of refusals does not include it.
    loaded.config.checks.negative_data_rejection.expected_statuses.append("413")
    return loaded


def serve(root: Path, url: str, app: Forward, answers: Counter[tuple[str, int]]) -> Iterator[Api]:
    """The app `cadenza serve` runs (ticker off) on `url`, every secret configured, behind
    `app`; prints what the trial saw when done."""
    api = Api(root, url, make_settings(sendgrid_webhook_key=SendGridSigner().public_key,
                                       twilio_auth_token=SecretStr("tw-token")))
    api.app = create_app(api.service, api.settings, ticker=False)
    app.app = api.app
    yield api
    app.app = None
    api.close()
    by_class = Counter(f"{status // 100}xx" for (_, status), n in answers.items()
                       for _ in range(n))
    print(f"\nschemathesis on {url.partition(':')[0]}: {sum(answers.values())} requests, "
          f"{dict(sorted(by_class.items()))}")
    for (label, status), n in sorted(answers.items()):
        print(f"  {label} {status}: {n}")


APP = Forward()
schema = conformance_schema(APP)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app on SQLite."""
    root = tmp_path_factory.mktemp("schemathesis")
    yield from serve(root, f"sqlite:///{root / 'store.db'}", APP, ANSWERS)


def check(case: Any, answers: Counter[tuple[str, int]]) -> None:
    """One generated request, with the right key, through every check."""
    if case.path_parameters and "name" in case.path_parameters:
        # A generated playbook name is never one the project has, so the body would never be
        # read (404 first): enrol into the project's `when api` playbook instead.
        case.path_parameters["name"] = "onboarding"
    response = case.call_and_validate(headers=credentials(case.path))
    answers[(case.operation.label, response.status_code)] += 1


def credentials(path: str) -> dict[str, str]:
    """The key each group of endpoints needs; webhooks get none (their signatures are forged
    by the generator, so they exercise the refusals)."""
    if path.startswith(("/v1/playbooks", "/v1/customers")):
        return {"Authorization": f"Bearer {ADMIN_KEY}"}
    if path.startswith("/v1/"):
        return basic()
    return {}


def test_the_document_tested_is_the_one_served(served: Api) -> None:
    """`GET /openapi.json` serves exactly the document the cases are generated from."""
    assert served.client.get("/openapi.json").json() == openapi.document(PUBLIC_URL)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          # Generated bodies can be large and slow to build on a loaded machine; the bound is
          # max_examples, not Hypothesis' timing heuristics.
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
def test_every_answer_conforms_to_the_document(case: Any, served: Api) -> None:
    """No 5xx; every status, content type and body as documented; valid in, invalid out."""
    check(case, ANSWERS)


# ------------------------------------------------------------------ the checker can fail
def _broken_track(_request: Request) -> Response:
    """A handler that forgets its contract: 200 with a body the document does not allow."""
    return JSONResponse({"stored": "maybe"})


def test_checker_catches_a_broken_handler() -> None:
    """The same checks against a handler that answers an undocumented body do fail."""
    checked = schemathesis.openapi.from_dict(openapi.document(PUBLIC_URL))
    checked.app = Starlette(routes=[Route("/v1/track", _broken_track, methods=["POST"])])
    case = checked["/v1/track"]["POST"].Case(body={"userId": "ana", "event": "clicked"},
                                              media_type="application/json")
    with pytest.raises(schemathesis.errors.FailureGroup) as caught:
        case.call_and_validate(headers=basic())
    assert "Response violates schema" in {f.title for f in caught.value.exceptions}
