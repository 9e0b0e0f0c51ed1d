"""Provider webhooks: verified on the raw body, applied once, refused requests change nothing."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from cadenza.engine import schema as t
from tests.api.conftest import BEARER, PUBLIC_URL, Api, ApiFactory, basic
from tests.providers.signing import TIMESTAMP, SendGridSigner, twilio_signature

TOKEN = "tw-token"
SID = "SM" + "1" * 32
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def signer() -> SendGridSigner:
    return SendGridSigner()


@pytest.fixture
def hooks(make_api: ApiFactory, store_url: str, signer: SendGridSigner) -> Api:
    """The API with both providers configured and ana sent one email."""
    api = make_api(store_url, sendgrid_webhook_key=signer.public_key,
                   twilio_auth_token=SecretStr(TOKEN))
    api.client.post("/v1/identify", headers=basic(), json={"userId": "ana", "traits": {
        "email": "ana@example.com", "phone": "+15555550123"}})
    api.client.post("/v1/playbooks/onboarding/enrollments", json={"userId": "ana"},
                    headers=BEARER)
    api.service.tick()
    return api


def sendgrid_body(api: Api, *kinds: str) -> bytes:
    [message] = api.rows(t.messages)
    return json.dumps([{"email": "ana@example.com", "timestamp": int(time.time()),
                        "event": kind, "sg_event_id": f"ev-{kind}",
                        "cadenza_message_id": message.idempotency_key}
                       for kind in kinds]).encode()


def status(api: Api) -> str:
    return str(api.rows(t.messages)[0].status)


def twilio_post(api: Api, path: str, params: dict[str, str], token: str = TOKEN) -> httpx.Response:
    signature = twilio_signature(token, PUBLIC_URL + path, params)
    return api.client.post(path, content=urlencode(params).encode(),
                           headers={**FORM, "X-Twilio-Signature": signature})


# ------------------------------------------------------------------ SendGrid
def test_signed_sendgrid_events_are_applied(hooks: Api, signer: SendGridSigner) -> None:
    """Signed delivered and open events move the message to opened."""
    body = sendgrid_body(hooks, "delivered", "open")
    r = hooks.client.post("/webhooks/sendgrid/events", content=body,
                          headers=signer.headers(body))
    assert (r.status_code, r.json()) == (200, {"success": True, "applied": 2,
                                               "duplicates": 0, "unmatched": 0})
    assert status(hooks) == "opened"


def test_exact_replay_is_refused_and_a_resent_batch_applies_once(
        hooks: Api, signer: SendGridSigner) -> None:
    """The same signed request again is 401; a re-signed copy is accepted but changes nothing."""
    body = sendgrid_body(hooks, "unsubscribe")
    headers = signer.headers(body)
    hooks.client.post("/webhooks/sendgrid/events", content=body, headers=headers)
    r = hooks.client.post("/webhooks/sendgrid/events", content=body, headers=headers)
    assert (r.status_code, r.json()) == (401, {"code": "replayed", "message": (
        f"this SendGrid event batch (timestamp {headers[TIMESTAMP]}) was already accepted; "
        "a replayed request is refused "
        "— its events are stored once.")})
    later = signer.headers(body, timestamp=str(int(time.time()) + 1))
    r = hooks.client.post("/webhooks/sendgrid/events", content=body, headers=later)
    assert r.json() == {"success": True, "applied": 0, "duplicates": 1, "unmatched": 0}
    assert [c.email_revoked for c in hooks.rows(t.customers)] == [True]


def test_bad_sendgrid_signature_is_401(hooks: Api, signer: SendGridSigner) -> None:
    """A body signed by another key is refused and changes nothing."""
    body = sendgrid_body(hooks, "unsubscribe")
    r = hooks.client.post("/webhooks/sendgrid/events", content=body,
                          headers=SendGridSigner().headers(body))
    assert (r.status_code, r.json()) == (401, {"code": "bad_signature", "message": (
        "the SendGrid event webhook signature does not match the body; check that the "
        "configured public key is SendGrid's current Verification Key and that the raw body "
        "is passed on unmodified.")})
    assert "www-authenticate" not in r.headers
    assert [c.email_revoked for c in hooks.rows(t.customers)] == [False]


def test_unsigned_sendgrid_request_is_401(hooks: Api) -> None:
    """A request without the signature header is refused."""
    r = hooks.client.post("/webhooks/sendgrid/events", content=b"[]")
    assert (r.status_code, r.json()) == (401, {"code": "bad_signature", "message": (
        "the SendGrid event webhook request has no X-Twilio-Email-Event-Webhook-Signature "
        "header; enable the Signed Event Webhook in SendGrid and make sure the proxy forwards "
        "the header.")})


def test_stale_sendgrid_request_is_401(hooks: Api, signer: SendGridSigner) -> None:
    """A correctly signed request an hour old is refused."""
    body = sendgrid_body(hooks, "delivered")
    old = str(int(time.time()) - 3600)
    r = hooks.client.post("/webhooks/sendgrid/events", content=body,
                          headers=signer.headers(body, timestamp=old))
    assert r.status_code == 401
    assert r.json()["code"] == "stale"
    assert r.json()["message"].startswith(f"the SendGrid event webhook timestamp {old} is 36")
    assert status(hooks) == "sent"


def test_signed_but_malformed_sendgrid_body_is_400(hooks: Api, signer: SendGridSigner) -> None:
    """A signed body that is not an event array is 400."""
    body = b'{"event": "open"}'
    r = hooks.client.post("/webhooks/sendgrid/events", content=body,
                          headers=signer.headers(body))
    assert (r.status_code, r.json()) == (400, {"code": "malformed", "message": (
        "the SendGrid event webhook body is not a JSON array of event objects.")})


def test_unconfigured_webhooks_answer_503(make_api: ApiFactory) -> None:
    """Without a key or token the webhooks say what to set; the provider may retry later."""
    api = make_api()
    r = api.client.post("/webhooks/sendgrid/events", content=b"[]")
    assert (r.status_code, r.json()) == (503, {"code": "not_configured", "message": (
        "the SendGrid event webhook is not configured; set CADENZA_SENDGRID_WEBHOOK_KEY on the "
        "server. Nothing was stored; the provider may retry.")})
    r = api.client.post("/webhooks/twilio/inbound", content=b"")
    assert (r.status_code, r.json()["code"]) == (503, "not_configured")


# ------------------------------------------------------------------ Twilio
def test_inbound_stop_revokes_sms_consent(hooks: Api) -> None:
    """STOP answers empty TwiML and revokes SMS consent for the sender."""
    r = twilio_post(hooks, "/webhooks/twilio/inbound", {
        "From": "+15555550123", "To": "+15550001111", "Body": "stop", "MessageSid": SID})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/xml")
    assert r.text == ('<?xml version="1.0" encoding="UTF-8"?>'
                      "<Response></Response>")
    assert [c.sms_revoked for c in hooks.rows(t.customers)] == [True]


def test_inbound_help_answers_the_help_text(hooks: Api) -> None:
    """HELP answers TwiML with the configured help text."""
    r = twilio_post(hooks, "/webhooks/twilio/inbound", {
        "From": "+15555550123", "To": "+15550001111", "Body": " help ", "MessageSid": SID})
    assert r.text == ('<?xml version="1.0" encoding="UTF-8"?><Response>'
                      "<Message>Reply STOP to unsubscribe.</Message></Response>")


def test_inbound_signed_for_another_url_is_401(hooks: Api) -> None:
    """A signature over the internal URL, not the public one, is refused."""
    params = {"From": "+15555550123", "Body": "STOP", "MessageSid": SID}
    signature = twilio_signature(TOKEN, "http://testserver/webhooks/twilio/inbound", params)
    r = hooks.client.post("/webhooks/twilio/inbound", content=urlencode(params).encode(),
                          headers={**FORM, "X-Twilio-Signature": signature})
    assert (r.status_code, r.json()) == (401, {"code": "bad_signature", "message": (
        f"the X-Twilio-Signature does not match a request to {PUBLIC_URL}/webhooks/twilio/"
        "inbound; check the auth token and that the configured public URL is exactly the one "
        "set in Twilio (scheme, host and path).")})
    assert [c.sms_revoked for c in hooks.rows(t.customers)] == [False]


def test_inbound_replay_is_refused(hooks: Api) -> None:
    """The same inbound message twice: the second is refused as a replay."""
    params = {"From": "+15555550123", "Body": "STOP", "MessageSid": SID}
    twilio_post(hooks, "/webhooks/twilio/inbound", params)
    r = twilio_post(hooks, "/webhooks/twilio/inbound", params)
    assert (r.status_code, r.json()) == (401, {
        "code": "replayed", "message": f"the Twilio request {SID} was already accepted; a "
        "replay is refused."})


def test_status_callback_is_applied(hooks: Api) -> None:
    """A signed status callback for an unknown message is accepted and counted unmatched."""
    r = twilio_post(hooks, "/webhooks/twilio/status", {"MessageSid": SID,
                                                       "MessageStatus": "delivered"})
    assert (r.status_code, r.json()) == (200, {
        "success": True, "applied": 0, "duplicates": 0, "unmatched": 1})


def test_status_callback_without_status_is_400(hooks: Api) -> None:
    """A signed status callback missing MessageStatus is malformed."""
    r = twilio_post(hooks, "/webhooks/twilio/status", {"MessageSid": SID})
    assert (r.status_code, r.json()) == (400, {
        "code": "malformed", "message": "the Twilio request has no 'MessageStatus' parameter."})
