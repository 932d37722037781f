"""In-flight markers: zero-length child spans of an open run, so a run is visible before it ends.

At run start, and every ``interval_s`` while it is open, a span named ``MARKER_SPAN_NAME`` with
``MARKER`` = run.start | run.heartbeat, the run's attribution, ``RUN_NAME`` and ``RUN_START_TIME`` is
handed straight to the downstream processors (exporters). The SQL exporter and the sink use them to show
the run as running and to declare it stalled when heartbeats stop.

One daemon thread sends heartbeats; it never blocks the application (the emit callback goes to batch
processors, whose on_end only enqueues). Open runs are bounded; a run past the bound gets its start
marker but no heartbeats (counted in ``overflow``).
"""

from __future__ import annotations

import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

from otel_agent import __version__
from otel_agent import attributes as A
from otel_agent.guard import guard

_SCOPE = InstrumentationScope("otel_agent.markers", __version__)
Emit = Callable[[ReadableSpan], None]


def marker_span(run: ReadableSpan, kind: str, carried: Mapping[str, Any], now_ns: int) -> ReadableSpan:
    """A zero-length child of ``run`` carrying the run's attribution."""
    parent = run.get_span_context()
    assert parent is not None
    context = SpanContext(
        parent.trace_id, random.getrandbits(64) or 1, False, parent.trace_flags, parent.trace_state
    )
    attrs = {
        **carried,
        A.MARKER: kind,
        A.RUN_NAME: run.name,
        A.RUN_START_TIME: run.start_time or now_ns,
    }
    return ReadableSpan(
        name=A.MARKER_SPAN_NAME,
        context=context,
        parent=parent,
        resource=run.resource,
        attributes=attrs,
        kind=trace.SpanKind.INTERNAL,
        start_time=now_ns,
        end_time=now_ns,
        instrumentation_scope=_SCOPE,
    )


class RunMarkers:
    """Sends run.start markers and, from one background thread, periodic run.heartbeat markers."""

    def __init__(self, emit: Emit, interval_s: float, max_open_runs: int = 10_000) -> None:
        self._emit = emit
        self._interval_s = interval_s
        self._max_open = max_open_runs
        self._open: dict[int, tuple[Span, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.overflow = 0
        self.sent = 0
        if hasattr(os, "register_at_fork"):
            # A forked child must not heartbeat its parent's runs; it starts with none and no thread.
            ref = weakref.WeakMethod(self._after_fork)
            os.register_at_fork(after_in_child=lambda: (method := ref()) is not None and method())

    def _after_fork(self) -> None:
        self._open = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._pid = os.getpid()

    def run_started(self, span: Span, carried: Mapping[str, Any]) -> None:
        snapshot = dict(carried)
        self._send(span, A.MARKER_RUN_START, snapshot)
        with self._lock:
            if len(self._open) >= self._max_open:
                self.overflow += 1
                return
            self._open[span.get_span_context().span_id] = (span, snapshot)
        if self._interval_s > 0:  # 0: no thread; heartbeat_now() still works (tests, manual ticks)
            self._ensure_thread()

    def run_ended(self, span_id: int) -> None:
        with self._lock:
            self._open.pop(span_id, None)

    def _send(self, span: ReadableSpan, kind: str, carried: Mapping[str, Any]) -> None:
        self._emit(marker_span(span, kind, carried, time.time_ns()))
        self.sent += 1

    def heartbeat_now(self) -> None:
        """Send one heartbeat for every open run (the thread's tick; callable directly in tests)."""
        with self._lock:
            runs = list(self._open.values())
        for span, carried in runs:
            with guard("markers.heartbeat"):
                self._send(span, A.MARKER_RUN_HEARTBEAT, carried)

    def _ensure_thread(self) -> None:
        # After fork the thread is gone in the child; start a fresh one there.
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._wake.clear()
            self._thread = threading.Thread(target=self._loop, name="otel-agent-heartbeat", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._wake.wait(self._interval_s):
            self.heartbeat_now()

    def shutdown(self) -> None:
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
