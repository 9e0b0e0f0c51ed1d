"""structlog as `serve` uses it: JSON lines, addresses redacted, no frame locals in tracebacks."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import orjson
import structlog

from cadenza.connectors.redact import RedactProcessor

# Values the engine itself writes and that never hold an address: not scanned for one. A send
# logs two lines, and the scan of these was a third of each line's cost.
PLAIN_KEYS = frozenset({"event", "level", "playbook", "step", "channel", "outcome",
                        "message_id", "connector", "logger"})


def _dumps(obj: Any, **kw: Any) -> str:
    """orjson (a send's log line in a third of the time); the standard library for what it
    refuses (an integer past 64 bits), so a log call never raises."""
    try:
        return orjson.dumps(obj, default=kw.get("default"),
                            option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(obj, **kw)


def configure_json_logs(level: int = logging.INFO) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            # Before the timestamp: digit runs in it are not phone numbers.
            RedactProcessor(skip=PLAIN_KEYS),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)),
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # The SendGrid client logs request headers (the API key) at DEBUG: keep it at INFO.
    logging.getLogger("python_http_client").setLevel(logging.INFO)
