"""What recording unsampled spans costs: CPU per span when the sampler drops every trace (always_off).

`python -m bench sampling`. Workload: runs of 1 run span + 2 LLM-call spans (plus otel-agent's run.start
marker), made with agent_run() and a tracer, as in bench lossless. Three set-ups, interleaved round by
round in one process so the shared machine's load hits all alike:

* dropped, no otel-agent: the SDK alone; a dropped span is a NonRecordingSpan (the floor);
* dropped, otel-agent with OTEL_AGENT_RECORD_UNSAMPLED=false: our context API and processors, no recording;
* recorded (the default): each span recorded, enriched and written to SQLite by the SQL exporter;
* for comparison, always_on with the same SQL exporter (no OTLP exporter in any set-up).

Per span: the application thread's CPU (time.thread_time) and the whole process's CPU including the
exporter's thread and the final flush (time.process_time).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler

from otel_agent import configure
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.settings import Settings
from tests.lossless_support import CALLS_PER_RUN, produce_runs
from tests.otel_capture import reset_global_tracer_provider

RUNS = int(os.environ.get("BENCH_SAMPLING_RUNS", "2000"))
ROUNDS = 3
SPANS_PER_RUN = 1 + CALLS_PER_RUN  # the application's spans (the marker is ours)


def _sdk_only(_: Path) -> TracerProvider:
    return TracerProvider(sampler=ALWAYS_OFF)


def _with_otel_agent(
    record_unsampled: bool, sampler: Sampler = ALWAYS_OFF
) -> Callable[[Path], TracerProvider]:
    def build(tmp: Path) -> TracerProvider:
        extra = {"OTEL_AGENT_RECORD_UNSAMPLED": str(record_unsampled).lower()}
        settings = Settings(heartbeat_interval_s=0, spool_dir=str(tmp / "spool"), extra=extra)
        provider = TracerProvider(sampler=sampler)
        sql = SqlSpanExporter(f"sqlite:///{tmp}/runs.db", settings=settings)
        configure(tracer_provider=provider, exporters=[sql], settings=settings, set_global=False)
        return provider

    return build


SETUPS: dict[str, Callable[[Path], TracerProvider]] = {
    "dropped, no otel-agent (SDK alone)": _sdk_only,
    "dropped, otel-agent with RECORD_UNSAMPLED=false": _with_otel_agent(False),
    "recorded for the tables (default)": _with_otel_agent(True),
    "sampled (always_on), for comparison": _with_otel_agent(True, ALWAYS_ON),
}


def one_round(build: Callable[[Path], TracerProvider]) -> tuple[float, float]:
    """(app-thread CPU µs, process CPU µs) per application span."""
    with tempfile.TemporaryDirectory() as tmp:
        reset_global_tracer_provider()
        provider = build(Path(tmp))
        trace.set_tracer_provider(provider)
        produce_runs(50)  # warm-up: imports, price lookups, the schema
        provider.force_flush()
        thread0, process0 = time.thread_time(), time.process_time()
        produce_runs(RUNS)
        thread_s = time.thread_time() - thread0
        provider.force_flush()
        process_s = time.process_time() - process0
        provider.shutdown()
    spans = RUNS * SPANS_PER_RUN
    return thread_s / spans * 1e6, process_s / spans * 1e6


def main() -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{RUNS:,} runs x {SPANS_PER_RUN} spans per round, {ROUNDS} rounds interleaved; load {load}")
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in SETUPS}
    for _ in range(ROUNDS):
        for name, build in SETUPS.items():
            results[name].append(one_round(build))
    floor = min(r[0] for r in results["dropped, no otel-agent (SDK alone)"])
    for name, rounds in results.items():
        app = " / ".join(f"{a:.1f}" for a, _ in rounds)
        proc = " / ".join(f"{p:.1f}" for _, p in rounds)
        ratio = min(a for a, _ in rounds) / floor
        print(f"{name}: app thread {app} µs/span ({ratio:.1f}x the floor); process {proc} µs/span")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
