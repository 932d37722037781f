"""One counted LLM call per provider HTTP exchange, whatever else is installed.

The real openai and anthropic SDKs (sync, async, streamed) against the fake provider inside
``agent_run``, with our capture and, in turn, each foreign instrumentation of the ``foreign`` extra
(openai-v2, OpenLLMetry, OpenInference) and the SDKs' own spans: the run span's roll-up and the stored
run (through the SQL exporter) must both equal the provider's usage exactly. The httpx
instrumentation's POST span under a 429 adds no second error or failure row.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_agent import attributes as A
from otel_agent import genai
from otel_agent.context import agent_run
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.fakeprovider import FakeProvider, Usage, replies
from otel_agent.genai.settings import GenAISettings
from otel_agent.pricing import PriceBook
from otel_agent.settings import Settings
from otel_agent.store.models import failures, runs
from otel_agent.usage import Usage as CallUsage
from tests.otel_capture import Captured, install
from tests.services import missing

USAGE = Usage(input_tokens=1234, output_tokens=321, cache_read_tokens=200)
MESSAGES = [{"role": "user", "content": "Say hello"}]
OPENAI_MODEL, ANTHROPIC_MODEL = "gpt-4o", "claude-sonnet-4-5"

# (instrumentation, module, class) from the foreign extra; None: our capture and the SDKs' own spans only.
OPENAI_INSTRUMENTATIONS = {
    "none": None,
    "openai-v2": ("opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor"),
    "openllmetry-openai": ("opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
    "openinference-openai": ("openinference.instrumentation.openai", "OpenAIInstrumentor"),
}
ANTHROPIC_INSTRUMENTATIONS = {
    "none": None,
    "openllmetry-anthropic": ("opentelemetry.instrumentation.anthropic", "AnthropicInstrumentor"),
    "openinference-anthropic": ("openinference.instrumentation.anthropic", "AnthropicInstrumentor"),
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(usage=USAGE) as server:
        yield server


class Setup:
    def __init__(self, fake: FakeProvider, captured: Captured, database_url: str) -> None:
        self.fake, self.captured, self.database_url = fake, captured, database_url

    def run_span(self) -> dict[str, Any]:
        return dict(self.captured.one("invoke_workflow job").attributes or {})

    def stored_run(self) -> dict[str, Any]:
        engine = sa.create_engine(self.database_url)
        with engine.connect() as conn:
            run = dict(conn.execute(sa.select(runs)).mappings().one())
            run["failure_rows"] = conn.execute(sa.select(sa.func.count()).select_from(failures)).scalar()
        engine.dispose()
        return run


def _instrumentor(spec: tuple[str, str] | None) -> Any:
    if spec is None:
        return None
    try:
        module = importlib.import_module(spec[0])
    except ImportError:
        missing(f"{spec[0]} is not installed (pip install -e '.[foreign]')")
    return getattr(module, spec[1])()


# OpenLLMetry's openai instrumentation leaves state behind after uninstrument() (later tests in the same
# process see no span of ours): its case runs in a child pytest process.
CHILD_ENV = "OTEL_AGENT_TEST_FOREIGN_CHILD"
IN_A_CHILD = ("openllmetry-openai",)


def test_openllmetry_openai_in_a_child_process() -> None:
    case = f"{__file__}::test_openai_calls_count_once[openllmetry-openai]"
    env = {**os.environ, CHILD_ENV: "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", case]
    root = Path(__file__).parents[1]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=root)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:]


@pytest.fixture
def setup(fake: FakeProvider, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Setup]:
    fake.requests.clear()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    captured = install(Settings(markers=False, heartbeat_interval_s=0))
    exporter = SqlSpanExporter(url, spool_dir=tmp_path / "spool")
    captured.wrapper.add_downstream(SimpleSpanProcessor(exporter))
    base_urls = {
        fake.url + "/openai": "openai",
        fake.url + "/anthropic": "anthropic",
        fake.url + "/gemini": "gcp.gemini",
    }
    genai.instrument(GenAISettings(), tracer_provider=captured.provider, base_urls=base_urls)
    if request.node.callspec.id in IN_A_CHILD and not os.environ.get(CHILD_ENV):
        pytest.skip("runs in a child process (test_openllmetry_openai_in_a_child_process)")
    instrumentor = _instrumentor(request.param)
    if instrumentor is not None:
        instrumentor.instrument(tracer_provider=captured.provider)
    try:
        yield Setup(fake, captured, url)
    finally:
        if instrumentor is not None:
            instrumentor.uninstrument()
        genai.uninstrument()
        captured.provider.shutdown()


def expected_cost(provider: str, model: str, calls: int) -> float:
    usage = CallUsage(1234, 321, 200, None, None, provider, model)
    cost = PriceBook().price(usage).total_usd
    assert cost is not None and cost > 0
    return calls * cost


def assert_counts(setup: Setup, provider: str, model: str, calls: int) -> None:
    """The run span's roll-up and the stored run both say exactly ``calls`` calls of USAGE."""
    span, stored = setup.run_span(), setup.stored_run()
    assert span[A.ROLLUP_LLM_CALLS] == stored["llm_calls"] == calls
    assert span[A.ROLLUP_INPUT_TOKENS] == stored["input_tokens"] == calls * 1234
    assert span[A.ROLLUP_OUTPUT_TOKENS] == stored["output_tokens"] == calls * 321
    assert span[A.ROLLUP_CACHE_READ_TOKENS] == stored["cache_read_tokens"] == calls * 200
    cost = expected_cost(provider, model, calls)
    assert span[A.ROLLUP_COST_USD] == pytest.approx(cost, rel=1e-9)
    assert stored["cost_usd"] == pytest.approx(cost, rel=1e-9)
    assert span[A.ROLLUP_UNPRICED_CALLS] == stored["unpriced_calls"] == 0
    assert span[A.ROLLUP_ERRORS] == stored["error_count"] == stored["failure_rows"]


@pytest.mark.parametrize(
    "setup", list(OPENAI_INSTRUMENTATIONS.values()), ids=list(OPENAI_INSTRUMENTATIONS), indirect=True
)
async def test_openai_calls_count_once(setup: Setup) -> None:
    url = setup.fake.url + "/openai/v1"
    client = openai.OpenAI(base_url=url, api_key="sk-test", max_retries=1)
    aclient = openai.AsyncOpenAI(base_url=url, api_key="sk-test", max_retries=0)
    stream_usage = {"stream": True, "stream_options": {"include_usage": True}}
    with agent_run("job", project="p"):
        client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
        for _ in client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, **stream_usage):
            pass
        await aclient.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
        async for _ in await aclient.chat.completions.create(
            model=OPENAI_MODEL, messages=MESSAGES, **stream_usage
        ):
            pass
        setup.fake.script(replies.openai_error("rate_limit"))  # the SDK retries once: still one call
        client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert_counts(setup, "openai", OPENAI_MODEL, calls=5)


@pytest.mark.parametrize(
    "setup", list(ANTHROPIC_INSTRUMENTATIONS.values()), ids=list(ANTHROPIC_INSTRUMENTATIONS), indirect=True
)
async def test_anthropic_calls_count_once(setup: Setup) -> None:
    url = setup.fake.url + "/anthropic"
    client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)  # the SDK's own spans are on
    aclient = anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0)
    kwargs: dict[str, Any] = {"model": ANTHROPIC_MODEL, "max_tokens": 50, "messages": MESSAGES}
    with agent_run("job", project="p"):
        client.messages.create(**kwargs)
        for _ in client.messages.create(stream=True, **kwargs):
            pass
        with client.messages.stream(**kwargs) as stream:
            stream.get_final_text()
        await aclient.messages.create(**kwargs)
        async for _ in await aclient.messages.create(stream=True, **kwargs):
            pass
    assert_counts(setup, "anthropic", ANTHROPIC_MODEL, calls=5)


HTTPX = ("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor")


@pytest.mark.parametrize("setup", [HTTPX], ids=["httpx"], indirect=True)
def test_the_http_span_of_a_429_is_classified_and_adds_no_second_failure(setup: Setup) -> None:
    # The SDKs here send with httpx2, which the httpx instrumentation does not trace: call the REST API
    # with httpx itself, as applications do; our capture wraps httpx's send, so its POST span is below ours.
    import httpx

    body = {"model": OPENAI_MODEL, "messages": MESSAGES}
    with agent_run("job", project="p"), httpx.Client(base_url=setup.fake.url + "/openai/v1") as client:
        assert client.post("/chat/completions", json=body).status_code == 200
        setup.fake.script(replies.openai_error("rate_limit"))
        assert client.post("/chat/completions", json=body).status_code == 429
    http_spans = [
        s
        for s in setup.captured.spans()
        if (s.attributes or {}).get("http.method") == "POST"
        or (s.attributes or {}).get("http.request.method") == "POST"
    ]
    assert len(http_spans) == 2, [s.name for s in setup.captured.spans()]
    failed = [s for s in http_spans if s.status.is_ok is False]
    assert len(failed) == 1 and failed[0].attributes[A.ERROR_CATEGORY] == "rate_limit"
    span, stored = setup.run_span(), setup.stored_run()
    assert span[A.ROLLUP_LLM_CALLS] == stored["llm_calls"] == 2
    assert span[A.ROLLUP_ERRORS] == stored["error_count"] == stored["failure_rows"] == 1
    assert span[A.ROLLUP_INPUT_TOKENS] == stored["input_tokens"] == 1234
