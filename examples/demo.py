"""`make demo`: run the book-writer pipeline and print what otel-agent captured (runs, tokens, cost by stage).

Spans go to an in-memory exporter here; the summary reads only span attributes, so any exporter (SQL,
OTLP) sees the same figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_agent
from examples.book_writer import write_book
from examples.sdk_llm import SdkLLM, start_fake_provider
from otel_agent import attributes as A
from otel_agent.cli import main as cli
from otel_agent.exporters.sql import SqlSpanExporter


def _usd(value: object) -> str:
    return f"{value:.6f}" if isinstance(value, (int, float)) else "unpriced"


def run_rows(spans: Iterable[ReadableSpan]) -> list[str]:
    rows = [
        f"  {'run':<30} {'status':<10} {'llm':>4} {'tools':>5} {'errors':>6} {'in tok':>7} "
        f"{'out tok':>7} {'cost USD':>10}"
    ]
    for s in spans:
        a = s.attributes or {}
        if A.RUN_STATUS not in a:
            continue
        rows.append(
            f"  {s.name:<30} {a[A.RUN_STATUS]:<10} {a.get(A.ROLLUP_LLM_CALLS, 0):>4} "
            f"{a.get(A.ROLLUP_TOOL_CALLS, 0):>5} {a.get(A.ROLLUP_ERRORS, 0):>6} "
            f"{a.get(A.ROLLUP_INPUT_TOKENS, 0):>7} {a.get(A.ROLLUP_OUTPUT_TOKENS, 0):>7} "
            f"{_usd(a.get(A.ROLLUP_COST_USD)):>10}"
            + (f"  + {a[A.ROLLUP_UNPRICED_CALLS]} unpriced call(s)" if a.get(A.ROLLUP_UNPRICED_CALLS) else "")
        )
    return rows


def stage_rows(spans: Iterable[ReadableSpan]) -> list[str]:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s in spans:
        a = s.attributes or {}
        if A.PRICE_SOURCE not in a:
            continue  # not an LLM call, or one that failed before reporting usage
        t = totals[str(a.get(A.STAGE, "(none)"))]
        t["calls"] += 1
        t["input"] += a.get(A.GEN_AI_USAGE_INPUT_TOKENS, 0)
        t["cached"] += a.get(A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0)
        t["output"] += a.get(A.GEN_AI_USAGE_OUTPUT_TOKENS, 0)
        t["cost"] += a.get(A.COST_USD, 0.0)
        t["unpriced"] += a[A.PRICE_SOURCE] == A.PRICE_SOURCE_UNPRICED
    head = ("stage", "calls", "input", "cached", "output", "cost USD", "unpriced")
    rows = ["  {:<10} {:>5} {:>7} {:>7} {:>7} {:>10} {:>8}".format(*head)]
    for stage, t in totals.items():
        rows.append(
            f"  {stage:<10} {t['calls']:>5.0f} {t['input']:>7.0f} {t['cached']:>7.0f} {t['output']:>7.0f} "
            f"{t['cost']:>10.6f} {t['unpriced']:>8.0f}"
        )
    return rows


def failure_rows(spans: Iterable[ReadableSpan]) -> list[str]:
    rows = []
    for s in spans:
        a = s.attributes or {}
        if A.ERROR_CATEGORY in a:
            rows.append(
                f"  {s.name:<26} {a[A.ERROR_CATEGORY]:<12} stage={a.get(A.STAGE)} "
                f"agent={a.get(A.GEN_AI_AGENT_NAME)} attempt={a.get(A.RETRY_ATTEMPT)}"
            )
    return rows or ["  (none)"]


def summary(spans: Sequence[ReadableSpan]) -> str:
    real = [s for s in spans if s.name != A.MARKER_SPAN_NAME]
    markers = len(spans) - len(real)
    parts = [
        f"Captured {len(real)} spans and {markers} in-flight markers.",
        "",
        "Runs (roll-ups include nested runs):",
        *run_rows(real),
        "",
        "LLM calls by stage:",
        *stage_rows(real),
        "",
        "Failures:",
        *failure_rows(real),
    ]
    return "\n".join(parts)


DEMO_DATABASE = Path("otel-agent-data") / "demo.db"


def show_store(database_url: str) -> None:
    """What the SQL exporter stored, shown with the otel-agent CLI (run the same commands yourself)."""
    for command in (["runs"], ["report", "--by", "stage"], ["failures"]):
        print(f"\n$ otel-agent {' '.join(command)} --database-url {database_url}")
        cli([*command, "--database-url", database_url])


def main() -> None:
    exporter = InMemorySpanExporter()
    DEMO_DATABASE.unlink(missing_ok=True)  # a fresh demo database each time
    database_url = f"sqlite:///{DEMO_DATABASE}"
    # The same exporter OTEL_TRACES_EXPORTER=otel_agent_sql adds; built directly to pick the demo's file.
    sql_exporter = SqlSpanExporter(database_url)
    otel_agent.configure(processors=[SimpleSpanProcessor(exporter)], exporters=[sql_exporter])
    print("otel-agent demo: a multi-agent book writer (outline -> draft -> edit, nested fact-check run)\n")
    # Real openai/anthropic SDK calls over HTTP to a local fake provider; otel_agent.genai makes their spans.
    fake = start_fake_provider()
    try:
        write_book("lighthouses", chapters=3, llm=SdkLLM(fake))
    finally:
        fake.stop()
    print(summary(exporter.get_finished_spans()))
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    show_store(database_url)


if __name__ == "__main__":
    main()
