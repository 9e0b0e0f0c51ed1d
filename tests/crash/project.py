"""The trial's project: every accepted event enrolls a new customer who gets an email, waits a
second, then gets an SMS, through the local SendGrid and Twilio servers."""

from __future__ import annotations

from pathlib import Path

SCHEMA = """\
schema {
  customer {
    sms_opt_in: bool
  }
  event cart_abandoned { cart_value: number }
}
"""
PLAY = """\
playbook crash "Crash trial" {
  when event cart_abandoned
  consent sms: sms_opt_in
  hello: send email "hello"
  pause: wait 1s
  nudge: send sms text "Your cart is waiting"
}
"""
TEMPLATE = "---\nsubject: Your cart\n---\n<p>Your cart is waiting.</p>\n"
SID = "AC" + "0" * 32
SENDGRID_KEY = "SG.crash-key"
TWILIO_TOKEN = "crash-token"  # the local fake's, not a secret
CALLBACK = "http://127.0.0.1:9/webhooks/twilio/status"  # carries our message id; never called


def write_project(root: Path, sendgrid_url: str, twilio_url: str) -> Path:
    (root / "templates").mkdir(parents=True, exist_ok=True)
    (root / "schema.play").write_text(SCHEMA, encoding="utf-8")
    (root / "main.play").write_text(PLAY, encoding="utf-8")
    (root / "templates" / "hello.liquid").write_text(TEMPLATE, encoding="utf-8")
    (root / "cadenza.toml").write_text(f"""\
[connectors.email]
type = "sendgrid"
from_email = "shop@shop.example"
host = "{sendgrid_url}"
api_key_env = "CRASH_SENDGRID_KEY"
timeout_s = 5

[connectors.sms]
type = "twilio"
account_sid = "{SID}"
from_number = "+15550001111"
base_url = "{twilio_url}"
auth_token_env = "CRASH_TWILIO_TOKEN"
status_callback = "{CALLBACK}"
timeout_s = 5
""", encoding="utf-8")
    return root
