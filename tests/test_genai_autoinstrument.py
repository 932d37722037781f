"""Zero-code: under ``opentelemetry-instrument`` with otel-agent installed, an openai SDK call to a mapped
provider URL becomes a priced GenAI span, with no code change in the application."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from otel_agent.fakeprovider import FakeProvider
from tests.services import missing

APP = """
import openai
client = openai.OpenAI(base_url="{url}/openai/v1", api_key="sk-app", max_retries=0)
reply = client.chat.completions.create(model="gpt-4o", messages=[{{"role": "user", "content": "hi"}}])
print("APP-GOT", reply.usage.prompt_tokens, flush=True)
"""


def console_spans(stdout: str) -> list[dict[str, object]]:
    """The console exporter prints one indented JSON object per span, each starting a line with '{'."""
    decoder, spans, at = json.JSONDecoder(), [], stdout.find("{")
    while at >= 0:
        try:
            span, end = decoder.raw_decode(stdout, at)
        except ValueError:
            end = at + 1
        else:
            spans.append(span)
        at = stdout.find("\n{", end)
        at = at + 1 if at >= 0 else -1
    return spans


def test_opentelemetry_instrument_captures_llm_calls(tmp_path: Path) -> None:
    runner = Path(sys.executable).with_name("opentelemetry-instrument")
    if not runner.exists():
        missing("opentelemetry-instrument is not installed in this environment")
    with FakeProvider() as fake:
        app = tmp_path / "app.py"
        app.write_text(APP.format(url=fake.url))
        env = {
            **os.environ,
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_PYTHON_DISTRO": "otel_agent",
            "OTEL_AGENT_GENAI_BASE_URLS": f"{fake.url}/openai=openai",
            "OTEL_AGENT_MARKERS": "false",
        }
        env.pop("PYTEST_CURRENT_TEST", None)
        done = subprocess.run(
            [str(runner), sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=60
        )
    assert "APP-GOT 12" in done.stdout, done.stderr
    chats = [s for s in console_spans(done.stdout) if s.get("name") == "chat gpt-4o"]
    assert len(chats) == 1, done.stdout[-3000:]
    attrs = chats[0]["attributes"]
    assert isinstance(attrs, dict)
    assert attrs["gen_ai.usage.input_tokens"] == 12
    assert attrs["otel_agent.cost.usd"] > 0
