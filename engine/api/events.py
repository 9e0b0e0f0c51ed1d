"""The event API: Segment's HTTP Tracking API, so a product's Segment or RudderStack SDK can
point at Cadenza.

    POST /v1/track /v1/identify /v1/page /v1/screen /v1/group /v1/alias   one call (32 KB)
    POST /v1/batch                                     up to 2,500 calls (500 KB in all)

Auth is HTTP Basic with the write key as the user and no password, or `writeKey` in the body.
A request is checked whole before anything is stored, so a 400 changes nothing. Tracks, pages,
screens, groups and aliases become events (stored pending, deduplicated on `messageId`, so a
client's retry never doubles one); identifies set customer attributes through the schema, and
traits it refuses come back as warnings in the 200 answer.

Also the HTTP plumbing the other API modules share: `ApiError`, `error_response`, `read_body`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cadenza.engine import schema as t
from cadenza.engine.api.eventschema import checked
from cadenza.engine.service import COLUMNS, Service
from cadenza.engine.settings import ServeSettings
from cadenza.engine.state import Event
from cadenza.engine.timing import parse_timestamp

CALL_LIMIT = 32 * 1024
_ITEM = re.compile(r"batch item (\d+)\b")
BATCH_LIMIT = 500 * 1024
BATCH_ITEMS = 2_500
ID_LIMIT = 128  # the store's column width for customer ids, event names and message ids
# Epoch seconds the store and datetime can hold (0001-01-01 .. 9999-12-31): beyond them an
# insert overflows the column, which is the client's mistake (400), not the store's (5xx).
MIN_EPOCH, MAX_EPOCH = -62_135_596_800, 253_402_300_799
# The customers table's widths for the traits identify keeps in their own columns.
COLUMN_LIMITS = {key: getattr(t.customers.c[key].type, "length", None) or ID_LIMIT
                 for key in COLUMNS}
ID_FIELDS = ("userId", "anonymousId", "groupId", "previousId")  # Segment allows numeric ids
STORED = ("track", "page", "screen", "group", "alias")  # calls stored as events
TYPES = ("track", "identify", *STORED[1:])
Handler = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """A request we refuse: the HTTP status, a short code and a sentence saying how to fix it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(exc: ApiError, challenge: str | None = "Basic") -> JSONResponse:
    """The `{"code", "message"}` answer; a 401 names the auth scheme to use (`challenge`)."""
    headers = {"WWW-Authenticate": challenge} if exc.status == 401 and challenge else None
    return JSONResponse({"code": exc.code, "message": exc.message}, exc.status, headers)


def unavailable(retry: str = "retry the call; repeats are dropped by messageId") -> ApiError:
    return ApiError(503, "unavailable", f"the store could not be written; {retry}.")


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The body, gunzipped when sent with `Content-Encoding: gzip`, refused past `limit`."""
    too_big = ApiError(413, "payload_too_large", f"the {what} is larger than the "
                       f"{limit // 1024} KB limit; split it into smaller calls.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise too_big
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return bytes(raw)
    if encoding != "gzip":
        raise ApiError(415, "unsupported_encoding", f"Content-Encoding '{encoding}' is not "
                       "supported; send the body as is or gzip it.")
    inflater = zlib.decompressobj(wbits=31)
    try:
        body = inflater.decompress(bytes(raw), limit + 1)
    except zlib.error:
        raise ApiError(400, "invalid_gzip", "the body is marked Content-Encoding: gzip but is "
                       "not gzip data; compress it or drop the header.") from None
    if len(body) > limit:
        raise too_big
    if not inflater.eof:
        raise ApiError(400, "invalid_gzip", "the gzip body ends early; send the whole stream.")
    if inflater.unused_data:  # a second member or junk: it would be dropped without a word
        raise ApiError(400, "invalid_gzip", f"the gzip body has {len(inflater.unused_data)} "
                       "bytes after the end of its stream; send one gzip stream and nothing "
                       "after it.")
    return body


# ------------------------------------------------------------------ parsing calls
@dataclass
class Parsed:
    """What one request asks for, checked whole before anything is stored."""

    events: list[Event] = field(default_factory=list)
    identifies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # where, id
    tracks: list[tuple[int, str]] = field(default_factory=list)  # events[i] is a track; where


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    return names.get(type(value), "number")


def parse_json(raw: bytes, expected: str, content_type: str | None = None) -> Any:
    """The parsed body; raises ApiError (400) for bad JSON, including NaN and Infinity."""
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON number")
    try:
        return json.loads(raw, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        detail = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    except UnicodeDecodeError as exc:
        detail = (f"it is not {exc.encoding.upper()}: byte 0x{raw[exc.start]:02x} at offset "
                  f"{exc.start}; encode the text as UTF-8")
    except RecursionError:  # the parser recurses once per level: a 32 KB "[[[[..." would 500
        detail = "it nests arrays or objects too deeply; keep it to a few levels"
    except ValueError as exc:
        detail = str(exc)
    raise ApiError(400, "invalid_json", f"the body is not valid JSON ({detail}); send "
                   f"{expected}{_json_hint(raw, content_type)}.")


def _json_hint(raw: bytes, content_type: str | None) -> str:
    """What was probably wrong when a body is not JSON: undeclared gzip, another media type."""
    if raw[:2] == b"\x1f\x8b":
        return ", or declare gzip data with 'Content-Encoding: gzip'"
    media = (content_type or "").partition(";")[0].strip().lower()
    if media and media not in ("application/json", "text/plain") and not media.endswith("+json"):
        return f" with 'Content-Type: application/json' (this body was sent as '{media}')"
    return ""


def _bad(message: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message)


def unstorable(text: str) -> str | None:
    """Why the store cannot keep `text` in a text column (None when it can): PostgreSQL
    refuses NUL characters and neither store can encode an unpaired surrogate, which as a
    store error would answer 503 and make the client retry a request that can never work."""
    if "\x00" in text:
        return "a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"an unpaired UTF-16 surrogate (\\u{ord(text[exc.start]):04x})"
    return None


def _text(call: Mapping[str, Any], key: str, where: str) -> str | None:
    """A string field (ids may be numbers), None when absent or empty; refused past the column
    width."""
    value = call.get(key)
    if value is None or value == "":
        return None
    allowed = str | int | float if key in ID_FIELDS else str
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise _bad(f"{where} has a '{key}' of type {json_type(value)}; "
                   f"'{key}' must be a string.")
    text = str(value)
    if len(text) > ID_LIMIT:
        raise _bad(f"{where} has a '{key}' of {len(text)} characters; the limit is {ID_LIMIT}.")
    problem = unstorable(text)
    if problem is not None:
        raise _bad(f"{where} has a '{key}' with {problem}; remove it.")
    return text


def _object(call: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = call.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{where} has a '{key}' of type {json_type(value)}; "
                   f"'{key}' must be a JSON object.")
    return value


def _timestamp(call: Mapping[str, Any], where: str, now: int) -> int:
    """`timestamp`, else `originalTimestamp`, else now; every one sent must be good."""
    found = [_one_timestamp(call, key, where) for key in ("timestamp", "originalTimestamp")]
    return next((ts for ts in found if ts is not None), now)


def _one_timestamp(call: Mapping[str, Any], key: str, where: str) -> int | None:
    value = call.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise _bad(f"{where} has a '{key}' of type {json_type(value)}; give an "
                   "ISO 8601 text such as '2026-03-07T10:00:00Z'.")
    try:
        ts = parse_timestamp(value)
    except ValueError as exc:
        reason = str(exc)
        raise _bad(f"{where} has a bad '{key}': {reason[:1].lower()}{reason[1:]}") from None
    # The number as sent, not floored: 253402300799.5 is past the schema's maximum too.
    if not MIN_EPOCH <= (value if isinstance(value, int | float) else ts) <= MAX_EPOCH:
        raise _bad(f"{where} has a '{key}' of {value!r} epoch seconds, outside the years "
                   "1 to 9999; give seconds since 1970-01-01T00:00:00Z, not milliseconds.")
    return ts


def _traits(call: Mapping[str, Any], where: str) -> dict[str, Any]:
    """An identify's traits; those stored in their own text columns must fit them (PostgreSQL
    refuses an over-long value, which as a store error would answer 503 'retry')."""
    traits = _object(call, "traits", where)
    for key in COLUMNS:
        value = traits.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _bad(f"{where} has a trait '{key}' of type {json_type(value)}; '{key}' must "
                       "be a string.")
        text, limit = str(value), COLUMN_LIMITS[key]
        if len(text) > limit:
            raise _bad(f"{where} has a trait '{key}' of {len(text)} characters; the limit is "
                       f"{limit}.")
        problem = unstorable(text)
        if problem is not None:
            raise _bad(f"{where} has a trait '{key}' with {problem}; remove it.")
    return traits


def _customer(call: Mapping[str, Any], kind: str, where: str) -> str:
    user, anonymous = _text(call, "userId", where), _text(call, "anonymousId", where)
    customer = user or anonymous  # both are checked: a bad one is refused even if unused
    if customer is None:
        raise _bad(f"{where} has neither 'userId' nor 'anonymousId'; {kind} calls need one "
                   "to know whose it is.")
    return customer


def _event_of(call: Mapping[str, Any], kind: str, where: str) -> tuple[str, dict[str, Any]]:
    """The stored event's name and properties for a track, page, screen, group or alias."""
    if kind == "track":
        name = _text(call, "event", where)
        if name is None:
            raise _bad(f"{where} has no 'event'; track calls need an event name.")
        if name.startswith("__"):
            raise _bad(f"{where} has the event name '{name}'; names starting with '__' are "
                       "reserved for Cadenza's own events.")
        return name, _object(call, "properties", where)
    if kind in ("page", "screen"):
        extra = {k: v for k in ("name", "category") if (v := _text(call, k, where)) is not None}
        return kind, {**_object(call, "properties", where), **extra}
    if kind == "group":
        group = _text(call, "groupId", where)
        if group is None:
            raise _bad(f"{where} has no 'groupId'; group calls name the group they join.")
        return kind, {**_object(call, "traits", where), "groupId": group}
    previous = _text(call, "previousId", where)
    if previous is None or _text(call, "userId", where) is None:
        raise _bad(f"{where} needs both 'previousId' and 'userId'; an alias links the two.")
    return kind, {"previousId": previous}


def parse_call(call: Any, kind: str | None, where: str, now: int, into: Parsed) -> None:
    """Check one call and add what it asks for to `into`; raises ApiError (400) otherwise."""
    if not isinstance(call, dict):
        raise _bad(f"{where} is a JSON {json_type(call)}; each call is a JSON object.")
    if kind is None:
        kind = call.get("type")
        if kind is None:
            raise _bad(f"{where} has no 'type'; give one of {', '.join(TYPES)}.")
        if kind not in TYPES:
            raise _bad(f"{where} has the type {kind!r}; give one of {', '.join(TYPES)}.")
    elif call.get("type", kind) != kind:
        # A call posted to the wrong endpoint would otherwise be stored as another kind.
        raise _bad(f"{where} has the type {call['type']!r}, but /v1/{kind} takes {kind} "
                   f"calls; drop 'type', or post it to /v1/batch.")
    for key in ("context", "integrations"):  # not stored, but refused when not objects
        _object(call, key, where)
    customer = _customer(call, kind, where)
    ts = _timestamp(call, where, now)
    message_id = _text(call, "messageId", where)
    if kind == "identify":
        into.identifies.append((where, customer, _traits(call, where)))
        return
    name, properties = _event_of(call, kind, where)
    if kind == "track":
        into.tracks.append((len(into.events), where))
    into.events.append(Event(customer_id=customer, name=name, ts=ts, properties=properties,
                             message_id=message_id))


# ------------------------------------------------------------------ auth
def _basic_user(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return user, password


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class WriteKeyAuth:
    """HTTP Basic (write key as user, empty password) or `writeKey` in the body."""

    key: str

    def by_header(self, request: Request) -> bool:
        """True when the header proves the key; raises when the header is wrong."""
        if not self.key:
            return True
        header = request.headers.get("authorization")
        if header is None:
            return False
        creds = _basic_user(header)
        if creds is None or not _same(creds[0], self.key) or creds[1]:
            raise ApiError(401, "unauthorized", "the Authorization header does not carry this "
                           "source's write key; send HTTP Basic with the write key as the user "
                           "name and an empty password.")
        return True

    def by_body(self, body: Any) -> None:
        key = body.get("writeKey") if isinstance(body, dict) else None
        if not isinstance(key, str) or not _same(key, self.key):
            raise ApiError(401, "unauthorized", "this request carries no valid write key; send "
                           "HTTP Basic with the write key as the user name and an empty "
                           "password, or 'writeKey' in the body.")


# ------------------------------------------------------------------ handlers
@dataclass(frozen=True)
class EventApi:
    service: Service
    auth: WriteKeyAuth

    def call(self, kind: str) -> Handler:
        async def handle(request: Request) -> Response:
            return await self._handle(request, kind)
        return handle

    async def batch(self, request: Request) -> Response:
        return await self._handle(request, None)

    async def _handle(self, request: Request, kind: str | None) -> Response:
        try:
            body = await self._authorized_body(request, kind)
            parsed = self._parse(body, kind)
            warnings = await run_in_threadpool(self._apply, parsed)
        except ApiError as exc:
            return error_response(exc)
        answer: dict[str, Any] = {"success": True}
        if warnings:
            answer["warnings"] = warnings
        return JSONResponse(answer)

    async def _authorized_body(self, request: Request, kind: str | None) -> dict[str, Any]:
        proved = self.auth.by_header(request)
        limit, what = (CALL_LIMIT, f"{kind} call") if kind else (BATCH_LIMIT, "batch")
        raw = await read_body(request, limit, what)
        try:
            body = parse_json(raw, "one JSON object", request.headers.get("content-type"))
        except ApiError:
            if not proved:
                self.auth.by_body(None)
            raise
        if not proved:
            self.auth.by_body(body)
        if not isinstance(body, dict):
            raise _bad(f"the body is a JSON {json_type(body)}; send one JSON object.",
                       "invalid_json")
        return body

    def _parse(self, body: dict[str, Any], kind: str | None) -> Parsed:
        now, parsed = self.service.now(), Parsed()
        if kind is not None:
            parse_call(body, kind, f"the {kind} call", now, parsed)
            return parsed
        items = body.get("batch")
        _object(body, "context", "the batch body")
        if not isinstance(items, list):
            raise _bad("the batch body has no 'batch' array; send {\"batch\": [calls...]}.")
        if len(items) > BATCH_ITEMS:
            raise ApiError(413, "payload_too_large", f"the batch has {len(items)} calls; the "
                           f"limit is {BATCH_ITEMS:,} per batch. Split it into smaller batches.")
        for i, item in enumerate(items):
            size = _encoded_size(item)
            if size > CALL_LIMIT:  # Segment's limit holds for each call of a batch too
                raise ApiError(413, "payload_too_large", f"batch item {i} is {size:,} bytes; "
                               f"one call is limited to {CALL_LIMIT // 1024} KB, in a batch "
                               "too. Send less in its properties or traits.")
            parse_call(item, None, f"batch item {i}", now, parsed)
        return parsed

    @staticmethod
    def _in_item_order(warnings: list[str]) -> list[str]:
        # Events are checked before identifies are applied; the answer lists by batch item.
        return sorted(warnings, key=lambda w: int(m.group(1)) if (m := _ITEM.match(w)) else -1)

    def _apply(self, parsed: Parsed) -> list[str]:
        """Identifies first (attributes in place before the events are handled), then events."""
        warnings: list[str] = []
        schema = self.service.project.schema_
        for i, where in parsed.tracks:
            parsed.events[i], problems = checked(parsed.events[i], schema, where)
            warnings.extend(problems)
        try:
            for where, customer, traits in parsed.identifies:
                problems = self.service.identify(customer, traits)
                prefix = f"{where}: " if where.startswith("batch") else ""
                warnings.extend(prefix + p for p in problems)
            new = self.service.ingest(parsed.events)
        except SQLAlchemyError:
            structlog.get_logger("cadenza.api").exception("api.store_failed")
            raise unavailable() from None
        structlog.get_logger("cadenza.api").info(
            "api.accepted", events=len(parsed.events), new=new,
            identifies=len(parsed.identifies), warnings=len(warnings))
        return self._in_item_order(warnings)


def _encoded_size(item: object) -> int:
    try:
        return len(orjson.dumps(item))
    except TypeError:  # an integer past 64 bits: the standard library writes any
        return len(json.dumps(item, separators=(",", ":")))


def routes(service: Service, settings: ServeSettings) -> list[BaseRoute]:
    """The Segment-compatible tracking endpoints."""
    api = EventApi(service=service, auth=WriteKeyAuth(settings.write_key.get_secret_value()))
    out: list[BaseRoute] = [Route(f"/v1/{kind}", api.call(kind), methods=["POST"])
                            for kind in TYPES]
    out.append(Route("/v1/batch", api.batch, methods=["POST"]))
    return out
