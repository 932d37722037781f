"""100,000 runs (each with 2 LLM-call spans) produced as fast as the app can, into SQLite and PostgreSQL.

`python -m bench lossless` (BENCH_LOSSLESS_RUNS to change the count). Each target runs in its own
process (so its peak RSS is its own): otel_agent.configure() with the SQL exporter in a BatchSpanProcessor
of the SDK's default sizes (queue 2048, batch 512), which configure() makes lossless. Printed: runs and
LLM calls stored against produced (they must be equal), the app's rate, the time to drain after the app
finished, how often the app waited (backpressure) and what was spilled to the spool or dropped, peak RSS
and the load average. Baseline, same process kind, SQLite: the stock BatchSpanProcessor (what otel-agent
stored before), on BENCH_LOSSLESS_BASELINE_RUNS runs. BENCH_LOSSLESS_MAX_WAIT sets
OTEL_AGENT_EXPORT_MAX_WAIT (1 s; 0: the app never waits, spans spill at once).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.metrics.pipeline import dropped_totals, spooled_totals
from otel_agent.processors.enriching import EnrichingSpanProcessor
from otel_agent.settings import Settings
from tests.lossless_support import CALLS_PER_RUN, pipeline, produce_runs, stored
from tests.otel_capture import reset_global_tracer_provider
from tests.services import postgres_server

RUNS = int(os.environ.get("BENCH_LOSSLESS_RUNS", "100000"))
BASELINE_RUNS = int(os.environ.get("BENCH_LOSSLESS_BASELINE_RUNS", str(RUNS)))
MAX_WAIT = os.environ.get("BENCH_LOSSLESS_MAX_WAIT", "1")  # OTEL_AGENT_EXPORT_MAX_WAIT (default 1 s)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stock_pipeline(url: str, spool_dir: Path) -> TracerProvider:
    """otel-agent's enrichment in front of a plain BatchSpanProcessor: the SQL path before this change."""
    reset_global_tracer_provider()
    settings = Settings(heartbeat_interval_s=0, spool_dir=str(spool_dir))
    provider = TracerProvider()
    bsp = BatchSpanProcessor(SqlSpanExporter(url, settings=settings))
    provider.add_span_processor(EnrichingSpanProcessor([bsp], settings=settings))
    trace.set_tracer_provider(provider)
    return provider


def one(target: str, url: str, runs: int) -> None:
    """Produce, drain, count and print (in this process)."""
    spool_dir = Path(tempfile.mkdtemp(prefix="bench-lossless-spool-"))
    if target.endswith("stock"):
        provider, lossless = _stock_pipeline(url, spool_dir), None
    else:
        made = pipeline(url, spool_dir, max_wait_s=MAX_WAIT)
        provider, lossless = made.provider, made.lossless
    load_before = _load()
    start = time.perf_counter()
    produce_runs(runs)
    produced_s = time.perf_counter() - start
    provider.force_flush(600_000)
    provider.shutdown()
    drained_s = time.perf_counter() - start - produced_s
    got = stored(url)
    verdict = "ALL STORED" if (got.runs, got.llm_calls) == (runs, runs * CALLS_PER_RUN) else "LOST SPANS"
    print(
        f"{target} (max wait {MAX_WAIT} s): runs stored {got.runs:,}/{runs:,}, "
        f"LLM calls stored {got.llm_calls:,}/{runs * CALLS_PER_RUN:,} -> {verdict}\n"
        f"  app: {runs / produced_s:,.0f} runs/s ({produced_s:.1f} s); drained {drained_s:.1f} s after; "
        f"waits {getattr(lossless, 'waits', '-')}, spilled {getattr(lossless, 'spilled', '-')}, "
        f"spooled {sum(spooled_totals().values())}, dropped {sum(dropped_totals().values())}\n"
        f"  peak RSS {_peak_rss_mb():.0f} MB; load average before {load_before}, after {_load()}",
        flush=True,
    )


def _in_subprocess(target: str, url: str, runs: int) -> None:
    cmd = [sys.executable, "-m", "bench.bench_lossless", target, url, str(runs)]
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})


def main() -> None:
    print(
        f"{RUNS:,} runs x {CALLS_PER_RUN} LLM calls, as fast as the app can; machine shared, load {_load()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        _in_subprocess("sqlite", f"sqlite:///{tmp}/lossless.db", RUNS)
        _in_subprocess("sqlite-stock", f"sqlite:///{tmp}/stock.db", BASELINE_RUNS)
    with postgres_server() as pg:
        _in_subprocess("postgresql", pg, RUNS)


if __name__ == "__main__":
    one(sys.argv[1], sys.argv[2], int(sys.argv[3]))
