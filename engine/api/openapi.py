"""`GET /openapi.json`: the OpenAPI 3.1 description of the event, admin and webhook APIs.

Written as data, next to nothing else: tests/api/test_openapi.py checks that every route the
API modules mount appears here with its method, and that the limits quoted match the code.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cadenza.engine.api.admin import MESSAGE_ID_LIMIT
from cadenza.engine.api.events import (
    BATCH_ITEMS,
    BATCH_LIMIT,
    CALL_LIMIT,
    COLUMN_LIMITS,
    ID_LIMIT,
    MAX_EPOCH,
    MIN_EPOCH,
)
from cadenza.engine.service import Service
from cadenza.engine.settings import ServeSettings

Json = dict[str, Any]


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> Json:
    return {"description": description,
            "content": {"application/json": {"schema": _ref("Error")}}}


# The handlers read a field that is null or "" as absent, and take ids as text or numbers.
# Text goes to text columns, which cannot hold NUL characters (PostgreSQL refuses them).
NO_NUL = "^[^\\u0000]*$"
TEXT: Json = {"type": ["string", "null"], "maxLength": ID_LIMIT, "pattern": NO_NUL}
OPTIONAL_ID: Json = {"anyOf": [TEXT, {"type": "number"}]}
ID: Json = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": ID_LIMIT,
                       "pattern": NO_NUL}, {"type": "number"}]}
# SDKs send null for "no properties": a null map is an absent one.
MAP: Json = {"type": ["object", "null"]}
# Identify keeps these traits in text columns of these widths, which cannot hold NUL either.
TRAITS: Json = {**MAP, "properties": {
    key: {"type": ["string", "number", "null"], "maxLength": limit, "pattern": NO_NUL}
    for key, limit in COLUMN_LIMITS.items()}}
IGNORED: Json = {"description": "Accepted and ignored, whatever its value."}
WRITE_KEY: Json = {"description": "The write key (a string) when not sent as Basic auth; "
                                  "ignored when the Authorization header carries it."}
TIMESTAMP: Json = {"anyOf": [{"type": "string", "format": "date-time"},
                             {"type": "number", "minimum": MIN_EPOCH, "maximum": MAX_EPOCH},
                             {"type": "null"}],
                   "description": "ISO 8601 with a zone, or epoch seconds; missing: the "
                                  "server's time. Both fields are checked when both are sent."}
COMMON: Json = {
    "userId": OPTIONAL_ID, "anonymousId": OPTIONAL_ID,
    "messageId": {**TEXT, "description": "Client-side id; a repeat is dropped (retries "
                                         "never double)."},
    "timestamp": TIMESTAMP, "originalTimestamp": TIMESTAMP,
    "sentAt": IGNORED, "context": MAP, "integrations": MAP, "writeKey": WRITE_KEY,
}


def _present(*names: str) -> Json:
    """Each of `names` is sent, neither null nor empty."""
    return {"required": list(names), "properties": dict.fromkeys(names, ID)}


NEEDS_ID: Json = {"anyOf": [_present("userId"), _present("anonymousId")]}


def _call(kind: str, fields: Json, required: list[str]) -> Json:
    schema: Json = {"type": "object",
                    "properties": {"type": {"const": kind}, **COMMON, **fields},
                    "allOf": [NEEDS_ID]}
    if required:
        schema["required"] = required
    return schema


OBJECT: Json = {"type": "object"}
SCHEMAS: Json = {
    "Error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "examples": ["unauthorized", "invalid_request",
                                                "invalid_json", "payload_too_large"]},
        "message": {"type": "string", "description": "A sentence naming the bad field."}}},
    "Success": {"type": "object", "required": ["success"], "properties": {
        "success": {"const": True},
        "warnings": {"type": "array", "items": {"type": "string"},
                     "description": "Traits an identify did not store, and why."}}},
    "Track": _call("track", {"event": {"type": "string", "minLength": 1, "maxLength": ID_LIMIT,
                                       "pattern": NO_NUL, "not": {"pattern": "^__"}},
                             "properties": MAP}, ["event"]),
    "Identify": _call("identify", {"traits": TRAITS}, []),
    "Page": _call("page", {"name": TEXT, "category": TEXT, "properties": MAP}, []),
    "Screen": _call("screen", {"name": TEXT, "category": TEXT, "properties": MAP}, []),
    "Group": _call("group", {"groupId": ID, "traits": MAP}, ["groupId"]),
    "Alias": _call("alias", {"previousId": ID, "userId": ID}, ["previousId", "userId"]),
    "Batch": {"type": "object", "required": ["batch"], "properties": {
        "batch": {"type": "array", "maxItems": BATCH_ITEMS, "items": {
            "oneOf": [_ref(k) for k in ("Track", "Identify", "Page", "Screen", "Group",
                                        "Alias")],
            "required": ["type"]}},
        "writeKey": WRITE_KEY, "sentAt": IGNORED, "context": MAP}},
    "Enrollment": {"type": "object", "required": ["userId"], "properties": {
        "userId": ID,
        "properties": {"type": "object", "not": {"anyOf": [{"required": ["kind"]},
                                                           {"required": ["playbook"]}]},
                       "description": "The trigger event's properties (`event.*`)."},
        "messageId": {"type": ["string", "null"], "minLength": 1, "maxLength": MESSAGE_ID_LIMIT,
                      "pattern": NO_NUL, "description": "Idempotency key for retries."}}},
    "Accepted": {"type": "object", "required": ["success", "duplicate"], "properties": {
        "success": {"const": True}, "duplicate": {"type": "boolean"}}},
    "Timeline": {"type": "object", "required": ["customer", "timeline", "truncated"],
                 "properties": {
                     "customer": {"type": "object", "properties": {
                         "id": {"type": "string"}, "email_revoked": {"type": "boolean"},
                         "sms_revoked": {"type": "boolean"}}},
                     "timeline": {"type": "array", "items": {
                         "type": "object", "required": ["kind", "ts", "at", "playbook"],
                         "properties": {
                             "kind": {"enum": ["enrolled", "ended", "message", "suppression",
                                               "conversion"]},
                             "ts": {"type": "integer"}, "at": {"type": "string"},
                             "playbook": {"type": "string"}}}},
                     "truncated": {"type": "boolean"}}},
    "Feedback": {"type": "object", "properties": {
        "success": {"const": True}, "applied": {"type": "integer"},
        "duplicates": {"type": "integer"}, "unmatched": {"type": "integer"}}},
}

EVENT_ERRORS: Json = {
    "400": _error("Malformed JSON, bad gzip, or a call missing or mistyping a field; "
                  "nothing was stored."),
    "401": _error("No valid write key."),
    "413": _error(f"Over {CALL_LIMIT // 1024} KB per call, {BATCH_LIMIT // 1024} KB per batch, "
                  f"or {BATCH_ITEMS} calls per batch."),
    "415": _error("A Content-Encoding other than gzip."),
    "503": _error("The store could not be written; retry (repeats are dropped)."),
}
ADMIN_ERRORS: Json = {"401": _error("No valid admin key (Bearer)."),
                      "503": _error("The store is unavailable; retry.")}
HOOK_ERRORS: Json = {"400": _error("Signed, but malformed."),
                     "401": _error("Missing or wrong signature, stale, or replayed."),
                     "503": _error("Not configured, or the store is unavailable.")}


def _event_op(kind: str, schema: str, summary: str) -> Json:
    return {"post": {
        "operationId": kind, "summary": summary, "tags": ["events"],
        "security": [{"basic": []}, {}],
        # `Content-Encoding: gzip` describes the body's bytes, not a value a client picks:
        # as a header parameter it would claim any body may carry it.
        "description": "The body may be gzip-compressed (`Content-Encoding: gzip`); the "
                       "limits apply to the uncompressed body.",
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": _ref(schema)}}},
        "responses": {"200": {"description": "Stored (or a repeat, dropped).",
                              "content": {"application/json": {"schema": _ref("Success")}}},
                      **EVENT_ERRORS}}}


def _hook(op_id: str, summary: str, media: str, ok: Json) -> Json:
    return {"post": {"operationId": op_id, "summary": summary, "tags": ["webhooks"],
                     "security": [],
                     "requestBody": {"required": True, "content": {media: {"schema": OBJECT}}},
                     "responses": {"200": ok, **HOOK_ERRORS}}}


FEEDBACK_OK: Json = {"description": "Verified and applied (each provider event once).",
                     "content": {"application/json": {"schema": _ref("Feedback")}}}
PATHS: Json = {
    "/v1/track": _event_op("track", "Track", "Record an event"),
    "/v1/identify": _event_op("identify", "Identify", "Set customer attributes from traits"),
    "/v1/page": _event_op("page", "Page", "Record a page view (event `page`)"),
    "/v1/screen": _event_op("screen", "Screen", "Record a screen view (event `screen`)"),
    "/v1/group": _event_op("group", "Group", "Record a group membership (event `group`)"),
    "/v1/alias": _event_op("alias", "Alias", "Record an alias (event `alias`)"),
    "/v1/batch": _event_op("batch", "Batch", "Up to 2,500 calls of any type"),
    "/v1/playbooks/{name}/enrollments": {"post": {
        "operationId": "enroll", "summary": "Enrol a customer in a playbook with `when api`",
        "tags": ["admin"], "security": [{"bearer": []}],
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": _ref("Enrollment")}}},
        "responses": {"202": {"description": "Stored; the runtime enters the customer at its "
                                             "next tick (audience and re-entry rules apply).",
                              "content": {"application/json": {"schema": _ref("Accepted")}}},
                      "400": _error("Malformed body."),
                      "404": _error("Unknown playbook (with a did-you-mean)."),
                      "409": _error("The playbook has no `when api` entry."),
                      "413": _error(f"Over {CALL_LIMIT // 1024} KB."),
                      **ADMIN_ERRORS}}},
    "/v1/customers/{customer_id}/timeline": {"get": {
        "operationId": "timeline", "summary": "Enrollments, messages, suppressions, conversions",
        "tags": ["admin"], "security": [{"bearer": []}],
        "parameters": [{"name": "customer_id", "in": "path", "required": True,
                        "schema": {"type": "string"}},
                       {"name": "limit", "in": "query", "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                                   "default": 200}}],
        "responses": {"200": {"description": "The newest items, oldest first.",
                              "content": {"application/json": {"schema": _ref("Timeline")}}},
                      "400": _error("A bad 'limit'."),
                      "404": _error("Unknown customer."), **ADMIN_ERRORS}}},
    "/webhooks/sendgrid/events": _hook("sendgridEvents", "SendGrid Signed Event Webhook",
                                       "application/json", FEEDBACK_OK),
    "/webhooks/twilio/status": _hook("twilioStatus", "Twilio SMS status callback",
                                     "application/x-www-form-urlencoded", FEEDBACK_OK),
    "/webhooks/twilio/inbound": _hook("twilioInbound", "Twilio inbound SMS",
                                      "application/x-www-form-urlencoded", {
                                          "description": "TwiML: the help text for HELP, "
                                                         "else an empty <Response/>.",
                                          "content": {"text/xml": {"schema":
                                                                   {"type": "string"}}}}),
}


def document(public_url: str) -> Json:
    """The OpenAPI 3.1 document, with `public_url` as the server."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Cadenza", "version": "1",
                 "description": "Segment-compatible event API, admin API and provider "
                                "webhooks. See docs/api.md."},
        "servers": [{"url": public_url.rstrip("/")}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic",
                      "description": "The write key as user name, empty password."},
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "The admin key."}}},
    }


def routes(service: Service, settings: ServeSettings) -> list[BaseRoute]:
    """`GET /openapi.json`."""
    doc = document(settings.public_url)

    async def openapi(request: Request) -> Response:
        return JSONResponse(doc)
    return [Route("/openapi.json", openapi, methods=["GET"])]
