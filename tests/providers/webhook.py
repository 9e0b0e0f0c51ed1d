"""A local webhook receiver (a CRM or ticket queue) that records JSON POSTs."""

from __future__ import annotations

from .http import FakeHttpServer, Received, Reply


class FakeWebhookReceiver(FakeHttpServer):
    """Answers 200 with an ``X-Request-Id`` to every POST to any path."""

    def app(self, received: Received) -> Reply:
        if received.method != "POST":
            return Reply(405)
        return Reply(200, b'{"ok":true}', {"X-Request-Id": f"req-{len(self.received)}",
                                            "Content-Type": "application/json"})
