"""The admin API, behind the admin key (`Authorization: Bearer <admin key>`).

    POST /v1/playbooks/{name}/enrollments   enrol a customer in a playbook with `when api`
    GET  /v1/customers/{id}/timeline        what Cadenza did for one customer, in time order

An enrollment request is stored as a synthetic `__api__` event (pending, like any event): the
runtime enters the customer at its next tick, after the audience and re-entry rules, so the
answer is 202. With no admin key configured the admin API refuses every request.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cadenza.engine import schema as t
from cadenza.engine.api.events import (
    CALL_LIMIT,
    ID_LIMIT,
    ApiError,
    error_response,
    json_type,
    parse_json,
    read_body,
    unstorable,
)
from cadenza.engine.api.events import unavailable as store_unavailable
from cadenza.engine.entries import API_EVENT
from cadenza.engine.machine import deferred_until
from cadenza.engine.service import Service
from cadenza.engine.settings import ServeSettings
from cadenza.engine.state import Event
from cadenza.grammar.diagnostics import did_you_mean
from cadenza.playbooks import model as m

RESERVED = ("kind", "playbook")  # the synthetic event's own keys
# A fixed limit the document can state: with "enroll:<playbook>:" in front it fits the store's
# 128-character column for playbook names up to 55 characters.
MESSAGE_ID_LIMIT = 64
TIMELINE_DEFAULT, TIMELINE_MAX = 200, 1000
Json = dict[str, Any]
# At one instant: in, then what the steps did, then out.
ORDER = {"enrolled": 0, "suppression": 1, "message": 2, "conversion": 3, "ended": 4}


def _iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BearerAuth:
    def __init__(self, key: str) -> None:
        self._key = key

    def check(self, request: Request) -> None:
        if not self._key:
            raise ApiError(401, "unauthorized", "the admin API is off because no admin key is "
                           "configured; set CADENZA_ADMIN_KEY on the server to use it.")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                                 self._key.encode()):
            raise ApiError(401, "unauthorized", "this request does not carry the admin key; "
                           "send 'Authorization: Bearer <admin key>'.")


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message)


def enrollment_event(name: str, body: Any, now: int) -> Event:
    """The `__api__` event for an enrollment request body; raises ApiError (400) if malformed."""
    if not isinstance(body, dict):
        raise _bad(f"the body is a JSON {json_type(body)}; send "
                   '{"userId": ..., "properties": {...}}.')
    user = body.get("userId")
    if isinstance(user, bool) or not isinstance(user, str | int | float) or user == "":
        raise _bad("the enrollment has no 'userId'; give the id of the customer to enrol.")
    if len(str(user)) > ID_LIMIT:
        raise _bad(f"the 'userId' has {len(str(user))} characters; the limit is {ID_LIMIT}.")
    for key, text in (("userId", str(user)), ("messageId", body.get("messageId"))):
        problem = unstorable(text) if isinstance(text, str) else None
        if problem is not None:
            raise _bad(f"the '{key}' has {problem}; remove it.")
    props = body.get("properties", {})
    if not isinstance(props, dict):
        raise _bad(f"the 'properties' is a JSON {json_type(props)}; it must be an object.")
    clash = sorted(set(props) & set(RESERVED))
    if clash:
        raise _bad(f"the properties use the reserved name '{clash[0]}'; rename it (Cadenza "
                   f"keeps {' and '.join(repr(k) for k in RESERVED)} for itself).")
    return Event(customer_id=str(user), name=API_EVENT, ts=now,
                 message_id=_message_id(name, body.get("messageId")),
                 properties={**props, "kind": "api", "playbook": name})


def _message_id(name: str, given: Any) -> str | None:
    """The stored message id, `enroll:<playbook>:<messageId>`, or None without one."""
    if given is None:
        return None
    if not isinstance(given, str) or not given:
        raise _bad("the 'messageId' must be a non-empty string.")
    if len(given) > MESSAGE_ID_LIMIT:
        raise _bad(f"the 'messageId' has {len(given)} characters; the limit is "
                   f"{MESSAGE_ID_LIMIT}.")
    stored = f"enroll:{name}:{given}"
    if len(stored) > ID_LIMIT:  # only with a playbook name over 55 characters
        raise _bad(f"the 'messageId' is too long for playbook '{name}'; keep it under "
                   f"{ID_LIMIT - 8 - len(name)} characters.")
    return stored


def timeline(conn: Connection, customer: str, limit: int) -> Json | None:
    """The customer and the newest `limit` timeline items, oldest first; None if unknown."""
    c = t.customers
    row = conn.execute(select(c.c.id, c.c.email_revoked, c.c.sms_revoked, c.c.updated_at)
                       .where(c.c.id == customer)).first()
    if row is None:
        return None
    items = [*_enrollments(conn, customer, limit), *_messages(conn, customer, limit),
             *_suppressions(conn, customer, limit), *_conversions(conn, customer, limit)]
    items.sort(key=lambda i: (i["ts"], ORDER[i["kind"]], i.get("id", 0)))
    return {"customer": {"id": row.id, "email_revoked": row.email_revoked,
                         "sms_revoked": row.sms_revoked},
            "timeline": items[-limit:], "truncated": len(items) > limit}


def _newest(conn: Connection, table: Any, customer: str, at: Any, limit: int) -> list[Any]:
    return list(conn.execute(select(table).where(table.c.customer_id == customer)
                             .order_by(at.desc(), table.c.id.desc()).limit(limit)))


def _enrollments(conn: Connection, customer: str, limit: int) -> list[Json]:
    e = t.enrollments
    out: list[Json] = []
    for r in _newest(conn, e, customer, e.c.entered_at, limit):
        out.append({"kind": "enrolled", "ts": r.entered_at, "at": _iso(r.entered_at),
                    "enrollment": r.id, "playbook": r.playbook, "state": r.state,
                    "node": r.node, "due_at": _iso(r.due_at)})
        if r.ended_at is not None:
            out.append({"kind": "ended", "ts": r.ended_at, "at": _iso(r.ended_at),
                        "enrollment": r.id, "playbook": r.playbook, "state": r.state,
                        "reason": r.end_reason})
    return out


def _messages(conn: Connection, customer: str, limit: int) -> list[Json]:
    msg = t.messages
    return [{"kind": "message", "ts": r.created_at, "at": _iso(r.created_at), "id": r.id,
             "enrollment": r.enrollment_id, "playbook": r.playbook, "node": r.node,
             "stage": r.stage, "channel": r.channel, "template": r.template,
             "subject": r.subject, "status": r.status, "attempts": r.attempts,
             "sent_at": _iso(r.sent_at), "error": r.last_error}
            for r in _newest(conn, msg, customer, msg.c.created_at, limit)]


def _suppressions(conn: Connection, customer: str, limit: int) -> list[Json]:
    s = t.suppressions
    return [{"kind": "suppression", "ts": r.at, "at": _iso(r.at), "id": r.id,
             "enrollment": r.enrollment_id, "playbook": r.playbook, "node": r.node,
             "channel": r.channel, "reason": r.reason, "action": r.action,
             "detail": _readable(r.detail)}
            for r in _newest(conn, s, customer, s.c.at, limit)]


def _readable(detail: str | None) -> str | None:
    """The engine's "until EPOCH" (a deferral) as the time it names, as explain shows it."""
    until = deferred_until(detail)
    return detail if until is None else f"until {_iso(until)}"


def _conversions(conn: Connection, customer: str, limit: int) -> list[Json]:
    cv = t.conversions
    return [{"kind": "conversion", "ts": r.at, "at": _iso(r.at), "id": r.id,
             "enrollment": r.enrollment_id, "playbook": r.playbook, "goal": r.goal,
             "arm": r.arm}
            for r in _newest(conn, cv, customer, cv.c.at, limit)]


def _limit(request: Request) -> int:
    # An unknown parameter is refused, not ignored: `?limt=5` would silently give the default 200.
    for name in request.query_params:
        if name != "limit":
            raise _bad(f"the timeline takes no query parameter {name!r}; the only one is "
                       f"'limit' (1 to {TIMELINE_MAX}).")
    text = request.query_params.get("limit", str(TIMELINE_DEFAULT))
    if not text.isdigit() or not 1 <= int(text) <= TIMELINE_MAX:
        raise _bad(f"'limit' is {text!r}; give a whole number from 1 to {TIMELINE_MAX}.")
    return int(text)


class AdminApi:
    def __init__(self, service: Service, auth: BearerAuth) -> None:
        self.service, self.auth = service, auth

    async def enroll(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            self.auth.check(request)
            self._enrollable(name)
            raw = await read_body(request, CALL_LIMIT, "enrollment request")
            body = parse_json(raw, '{"userId": ..., "properties": {...}}')
            event = enrollment_event(name, body, self.service.now())
            new = await run_in_threadpool(self.service.ingest, [event])
        except ApiError as exc:
            return error_response(exc, "Bearer")
        except SQLAlchemyError:
            return error_response(store_unavailable("retry with the same messageId"))
        return JSONResponse({"success": True, "duplicate": new == 0}, 202)

    def _enrollable(self, name: str) -> None:
        playbooks = self.service.project.playbooks
        pb = playbooks.get(name)
        if pb is None:
            raise ApiError(404, "not_found",
                           f"unknown playbook '{name}'{did_you_mean(name, playbooks)}")
        if not any(isinstance(entry, m.ApiEntry) for entry in pb.entries):
            raise ApiError(409, "no_api_entry", f"playbook '{name}' has no `when api` entry; "
                           "add `when api` to it to enrol customers through this endpoint.")

    async def customer_timeline(self, request: Request) -> Response:
        customer = request.path_params["customer_id"]
        try:
            self.auth.check(request)
            limit = _limit(request)
            # An id no column can hold is no customer's; asking PostgreSQL would be a 503.
            found = None if unstorable(customer) else await run_in_threadpool(
                self._read, customer, limit)
        except ApiError as exc:
            return error_response(exc, "Bearer")
        except SQLAlchemyError:
            return error_response(ApiError(503, "unavailable", "the store could not be read; "
                                           "retry the request."))
        if found is None:
            return error_response(ApiError(404, "not_found", f"unknown customer '{customer}'; "
                                           "Cadenza has no events or attributes for them."))
        return JSONResponse(found)

    def _read(self, customer: str, limit: int) -> Json | None:
        with self.service.store.engine.connect() as conn:
            return timeline(conn, customer, limit)


class AnyText(PathConvertor):
    """`path`, across line breaks too: a customer id (any Segment userId) may hold any
    character, and `.` alone stops at a newline, which made such customers unreachable."""

    regex = "(?s:.*)"


register_url_convertor("anytext", AnyText())  # Starlette keeps convertors in one registry


def routes(service: Service, settings: ServeSettings) -> list[BaseRoute]:
    """Enrollments by API and the customer timeline, behind the admin key."""
    api = AdminApi(service, BearerAuth(settings.admin_key.get_secret_value()))
    return [Route("/v1/playbooks/{name}/enrollments", api.enroll, methods=["POST"]),
            Route("/v1/customers/{customer_id:anytext}/timeline", api.customer_timeline,
                  methods=["GET"])]
