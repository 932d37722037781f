"""One captured LLM call attempt: its span, what we learn while its response is read, and how it ends.

Lifetime: starts when the HTTP client sends the request, ends when the response body is fully read,
closed, abandoned or fails, so a stream's usage and duration are right. When another instrumentation
already made a GenAI client span for this call (the anthropic SDK's own, openai-v2, OpenLLMetry,
OpenLIT), that span is enriched instead and no second span is made.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from otel_agent import attributes as A
from otel_agent.genai import content, detailprice
from otel_agent.genai.body import BodyReader, read_whole
from otel_agent.genai.detect import final_provider, name_from_headers
from otel_agent.genai.errors import read_exception, read_stream_error
from otel_agent.genai.facts import CallFacts
from otel_agent.genai.providers import Route
from otel_agent.genai.settings import GenAISettings
from otel_agent.genai.strip import UsageChunkStripper
from otel_agent.guard import record_failure
from otel_agent.spanattrs import set_clean_attributes

# When enriching a foreign span, errors of single attempts go on events: the SDK may retry and succeed,
# and a span attribute cannot be taken back.
ATTEMPT_EVENT = "otel_agent.genai.attempt"
_ERROR_KEYS = frozenset({A.ERROR_TYPE, A.ERROR_CATEGORY, A.RETRY_AFTER_S})


class Call:
    """The capture's view of one HTTP attempt to a provider."""

    __slots__ = (
        "span", "parent", "owned", "route", "facts", "settings", "started", "strip_usage", "attempt", "body",
        "_ended",
    )  # fmt: skip

    def __init__(
        self,
        span: Span,
        owned: bool,
        route: Route,
        facts: CallFacts,
        settings: GenAISettings,
        parent: otel_context.Context | None = None,
    ) -> None:
        self.span = span
        self.parent = parent  # the context the call started in: ours is made from it
        self.owned = owned
        self.route = route
        self.facts = facts
        self.settings = settings
        self.started = time.perf_counter()
        self.strip_usage = False  # we added include_usage to the request: hide that chunk
        self.attempt = 0  # the SDK's retry count: an attribute of ours, an event's on a foreign span
        self.body: BodyReader | None = None
        self._ended = False

    # --- around the send -------------------------------------------------------------------------
    def attach(self) -> object | None:
        """Make our span current while the request is sent, so the HTTP span sits under it."""
        if not self.owned:
            return None
        return otel_context.attach(trace.set_span_in_context(self.span, self.parent))

    @staticmethod
    def detach(token: object | None) -> None:
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]

    def failed(self, exc: BaseException) -> None:
        """The send raised (connect error, timeout, cancellation): the app gets the same exception.

        Runs inside the application's exception handling, so a bug here is only counted and logged,
        never raised (even under pytest): it would replace the application's own exception."""
        try:
            read_exception(exc, self.facts)
            self.end()
        except Exception as bug:
            record_failure("genai.capture", bug)

    # --- the response --------------------------------------------------------------------------
    def read_whole_response(self, response: Any) -> None:
        """Non-streamed: the client has read and decoded the body already."""
        try:
            if self.route.detected:
                name_from_headers(response.headers, self.facts)
            read_whole(self.route.wire, self.facts, response.status_code, response.headers, response.content)
            if self.settings.capture_content:
                self._record_output(response)
        except Exception as exc:  # our bug: the span still ends and says so; the guard above counts it
            self.facts.note(f"capture failed ({type(exc).__name__})")
            raise
        finally:
            self.end()

    def open_body(self, response: Any) -> BodyReader:
        if self.route.detected:
            name_from_headers(response.headers, self.facts)
        self.body = BodyReader(
            self.route.wire, self.facts, response.status_code, response.headers, self.settings.max_event_bytes
        )
        return self.body

    def stripper(self) -> UsageChunkStripper | None:
        return UsageChunkStripper() if self.strip_usage and self.body and self.body.is_stream else None

    def first_chunk(self) -> None:
        if self.body is not None and self.body.is_stream:
            self.facts.time_to_first_chunk_s = time.perf_counter() - self.started

    def body_ended(self, how: str, exc: BaseException | None = None) -> None:
        """how: read (to the end) | closed (by the app) | abandoned (garbage-collected) | failed."""
        if self._ended:
            return
        try:
            if self.body is not None:
                self.body.finish(complete=how == "read")
        except Exception as exc:  # our bug: end the span anyway, saying so; the caller's guard counts it
            self.facts.note(f"capture failed ({type(exc).__name__})")
            self.end()
            raise
        if how == "closed" and any(self.facts.finish_reasons):
            how = "read"  # SDKs close the response right after the final event, before the body's end
        if how == "failed" and exc is not None:
            read_exception(exc, self.facts)
        elif how in ("closed", "abandoned") and self.body is not None and self.body.is_stream:
            self.facts.note(f"stream {how} by the application before its end")
        self.end()

    def _record_output(self, response: Any) -> None:
        if response.status_code >= 400:
            return
        try:
            decoded = response.json()
        except Exception:  # not JSON: nothing to record
            return
        text = content.output_content(decoded, self.settings.content_max_bytes)
        if text:
            self.span.set_attribute(A.GEN_AI_OUTPUT_MESSAGES, text)

    # --- the end -------------------------------------------------------------------------------
    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        read_stream_error(self.facts)
        attributes = self.facts.response_attributes()
        if self.owned:
            self._end_own(attributes)
        else:
            self._enrich_foreign(attributes)

    def _end_own(self, attributes: dict[str, Any]) -> None:
        if not self.facts.request_model and self.facts.response_model:
            self.span.update_name(f"{self.route.operation} {self.facts.response_model}")
        reasons = attributes.get(A.GEN_AI_RESPONSE_FINISH_REASONS)
        if reasons is not None:
            attributes[A.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(reasons)  # as the SDK stores sequences
        attributes[A.RETRY_ATTEMPT] = self.attempt
        if self.route.detected:
            self._name_provider(attributes)
        if "details" in self.facts.state and not self.settings.price_file:
            provider = attributes.get(A.GEN_AI_PROVIDER_NAME, self.route.provider)
            attributes.update(detailprice.cost_attributes(self.facts, provider))
        set_clean_attributes(self.span, attributes)
        if self.facts.error_type:
            self.span.set_status(Status(StatusCode.ERROR, self.facts.error_type))
        self.span.end()

    def _name_provider(self, attributes: dict[str, Any]) -> None:
        """A call recognised by its shape: the provider from what the exchange said (detect.py)."""
        provider = final_provider(self.route.provider, self.facts)
        if provider != self.route.provider:
            attributes[A.GEN_AI_PROVIDER_NAME] = provider
        if self.facts.gateway:
            attributes[A.GENAI_SERVER] = self.facts.gateway

    def _enrich_foreign(self, attributes: dict[str, Any]) -> None:
        if not self.span.is_recording():
            return
        if self.facts.error_type:
            event = {k: v for k, v in attributes.items() if k in _ERROR_KEYS}
            event[A.RETRY_ATTEMPT] = self.attempt
            self.span.add_event(ATTEMPT_EVENT, event)
        self.span.set_attributes({k: v for k, v in attributes.items() if k not in _ERROR_KEYS})


def foreign_genai_span(settings: GenAISettings, parent: otel_context.Context | None = None) -> Span | None:
    """The current span if another instrumentation made it for this LLM call, else None."""
    if not settings.enrich_foreign:
        return None
    span = trace.get_current_span(parent)
    # The usual case (no span, or an agent step) is decided without touching attributes; is_recording()
    # first, as a missing `kind` (no span at all) costs getattr a raised AttributeError.
    if not span.is_recording():
        return None
    kind = getattr(span, "kind", None)
    if kind is SpanKind.INTERNAL:  # OpenInference makes its LLM spans INTERNAL (the OpenAI Agents SDK's)
        attrs = getattr(span, "attributes", None)
        return span if attrs and attrs.get(A.OI_SPAN_KIND) == "LLM" else None
    if kind is not SpanKind.CLIENT:
        return None
    attrs = getattr(span, "attributes", None)
    if not attrs:
        return None
    if attrs.get(A.GEN_AI_PROVIDER_NAME) or attrs.get(A.GEN_AI_SYSTEM_LEGACY):
        return span
    return None
