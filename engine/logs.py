"""structlog as `serve` uses it: JSON lines, addresses redacted, no frame locals in tracebacks."""

from __future__ import annotations

import logging
import sys

import structlog

from cadenza.connectors.redact import RedactProcessor


def configure_json_logs(level: int = logging.INFO) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            RedactProcessor(),  # before the timestamp: digit runs in it are not phone numbers
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # The SendGrid client logs request headers (the API key) at DEBUG: keep it at INFO.
    logging.getLogger("python_http_client").setLevel(logging.INFO)
