"""LLM calls to any endpoint, recognised by the request itself and named from what the exchange says.

For a host that is no known provider, the URL's path shape says which wire format a request would speak
(``/chat/completions``, ``/v1/messages``, ``:generateContent``, ``/api/chat``, ...); that is decided once per
URL and cached by the capture. A path with no known shape is still an LLM call when its JSON body has a
``"model"`` and ``"messages"`` (an OpenAI-style chat, or Anthropic's when the SDK's ``anthropic-version``
header is there). A shaped path also needs a ``"model"`` in the body (Gemini's model is in the path), so a
web app's own ``/api/chat`` is left alone. A request that is none of these costs the URL lookup, and for
an unshaped POST two substring searches of its body.

The provider is named, best first, from: a gateway's response headers (LiteLLM's ``x-litellm-*``, whose
``x-litellm-model-api-base`` names the upstream), the server's own fingerprint in the response (Ollama,
vLLM, llama.cpp), the model name (genai-prices' own model matching, cached per model), and last the API
family the request speaks (``openai``, ``anthropic``, ``gcp.gemini``, ``ollama``, ``cohere``).
"""

from __future__ import annotations

import threading
import warnings
from typing import Any
from urllib.parse import urlsplit

from otel_agent import attributes as A
from otel_agent.genai.facts import CallFacts
from otel_agent.genai.headers import header
from otel_agent.genai.providers import (
    ANTHROPIC,
    COHERE,
    GEMINI,
    OLLAMA,
    OPENAI,
    VERTEX,
    Route,
    provider_for,
    route,
)
from otel_agent.genai.wire import Wire, anthropic, openai

# Self-hosted servers and gateways named from their responses (no semconv value exists for them).
VLLM = "vllm"
LLAMA_CPP = "llama_cpp"
LITELLM = "litellm"

# genai-prices provider ids -> semconv gen_ai.provider.name, where they differ.
_FROM_GENAI_PRICES = {
    "google": GEMINI,
    "mistral": "mistral_ai",
    "x-ai": "x_ai",
    "azure": "azure.ai.openai",
    "aws": "aws.bedrock",
}
_MAX_MODELS = 4096


def shape_route(path: str) -> Route | None:
    """The route a path's shape implies, on a host that names no provider (the family as provider)."""
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return _detected(route(VERTEX if "/publishers/" in path else GEMINI, path))
    if "/api/" in path:  # Ollama's native endpoints; "/api/v1/chat/completions" and the like go on
        found = _detected(route(OLLAMA, path))
        if found is not None:
            return found
    if path.endswith("/messages"):
        return _detected(route(ANTHROPIC, path))
    if path.endswith(("/v2/chat", "/v2/embed")):
        return _detected(route(COHERE, path))
    return _detected(route(OPENAI, path))


def _detected(found: Route | None) -> Route | None:
    if found is None:
        return None
    wire = sniffing(found.wire)
    return Route(found.provider, found.operation, wire, found.path_model, found.stream_by_path, True)


def route_by_body(raw: bytes | None, headers: Any) -> Route | None:
    """An unshaped POST whose JSON body is a chat request (model + messages); None for anything else."""
    if not raw or raw[:1] != b"{" or b'"messages"' not in raw or b'"model"' not in raw:
        return None
    if header(headers, "anthropic-version"):
        return Route(ANTHROPIC, A.OP_CHAT, sniffing(anthropic.MESSAGES), detected=True)
    return Route(OPENAI, A.OP_CHAT, sniffing(openai.CHAT), detected=True)


# --- naming from the response ---------------------------------------------------------------------------


def name_from_headers(headers: Any, facts: CallFacts) -> None:
    """A gateway's response headers: LiteLLM names itself and, with the upstream's base URL, the provider."""
    if not header(headers, "x-litellm-version") and not header(headers, "x-litellm-call-id"):
        return
    facts.gateway = LITELLM
    base = header(headers, "x-litellm-model-api-base")
    if base:
        parts = urlsplit(base if "//" in base else "https://" + base)
        upstream = provider_for(parts.hostname or "", parts.port, "", {})
        if upstream:
            facts.named_provider = upstream


def _fingerprint(body: Any, facts: CallFacts) -> None:
    """Self-hosted servers say who they are in their OpenAI-compatible answers."""
    if not isinstance(body, dict) or facts.gateway:
        return
    fingerprint = body.get("system_fingerprint")
    if fingerprint == "fp_ollama":
        facts.gateway = OLLAMA
    elif "timings" in body and isinstance(body.get("timings"), dict):
        facts.gateway = LLAMA_CPP
    elif "prompt_logprobs" in body or "kv_transfer_params" in body:
        facts.gateway = VLLM
    else:
        choices = body.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        if isinstance(first, dict) and "stop_reason" in first:
            facts.gateway = VLLM  # vLLM's choices carry stop_reason next to finish_reason


_SNIFFING: dict[str, Wire] = {}


def sniffing(wire: Wire) -> Wire:
    """The wire, reading server fingerprints from bodies and events before parsing them."""
    found = _SNIFFING.get(wire.name)
    if found is not None:
        return found

    def read_body(body: Any, facts: CallFacts) -> None:
        _fingerprint(body, facts)
        wire.read_body(body, facts)

    def read_event(event: str | None, data: Any, facts: CallFacts) -> None:
        _fingerprint(data, facts)
        wire.read_event(event, data, facts)

    made = Wire(wire.name, read_body, read_event, wire.tail_events, wire.ndjson)
    _SNIFFING[wire.name] = made
    return made


def final_provider(route_provider: str, facts: CallFacts) -> str:
    """The provider to record for a detected call, from everything the exchange said."""
    if facts.named_provider:
        return facts.named_provider
    if facts.gateway in (OLLAMA, VLLM, LLAMA_CPP):  # self-hosted: not a hosted provider's price
        return facts.gateway
    model = facts.response_model or facts.request_model
    return (provider_from_model(model) if model else None) or route_provider


# --- naming from the model ------------------------------------------------------------------------------

_models: dict[str, str | None] = {}
_lock = threading.Lock()


def provider_from_model(model: str) -> str | None:
    """The provider genai-prices matches this model name to (its own matching rules), cached per model."""
    try:
        return _models[model]
    except KeyError:
        pass
    with _lock:
        if model not in _models:
            found = _lookup(model)
            if len(_models) >= _MAX_MODELS:
                return found
            _models[model] = found
        return _models[model]


def _lookup(model: str) -> str | None:
    try:
        from genai_prices import data_snapshot
    except ImportError:
        return None
    snapshot = data_snapshot.get_snapshot()
    prefix, slash, rest = model.partition("/")  # "openai/gpt-4o": a gateway's provider-qualified name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if slash:
                provider, _ = snapshot.find_provider_model(rest, None, prefix.lower(), None)
            else:
                provider, _ = snapshot.find_provider_model(model, None, None, None)
        except (LookupError, ValueError):
            return None
    return _FROM_GENAI_PRICES.get(provider.id, provider.id)


_warmed: list[bool] = []


def warm_up() -> None:
    """Load genai-prices' data off the request path (about a second, once): a daemon thread."""
    if not _warmed:
        _warmed.append(True)
        threading.Thread(target=_lookup, args=("gpt-4o",), name="otel-agent-genai-warm", daemon=True).start()
