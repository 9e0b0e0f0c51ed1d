"""Local stand-ins for SendGrid, Twilio, an SMTP relay and a webhook receiver.

They speak the real wire formats on 127.0.0.1 ephemeral ports, so connectors are tested
through the vendors' own Python clients. Each records what it received and can be told
to fail: N times a status (with Retry-After), slowly (past the client's timeout), or by
dropping the connection after reading the request.
"""

from .faults import Fault, FaultPlan
from .http import FakeHttpServer, Received, Reply, free_port
from .sendgrid import FakeSendGrid
from .signing import SendGridSigner, twilio_signature
from .smtp import FakeSmtp
from .twilio import FakeTwilio
from .webhook import FakeWebhookReceiver

__all__ = [
    "FakeHttpServer",
    "FakeSendGrid",
    "FakeSmtp",
    "FakeTwilio",
    "FakeWebhookReceiver",
    "Fault",
    "FaultPlan",
    "Received",
    "Reply",
    "SendGridSigner",
    "free_port",
    "twilio_signature",
]
