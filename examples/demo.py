"""`make demo`: run the book-writer pipeline and print what otel-agent captured (runs, tokens, cost by stage).

Spans go to an in-memory exporter (the summary reads only span attributes, so any exporter sees the same
figures) and to the SQL exporter, into the database every `otel-agent` command reads by default
(OTEL_AGENT_DATABASE_URL, else otel-agent-data/otel-agent.db under the current directory). The demo ends
with the commands to try next, which work as printed from where it ran.
"""

from __future__ import annotations

import os
import shutil
import sys
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
from otel_agent.cli.output import Cost, format_usd
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.settings import Settings
from otel_agent.store.engine import database_url


def _usd(value: object) -> str:
    return format_usd(value) if isinstance(value, (int, float)) else "unpriced"


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
            f"{Cost(a.get(A.ROLLUP_COST_USD), int(a.get(A.ROLLUP_UNPRICED_CALLS, 0)))!s:>10}"
        )
    return rows


def stage_rows(spans: Iterable[ReadableSpan]) -> list[str]:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s in spans:
        a = s.attributes or {}
        if a.get(A.GEN_AI_OPERATION_NAME) not in A.LLM_OPERATIONS:
            continue
        # An SDK's retry is the same call again: its tokens and cost count, the call once (docs/counting.md)
        new_call = int(a.get(A.RETRY_ATTEMPT, 0) or 0) <= 0
        t = totals[str(a.get(A.STAGE, "(none)"))]
        t["calls"] += new_call
        t["input"] += a.get(A.GEN_AI_USAGE_INPUT_TOKENS, 0)
        t["cached"] += a.get(A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0)
        t["output"] += a.get(A.GEN_AI_USAGE_OUTPUT_TOKENS, 0)
        t["cost"] += a.get(A.COST_USD, 0.0)
        t["unpriced"] += new_call and a.get(A.PRICE_SOURCE) == A.PRICE_SOURCE_UNPRICED
    head = ("stage", "calls", "input", "cached", "output", "cost USD", "unpriced")
    rows = ["  {:<10} {:>5} {:>7} {:>7} {:>7} {:>10} {:>8}".format(*head)]
    for stage, t in totals.items():
        rows.append(
            f"  {stage:<10} {t['calls']:>5.0f} {t['input']:>7.0f} {t['cached']:>7.0f} {t['output']:>7.0f} "
            f"{format_usd(t['cost']):>10} {t['unpriced']:>8.0f}"
        )
    return rows


def failure_rows(spans: Iterable[ReadableSpan]) -> list[str]:
    rows = []
    for s in spans:
        a = s.attributes or {}
        if A.ERROR_CATEGORY in a:
            rows.append(
                f"  {s.name:<26} {a[A.ERROR_CATEGORY]:<12} stage={a.get(A.STAGE)} "
                f"agent={a.get(A.GEN_AI_AGENT_NAME)}{_attempt(a.get(A.RETRY_ATTEMPT))}"
            )
    return rows or ["  (none)"]


def _attempt(retry: object) -> str:
    # otel_agent.retry.attempt counts retries (0 = the first try); people count attempts from 1.
    return f" attempt={retry + 1}" if isinstance(retry, int) else ""


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


def _otel_agent_command() -> str:
    """How to call the CLI from here: the script beside this interpreter (.venv/bin/otel-agent from the
    repository root), or just ``otel-agent`` when that is the one on PATH."""
    script = Path(sys.executable).with_name("otel-agent")
    on_path = shutil.which("otel-agent")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "otel-agent"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


# What to try after the demo: (what it shows, the command). Each works as printed, with no flags.
NEXT_STEPS: list[tuple[str, str]] = [
    ("the runs, newest first", "{cli} runs"),
    ("tokens, cost and success by stage", "{cli} report --by stage"),
    ("what failed, and on which attempt", "{cli} failures"),
]
# The web page needs a server that keeps running, so it is shown apart from the commands above (which
# tests/test_readme_walk.py runs as printed).
WEB_UI = (
    "In a browser: {cli} api token create --workspace default --role operator   # prints a token\n"
    "              {cli} api   # then open http://127.0.0.1:8321/ and paste the token (docs/ui.md)"
)


def show_store() -> None:
    """What the SQL exporter stored, shown with the otel-agent CLI (the same commands you can run)."""
    for _, command in NEXT_STEPS[:2]:
        argv = command.format(cli="otel-agent").split()[1:]
        print(f"\n$ otel-agent {' '.join(argv)}")
        cli(argv)


def next_steps(url: str) -> str:
    where = url if os.environ.get("OTEL_AGENT_DATABASE_URL") else url.removeprefix("sqlite:///")
    lines = ["\n" + WEB_UI.format(cli=_otel_agent_command())]
    lines.append(f"\nStored in {where}. Try, from this directory:")
    commands = [(what, c.format(cli=_otel_agent_command())) for what, c in NEXT_STEPS]
    width = max(len(c) for _, c in commands)
    lines += [f"  {c:<{width}}   # {what}" for what, c in commands]
    return "\n".join(lines)


def main() -> None:
    exporter = InMemorySpanExporter()
    url = database_url(Settings.from_env().database_url)  # the URL every otel-agent command reads
    # The same exporter OTEL_TRACES_EXPORTER=otel_agent_sql adds.
    sql_exporter = SqlSpanExporter(url)
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
    show_store()
    print(next_steps(url))


if __name__ == "__main__":
    main()
