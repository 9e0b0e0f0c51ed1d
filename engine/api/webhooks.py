"""Provider feedback: SendGrid's Signed Event Webhook and Twilio's status and inbound callbacks.

    POST /webhooks/sendgrid/events   delivery events (ECDSA over timestamp + raw body)
    POST /webhooks/twilio/status     SMS status callbacks (X-Twilio-Signature)
    POST /webhooks/twilio/inbound    inbound SMS: STOP/START/HELP and replies; answers TwiML

Each request is verified on the exact bytes received (never re-serialised), against the public
URL the provider called (`public_url` + path). A refused request — missing or wrong signature,
stale, replayed, malformed — answers 401 or 400 with a sentence and changes nothing.

Replays: the store applies each provider event once (`feedback_events`), whatever reaches it.
On top, a request already *applied* by this process is refused as a replay (401). A request is
remembered only after it was applied, so a provider retrying after our own failure (a 5xx) is
accepted, never lost.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cadenza.connectors.base import MalformedWebhookError, WebhookError
from cadenza.connectors.sendgrid_events import SendGridEventReceiver
from cadenza.connectors.twilio_inbound import TwilioReceiver, twiml_reply
from cadenza.engine.api.events import ApiError, error_response, read_body, unavailable
from cadenza.engine.feedback import Applied
from cadenza.engine.service import Service
from cadenza.engine.settings import ServeSettings

SENDGRID_PATH = "/webhooks/sendgrid/events"
TWILIO_STATUS_PATH = "/webhooks/twilio/status"
TWILIO_INBOUND_PATH = "/webhooks/twilio/inbound"
SENDGRID_LIMIT = 5 * 1024 * 1024  # SendGrid batches events; a few MB at most
TWILIO_LIMIT = 64 * 1024
CODES = {"SignatureError": "bad_signature", "StaleWebhookError": "stale",
         "ReplayedWebhookError": "replayed", "MalformedWebhookError": "malformed"}


class AppliedKeys:
    """A `SeenKeys` that refuses a request key only once it was applied.

    `first_time` checks without recording; `applied()` records the key this thread checked
    last. Bounded, thread-safe, per process (the store's dedup is the durable guard).
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self._max = max_keys
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._checked = threading.local()

    def first_time(self, key: str) -> bool:
        with self._lock:
            if key in self._keys:
                return False
        self._checked.key = key
        return True

    def applied(self) -> None:
        key: str | None = getattr(self._checked, "key", None)
        self._checked.key = None
        if key is None:
            return
        with self._lock:
            self._keys[key] = None
            if len(self._keys) > self._max:
                self._keys.popitem(last=False)


def refused(exc: WebhookError) -> ApiError:
    status = 400 if isinstance(exc, MalformedWebhookError) else 401
    return ApiError(status, CODES.get(type(exc).__name__, "refused"), str(exc))


def not_configured(what: str, variable: str) -> ApiError:
    return ApiError(503, "not_configured", f"the {what} webhook is not configured; set "
                    f"{variable} on the server. Nothing was stored; the provider may retry.")


def _counts(applied: Applied) -> dict[str, object]:
    return {"success": True, "applied": applied.applied, "duplicates": applied.duplicates,
            "unmatched": applied.unmatched}


@dataclass
class Webhooks:
    service: Service
    sendgrid: SendGridEventReceiver | None
    twilio: TwilioReceiver | None
    seen: AppliedKeys

    async def sendgrid_events(self, request: Request) -> Response:
        receiver = self.sendgrid
        if receiver is None:
            return error_response(not_configured("SendGrid event", "CADENZA_SENDGRID_WEBHOOK_KEY"))

        def work(body: bytes, headers: Mapping[str, str]) -> Response:
            applied = self.service.delivery(receiver.receive(body, headers))
            self.seen.applied()
            return JSONResponse(_counts(applied))
        return await self._run(request, SENDGRID_LIMIT, "SendGrid event batch", work)

    async def twilio_status(self, request: Request) -> Response:
        receiver = self.twilio
        if receiver is None:
            return error_response(not_configured("Twilio", "CADENZA_TWILIO_AUTH_TOKEN"))
        url = str(request.url)

        def work(body: bytes, headers: Mapping[str, str]) -> Response:
            applied = self.service.delivery((receiver.status(body, headers, url),))
            self.seen.applied()
            return JSONResponse(_counts(applied))
        return await self._run(request, TWILIO_LIMIT, "Twilio status callback", work)

    async def twilio_inbound(self, request: Request) -> Response:
        receiver = self.twilio
        if receiver is None:
            return error_response(not_configured("Twilio", "CADENZA_TWILIO_AUTH_TOKEN"))
        url = str(request.url)

        def work(body: bytes, headers: Mapping[str, str]) -> Response:
            sms = receiver.inbound(body, headers, url)
            self.service.inbound(sms)
            self.seen.applied()
            return Response(twiml_reply(sms.reply), media_type="text/xml")
        return await self._run(request, TWILIO_LIMIT, "Twilio message", work)

    async def _run(self, request: Request, limit: int, what: str,
                   work: Callable[[bytes, Mapping[str, str]], Response]) -> Response:
        log = structlog.get_logger("cadenza.api")
        try:
            body = await read_body(request, limit, what)
            return await run_in_threadpool(work, body, dict(request.headers))
        except ApiError as exc:
            return error_response(exc)
        except WebhookError as exc:
            log.warning("webhook.refused", path=request.url.path, reason=type(exc).__name__)
            return error_response(refused(exc), None)
        except SQLAlchemyError:
            log.exception("webhook.store_failed", path=request.url.path)
            return error_response(unavailable("the provider's retry is applied once"))


def routes(service: Service, settings: ServeSettings) -> list[BaseRoute]:
    """The provider callbacks, verified against `settings.public_url` + path."""
    seen = AppliedKeys()
    base = settings.public_url.rstrip("/")
    sendgrid = (SendGridEventReceiver(settings.sendgrid_webhook_key, seen=seen)
                if settings.sendgrid_webhook_key else None)
    twilio = (TwilioReceiver(auth_token=settings.twilio_auth_token,
                             status_url=base + TWILIO_STATUS_PATH,
                             inbound_url=base + TWILIO_INBOUND_PATH,
                             help_text=settings.sms_help_text, seen=seen)
              if settings.twilio_auth_token.get_secret_value() else None)
    hooks = Webhooks(service=service, sendgrid=sendgrid, twilio=twilio, seen=seen)
    return [Route(SENDGRID_PATH, hooks.sendgrid_events, methods=["POST"]),
            Route(TWILIO_STATUS_PATH, hooks.twilio_status, methods=["POST"]),
            Route(TWILIO_INBOUND_PATH, hooks.twilio_inbound, methods=["POST"])]
