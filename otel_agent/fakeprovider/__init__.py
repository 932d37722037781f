"""A fake LLM provider HTTP server speaking the OpenAI, Anthropic and Gemini wire formats (JSON and SSE).

Used by the tests, the benchmarks and ``make demo`` so real SDKs make real HTTP calls without a network:

    with FakeProvider() as fake:
        client = openai.OpenAI(base_url=fake.url + "/v1", api_key="test")
        fake.script(replies.openai_error("rate_limit"))   # the next call gets a 429

``python -m otel_agent.fakeprovider --port 8765`` runs it on its own.
"""

from otel_agent.fakeprovider import replies
from otel_agent.fakeprovider.replies import Reply, Usage
from otel_agent.fakeprovider.server import FakeProvider, Received

__all__ = ["FakeProvider", "Received", "Reply", "Usage", "replies"]
