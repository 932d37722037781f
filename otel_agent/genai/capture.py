"""Decide, for each request the HTTP client sends, whether it is an LLM call, and start its `Call`.

This is the only code on the path of every request; for a host that is no provider it costs a dict lookup.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from otel_agent import __version__
from otel_agent import attributes as A
from otel_agent.genai import content
from otel_agent.genai.call import Call, foreign_genai_span, start_span
from otel_agent.genai.facts import CallFacts
from otel_agent.genai.providers import Route, provider_for, route
from otel_agent.genai.request import RequestFacts, body_bytes, read_request, rebuilt, with_stream_usage
from otel_agent.genai.settings import GenAISettings
from otel_agent.genai.wire import openai

_RETRY_HEADER = "x-stainless-retry-count"  # sent by the openai and anthropic SDKs on every attempt


class Capture:
    """Holds the settings and tracer; `begin` returns a Call (and maybe a rewritten request) or None."""

    def __init__(self, settings: GenAISettings, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.settings = settings
        self.tracer = trace.get_tracer("otel_agent.genai", __version__, tracer_provider=tracer_provider)

    def route_for(self, request: Any) -> Route | None:
        if request.method != "POST":  # every LLM call is a POST; GETs (model lists, files) are left alone
            return None
        url = request.url
        base_urls = self.settings.base_urls
        provider = provider_for(url.host, url.port, str(url) if base_urls else "", base_urls)
        if provider is None:
            return None
        return route(provider, url.path)

    def begin(self, request: Any) -> tuple[Call, Any] | None:
        found = self.route_for(request)
        if found is None:
            return None
        raw = body_bytes(request)
        asked = read_request(raw, parse_all=self.settings.capture_content)
        request, stripping = self._maybe_ask_usage(request, raw, found, asked)
        call = self._start(found, asked, request)
        call.strip_usage = stripping
        return call, request

    def _start(self, found: Route, asked: RequestFacts, request: Any) -> Call:
        model = asked.model or found.path_model
        facts = CallFacts(provider=found.provider, operation=found.operation, request_model=model)
        attempt = _attempt(request)
        attributes: dict[str, Any] = {
            A.GEN_AI_PROVIDER_NAME: found.provider,
            A.GEN_AI_OPERATION_NAME: found.operation,
            A.SERVER_ADDRESS: request.url.host,
            A.RETRY_ATTEMPT: attempt,
        }
        if asked.stream or found.stream_by_path:
            attributes[A.GEN_AI_REQUEST_STREAM] = True
        if request.url.port:
            attributes[A.SERVER_PORT] = request.url.port
        if model:
            attributes[A.GEN_AI_REQUEST_MODEL] = model
        if self.settings.capture_content:
            text = content.input_content(asked.body, self.settings.content_max_bytes)
            if text:
                attributes[A.GEN_AI_INPUT_MESSAGES] = text
        foreign = foreign_genai_span(self.settings)
        if foreign is not None:
            foreign.set_attributes({k: v for k, v in attributes.items() if k != A.GEN_AI_PROVIDER_NAME})
            call = Call(foreign, False, found, facts, self.settings)
            call.span_attempt = attempt
            return call
        name = f"{found.operation} {model}" if model else found.operation
        return Call(start_span(self.tracer, name, attributes), True, found, facts, self.settings)

    def _maybe_ask_usage(
        self, request: Any, raw: bytes | None, found: Route, asked: RequestFacts
    ) -> tuple[Any, bool]:
        """Opt-in: add stream_options.include_usage to an OpenAI-style streamed chat request."""
        if not (self.settings.stream_usage and asked.stream and raw and found.wire is openai.CHAT):
            return request, False
        changed = with_stream_usage(raw)
        if changed is None:
            return request, False
        return rebuilt(request, changed), True


def _attempt(request: Any) -> int:
    raw = request.headers.get(_RETRY_HEADER)
    if raw and raw.isdigit():
        return int(raw)
    return 0
