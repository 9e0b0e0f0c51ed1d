"""Bad requests to the event API: each answered 4xx with a message naming what was wrong,
and none stores anything.

`CASES` is the trial: one request per line, grouped in classes (oversized, malformed, wrong
type, missing field, reserved name, wrongly encoded). `test_every_bad_request_is_refused`
sends them all and asserts the exact count refused per class, so a handler that starts
accepting one (or answering 5xx) changes a count and fails. The property tests below send
random bodies. The regression tests at the end pin what this trial found and fixed.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cadenza.engine import schema as t
from cadenza.engine.api.events import BATCH_ITEMS, BATCH_LIMIT, CALL_LIMIT
from cadenza.engine.schema import metadata
from tests.api.conftest import BEARER, Api, basic, make_settings

JSON = {"Content-Type": "application/json"}
GZIP = {**JSON, "Content-Encoding": "gzip"}
OK_CALL = {"userId": "ana", "event": "clicked", "messageId": "m-ok"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The API on SQLite, write and admin keys set (as in tests/api)."""
    built = Api(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", make_settings())
    yield built
    built.close()


@pytest.fixture
def any_api(tmp_path: Path, store_url: str) -> Iterator[Api]:
    """The API on SQLite and on PostgreSQL."""
    built = Api(tmp_path, store_url, make_settings())
    yield built
    built.close()


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


@dataclass(frozen=True)
class Bad:
    """One bad request: what it is, what is sent, and the refusal expected."""

    kind: str  # the class it is counted in
    what: str
    path: str
    content: bytes | Callable[[], bytes]
    status: int
    code: str
    says: str  # the message must contain this: it names what was wrong
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))

    def payload(self) -> bytes:
        return self.content() if callable(self.content) else self.content


def _big_call() -> bytes:
    return body({**OK_CALL, "properties": {"pad": "x" * CALL_LIMIT}})


def _big_batch() -> bytes:
    return body({"batch": [{**OK_CALL, "type": "track", "properties": {"pad": "x" * 1000}}
                           for _ in range(BATCH_LIMIT // 1000 + 10)]})


def _many_calls() -> bytes:
    return body({"batch": [{"type": "track", "userId": "a", "event": "e"}
                           for _ in range(BATCH_ITEMS + 1)]})


def _gzip_bomb() -> bytes:
    return gzip.compress(body({**OK_CALL, "properties": {"pad": "0" * (4 * CALL_LIMIT)}}))


CASES: list[Bad] = [
    # ---- oversized
    Bad("oversized", "a call over 32 KB", "/v1/track", _big_call, 413, "payload_too_large",
        "32 KB"),
    Bad("oversized", "a batch over 500 KB", "/v1/batch", _big_batch, 413,
        "payload_too_large", "500 KB"),
    Bad("oversized", "a batch of 2,501 calls", "/v1/batch", _many_calls, 413,
        "payload_too_large", "2501 calls"),
    Bad("oversized", "a small gzip that inflates past 32 KB", "/v1/track", _gzip_bomb, 413,
        "payload_too_large", "32 KB", dict(GZIP)),
    Bad("oversized", "a Content-Length over the limit", "/v1/identify", b"{}", 413,
        "payload_too_large", "32 KB", {**JSON, "Content-Length": str(CALL_LIMIT + 1)}),
    # ---- malformed JSON
    Bad("malformed", "not JSON", "/v1/track", b"hello", 400, "invalid_json",
        "Expecting value at line 1 column 1"),
    Bad("malformed", "JSON cut short", "/v1/track", b'{"userId": "ana", "ev', 400,
        "invalid_json", "line 1 column"),
    Bad("malformed", "an empty body", "/v1/batch", b"", 400, "invalid_json",
        "Expecting value"),
    Bad("malformed", "NaN", "/v1/track", b'{"userId": "a", "event": "e", "n": NaN}', 400,
        "invalid_json", "NaN is not a JSON number"),
    Bad("malformed", "a JSON array", "/v1/track", b"[1, 2]", 400, "invalid_json",
        "JSON array"),
    Bad("malformed", "a JSON string", "/v1/identify", b'"ana"', 400, "invalid_json",
        "JSON string"),
    Bad("malformed", "arrays nested 20,000 deep", "/v1/track", b"[" * 20_000, 400,
        "invalid_json", "too deeply"),
    Bad("malformed", "properties nested 3,000 deep", "/v1/track",
        b'{"userId": "a", "event": "e", "properties": ' + b'{"a": ' * 3000 + b"1"
        + b"}" * 3001, 400, "invalid_json", "too deeply"),
    Bad("malformed", "a batch without 'batch'", "/v1/batch", body({"calls": []}), 400,
        "invalid_request", "no 'batch' array"),
    Bad("malformed", "a batch item that is a number", "/v1/batch", body({"batch": [7]}), 400,
        "invalid_request", "batch item 0 is a JSON number"),
    # ---- wrong types
    Bad("wrong type", "userId an object", "/v1/track",
        body({"userId": {"id": 1}, "event": "e"}), 400, "invalid_request",
        "'userId' of type object"),
    Bad("wrong type", "userId a boolean", "/v1/identify", body({"userId": True}), 400,
        "invalid_request", "'userId' of type boolean"),
    Bad("wrong type", "event a number", "/v1/track", body({"userId": "a", "event": 5}), 400,
        "invalid_request", "'event' of type number"),
    Bad("wrong type", "properties a list", "/v1/track",
        body({**OK_CALL, "properties": [1]}), 400, "invalid_request",
        "'properties' of type array"),
    Bad("wrong type", "traits a string", "/v1/identify",
        body({"userId": "a", "traits": "gold"}), 400, "invalid_request",
        "'traits' of type string"),
    Bad("wrong type", "context a list", "/v1/track", body({**OK_CALL, "context": []}), 400,
        "invalid_request", "'context' of type array"),
    Bad("wrong type", "timestamp a boolean", "/v1/track",
        body({**OK_CALL, "timestamp": True}), 400, "invalid_request", "'timestamp'"),
    Bad("wrong type", "timestamp in words", "/v1/track",
        body({**OK_CALL, "timestamp": "yesterday"}), 400, "invalid_request", "'yesterday'"),
    Bad("wrong type", "timestamp without a zone", "/v1/track",
        body({**OK_CALL, "timestamp": "2026-03-07T10:00:00"}), 400, "invalid_request",
        "no time zone"),
    Bad("wrong type", "timestamp in milliseconds past year 9999", "/v1/track",
        body({**OK_CALL, "timestamp": 1e300}), 400, "invalid_request", "not milliseconds"),
    Bad("wrong type", "a bad originalTimestamp next to a good timestamp", "/v1/track",
        body({**OK_CALL, "timestamp": "2026-03-07T10:00:00Z", "originalTimestamp": "soon"}),
        400, "invalid_request", "'originalTimestamp'"),
    Bad("wrong type", "a track posted to /v1/identify", "/v1/identify",
        body({**OK_CALL, "type": "track"}), 400, "invalid_request", "/v1/identify takes"),
    Bad("wrong type", "a batch item of an unknown type", "/v1/batch",
        body({"batch": [{**OK_CALL, "type": "purchase"}]}), 400, "invalid_request",
        "type 'purchase'"),
    Bad("wrong type", "a userId of 129 characters", "/v1/track",
        body({**OK_CALL, "userId": "u" * 129}), 400, "invalid_request", "129 characters"),
    Bad("wrong type", "an over-long anonymousId next to a good userId", "/v1/track",
        body({**OK_CALL, "anonymousId": "a" * 129}), 400, "invalid_request",
        "'anonymousId' of 129"),
    Bad("wrong type", "a NUL in the userId", "/v1/track", body({**OK_CALL, "userId": "a\0"}),
        400, "invalid_request", "NUL"),
    Bad("wrong type", "an unpaired surrogate in the event name", "/v1/track",
        b'{"userId": "a", "event": "e\\ud800"}', 400, "invalid_request", "surrogate"),
    Bad("wrong type", "a NUL in the email trait", "/v1/identify",
        body({"userId": "a", "traits": {"email": "a\0@example.com"}}), 400,
        "invalid_request", "trait 'email'"),
    Bad("wrong type", "a phone trait of 40 characters", "/v1/identify",
        body({"userId": "a", "traits": {"phone": "+1" * 20}}), 400, "invalid_request",
        "trait 'phone' of 40 characters; the limit is 32"),
    Bad("wrong type", "an email trait that is an object", "/v1/identify",
        body({"userId": "a", "traits": {"email": {"work": "a@example.com"}}}), 400,
        "invalid_request", "trait 'email' of type object"),
    # ---- missing fields
    Bad("missing field", "neither userId nor anonymousId", "/v1/track",
        body({"event": "e"}), 400, "invalid_request", "neither 'userId' nor 'anonymousId'"),
    Bad("missing field", "an empty userId", "/v1/identify", body({"userId": ""}), 400,
        "invalid_request", "neither 'userId' nor 'anonymousId'"),
    Bad("missing field", "a track without an event", "/v1/track", body({"userId": "a"}), 400,
        "invalid_request", "no 'event'"),
    Bad("missing field", "a group without groupId", "/v1/group", body({"userId": "a"}), 400,
        "invalid_request", "no 'groupId'"),
    Bad("missing field", "an alias without previousId", "/v1/alias", body({"userId": "a"}),
        400, "invalid_request", "'previousId'"),
    Bad("missing field", "a batch item without a type", "/v1/batch",
        body({"batch": [OK_CALL]}), 400, "invalid_request", "batch item 0 has no 'type'"),
    Bad("missing field", "the third batch item without a customer", "/v1/batch",
        body({"batch": [{**OK_CALL, "type": "track"}] * 2 + [{"type": "track", "event": "e"}]}),
        400, "invalid_request", "batch item 2 has neither"),
    # ---- reserved names (unknown event names are accepted: docs/api.md)
    Bad("reserved name", "an event named __api__", "/v1/track",
        body({**OK_CALL, "event": "__api__"}), 400, "invalid_request", "reserved"),
    # ---- wrongly encoded
    Bad("wrongly encoded", "Latin-1 bytes declared UTF-8", "/v1/track",
        '{"userId": "Ren\xe9e", "event": "e"}'.encode("latin-1"), 400, "invalid_json",
        "byte 0xe9 at offset 15", {"Content-Type": "application/json; charset=utf-8"}),
    Bad("wrongly encoded", "a form body", "/v1/track", b"userId=ana&event=e", 400,
        "invalid_json", "sent as 'application/x-www-form-urlencoded'",
        {"Content-Type": "application/x-www-form-urlencoded"}),
    Bad("wrongly encoded", "XML", "/v1/batch", b"<batch/>", 400, "invalid_json",
        "sent as 'application/xml'", {"Content-Type": "application/xml"}),
    Bad("wrongly encoded", "gzip data without Content-Encoding", "/v1/track",
        gzip.compress(body(OK_CALL)), 400, "invalid_json", "Content-Encoding: gzip"),
    Bad("wrongly encoded", "Content-Encoding: gzip on plain JSON", "/v1/track",
        body(OK_CALL), 400, "invalid_gzip", "not gzip data", dict(GZIP)),
    Bad("wrongly encoded", "gzip cut short", "/v1/track", gzip.compress(body(OK_CALL))[:-12],
        400, "invalid_gzip", "ends early", dict(GZIP)),
    Bad("wrongly encoded", "gzip with bytes after its end", "/v1/track",
        gzip.compress(body(OK_CALL)) + gzip.compress(b"{}"), 400, "invalid_gzip",
        "bytes after the end", dict(GZIP)),
    Bad("wrongly encoded", "Content-Encoding: br", "/v1/track", body(OK_CALL), 415,
        "unsupported_encoding", "'br'", {**JSON, "Content-Encoding": "br"}),
    Bad("wrongly encoded", "Content-Encoding: deflate", "/v1/batch", body({"batch": []}), 415,
        "unsupported_encoding", "'deflate'", {**JSON, "Content-Encoding": "deflate"}),
]
EXPECTED = {"oversized": 5, "malformed": 10, "wrong type": 20, "missing field": 7,
            "reserved name": 1, "wrongly encoded": 9}


def snapshot(api: Api) -> dict[str, list[Any]]:
    """Every row of every table: a refused request must leave all of them as they were."""
    return {table.name: [tuple(r) for r in api.rows(table)] for table in metadata.sorted_tables}


def refused(api: Api, case: Bad) -> bool:
    """Send one bad request; True when it is refused as expected and stored nothing."""
    before = snapshot(api)
    r = api.client.post(case.path, content=case.payload(), headers={**basic(), **case.headers})
    answer = r.json()
    assert (r.status_code, answer.get("code")) == (case.status, case.code), (case.what, answer)
    assert case.says in answer["message"], (case.what, answer["message"])
    assert answer["message"].endswith("."), answer["message"]
    assert snapshot(api) == before, case.what
    return True


def test_every_bad_request_is_refused(any_api: Api) -> None:
    """Each class of bad request is refused, with the count a regression would change."""
    counts = Counter(case.kind for case in CASES if refused(any_api, case))
    assert dict(counts) == EXPECTED
    assert any_api.events() == []


def test_a_good_request_still_goes_through_after_the_bad_ones(api: Api) -> None:
    """The trial's baseline: the same endpoint takes a good call, so refusals are not blanket."""
    for case in CASES:
        refused(api, case)
    r = api.client.post("/v1/track", json=OK_CALL, headers=basic())
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert [e[1] for e in api.events()] == ["clicked"]


def test_the_refusal_check_catches_an_accepted_bad_request(api: Api) -> None:
    """The checker fails when a handler accepts what the table says it must refuse."""
    good_as_bad = Bad("wrong type", "a good call", "/v1/track", body(OK_CALL), 400,
                      "invalid_request", "anything")
    with pytest.raises(AssertionError, match="a good call"):
        refused(api, good_as_bad)


def test_unknown_event_names_are_accepted(api: Api) -> None:
    """Event names are free-form (docs/api.md): an unknown one is stored, not refused."""
    r = api.client.post("/v1/track", json={**OK_CALL, "event": "never_declared"},
                        headers=basic())
    assert r.status_code == 200
    assert [e[1] for e in api.events()] == ["never_declared"]


def test_json_sent_as_text_plain_is_accepted(api: Api) -> None:
    """Browsers' sendBeacon posts JSON as text/plain: a JSON body is read whatever its
    Content-Type (docs/decisions.md)."""
    r = api.client.post("/v1/track", content=body(OK_CALL),
                        headers={**basic(), "Content-Type": "text/plain"})
    assert r.status_code == 200


def test_oversized_body_without_content_length_is_refused(api: Api) -> None:
    """A chunked body is counted as it arrives and refused past the limit."""
    def chunks() -> Any:
        yield b'{"userId": "a", "event": "e", "properties": {"pad": "'
        for _ in range(40):
            yield b"x" * 1024
        yield b'"}}'
    r = api.client.post("/v1/track", content=chunks(), headers={**basic(), **JSON})
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")
    assert api.events() == []


# ------------------------------------------------------------------ random bodies
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
FIELDS = ["type", "userId", "anonymousId", "event", "properties", "traits", "timestamp",
          "messageId", "groupId", "previousId", "context", "name"]
CALLS = st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])  # one store for all examples: nothing is reset
@given(raw=st.binary(max_size=300) | CALLS.map(body)
       | st.lists(CALLS, max_size=4).map(lambda b: body({"batch": b})),
       path=st.sampled_from(["/v1/track", "/v1/identify", "/v1/batch", "/v1/group"]))
def test_random_bodies_are_answered_2xx_or_4xx_never_5xx(api: Api, raw: bytes,
                                                         path: str) -> None:
    """Random bytes and random call-shaped JSON: a 200, or a 4xx that stores nothing."""
    before = snapshot(api)
    r = api.client.post(path, content=raw, headers={**basic(), **JSON})
    assert r.status_code < 500, (raw, r.text)
    if r.status_code != 200:
        assert set(r.json()) == {"code", "message"}
        assert snapshot(api) == before


# ------------------------------------------------------------------ regressions
def test_epoch_past_year_9999_is_a_400_not_a_500(api: Api) -> None:
    """Found by this trial: 1e300 epoch seconds overflowed the store's integer (500 on SQLite,
    503 'retry' on PostgreSQL, so SDKs retried forever)."""
    r = api.client.post("/v1/track", json={**OK_CALL, "timestamp": 1e17}, headers=basic())
    assert (r.status_code, r.json()["message"]) == (400, (
        "the track call has a 'timestamp' of 1e+17 epoch seconds, outside the years 1 to 9999; "
        "give seconds since 1970-01-01T00:00:00Z, not milliseconds."))


def test_a_fraction_past_the_last_second_is_refused_as_the_schema_says(api: Api) -> None:
    """Found by schemathesis: 253402300799.5 floored to the last allowed second and was
    accepted, though the OpenAPI document's maximum refuses it."""
    r = api.client.post("/v1/track", json={**OK_CALL, "timestamp": 253_402_300_799.5},
                        headers=basic())
    assert r.status_code == 400
    assert "outside the years 1 to 9999" in r.json()["message"]
    r = api.client.post("/v1/track", json={**OK_CALL, "timestamp": 253_402_300_799},
                        headers=basic())
    assert r.status_code == 200


def test_deep_nesting_is_a_400_not_a_500(api: Api) -> None:
    """Found by this trial: JSON nested thousands deep raised RecursionError (500)."""
    r = api.client.post("/v1/playbooks/onboarding/enrollments", content=b"[" * 20_000,
                        headers={**BEARER, **JSON})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_json")
    assert "too deeply" in r.json()["message"]


def test_nul_and_surrogates_in_ids_are_400_not_503(any_api: Api) -> None:
    """Found by this trial: a NUL in an id was a 503 'retry' on PostgreSQL (which refuses NUL
    in text), an unpaired surrogate a 500 on both stores; both are now 400."""
    for raw in (b'{"userId": "a\\u0000", "event": "e"}', b'{"userId": "a\\udc00", "event": "e"}'):
        r = any_api.client.post("/v1/track", content=raw, headers={**basic(), **JSON})
        assert (r.status_code, r.json()["code"]) == (400, "invalid_request"), r.text
    r = any_api.client.post("/v1/playbooks/onboarding/enrollments", headers=BEARER,
                            json={"userId": "a\0b"})
    assert (r.status_code, r.json()["message"]) == (
        400, "the 'userId' has a NUL character (\\u0000); remove it.")
    assert any_api.rows(t.customers) == []


def test_call_posted_to_another_kinds_endpoint_is_refused(api: Api) -> None:
    """Found by schemathesis: /v1/track ignored a body's 'type', so an identify posted there
    was stored as a track; now refused."""
    r = api.client.post("/v1/track", json={**OK_CALL, "type": "identify"}, headers=basic())
    assert r.json()["message"] == ("the track call has the type 'identify', but /v1/track "
                                   "takes track calls; drop 'type', or post it to /v1/batch.")


def test_every_sent_field_is_checked_even_when_unused(api: Api) -> None:
    """Found by schemathesis: a bad originalTimestamp or anonymousId next to a good timestamp
    or userId, a non-object context, and a numeric event name were stored without a word."""
    for extra, says in (({"originalTimestamp": "soon"}, "'originalTimestamp'"),
                        ({"anonymousId": "a" * 129}, "'anonymousId'"),
                        ({"integrations": 3}, "'integrations' of type number"),
                        ({"event": 12}, "'event' of type number")):
        r = api.client.post("/v1/track", json={**OK_CALL, **extra}, headers=basic())
        assert r.status_code == 400
        assert says in r.json()["message"]
    r = api.client.post("/v1/batch", json={"batch": [], "context": "web"}, headers=basic())
    assert r.json()["message"] == ("the batch body has a 'context' of type string; 'context' "
                                   "must be a JSON object.")


def test_customer_id_with_a_newline_has_a_timeline(api: Api) -> None:
    """Found by schemathesis: ids with a line break (any userId is allowed) did not match the
    timeline route, which answered Starlette's plain-text 404."""
    api.client.post("/v1/identify", json={"userId": "a\nb"}, headers=basic())
    r = api.client.get("/v1/customers/a%0Ab/timeline", headers=BEARER)
    assert (r.status_code, r.json()["customer"]["id"]) == (200, "a\nb")


def test_gzip_is_not_a_documented_header_parameter(api: Api) -> None:
    """Found by schemathesis: documenting Content-Encoding as a free header parameter claimed
    any body may carry 'gzip'; it is now described on the operation."""
    op = api.client.get("/openapi.json").json()["paths"]["/v1/track"]["post"]
    assert "parameters" not in op
    assert "Content-Encoding: gzip" in op["description"]


def test_enrollment_fields_are_read_as_documented(api: Api) -> None:
    """Found by schemathesis once it could reach the enrollment body: a numeric userId that is
    not an integer was refused though documented, and the messageId limit depended on the
    playbook's name; now any number is an id, null is no messageId, and the limit is 64."""
    url = "/v1/playbooks/onboarding/enrollments"
    r = api.client.post(url, headers=BEARER, json={"userId": 4.5, "messageId": None})
    assert (r.status_code, r.json()) == (202, {"success": True, "duplicate": False})
    r = api.client.post(url, headers=BEARER, json={"userId": "ana", "messageId": "m" * 65})
    assert (r.status_code, r.json()["message"]) == (
        400, "the 'messageId' has 65 characters; the limit is 64.")
    assert [e[0] for e in api.events()] == ["4.5"]


def test_timeline_of_an_id_with_a_nul_is_404_not_503(any_api: Api) -> None:
    """Found by probing PostgreSQL: a NUL in the timeline's customer id was a 503 'retry'."""
    r = any_api.client.get("/v1/customers/a%00b/timeline", headers=BEARER)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


def test_column_traits_must_fit_their_columns(any_api: Api) -> None:
    """Found by schemathesis on PostgreSQL: a phone over the column's 32 characters was a 503
    'retry' there (SQLite kept it), and an object was stored as its Python repr."""
    for traits in ({"phone": "+1" * 20}, {"timezone": ["UTC"]}):
        r = any_api.client.post("/v1/identify", headers=basic(),
                                json={"userId": "ana", "traits": traits})
        assert r.status_code == 400, r.text
    assert any_api.rows(t.customers) == []
