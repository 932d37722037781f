"""Another worker process of the same project, for tests/test_budgets_daily.py: it spends through the real
openai SDK against the fake provider and writes its runs to the shared store, then exits.

    python -m tests.budget_worker FAKE_URL DATABASE_URL PROJECT CALLS
"""

from __future__ import annotations

import sys

import openai
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_agent import agent_run, genai
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.processors import EnrichingSpanProcessor
from otel_agent.settings import Settings


def main(fake_url: str, database_url: str, project: str, calls: int) -> None:
    provider = TracerProvider()
    exporter = SqlSpanExporter(database_url)
    settings = Settings(markers=False, heartbeat_interval_s=0)
    provider.add_span_processor(EnrichingSpanProcessor([SimpleSpanProcessor(exporter)], settings=settings))
    trace.set_tracer_provider(provider)
    genai.instrument(tracer_provider=provider, base_urls={fake_url + "/openai": "openai"})
    client = openai.OpenAI(base_url=fake_url + "/openai/v1", api_key="k", max_retries=0)
    with agent_run("part", project=project):
        for _ in range(calls):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    provider.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
