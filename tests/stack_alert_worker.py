"""An agent worker for tests/test_stack_alerts.py, run under ``opentelemetry-instrument``.

    python -m tests.stack_alert_worker doomed   start a run, flush its start marker, print "started", then
                                                hang until killed (its run stalls)
    python -m tests.stack_alert_worker worker   one failed run, then a run that stays open (heartbeating)
                                                until a line arrives on stdin, then exit
"""

from __future__ import annotations

import sys

from opentelemetry import trace

from otel_agent import agent_run


def flush() -> None:
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]


def doomed() -> None:
    with agent_run("nightly-digest", project="alerts-stalled", stage="digest", agent="digester"):
        flush()
        print("started", flush=True)
        sys.stdin.readline()  # never answered: the test kills this process


def worker() -> None:
    try:
        with agent_run("weekly-report", project="alerts", stage="report", agent="reporter"):
            raise RuntimeError("the report template is missing")
    except RuntimeError:
        pass
    with agent_run("bulk-import", project="alerts", stage="import", agent="importer"):
        flush()
        print("started", flush=True)
        sys.stdin.readline()
    flush()


if __name__ == "__main__":
    {"doomed": doomed, "worker": worker}[sys.argv[1]]()
