"""Forged, replayed, stale and oversized provider webhooks are refused and change nothing.

`test_every_bad_webhook_is_refused_without_effect` sends each request of `cases()` (SendGrid's
signed event webhook, Twilio's status callback and inbound SMS) and asserts its refusal, that
every table of the store is exactly as before, and the exact count refused per class — so a
receiver that starts accepting one fails the count. Twilio signs no timestamp, so "stale"
applies to SendGrid only; Twilio replays are refused by MessageSid (and, across restarts, the
store's `feedback_events` applies each provider event once: `test_replay_after_a_restart`).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.applications import Starlette

from cadenza.connectors.sendgrid_events import SendGridEventReceiver
from cadenza.engine import schema as t
from cadenza.engine.api import webhooks
from cadenza.engine.api.webhooks import SENDGRID_LIMIT, TWILIO_LIMIT
from cadenza.engine.schema import metadata
from tests.api.conftest import BEARER, PUBLIC_URL, Api, basic, make_settings
from tests.providers.signing import SIGNATURE, TIMESTAMP, SendGridSigner, twilio_signature

TOKEN = "tw-token"
SID = "SM" + "1" * 32
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SENDGRID = "/webhooks/sendgrid/events"
STATUS = "/webhooks/twilio/status"
INBOUND = "/webhooks/twilio/inbound"
PHONE = "+15555550123"


@dataclass(frozen=True)
class Hook:
    kind: str  # forged, replayed, stale, oversized
    what: str
    path: str
    content: bytes
    headers: dict[str, str]
    status: int
    code: str
    says: str = ""
    first: bool = field(default=False)  # send once (accepted) before the counted request


class Hooks:
    """The API with both providers configured; ana was sent one email."""

    def __init__(self, root: Path, signer: SendGridSigner) -> None:
        self.signer = signer
        self.api = Api(root, f"sqlite:///{root / 'store.db'}", make_settings(
            sendgrid_webhook_key=signer.public_key, twilio_auth_token=SecretStr(TOKEN)))
        self.api.client.post("/v1/identify", headers=basic(), json={"userId": "ana", "traits": {
            "email": "ana@example.com", "phone": PHONE}})
        self.api.client.post("/v1/playbooks/onboarding/enrollments", json={"userId": "ana"},
                             headers=BEARER)
        self.api.service.tick()
        [message] = self.api.rows(t.messages)
        self.key = message.idempotency_key

    def sendgrid_body(self, kind: str, event_id: str | None = None) -> bytes:
        return json.dumps([{"email": "ana@example.com", "timestamp": int(time.time()),
                            "event": kind, "sg_event_id": event_id or f"ev-{kind}",
                            "cadenza_message_id": self.key}]).encode()


@pytest.fixture
def hooks(tmp_path: Path) -> Iterator[Hooks]:
    built = Hooks(tmp_path, SendGridSigner())
    yield built
    built.api.close()


def twilio(path: str, params: dict[str, str], *, token: str = TOKEN, url: str | None = None,
           sent: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    """A form body (`sent`, default `params`) with the signature over `params` at `url`."""
    signature = twilio_signature(token, url or PUBLIC_URL + path, params)
    return urlencode(sent or params).encode(), {**FORM, "X-Twilio-Signature": signature}


def cases(h: Hooks) -> list[Hook]:
    """Every bad webhook of the trial, built against `h` (its key, its message)."""
    sg = h.signer
    unsub = h.sendgrid_body("unsubscribe")
    now = int(time.time())
    stop = {"From": PHONE, "To": "+15550001111", "Body": "STOP", "MessageSid": SID}
    failed = {"MessageSid": SID, "MessageStatus": "failed", "ErrorCode": "21610"}
    big_sg = b"[" + b" " * SENDGRID_LIMIT + b"]"
    big_tw = urlencode({**stop, "Body": "x" * TWILIO_LIMIT}).encode()
    out = [
        Hook("forged", "SendGrid: signed by another key", SENDGRID, unsub,
             SendGridSigner().headers(unsub), 401, "bad_signature", "does not match"),
        Hook("forged", "SendGrid: no signature", SENDGRID, unsub, {}, 401, "bad_signature",
             "no X-Twilio-Email-Event-Webhook-Signature"),
        Hook("forged", "SendGrid: body changed after signing", SENDGRID, unsub,
             sg.headers(h.sendgrid_body("delivered")), 401, "bad_signature"),
        Hook("forged", "SendGrid: timestamp changed after signing", SENDGRID, unsub,
             {**sg.headers(unsub, str(now)), TIMESTAMP: str(now + 1)}, 401, "bad_signature"),
        Hook("forged", "SendGrid: signature not base64", SENDGRID, unsub,
             {SIGNATURE: "%%%not-base64%%%", TIMESTAMP: str(now)}, 401, "bad_signature"),
        Hook("forged", "Twilio inbound: wrong auth token", INBOUND,
             *twilio(INBOUND, stop, token="another-token"), 401, "bad_signature"),
        Hook("forged", "Twilio inbound: signed for the internal URL", INBOUND,
             *twilio(INBOUND, stop, url="http://testserver" + INBOUND), 401, "bad_signature"),
        Hook("forged", "Twilio inbound: Body changed after signing", INBOUND,
             *twilio(INBOUND, {**stop, "Body": "hello"}, sent=stop), 401, "bad_signature"),
        Hook("forged", "Twilio inbound: no signature", INBOUND, urlencode(stop).encode(),
             dict(FORM), 401, "bad_signature", "only Twilio may call"),
        Hook("forged", "Twilio status: signed for the inbound URL", STATUS,
             *twilio(STATUS, failed, url=PUBLIC_URL + INBOUND), 401, "bad_signature"),
        Hook("forged", "Twilio status: ErrorCode added after signing", STATUS,
             *twilio(STATUS, {**failed, "ErrorCode": ""}, sent=failed), 401, "bad_signature"),
        Hook("stale", "SendGrid: signed an hour ago", SENDGRID, unsub,
             sg.headers(unsub, str(now - 3600)), 401, "stale", "is 36"),
        Hook("stale", "SendGrid: signed an hour ahead", SENDGRID, unsub,
             sg.headers(unsub, str(now + 3600)), 401, "stale"),
        Hook("stale", "SendGrid: signed six minutes ago", SENDGRID, unsub,
             sg.headers(unsub, str(now - 360)), 401, "stale"),
        Hook("oversized", "SendGrid: over 5 MB, signed", SENDGRID, big_sg, sg.headers(big_sg),
             413, "payload_too_large", "5120 KB"),
        Hook("oversized", "Twilio inbound: over 64 KB, signed", INBOUND,
             *twilio(INBOUND, {**stop, "Body": "x" * TWILIO_LIMIT}),
             413, "payload_too_large", "64 KB"),
        Hook("oversized", "Twilio status: over 64 KB", STATUS, big_tw, dict(FORM), 413,
             "payload_too_large"),
    ]
    applied_sg = h.sendgrid_body("delivered", "ev-replay")
    out += [
        Hook("replayed", "SendGrid: the same signed request again", SENDGRID, applied_sg,
             sg.headers(applied_sg), 401, "replayed", "already accepted", first=True),
        Hook("replayed", "Twilio inbound: the same STOP again", INBOUND, *twilio(INBOUND, stop),
             401, "replayed", "already accepted", first=True),
        Hook("replayed", "Twilio status: the same callback again", STATUS,
             *twilio(STATUS, failed), 401, "replayed", "already accepted", first=True),
    ]
    return out


EXPECTED = {"forged": 11, "stale": 3, "oversized": 3, "replayed": 3}


def snapshot(api: Api) -> dict[str, list[Any]]:
    """Every row of every table."""
    return {table.name: [tuple(r) for r in api.rows(table)] for table in metadata.sorted_tables}


def refused_without_effect(api: Api, hook: Hook) -> bool:
    """Send `hook` (after its accepted first copy); True when refused and nothing changed."""
    if hook.first:
        r = api.client.post(hook.path, content=hook.content, headers=hook.headers)
        assert r.status_code == 200, (hook.what, r.text)
    before = snapshot(api)
    r = api.client.post(hook.path, content=hook.content, headers=hook.headers)
    answer = r.json() if r.headers.get("content-type", "").startswith("application/json") \
        else {"body": r.text}
    assert (r.status_code, answer.get("code")) == (hook.status, hook.code), (hook.what, answer)
    assert hook.says in answer["message"], (hook.what, answer["message"])
    assert snapshot(api) == before, hook.what
    return True


def test_every_bad_webhook_is_refused_without_effect(hooks: Hooks) -> None:
    """Forged, stale, oversized and replayed webhooks: refused, the store untouched."""
    trial = cases(hooks)
    counts = Counter(hook.kind for hook in trial if refused_without_effect(hooks.api, hook))
    assert dict(counts) == EXPECTED
    [customer] = hooks.api.rows(t.customers)
    assert customer.email_revoked is False  # the forged unsubscribes never landed


def test_the_check_fails_against_a_receiver_that_skips_verification(
        hooks: Hooks, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately broken receiver (signature check skipped) is caught by the same check."""
    monkeypatch.setattr(SendGridEventReceiver, "_verify",
                        lambda _self, _body, headers: ("forged", "0"))
    forged = cases(hooks)[0]
    with pytest.raises(AssertionError, match="signed by another key"):
        refused_without_effect(hooks.api, forged)


def test_replay_after_a_restart_is_accepted_but_changes_nothing(hooks: Hooks) -> None:
    """A new process has no memory of applied requests; the store's dedup applies each
    provider event once, so the replayed STOP and unsubscribe change nothing."""
    stop = {"From": PHONE, "Body": "STOP", "MessageSid": SID}
    content, headers = twilio(INBOUND, stop)
    unsub = hooks.sendgrid_body("unsubscribe")
    sg_headers = hooks.signer.headers(unsub)
    assert hooks.api.client.post(INBOUND, content=content, headers=headers).status_code == 200
    assert hooks.api.client.post(SENDGRID, content=unsub, headers=sg_headers).status_code == 200
    before = snapshot(hooks.api)
    # The restarted process: the same store, fresh routes, so fresh per-process replay memory.
    restarted = Starlette(routes=webhooks.routes(hooks.api.service, hooks.api.settings))
    with type(hooks.api.client)(restarted) as client:
        r = client.post(INBOUND, content=content, headers=headers)
        assert r.status_code == 200
        r = client.post(SENDGRID, content=unsub, headers=sg_headers)
        assert r.json() == {"success": True, "applied": 0, "duplicates": 1, "unmatched": 0}
    assert snapshot(hooks.api) == before


HEADER_VALUES = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=60)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # one store throughout
@given(path=st.sampled_from([SENDGRID, STATUS, INBOUND]), content=st.binary(max_size=400),
       signature=HEADER_VALUES, stamp=st.integers(0, 2 * 10**9).map(str) | HEADER_VALUES)
def test_random_signed_looking_requests_are_refused(hooks: Hooks, path: str, content: bytes,
                                                    signature: str, stamp: str) -> None:
    """Random bodies with random signature headers: always 401/400/413, never applied."""
    headers = {SIGNATURE: signature, TIMESTAMP: stamp, "X-Twilio-Signature": signature, **FORM}
    before = snapshot(hooks.api)
    r = hooks.api.client.post(path, content=content, headers=headers)
    assert r.status_code in (400, 401, 413), r.text
    assert snapshot(hooks.api) == before
