"""Which provider and wire format an HTTP request speaks, by host and path, or by a user-mapped base URL.

Detection runs on every request the HTTP client sends, so it is a dict lookup on the host plus a few
string tests on the path; anything unknown returns None and the request is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_agent import attributes as A
from otel_agent.genai.wire import Wire, anthropic, cohere, gemini, ollama, openai

# Semconv gen_ai.provider.name values (openrouter and ollama have none yet).
OPENAI = "openai"
AZURE_OPENAI = "azure.ai.openai"
ANTHROPIC = "anthropic"
GEMINI = "gcp.gemini"
VERTEX = "gcp.vertex_ai"
MISTRAL = "mistral_ai"
GROQ = "groq"
DEEPSEEK = "deepseek"
XAI = "x_ai"
OPENROUTER = "openrouter"
COHERE = "cohere"
OLLAMA = "ollama"

_HOSTS: Mapping[str, str] = {
    "api.openai.com": OPENAI,
    "api.anthropic.com": ANTHROPIC,
    "generativelanguage.googleapis.com": GEMINI,
    "aiplatform.googleapis.com": VERTEX,
    "api.mistral.ai": MISTRAL,
    "api.groq.com": GROQ,
    "api.deepseek.com": DEEPSEEK,
    "api.x.ai": XAI,
    "openrouter.ai": OPENROUTER,
    "api.cohere.com": COHERE,
    "api.cohere.ai": COHERE,
}
_HOST_SUFFIXES = (
    (".openai.azure.com", AZURE_OPENAI),
    (".cognitiveservices.azure.com", AZURE_OPENAI),
    (".services.ai.azure.com", AZURE_OPENAI),
    ("-aiplatform.googleapis.com", VERTEX),
)
OLLAMA_PORT = 11434


# Providers documented to accept stream_options.include_usage on their OpenAI-compatible chat endpoint.
# Mistral is left out (it rejects unknown fields and sends usage anyway), as are OpenRouter (always sends
# usage) and any server recognised only by its requests' shape (an unknown field may be refused).
STREAM_OPTIONS_PROVIDERS = frozenset({OPENAI, GROQ, DEEPSEEK, XAI, GEMINI, OLLAMA, "vllm", "litellm"})
AZURE_STREAM_OPTIONS_SINCE = "2024-09-01"  # api-version from which Azure OpenAI accepts stream_options


@dataclass(frozen=True)
class Route:
    """A recognised LLM call: who, what operation, which parser, and a model named by the URL if any."""

    provider: str
    operation: str
    wire: Wire
    path_model: str | None = None
    stream_by_path: bool = False  # the URL itself asks for a stream (Gemini streamGenerateContent)
    detected: bool = False  # recognised by the request's shape, not the host: the provider is named later


def provider_for(host: str, port: int | None, url: str, base_urls: Mapping[str, str]) -> str | None:
    """The provider for a request, user mappings first (longest base URL wins)."""
    for base in base_urls:  # settings keep them sorted longest first
        if url.startswith(base):
            return base_urls[base]
    found = _HOSTS.get(host)
    if found:
        return found
    for suffix, provider in _HOST_SUFFIXES:
        if host.endswith(suffix):
            return provider
    if port == OLLAMA_PORT:
        return OLLAMA
    return None


def accepts_stream_options(found: Route, url: Any) -> bool:
    """Auto stream usage: the endpoint is a documented provider's OpenAI-style chat, not a guess."""
    if found.detected or found.wire.name != "openai.chat":
        return False
    if found.provider == AZURE_OPENAI:
        version = dict(url.params).get("api-version", "") if "/openai/v1/" not in url.path else "v1"
        return version == "v1" or version >= AZURE_STREAM_OPTIONS_SINCE
    return found.provider in STREAM_OPTIONS_PROVIDERS


def route(provider: str, path: str) -> Route | None:
    """The operation and wire format for a provider's path; None for endpoints we do not capture."""
    if ":generateContent" in path or ":streamGenerateContent" in path or ":predict" in path:
        return _gemini_route(provider, path)
    if provider == ANTHROPIC:
        return Route(provider, A.OP_CHAT, anthropic.MESSAGES) if path.endswith("/messages") else None
    if provider == COHERE:
        return _cohere_route(path)
    if provider == OLLAMA and "/api/" in path:
        return _ollama_route(path)
    return _openai_route(provider, path)


def _openai_route(provider: str, path: str) -> Route | None:
    if path.endswith("/chat/completions"):
        return Route(provider, A.OP_CHAT, openai.CHAT, _azure_deployment(path))
    if path.endswith("/responses"):
        return Route(provider, A.OP_CHAT, openai.RESPONSES)
    if path.endswith("/embeddings"):
        return Route(provider, A.OP_EMBEDDINGS, openai.EMBEDDINGS, _azure_deployment(path))
    if path.endswith("/completions"):
        return Route(provider, A.OP_TEXT_COMPLETION, openai.CHAT, _azure_deployment(path))
    if provider == ANTHROPIC or path.endswith("/v1/messages"):  # Anthropic-compatible gateways
        return Route(provider, A.OP_CHAT, anthropic.MESSAGES)
    return None


def _azure_deployment(path: str) -> str | None:
    # /openai/deployments/{deployment}/chat/completions: the deployment stands in for a model name.
    parts = path.split("/")
    if "deployments" in parts:
        at = parts.index("deployments") + 1
        return parts[at] if at < len(parts) else None
    return None


def _gemini_route(provider: str, path: str) -> Route | None:
    # .../models/{model}:generateContent (Gemini) or .../publishers/google/models/{model}:... (Vertex)
    last = path.rsplit("/", 1)[-1]
    model, _, method = last.partition(":")
    if method == "generateContent":
        return Route(provider, A.OP_GENERATE_CONTENT, gemini.GENERATE_CONTENT, model or None)
    if method == "streamGenerateContent":
        return Route(provider, A.OP_GENERATE_CONTENT, gemini.GENERATE_CONTENT, model or None, True)
    if method == "predict" and provider in (GEMINI, VERTEX):  # Vertex embeddings (usage not read)
        return Route(provider, A.OP_EMBEDDINGS, gemini.GENERATE_CONTENT, model or None)
    return None


def _cohere_route(path: str) -> Route | None:
    if path.endswith("/chat"):
        return Route(COHERE, A.OP_CHAT, cohere.V2)
    if path.endswith("/embed"):
        return Route(COHERE, A.OP_EMBEDDINGS, cohere.V2)
    return None


def _ollama_route(path: str) -> Route | None:
    endpoint = path[path.rindex("/api/") :]  # a proxy may put a prefix before /api/
    operations = {"/api/chat": A.OP_CHAT, "/api/generate": A.OP_TEXT_COMPLETION}
    if endpoint in operations:
        return Route(OLLAMA, operations[endpoint], ollama.NATIVE)
    if endpoint in ("/api/embed", "/api/embeddings"):
        return Route(OLLAMA, A.OP_EMBEDDINGS, ollama.NATIVE)
    return None
