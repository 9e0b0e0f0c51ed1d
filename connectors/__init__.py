"""Side effects: the connector contract, its implementations and the feedback receivers.

Imports nothing else from cadenza. The engine needs only what is exported here.
"""

from .base import (
    CHANNELS,
    Channel,
    Connector,
    ConnectorConfigError,
    ConnectorError,
    Delivered,
    InvalidMessageError,
    MalformedWebhookError,
    Message,
    Permanent,
    ReplayedWebhookError,
    SendResult,
    SignatureError,
    StaleWebhookError,
    Transient,
    Unknown,
    WebhookError,
)
from .console import ConsoleConnector
from .events import DeliveryEvent, EventKind, InboundKind, InboundSms, MemorySeenKeys, SeenKeys
from .ratelimit import TokenBucket
from .recorder import RecorderConnector, Sent
from .redact import RedactProcessor, redact_address, redact_email, redact_phone, redact_text
from .registry import ConnectorRegistry, build_connector, build_registry, read_secret
from .retry import DeadLetter, Decision, Done, Hold, RetryIn, RetryPolicy
from .sendgrid import SendGridConfig, SendGridConnector
from .sendgrid_events import SendGridEventReceiver
from .smtp import SmtpConfig, SmtpConnector
from .twilio import TwilioConfig, TwilioConnector
from .twilio_inbound import TwilioReceiver, classify, twiml_reply
from .webhook import WebhookConfig, WebhookConnector, sign, verify_signature

__all__ = [
    "CHANNELS",
    "Channel",
    "Connector",
    "ConnectorConfigError",
    "ConnectorError",
    "ConnectorRegistry",
    "ConsoleConnector",
    "DeadLetter",
    "Decision",
    "Delivered",
    "DeliveryEvent",
    "Done",
    "EventKind",
    "Hold",
    "InboundKind",
    "InboundSms",
    "InvalidMessageError",
    "MalformedWebhookError",
    "MemorySeenKeys",
    "Message",
    "Permanent",
    "RecorderConnector",
    "RedactProcessor",
    "ReplayedWebhookError",
    "RetryIn",
    "RetryPolicy",
    "SeenKeys",
    "SendGridConfig",
    "SendGridConnector",
    "SendGridEventReceiver",
    "SendResult",
    "Sent",
    "SignatureError",
    "SmtpConfig",
    "SmtpConnector",
    "StaleWebhookError",
    "TokenBucket",
    "Transient",
    "TwilioConfig",
    "TwilioConnector",
    "TwilioReceiver",
    "Unknown",
    "WebhookConfig",
    "WebhookConnector",
    "WebhookError",
    "build_connector",
    "build_registry",
    "classify",
    "read_secret",
    "redact_address",
    "redact_email",
    "redact_phone",
    "redact_text",
    "sign",
    "twiml_reply",
    "verify_signature",
]
