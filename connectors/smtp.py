"""E-mail through any SMTP relay with ``smtplib``: one connection per message.

Reply codes decide the outcome: 4xx transient, 5xx permanent. Everything up to the end of
RCPT TO happens before the message exists on the server, so a timeout or a dropped
connection there is :class:`Transient`; only a failure while waiting for the reply to the
DATA terminator is :class:`Unknown`. The Message-ID header is derived from our message id,
so the relay's logs and the recipient's headers can be traced back to the outbox.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ._http import short
from .base import (
    DEFAULT_CONCURRENCY,
    Channel,
    Delivered,
    Message,
    Permanent,
    SendResult,
    Transient,
    Unknown,
    wrong_channel,
)
from .redact import get_logger, redact_address

_TRANSIENT_CLASS = 4
_OK = 250
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._+=-]")


class SmtpConfig(BaseModel):
    """Configuration keys of a ``type: smtp`` connector (secrets by env var name only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["smtp"] = "smtp"
    host: str
    port: int = Field(default=587, gt=0, lt=65536)
    from_email: str
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Requests out at once (a provider's answer takes ~100-300 ms; one at a time is ~5/s).
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=64)
    local_hostname: str | None = None


def _code_result(code: int, text: bytes | str, stage: str) -> SendResult:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    reason = short(f"SMTP {code} at {stage}: {detail}")
    if code // 100 == _TRANSIENT_CLASS:
        return Transient(reason, code=str(code))
    return Permanent(reason, code=str(code))


@dataclass(eq=False)
class SmtpConnector:
    """Sends ``email`` messages over SMTP, with STARTTLS when configured."""

    name: str
    config: SmtpConfig
    password: SecretStr | None = field(default=None, repr=False)
    channel: Channel = field(default="email", init=False)

    @property
    def max_in_flight(self) -> int:
        """Requests the dispatcher may have out at once through this connector."""
        return self.config.concurrency

    def send(self, message: Message) -> SendResult:
        """Deliver one message to the relay and map the reply to a :data:`SendResult`."""
        if (mismatch := wrong_channel(self, message)) is not None:
            return mismatch
        log = get_logger(self.name, self.channel, message_id=message.message_id)
        mail = self.build_mail(message)
        result = self._deliver(mail, message.to)
        log.info(
            "connector.sent" if isinstance(result, Delivered) else "connector.failed",
            outcome=type(result).__name__.lower(),
            to=redact_address(message.to),
            **({"provider_id": result.provider_id} if isinstance(result, Delivered)
               else {"reason": result.reason, "code": result.code}),
        )
        return result

    def _deliver(self, mail: EmailMessage, to: str) -> SendResult:
        stage = "connect"
        smtp: smtplib.SMTP | None = None
        try:
            smtp = smtplib.SMTP(
                self.config.host, self.config.port, self.config.local_hostname,
                timeout=self.config.timeout_s,
            )
            stage = "hello"
            self._hello(smtp)
            stage = "envelope"
            self._envelope(smtp, str(mail["From"]), to)
            stage = "data"
            code, text = smtp.data(mail.as_bytes())
            stage = "quit"
        except smtplib.SMTPResponseException as exc:
            return _code_result(exc.smtp_code, exc.smtp_error, stage)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return _code_result(code, text, "RCPT TO")
        except (OSError, smtplib.SMTPException) as exc:
            return self._transport_result(exc, stage)
        finally:
            _close(smtp, polite=stage == "quit")
        if code != _OK:
            return _code_result(code, text, "DATA")
        return Delivered(str(mail["Message-ID"]))

    def _hello(self, smtp: smtplib.SMTP) -> None:
        smtp.ehlo()
        if self.config.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if self.config.username and self.password is not None:
            smtp.login(self.config.username, self.password.get_secret_value())

    @staticmethod
    def _envelope(smtp: smtplib.SMTP, sender: str, to: str) -> None:
        code, text = smtp.mail(sender)
        if code != _OK:
            raise smtplib.SMTPSenderRefused(code, text, sender)
        code, text = smtp.rcpt(to)
        if code not in {250, 251}:
            raise smtplib.SMTPRecipientsRefused({to: (code, text)})

    @staticmethod
    def _transport_result(exc: BaseException, stage: str) -> SendResult:
        what = type(exc).__name__
        if stage == "data":
            return Unknown(short(f"SMTP relay did not confirm DATA ({what}); the mail may "
                                 "have been queued"))
        return Transient(short(f"SMTP failed at {stage} before the mail was sent ({what}: "
                               f"{exc}); safe to retry"))

    def build_mail(self, message: Message) -> EmailMessage:
        """The MIME message for ``message`` (public so tests can read it)."""
        mail = EmailMessage()
        sender = message.sender or self.config.from_email
        mail["From"] = sender
        mail["To"] = message.to
        if message.reply_to:
            mail["Reply-To"] = message.reply_to
        mail["Subject"] = message.subject or ""
        mail["Date"] = formatdate(usegmt=True)
        domain = sender.rpartition("@")[2] or "cadenza.invalid"
        mail["Message-ID"] = f"<{_UNSAFE_ID.sub('.', message.message_id)}@{domain}>"
        mail["X-Cadenza-Message-Id"] = message.message_id
        mail.set_content(message.text or "")
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        return mail


def _close(smtp: smtplib.SMTP | None, *, polite: bool) -> None:
    # QUIT only on a healthy session (a timed-out one would wait again), and a failing QUIT
    # after DATA was accepted must not turn a sent mail into a failure.
    if smtp is None:
        return
    if polite:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()
    smtp.close()
