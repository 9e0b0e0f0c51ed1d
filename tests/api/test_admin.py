"""The admin API: enrollments by API and the customer timeline, behind the admin key."""

from __future__ import annotations

from typing import Any

import pytest

from cadenza.engine import schema as t
from tests.api.conftest import BEARER, Api, ApiFactory, basic

ENROLL = "/v1/playbooks/onboarding/enrollments"


def enroll(api: Api, body: dict[str, Any], path: str = ENROLL,
           headers: dict[str, str] | None = None) -> tuple[int, Any]:
    r = api.client.post(path, json=body, headers=BEARER if headers is None else headers)
    return r.status_code, r.json()


def test_enrollment_enters_the_playbook_at_the_next_tick(any_api: Api) -> None:
    """An enrollment is stored as an `__api__` event; the runtime enters and sends on tick."""
    any_api.client.post("/v1/identify", headers=basic(), json={
        "userId": "ana", "traits": {"email": "ana@example.com", "first_name": "Ana"}})
    status, body = enroll(any_api, {"userId": "ana", "properties": {"plan": "pro"},
                                    "messageId": "req-1"})
    assert (status, body) == (202, {"success": True, "duplicate": False})
    [(customer, name, _, props, message_id)] = any_api.events()
    assert (customer, name, message_id) == ("ana", "__api__", "enroll:onboarding:req-1")
    assert props == {"plan": "pro", "kind": "api", "playbook": "onboarding"}
    any_api.service.tick()
    assert [(e.customer_id, e.playbook) for e in any_api.rows(t.enrollments)] == [
        ("ana", "onboarding")]
    assert [(m.customer_id, m.template) for m in any_api.rows(t.messages)] == [("ana", "hello")]


def test_enrollment_retry_is_a_duplicate(api: Api) -> None:
    """The same messageId twice stores one enrollment request."""
    enroll(api, {"userId": "ana", "messageId": "req-1"})
    assert enroll(api, {"userId": "ana", "messageId": "req-1"}) == (
        202, {"success": True, "duplicate": True})
    assert len(api.events()) == 1


def test_timeline_lists_enrollment_and_message(any_api: Api) -> None:
    """The timeline shows what Cadenza did for the customer, oldest first."""
    any_api.client.post("/v1/identify", headers=basic(), json={
        "userId": "ana", "traits": {"email": "ana@example.com"}})
    enroll(any_api, {"userId": "ana"})
    any_api.service.tick()
    r = any_api.client.get("/v1/customers/ana/timeline", headers=BEARER)
    assert r.status_code == 200
    body = r.json()
    assert body["customer"] == {"id": "ana", "email_revoked": False, "sms_revoked": False}
    assert body["truncated"] is False
    kinds = [(i["kind"], i["playbook"]) for i in body["timeline"]]
    assert kinds == [("enrolled", "onboarding"), ("message", "onboarding"),
                     ("ended", "onboarding")]
    message = body["timeline"][1]
    assert (message["channel"], message["template"], message["status"]) == (
        "email", "hello", "sent")
    assert "body" not in message
    assert "to_address" not in message


def test_timeline_shows_suppressions(api: Api) -> None:
    """A send skipped for want of an address appears as a suppression."""
    enroll(api, {"userId": "bob"})
    api.service.tick()
    items = api.client.get("/v1/customers/bob/timeline", headers=BEARER).json()["timeline"]
    assert [i["kind"] for i in items if i["kind"] == "suppression"] == ["suppression"]


def test_timeline_shows_a_deferral_until_a_time(api: Api) -> None:
    """A deferral's detail names the time it waits for, not the engine's epoch seconds."""
    api.client.post("/v1/identify", headers=basic(), json={
        "userId": "ana", "traits": {"email": "ana@example.com"}})
    with api.service.store.engine.begin() as conn:
        conn.execute(t.suppressions.insert().values(
            enrollment_id=1, playbook="onboarding", node="start", customer_id="ana",
            channel="email", reason="quiet_hours", action="deferred", detail="until 1796684400",
            at=1796640000))
    items = api.client.get("/v1/customers/ana/timeline", headers=BEARER).json()["timeline"]
    [held] = [i for i in items if i["kind"] == "suppression"]
    assert held["detail"] == "until 2026-12-07T23:00:00Z"


def test_timeline_limit_keeps_the_newest(api: Api) -> None:
    """`limit` keeps the newest items and says the timeline was cut."""
    api.client.post("/v1/identify", headers=basic(), json={
        "userId": "ana", "traits": {"email": "ana@example.com"}})
    enroll(api, {"userId": "ana"})
    api.service.tick()
    body = api.client.get("/v1/customers/ana/timeline?limit=1", headers=BEARER).json()
    assert ([i["kind"] for i in body["timeline"]], body["truncated"]) == (["ended"], True)


def test_timeline_of_an_id_with_a_slash(api: Api) -> None:
    """Customer ids may contain '/', percent-encoded or not."""
    api.client.post("/v1/track", headers=basic(), json={"userId": "org/42", "event": "clicked"})
    r = api.client.get("/v1/customers/org%2F42/timeline", headers=BEARER)
    assert (r.status_code, r.json()["customer"]["id"]) == (200, "org/42")


# ------------------------------------------------------------------ errors
NO_ADMIN = {"code": "unauthorized", "message": "this request does not carry the admin key; "
            "send 'Authorization: Bearer <admin key>'."}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, basic()])
def test_admin_needs_the_bearer_key(api: Api, headers: dict[str, str]) -> None:
    """Without the admin key as a Bearer token, both admin endpoints answer 401."""
    r = api.client.post(ENROLL, json={"userId": "ana"}, headers=headers)
    assert (r.status_code, r.json()) == (401, NO_ADMIN)
    assert r.headers["www-authenticate"] == "Bearer"
    r = api.client.get("/v1/customers/ana/timeline", headers=headers)
    assert (r.status_code, r.json()) == (401, NO_ADMIN)
    assert api.events() == []


def test_admin_is_off_without_an_admin_key(make_api: ApiFactory) -> None:
    """With no admin key configured, the admin API refuses everyone."""
    api = make_api(admin_key="")
    r = api.client.post(ENROLL, json={"userId": "ana"}, headers={"Authorization": "Bearer "})
    assert (r.status_code, r.json()) == (401, {
        "code": "unauthorized", "message": "the admin API is off because no admin key is "
        "configured; set CADENZA_ADMIN_KEY on the server to use it."})


def test_unknown_playbook_is_404_with_did_you_mean(api: Api) -> None:
    """An unknown playbook name is refused with the closest one."""
    assert enroll(api, {"userId": "ana"}, "/v1/playbooks/onbording/enrollments") == (404, {
        "code": "not_found", "message": "unknown playbook 'onbording' — did you mean "
        "'onboarding'?"})


def test_playbook_without_api_entry_is_409(api: Api) -> None:
    """A playbook without `when api` cannot be entered through the API."""
    assert enroll(api, {"userId": "ana"}, "/v1/playbooks/recovery/enrollments") == (409, {
        "code": "no_api_entry", "message": "playbook 'recovery' has no `when api` entry; add "
        "`when api` to it to enrol customers through this endpoint."})
    assert api.events() == []


@pytest.mark.parametrize(("body", "message"), [
    ({"properties": {}}, "the enrollment has no 'userId'; give the id of the customer to enrol."),
    ({"userId": "ana", "properties": [1]},
     "the 'properties' is a JSON array; it must be an object."),
    ({"userId": "ana", "properties": {"playbook": "x"}},
     "the properties use the reserved name 'playbook'; rename it (Cadenza keeps 'kind' and "
     "'playbook' for itself)."),
    ({"userId": "ana", "messageId": 7}, "the 'messageId' must be a non-empty string."),
])
def test_bad_enrollment_bodies_are_400(api: Api, body: dict[str, Any], message: str) -> None:
    """A malformed enrollment names the bad field and stores nothing."""
    assert enroll(api, body) == (400, {"code": "invalid_request", "message": message})
    assert api.events() == []


def test_enrollment_body_not_json_is_400(api: Api) -> None:
    """A body that is not JSON is refused."""
    r = api.client.post(ENROLL, content=b"userId=ana", headers=BEARER)
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_json",
        "message": "the body is not valid JSON (Expecting value at line 1 column 1); send "
        "{\"userId\": ..., \"properties\": {...}}."})


def test_timeline_of_unknown_customer_is_404(api: Api) -> None:
    """A customer Cadenza never saw has no timeline."""
    r = api.client.get("/v1/customers/nobody/timeline", headers=BEARER)
    assert (r.status_code, r.json()) == (404, {
        "code": "not_found",
        "message": "unknown customer 'nobody'; Cadenza has no events or attributes for them."})


def test_timeline_bad_limit_is_400(api: Api) -> None:
    """`limit` must be a whole number from 1 to 1000."""
    r = api.client.get("/v1/customers/ana/timeline?limit=0", headers=BEARER)
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_request", "message": "'limit' is '0'; give a whole number from 1 to "
        "1000."})


def test_timeline_unknown_query_parameter_is_400(api: Api) -> None:
    """A misspelt parameter is refused, not ignored (which would give the default 200)."""
    r = api.client.get("/v1/customers/ana/timeline?limt=5", headers=BEARER)
    assert (r.status_code, r.json()) == (400, {
        "code": "invalid_request", "message": "the timeline takes no query parameter 'limt'; "
        "the only one is 'limit' (1 to 1000)."})
