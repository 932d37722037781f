"""Decide, for each request the HTTP client sends, whether it is an LLM call, and start its `Call`.

This is the only code on the path of every request; for a host that is no provider it costs a dict lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_agent import __version__
from otel_agent import attributes as A
from otel_agent.budget.check import before_call
from otel_agent.genai import content
from otel_agent.genai.call import Call, foreign_genai_span
from otel_agent.genai.detect import route_by_body, shape_route
from otel_agent.genai.facts import CallFacts
from otel_agent.genai.headers import header
from otel_agent.genai.providers import Route, accepts_stream_options, provider_for, route
from otel_agent.genai.request import RequestFacts, body_bytes, read_request, rebuilt, with_stream_usage
from otel_agent.genai.settings import GenAISettings
from otel_agent.genai.startspan import start_client_span
from otel_agent.genai.wire import openai

_RETRY_HEADER = "x-stainless-retry-count"  # sent by the openai and anthropic SDKs on every attempt
_MAX_TARGETS = 1024  # URLs remembered per capture; past that (query strings vary) routing is redone per call


class Capture:
    """Holds the settings and tracer; `begin` returns a Call (and maybe a rewritten request) or None."""

    def __init__(self, settings: GenAISettings, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.settings = settings
        self.tracer = trace.get_tracer("otel_agent.genai", __version__, tracer_provider=tracer_provider)
        self._targets: dict[Any, _Target | None] = {}

    def route_for(self, request: Any) -> Route | None:
        target = self._target_for(request)
        return target.route if target is not None else None

    def _target_for(self, request: Any) -> _Target | None:
        """Routing depends on the URL alone, so it is worked out once per URL (the SDKs reuse a handful)."""
        if request.method != "POST":  # every LLM call is a POST; GETs (model lists, files) are left alone
            return None
        url = request.url
        # httpx's parsed URL tuple: hashing it is ~10x cheaper than building str(url) (same components)
        key = getattr(url, "_uri_reference", None) or str(url)
        try:
            return self._targets[key]
        except KeyError:
            pass
        settings = self.settings
        target = _target(url, settings.base_urls, settings.detect, str(settings.stream_usage))
        if len(self._targets) < _MAX_TARGETS:
            self._targets[key] = target
        return target

    def begin(self, request: Any) -> tuple[Call, Any] | None:
        target = self._target_for(request)
        if target is None:
            if request.method != "POST" or not self.settings.detect:
                return None
            raw = body_bytes(request)
            target = _by_body(request, raw)  # no known shape: is the body a chat request?
            if target is None:
                return None
        else:
            raw = body_bytes(request)
        asked = read_request(raw, parse_all=self.settings.capture_content)
        if target.route.detected and not (asked.model or target.route.path_model):
            return None  # a shaped path without a model in its body: a web app's own /api/chat, say
        found = target.route  # a budget refuses the call here, before it is sent (raises BudgetExceeded)
        before_call(self.tracer, raw, found.provider, found.operation, asked.model or found.path_model)
        stripping = False
        if asked.stream and (target.ask_usage or self.settings.stream_usage == "all"):
            request, stripping = self._maybe_ask_usage(request, raw, target.route)
        call = self._start(target, asked, request)
        call.strip_usage = stripping
        return call, request

    def _start(self, target: _Target, asked: RequestFacts, request: Any) -> Call:
        found = target.route
        model = asked.model or found.path_model
        facts = CallFacts(found.provider, found.operation, model)  # positional: kwargs cost 2k instructions
        attributes: dict[str, Any] = {**target.attributes}
        if asked.stream or found.stream_by_path:
            attributes[A.GEN_AI_REQUEST_STREAM] = True
        if model:
            attributes[A.GEN_AI_REQUEST_MODEL] = model
        if self.settings.capture_content:
            text = content.input_content(asked.body, self.settings.content_max_bytes)
            if text:
                attributes[A.GEN_AI_INPUT_MESSAGES] = text
        parent = otel_context.get_current()  # looked up once: the span's parent, and the base of its context
        foreign = foreign_genai_span(self.settings, parent)
        attempt = _attempt(request)
        if foreign is not None:
            # The foreign span is the whole call, not one attempt (attempts are its events): it keeps the
            # first attempt's 0, so counting (retry attempt > 0 = the same call again) sees one call.
            if attempt == 0:
                attributes[A.RETRY_ATTEMPT] = 0
            foreign.set_attributes({k: v for k, v in attributes.items() if k != A.GEN_AI_PROVIDER_NAME})
            call = Call(foreign, False, found, facts, self.settings, parent)
        else:
            # The retry attempt is set when the span ends, with the response attributes: through the SDK's
            # start it would cost as much as the cheap end path for all of them (no sampler needs it).
            name = f"{found.operation} {model}" if model else found.operation
            span = start_client_span(self.tracer, name, parent, attributes)
            call = Call(span, True, found, facts, self.settings, parent)
        call.attempt = attempt
        return call

    @staticmethod
    def _maybe_ask_usage(request: Any, raw: bytes | None, found: Route) -> tuple[Any, bool]:
        """Add stream_options.include_usage to an OpenAI-style streamed chat request that has none."""
        if not (raw and found.wire.name == openai.CHAT.name):
            return request, False
        changed = with_stream_usage(raw)
        if changed is None:
            return request, False
        return rebuilt(request, changed), True


class _Target(NamedTuple):
    """A URL's route and the span attributes that follow from the URL alone."""

    route: Route
    attributes: dict[str, Any]
    ask_usage: bool  # a stream here may be asked for usage (auto mode): the provider accepts stream_options


def _target(
    url: Any, base_urls: Mapping[str, str], detect: bool = True, stream_usage: str = "auto"
) -> _Target | None:
    provider = provider_for(url.host, url.port, str(url) if base_urls else "", base_urls)
    if provider is not None:
        found = route(provider, url.path)
    elif detect:  # no known host: the path's shape
        found = shape_route(url.path)
    else:
        return None
    if found is None:
        return None
    return _target_of(found, url, stream_usage == "auto" and accepts_stream_options(found, url))


def _by_body(request: Any, raw: bytes | None) -> _Target | None:
    found = route_by_body(raw, request.headers)
    return _target_of(found, request.url, False) if found is not None else None


def _target_of(found: Route, url: Any, ask_usage: bool) -> _Target:
    attributes: dict[str, Any] = {
        A.GEN_AI_PROVIDER_NAME: found.provider,
        A.GEN_AI_OPERATION_NAME: found.operation,
        A.SERVER_ADDRESS: url.host,
    }
    if url.port:
        attributes[A.SERVER_PORT] = url.port
    return _Target(found, attributes, ask_usage)


def _attempt(request: Any) -> int:
    raw = header(request.headers, _RETRY_HEADER)
    if raw.isdigit():
        return int(raw)
    return 0
