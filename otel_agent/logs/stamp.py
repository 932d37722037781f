"""Stamp every log record made inside a span with its trace and span ids and the run's attribution.

Installed as a ``logging`` record factory (chained to the previous one), so the stamp is taken when the
record is created, on the caller's thread and in the caller's context: it stays right with
``QueueHandler`` set-ups, threads and asyncio tasks. The OpenTelemetry logging handler exports every
extra record attribute, so the attribution reaches OTLP (and Loki) under the same names as on spans.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import baggage, trace

from otel_agent import attributes as A
from otel_agent.guard import record_failure

TRACE_ID = "otelTraceID"  # the names opentelemetry-instrumentation-logging uses, so format strings work
SPAN_ID = "otelSpanID"
STAMPED_ATTRIBUTES = (A.PROJECT, A.STAGE, A.AGENT_ROLE, A.GEN_AI_AGENT_NAME, A.RUN_ID)

_lock = threading.Lock()
_installed: dict[str, Callable[..., logging.LogRecord]] = {}


def stamp(record: logging.LogRecord) -> None:
    """Add ids and attribution from the current context to ``record`` (nothing outside a span)."""
    span = trace.get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return
    fields = record.__dict__
    fields[TRACE_ID] = format(context.trace_id, "032x")
    fields[SPAN_ID] = format(context.span_id, "016x")
    fields.update(attribution(span))


def attribution(span: trace.Span) -> dict[str, Any]:
    """The run attribution of ``span``: its own attributes when our start processor set them (it always
    sets the run id inside a run), else the baggage."""
    own = _attributes(span)
    if A.RUN_ID in own or A.PROJECT in own:
        return {key: own[key] for key in STAMPED_ATTRIBUTES if key in own}
    carried = baggage.get_all()
    return {key: carried[key] for key in STAMPED_ATTRIBUTES if key in carried}


def _attributes(span: trace.Span) -> Mapping[str, Any]:
    # A live SDK span's attributes sit in BoundedAttributes, whose lookups go through the ABC machinery
    # (a missing key costs a raised KeyError); its inner dict answers the same questions ~10x faster.
    raw = getattr(span, "_attributes", None)
    inner = getattr(raw, "_dict", None)
    if isinstance(inner, dict):
        return inner
    return getattr(span, "attributes", None) or {}


def install_record_factory() -> bool:
    """Chain our stamping onto the current record factory; False if it is already installed."""
    with _lock:
        current = logging.getLogRecordFactory()
        if getattr(current, "_otel_agent_stamp", False):
            return False

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            try:
                stamp(record)
            except Exception as exc:  # a broken context must never cost the application its log line
                record_failure("logs.stamp", exc)
            return record

        factory._otel_agent_stamp = True  # type: ignore[attr-defined]
        _installed["previous"] = current
        logging.setLogRecordFactory(factory)
        return True


def uninstall_record_factory() -> None:
    """Restore the factory that was current before ours (tests)."""
    with _lock:
        previous = _installed.pop("previous", None)
        if previous is not None:
            logging.setLogRecordFactory(previous)
