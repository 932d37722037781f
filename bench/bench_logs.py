"""What stamping a log record with ids and run attribution adds.

Baseline: ``logger.info`` inside a span (with our attribution attributes on it) to a handler that only
counts, with the standard record factory. Measured: the same with otel-agent's stamping factory. Both
repeat alternately in one run.
"""

from __future__ import annotations

import gc
import logging
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import use_span

from otel_agent import attributes as A
from otel_agent.logs import install_record_factory, uninstall_record_factory

N = 50_000
REPEATS = 7


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _timed_us(log: logging.Logger) -> float:
    gc.collect()
    gc.disable()
    start = time.perf_counter_ns()
    for _ in range(N):
        log.info("chapter %d drafted", 3)
    elapsed = time.perf_counter_ns() - start
    gc.enable()
    return elapsed / N / 1000


def main() -> None:
    log = logging.getLogger("bench.app")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(_Count())
    attrs = {A.PROJECT: "books", A.STAGE: "draft", A.AGENT_ROLE: "writer", A.RUN_ID: "00f067aa0ba902b7"}
    span = TracerProvider().get_tracer("bench").start_span("step", attributes=attrs)
    base = stamped = float("inf")
    with use_span(span, end_on_exit=True):
        for _ in range(REPEATS):
            base = min(base, _timed_us(log))
            install_record_factory()
            stamped = min(stamped, _timed_us(log))
            uninstall_record_factory()
    print(f"baseline: log a record inside a span, no stamp     {base:8.2f} us/record")
    print(f"with otel-agent's stamp (ids + attribution)        {stamped:8.2f} us/record  "
          f"ratio {stamped / base:.2f}x  added {stamped - base:+.2f} us")


if __name__ == "__main__":
    main()
