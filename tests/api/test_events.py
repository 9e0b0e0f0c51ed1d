"""The Segment-compatible event API over a real Service and store."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from cadenza.engine import schema as t
from cadenza.engine.evaluate import Env, truth
from cadenza.playbooks.model import Cmp, Const, Ref
from tests.api.conftest import WRITE_KEY, Api, ApiFactory, basic

T0 = 1772445600  # 2026-03-02T10:00:00Z


def track(**fields: Any) -> dict[str, Any]:
    return {"userId": "ana", "event": "cart_abandoned", "properties": {"cart_value": 40},
            "timestamp": "2026-03-02T10:00:00Z", "messageId": "m-1", **fields}


# ------------------------------------------------------------------ happy paths
def test_track_is_stored_with_its_timestamp_and_server_receipt(any_api: Api) -> None:
    """A track becomes one pending event at its timestamp; receivedAt is the server's time."""
    r = any_api.client.post("/v1/track", json=track(), headers=basic())
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert any_api.events() == [("ana", "cart_abandoned", T0, {"cart_value": 40}, "m-1")]
    [row] = any_api.rows(t.events)
    assert row.processed is False
    assert abs(row.received_at - any_api.service.now()) <= 5


def test_identify_sets_attributes_and_columns(any_api: Api) -> None:
    """Identify traits set schema attributes and the email/phone/timezone columns."""
    r = any_api.client.post("/v1/identify", headers=basic(), json={
        "userId": "ana", "traits": {"first_name": "Ana", "tier": "gold",
                                    "email": "ana@example.com", "phone": "+15555550123"}})
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert any_api.attributes("ana") == {"first_name": "Ana", "tier": "gold"}
    [customer] = any_api.rows(t.customers)
    assert (customer.email, customer.phone) == ("ana@example.com", "+15555550123")
    assert any_api.events() == []


def test_batch_stores_every_kind_in_one_call(any_api: Api) -> None:
    """A batch mixes all six call types; events get their Segment names and fields."""
    batch = [
        {"type": "identify", "userId": "ana", "traits": {"score": 3}},
        {"type": "track", "userId": "ana", "event": "clicked", "messageId": "b1",
         "originalTimestamp": "2026-03-02T10:00:00+01:00"},
        {"type": "page", "anonymousId": "anon-7", "name": "Pricing", "category": "docs",
         "properties": {"path": "/pricing"}, "messageId": "b2", "timestamp": T0},
        {"type": "screen", "userId": "ana", "name": "Home", "messageId": "b3",
         "timestamp": "2026-03-02T10:00:00Z"},
        {"type": "group", "userId": "ana", "groupId": "acme", "traits": {"seats": 4},
         "messageId": "b4", "timestamp": "2026-03-02T10:00:00Z"},
        {"type": "alias", "userId": "ana", "previousId": "anon-7", "messageId": "b5",
         "timestamp": "2026-03-02T10:00:00Z"},
    ]
    r = any_api.client.post("/v1/batch", json={"batch": batch, "writeKey": WRITE_KEY})
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert any_api.events() == [
        ("ana", "clicked", T0 - 3600, {}, "b1"),
        ("anon-7", "page", T0, {"path": "/pricing", "name": "Pricing", "category": "docs"},
         "b2"),
        ("ana", "screen", T0, {"name": "Home"}, "b3"),
        ("ana", "group", T0, {"seats": 4, "groupId": "acme"}, "b4"),
        ("ana", "alias", T0, {"previousId": "anon-7"}, "b5"),
    ]
    assert any_api.attributes("ana") == {"score": 3}
    assert sorted(c.id for c in any_api.rows(t.customers)) == ["ana", "anon-7"]


@pytest.mark.parametrize("kind", ["page", "screen", "group", "alias"])
def test_single_endpoints_store_their_kind(api: Api, kind: str) -> None:
    """/v1/page, /v1/screen, /v1/group and /v1/alias each store an event named after them."""
    body = {"userId": "ana", "groupId": "acme", "previousId": "old", "messageId": kind}
    r = api.client.post(f"/v1/{kind}", json=body, headers=basic())
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert [e[1] for e in api.events()] == [kind]


def test_missing_timestamp_is_server_time(api: Api) -> None:
    """Without timestamp or originalTimestamp the event takes the server's time."""
    before = api.service.now()
    api.client.post("/v1/track", json=track(timestamp=None), headers=basic())
    [(_, _, ts, _, _)] = api.events()
    assert before <= ts <= api.service.now()


def test_timestamp_wins_over_original_and_sent_at(api: Api) -> None:
    """`timestamp` is preferred to `originalTimestamp`; `sentAt` is ignored."""
    api.client.post("/v1/track", headers=basic(), json=track(
        originalTimestamp="2020-01-01T00:00:00Z", sentAt="2030-01-01T00:00:00Z"))
    assert api.events()[0][2] == T0


def test_gzip_body_is_accepted(api: Api) -> None:
    """A gzip-compressed body with Content-Encoding: gzip is read like a plain one."""
    body = gzip.compress(json.dumps({"batch": [{**track(), "type": "track"}]}).encode())
    r = api.client.post("/v1/batch", content=body, headers={
        **basic(), "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert len(api.events()) == 1


def test_auth_is_off_without_a_write_key(make_api: ApiFactory) -> None:
    """With no write key configured, calls need no credentials."""
    api = make_api(write_key="")
    r = api.client.post("/v1/track", json=track())
    assert (r.status_code, r.json()) == (200, {"success": True})


def test_write_key_in_the_body_authenticates(api: Api) -> None:
    """`writeKey` in the body is accepted instead of Basic auth."""
    r = api.client.post("/v1/track", json=track(writeKey=WRITE_KEY))
    assert (r.status_code, r.json()) == (200, {"success": True})


# ------------------------------------------------------------------ dedup and warnings
def test_repeated_message_id_is_stored_once(any_api: Api) -> None:
    """A client retry with the same messageId answers 200 and stores nothing more."""
    for _ in range(3):
        r = any_api.client.post("/v1/track", json=track(), headers=basic())
        assert r.status_code == 200
    batch = [{**track(), "type": "track"}, {**track(messageId="m-2"), "type": "track"},
             {**track(messageId="m-2"), "type": "track"}]
    any_api.client.post("/v1/batch", json={"batch": batch}, headers=basic())
    assert [e[4] for e in any_api.events()] == ["m-1", "m-2"]


def test_identify_reports_unknown_and_mistyped_traits(any_api: Api) -> None:
    """Traits the schema refuses are reported as warnings; the good ones are stored."""
    r = any_api.client.post("/v1/identify", headers=basic(), json={
        "userId": "ana", "traits": {"first_name": "Ana", "frist_name": "A",
                                    "score": "lots", "tier": "platinum"}})
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True
    assert body["warnings"][0] == ("unknown trait 'frist_name' — did you mean 'first_name'? "
                                   "It was not stored; declare it in the schema to keep it.")
    assert len(body["warnings"]) == 3
    assert "'score'" in body["warnings"][1]
    assert "'tier'" in body["warnings"][2]
    assert any_api.attributes("ana") == {"first_name": "Ana"}


def test_identify_refuses_an_unknown_time_zone(any_api: Api) -> None:
    """A zone no one knows would make every local-time rule fail for the customer: it is
    reported and not stored; a good one is."""
    r = any_api.client.post("/v1/identify", headers=basic(), json={
        "userId": "ana", "traits": {"first_name": "Ana", "timezone": "Mars/Base"}})
    assert r.status_code == 200
    assert r.json()["warnings"] == [
        "the trait timezone 'Mars/Base' is not a known time zone; use an IANA name such as "
        "'Europe/London'. It was not stored."]
    any_api.client.post("/v1/identify", headers=basic(), json={
        "userId": "ana", "traits": {"timezone": "Asia/Tokyo"}})
    [row] = [r for r in any_api.rows(t.customers) if r.id == "ana"]
    assert (row.timezone, dict(row.attributes)) == ("Asia/Tokyo", {"first_name": "Ana"})


def test_identify_keeps_only_addresses_a_provider_takes(any_api: Api) -> None:
    """An email without '@' or a phone that is not E.164 would fail at the provider for every
    message: reported and not stored. A phone written with spaces is stored as E.164."""
    r = any_api.client.post("/v1/identify", headers=basic(), json={
        "userId": "ana", "traits": {"email": 123, "phone": "call me maybe"}})
    assert r.status_code == 200
    assert r.json()["warnings"] == [
        "the trait email: '123' is not an email address (name@domain.example). It was not "
        "stored.",
        "the trait phone: 'call me maybe' is not a phone number in E.164 form: '+', the "
        "country code and the number, such as '+14155550123'. It was not stored."]
    any_api.client.post("/v1/identify", headers=basic(), json={
        "userId": "ana", "traits": {"email": "ana@example.com", "phone": "+1 (212) 555-0101"}})
    [row] = [r for r in any_api.rows(t.customers) if r.id == "ana"]
    assert (row.email, row.phone) == ("ana@example.com", "+12125550101")


def test_track_events_are_checked_against_the_schema(any_api: Api) -> None:
    """An undeclared event or property is stored with a warning; a declared property of the
    wrong type is left out (stored, it would reach conditions as the wrong type)."""
    r = any_api.client.post("/v1/batch", headers=basic(), json={"batch": [
        {**track(event="cart_abandonned", messageId="m-1"), "type": "track"},
        {**track(messageId="m-2", properties={"cart_value": "lots", "coupon": "X"}),
         "type": "track"},
        {**track(messageId="m-3", properties={"cart_value": "64.5"}), "type": "track"}]})
    assert r.status_code == 200
    assert r.json()["warnings"] == [
        "batch item 0: event 'cart_abandonned' is not in the schema — did you mean "
        "'cart_abandoned'? It was stored; declare it in the schema to use it in playbooks.",
        "batch item 1: event 'cart_abandoned': 'cart_value' should be a number, not 'lots'. "
        "It was not stored; the event was, without it.",
        "batch item 1: unknown property 'coupon' of event 'cart_abandoned'. It was stored; "
        "declare it in the schema to use it in playbooks."]
    stored = {e[4]: (e[1], e[3]) for e in any_api.events()}
    assert stored == {"m-1": ("cart_abandonned", {"cart_value": 40}),
                      "m-2": ("cart_abandoned", {"coupon": "X"}),
                      "m-3": ("cart_abandoned", {"cart_value": 64.5})}


def test_a_mistyped_value_never_stops_the_engine(any_api: Api) -> None:
    """Found by a newcomer trial: a number property sent as text reached `where
    event.cart_value >= 30` and raised in every tick, for every customer. Now it is left out at
    the door, and a wrong type that gets in another way (an unchecked `when api` property) is
    unknown, like a missing value."""
    cond = Cmp(op=">=", left=Ref(scope="event", name="cart_value"), right=Const(value=30.0))
    assert truth(cond, Env(customer={}, now=0, event={"cart_value": "lots"})) is None
    r = any_api.client.post("/v1/track", headers=basic(),
                            json=track(properties={"cart_value": "lots"}))
    assert r.status_code == 200
    any_api.service.tick()
    assert any_api.events()[0][3] == {}


def test_batch_warnings_name_the_item(api: Api) -> None:
    """In a batch, each warning says which item it came from."""
    batch = [{**track(), "type": "track"},
             {"type": "identify", "userId": "ana", "traits": {"shoe_size": 42}}]
    r = api.client.post("/v1/batch", json={"batch": batch}, headers=basic())
    assert r.json() == {"success": True, "warnings": [
        "batch item 1: unknown trait 'shoe_size'. It was not stored; declare it in the "
        "schema to keep it."]}


# ------------------------------------------------------------------ errors
NO_KEY = {"code": "unauthorized", "message": "this request carries no valid write key; send "
          "HTTP Basic with the write key as the user name and an empty password, or "
          "'writeKey' in the body."}
WRONG_KEY = {"code": "unauthorized", "message": "the Authorization header does not carry this "
             "source's write key; send HTTP Basic with the write key as the user name and an "
             "empty password."}


def test_no_auth_is_401(api: Api) -> None:
    """A call with neither Basic auth nor writeKey is refused and stores nothing."""
    r = api.client.post("/v1/track", json=track())
    assert (r.status_code, r.json()) == (401, NO_KEY)
    assert r.headers["www-authenticate"] == "Basic"
    assert api.events() == []


def test_wrong_key_is_401(api: Api) -> None:
    """A wrong write key, in the header or the body, is refused."""
    r = api.client.post("/v1/track", json=track(), headers=basic("wk_other"))
    assert (r.status_code, r.json()) == (401, WRONG_KEY)
    r = api.client.post("/v1/track", json=track(), headers=basic(WRITE_KEY, "pw"))
    assert (r.status_code, r.json()) == (401, WRONG_KEY)
    r = api.client.post("/v1/track", json=track(writeKey="wk_other"))
    assert (r.status_code, r.json()) == (401, NO_KEY)
    assert api.events() == []


def test_malformed_json_without_auth_is_401(api: Api) -> None:
    """An unauthenticated caller learns nothing about why its body is bad."""
    r = api.client.post("/v1/track", content=b"{nope")
    assert (r.status_code, r.json()) == (401, NO_KEY)


def test_malformed_json_is_400(api: Api) -> None:
    """A body that is not JSON is refused with where the parser stopped."""
    r = api.client.post("/v1/track", content=b'{"userId": "ana",\n "event": }',
                        headers=basic())
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_json", "message": "the body is not valid JSON (Expecting value at "
        "line 2 column 11); send one JSON object."})


def test_nan_is_400(api: Api) -> None:
    """NaN is not JSON (and no database could store it): refused, not retried forever."""
    r = api.client.post("/v1/track", content=b'{"userId": "a", "event": "e", "properties": '
                        b'{"x": NaN}}', headers=basic())
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_json", "message": "the body is not valid JSON (NaN is not a JSON "
        "number); send one JSON object."})


def test_json_array_body_is_400(api: Api) -> None:
    """The body must be a JSON object."""
    r = api.client.post("/v1/track", json=[track()], headers=basic())
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_json", "message": "the body is a JSON array; send one JSON object."})


def test_oversize_call_is_413(api: Api) -> None:
    """A single call over 32 KB is refused before it is parsed."""
    r = api.client.post("/v1/track", headers=basic(),
                        json=track(properties={"blob": "x" * 33_000}))
    assert (r.status_code, r.json()) == (413, {
        "code": "payload_too_large", "message": "the track call is larger than the 32 KB "
        "limit; split it into smaller calls."})
    assert api.events() == []


def test_oversize_batch_is_413(api: Api) -> None:
    """A batch over 500 KB is refused whole."""
    items = [{**track(messageId=f"m{i}"), "type": "track", "properties": {"pad": "x" * 20_000}}
             for i in range(30)]
    r = api.client.post("/v1/batch", json={"batch": items}, headers=basic())
    assert (r.status_code, r.json()) == (413, {
        "code": "payload_too_large", "message": "the batch is larger than the 500 KB limit; "
        "split it into smaller calls."})
    assert api.events() == []


def test_gzip_bomb_is_413(api: Api) -> None:
    """The limit applies to the decompressed body, so a small gzip cannot expand past it."""
    body = gzip.compress(b'{"batch": "' + b" " * 600_000 + b'"}')
    assert len(body) < 10_000
    r = api.client.post("/v1/batch", content=body, headers={
        **basic(), "Content-Encoding": "gzip"})
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")


def test_too_many_items_is_413(api: Api) -> None:
    """More than 2,500 calls in one batch are refused whole."""
    items = [{"type": "track", "userId": "a", "event": "e"}] * 2_501
    r = api.client.post("/v1/batch", json={"batch": items}, headers=basic())
    assert (r.status_code, r.json()) == (413, {
        "code": "payload_too_large", "message": "the batch has 2501 calls; the limit is 2,500 "
        "per batch. Split it into smaller batches."})
    assert api.events() == []


def test_missing_event_names_the_batch_item(api: Api) -> None:
    """A track without an event name is refused, and nothing in its batch is stored."""
    items = [{**track(messageId=f"m{i}"), "type": "track"} for i in range(3)]
    items.append({"type": "track", "userId": "ana"})
    r = api.client.post("/v1/batch", json={"batch": items}, headers=basic())
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_request",
        "message": "batch item 3 has no 'event'; track calls need an event name."})
    assert api.events() == []


def test_missing_ids_is_400(api: Api) -> None:
    """A call without userId or anonymousId is refused."""
    r = api.client.post("/v1/track", json=track(userId=None), headers=basic())
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_request", "message": "the track call has neither 'userId' nor "
        "'anonymousId'; track calls need one to know whose it is."})


def test_anonymous_id_is_the_customer_without_user_id(api: Api) -> None:
    """anonymousId identifies the customer when userId is absent."""
    api.client.post("/v1/track", json=track(userId=None, anonymousId="anon-1"), headers=basic())
    assert api.events()[0][0] == "anon-1"


def test_bad_timestamp_is_400(api: Api) -> None:
    """A timestamp that is not ISO 8601 is refused with how to write one."""
    r = api.client.post("/v1/track", json=track(timestamp="yesterday"), headers=basic())
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_request", "message": "the track call has a bad 'timestamp': "
        "'yesterday' is not an ISO 8601 timestamp: write it like '2026-03-07T10:00:00Z' or "
        "'2026-03-07T10:00:00+01:00'."})


def test_timestamp_without_zone_is_400(api: Api) -> None:
    """A timestamp without a zone is ambiguous and refused."""
    r = api.client.post("/v1/batch", headers=basic(), json={"batch": [
        {**track(), "type": "track", "timestamp": "2026-03-02T10:00:00"}]})
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_request", "message": "batch item 0 has a bad 'timestamp': the "
        "timestamp '2026-03-02T10:00:00' has no time zone: add 'Z' for UTC or an offset such "
        "as '+01:00'."})


def test_bad_gzip_is_400(api: Api) -> None:
    """A body marked gzip that is not gzip is refused."""
    r = api.client.post("/v1/track", content=json.dumps(track()).encode(), headers={
        **basic(), "Content-Encoding": "gzip"})
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_gzip", "message": "the body is marked Content-Encoding: gzip but is "
        "not gzip data; compress it or drop the header."})


def test_truncated_gzip_is_400(api: Api) -> None:
    """A gzip stream cut short is refused, not half-read."""
    body = gzip.compress(json.dumps(track()).encode())[:-12]
    r = api.client.post("/v1/track", content=body, headers={
        **basic(), "Content-Encoding": "gzip"})
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_gzip", "message": "the gzip body ends early; send the whole stream."})


def test_unknown_encoding_is_415(api: Api) -> None:
    """Only gzip (or no) Content-Encoding is understood."""
    r = api.client.post("/v1/track", content=b"{}", headers={**basic(),
                                                             "Content-Encoding": "br"})
    assert (r.status_code, r.json()) == (415, {
        "code": "unsupported_encoding", "message": "Content-Encoding 'br' is not supported; "
        "send the body as is or gzip it."})


@pytest.mark.parametrize(("item", "message"), [
    ({"userId": "a", "event": "e"},
     "batch item 0 has no 'type'; give one of track, identify, page, screen, group, alias."),
    ({"type": "purchase", "userId": "a"},
     "batch item 0 has the type 'purchase'; give one of track, identify, page, screen, group, "
     "alias."),
    ({"type": "track", "userId": "a", "event": "e", "properties": [1]},
     "batch item 0 has a 'properties' of type array; 'properties' must be a JSON object."),
    ({"type": "identify", "userId": "a", "traits": "gold"},
     "batch item 0 has a 'traits' of type string; 'traits' must be a JSON object."),
    ({"type": "track", "userId": {"id": 1}, "event": "e"},
     "batch item 0 has a 'userId' of type object; 'userId' must be a string."),
    ({"type": "track", "userId": "u" * 129, "event": "e"},
     "batch item 0 has a 'userId' of 129 characters; the limit is 128."),
    ({"type": "track", "userId": "a", "event": "__api__"},
     "batch item 0 has the event name '__api__'; names starting with '__' are reserved for "
     "Cadenza's own events."),
    ({"type": "group", "userId": "a"},
     "batch item 0 has no 'groupId'; group calls name the group they join."),
    ({"type": "alias", "anonymousId": "a", "previousId": "b"},
     "batch item 0 needs both 'previousId' and 'userId'; an alias links the two."),
    ("track", "batch item 0 is a JSON string; each call is a JSON object."),
])
def test_bad_batch_items_are_400(api: Api, item: Any, message: str) -> None:
    """Each malformed field is named in a full sentence; nothing is stored."""
    r = api.client.post("/v1/batch", json={"batch": [item]}, headers=basic())
    assert (r.status_code, r.json()) == (400, {"code": "invalid_request", "message": message})
    assert api.events() == []


def test_batch_without_batch_array_is_400(api: Api) -> None:
    """/v1/batch needs a 'batch' array."""
    r = api.client.post("/v1/batch", json={"calls": []}, headers=basic())
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_request",
        "message": "the batch body has no 'batch' array; send {\"batch\": [calls...]}."})


def test_a_wrong_path_or_method_gets_the_error_body(any_api: Api) -> None:
    """404 and 405 answer with the same {code, message} body as every other refusal."""
    r = any_api.client.post("/v1/trakc", json=track(), headers=basic())
    assert (r.status_code, r.json()) == (404, {
        "code": "not_found",
        "message": "There is no /v1/trakc; the routes are listed at /openapi.json."})
    r = any_api.client.get("/v1/track", headers=basic())
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    assert r.json()["message"] == ("GET is not accepted at /v1/track; /openapi.json lists "
                                   "what is.")
    assert "POST" in r.headers["allow"]


def test_batch_warnings_come_in_item_order(any_api: Api) -> None:
    """Identify warnings were listed after every track warning, out of the items' order."""
    r = any_api.client.post("/v1/batch", headers=basic(), json={"batch": [
        {"type": "identify", "userId": "ana", "traits": {"frist_name": "A"}},
        {**track(event="cart_abandonned", messageId="m-1"), "type": "track"},
        {"type": "identify", "userId": "bob", "traits": {"shoe_size": 9}}]})
    assert r.status_code == 200
    assert [w.split(":")[0] for w in r.json()["warnings"]] == [
        "batch item 0", "batch item 1", "batch item 2"]


def test_one_call_of_a_batch_is_held_to_the_call_limit(any_api: Api) -> None:
    """32 KB per call holds inside a batch too (Segment's rule): refused, nothing stored."""
    big = {**track(messageId="m-big", properties={"note": "x" * 33_000}), "type": "track"}
    r = any_api.client.post("/v1/batch", headers=basic(), json={"batch": [
        {**track(messageId="m-1"), "type": "track"}, big]})
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert r.json()["message"].startswith("batch item 1 is 33,")
    assert r.json()["message"].endswith("bytes; one call is limited to 32 KB, in a batch too. "
                                        "Send less in its properties or traits.")
    assert any_api.events() == []
