"""One-line JSON log output for container log shippers (``OTEL_AGENT_LOG_JSON=true``).

Keys are the OpenTelemetry log data model's and our attribute names, so a line read by a shipper
carries the same fields as the OTLP record: ``timestamp``, ``severity``, ``logger``, ``body``,
``trace_id``, ``span_id``, ``otel_agent.project``, ... and any ``extra`` the caller passed.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import datetime, timezone
from typing import Any

from otel_agent import attributes as A
from otel_agent.logs.stamp import SPAN_ID, TRACE_ID

# Attributes every LogRecord has; anything else on a record is an ``extra`` worth keeping.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_RENAMED = {TRACE_ID: "trace_id", SPAN_ID: "span_id"}


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, timezone.utc)
        line: dict[str, Any] = {
            "timestamp": created.isoformat(timespec="milliseconds"),
            "severity": record.levelname,
            "logger": record.name,
            "body": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                line[_RENAMED.get(key, key)] = value
        if record.exc_info and record.exc_info[0] is not None:
            line.update(_exception(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def _exception(exc_info: Any) -> dict[str, str]:
    exc_type, exc, tb = exc_info
    return {
        A.EXCEPTION_TYPE: exc_type.__name__,
        A.EXCEPTION_MESSAGE: str(exc),
        A.EXCEPTION_STACKTRACE: "".join(traceback.format_exception(exc_type, exc, tb)),
    }


class JsonLineHandler(logging.StreamHandler):
    """A stdout handler with ``JsonLineFormatter``; ``install`` adds one to the root logger."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream or sys.stdout)
        self.setFormatter(JsonLineFormatter())
