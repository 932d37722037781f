"""CPU per agent run with the default profile and with OTEL_AGENT_PROFILE=lite, against a bare SDK.

One run = an invoke_workflow span with 5 priced LLM-call spans and 2 tool spans. Each set-up has what
opentelemetry-instrument would give it: otel-agent's enrichment, the metrics processor (an SDK
MeterProvider whose reader collects as often as the profile's export interval, with or without exemplars)
and, in the default profile, the run-event log records (an OTel LoggingHandler and a batch processor).
Exporters are no-ops: what is measured is our work, not the network.

The figure is CPU time of the whole process (application, batch and reader threads) per run, as a ratio
to the bare SDK's, medians of rounds that alternate between the set-ups so they share the machine's load
(the machine is shared: the load average is printed beside the figures). Collections are spread in the
ratio of the export intervals: one per 20 runs for the default (10 s in our compose file, at 2 runs/s),
one per 120 runs for lite (60 s).
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.exemplar import AlwaysOffExemplarFilter, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

from bench.bench_processors import LLM_ATTRS, RUN_ATTRS, NoOpExporter
from otel_agent.logs.events import LOGGER_NAME, RunEventLogProcessor
from otel_agent.metrics import MetricsSpanProcessor
from otel_agent.processors.enriching import EnrichingSpanProcessor
from otel_agent.settings import Settings

RUNS_PER_ROUND = 240  # a multiple of both collection spacings
ROUNDS = 15
COLLECT_EVERY = {"default": 20, "lite": 120}


class NoOpLogExporter(LogRecordExporter):
    def export(self, batch: Sequence[object]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


@dataclass
class SetUp:
    tracer: Tracer
    collect: Callable[[], object] | None
    every: int
    close: Callable[[], None]


def bare() -> SetUp:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoOpExporter()))
    return SetUp(provider.get_tracer("bench"), None, 0, provider.shutdown)


def with_profile(profile: str) -> SetUp:
    settings = Settings.from_env({"OTEL_AGENT_PROFILE": profile})
    lite = profile == "lite"
    reader = InMemoryMetricReader()
    exemplars = AlwaysOffExemplarFilter() if lite else TraceBasedExemplarFilter()
    meters = MeterProvider(metric_readers=[reader], exemplar_filter=exemplars)
    downstream = [MetricsSpanProcessor(meters, max_series=settings.metrics_max_series)]
    logs = LoggerProvider()
    handler = LoggingHandler(logger_provider=logs)
    if settings.log_events:
        logs.add_log_record_processor(BatchLogRecordProcessor(NoOpLogExporter()))
        logging.getLogger(LOGGER_NAME).addHandler(handler)
        downstream.append(RunEventLogProcessor())  # type: ignore[arg-type]
    wrapper = EnrichingSpanProcessor([*downstream, BatchSpanProcessor(NoOpExporter())], settings=settings)
    provider = TracerProvider()
    provider.add_span_processor(wrapper)

    def close() -> None:
        logging.getLogger(LOGGER_NAME).removeHandler(handler)
        provider.shutdown()
        meters.shutdown()
        logs.shutdown()

    return SetUp(provider.get_tracer("bench"), reader.get_metrics_data, COLLECT_EVERY[profile], close)


def one_run(tracer: Tracer) -> None:
    with tracer.start_as_current_span("invoke_workflow bench", attributes=RUN_ATTRS):
        for _ in range(5):
            with tracer.start_as_current_span("chat gpt-4o", attributes=LLM_ATTRS):
                pass
        for _ in range(2):
            with tracer.start_as_current_span("execute_tool search", attributes={"gen_ai.tool.name": "s"}):
                pass


def round_us(setup: SetUp) -> float:
    start = time.process_time_ns()
    for n in range(1, RUNS_PER_ROUND + 1):
        one_run(setup.tracer)
        if setup.collect is not None and n % setup.every == 0:
            setup.collect()
    return (time.process_time_ns() - start) / RUNS_PER_ROUND / 1000


def main() -> None:
    logging.getLogger(LOGGER_NAME).setLevel(logging.INFO)
    setups = {"bare SDK": bare(), "default": with_profile("default"), "lite": with_profile("lite")}
    for setup in setups.values():
        round_us(setup)  # warm-up: imports, first price lookup
    samples: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(ROUNDS):
        for name, setup in setups.items():
            samples[name].append(round_us(setup))
    for setup in setups.values():
        setup.close()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{RUNS_PER_ROUND} runs x {ROUNDS} alternating rounds; load average {load} (shared machine)")
    base = samples["bare SDK"]
    for name, values in samples.items():
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        print(
            f"  {name:<9} {statistics.median(values):8.1f} us CPU per run  "
            f"ratio to bare {statistics.median(ratios):.2f}x"
        )
    lite_vs_default = [v / d for v, d in zip(samples["lite"], samples["default"], strict=True)]
    print(f"  lite / default: {statistics.median(lite_vs_default):.2f}x")


if __name__ == "__main__":
    main()
