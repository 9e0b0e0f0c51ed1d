"""The OpenAPI document describes exactly the routes the API modules mount."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Route

from cadenza.engine.api import admin, events, openapi, webhooks
from cadenza.engine.api.events import BATCH_ITEMS
from tests.api.conftest import PUBLIC_URL, Api


def mounted(api: Api) -> set[tuple[str, str]]:
    out = set()
    for module in (events, admin, webhooks):
        for route in module.routes(api.service, api.settings):
            assert isinstance(route, Route)
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            out.update((path, method.lower()) for method in route.methods or ()
                       if method != "HEAD")
    return out


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, ops in doc["paths"].items() for method in ops}


def test_every_route_is_documented_with_its_method(api: Api) -> None:
    """Each events/admin/webhooks route appears with its method, and nothing else does."""
    doc = api.client.get("/openapi.json").json()
    assert mounted(api) == documented(doc)


def test_document_is_openapi_3_1_with_both_security_schemes(api: Api) -> None:
    """The document names OpenAPI 3.1, the public server, and basic and bearer schemes."""
    doc = api.client.get("/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": PUBLIC_URL}]
    schemes = doc["components"]["securitySchemes"]
    assert {k: v["scheme"] for k, v in schemes.items()} == {"basic": "basic",
                                                            "bearer": "bearer"}


def test_every_request_body_and_error_refers_to_a_defined_schema(api: Api) -> None:
    """Every $ref resolves; every POST has a JSON or form body; errors use the Error schema."""
    doc = openapi.document(PUBLIC_URL)
    refs = re.findall(r"'\$ref': '#/components/schemas/(\w+)'", repr(doc))
    assert refs
    assert set(refs) <= set(doc["components"]["schemas"])
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method == "post":
                assert op["requestBody"]["content"], path
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)


def test_event_operations_name_their_call_schemas(api: Api) -> None:
    """Each event endpoint's body is its call's schema; the batch limit matches the code."""
    doc = openapi.document(PUBLIC_URL)
    schemas = doc["components"]["schemas"]
    for kind in ("track", "identify", "page", "screen", "group", "alias", "batch"):
        body = doc["paths"][f"/v1/{kind}"]["post"]["requestBody"]["content"]
        assert body["application/json"]["schema"]["$ref"].endswith("/" + kind.title())
    assert schemas["Track"]["required"] == ["event"]
    assert schemas["Batch"]["properties"]["batch"]["maxItems"] == BATCH_ITEMS
    assert schemas["Enrollment"]["required"] == ["userId"]
    assert set(schemas["Error"]["required"]) == {"code", "message"}
