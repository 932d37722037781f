"""AWS Bedrock through boto3 / botocore: one LLM span per Converse, ConverseStream or InvokeModel call.

botocore does not use httpx, so the HTTP capture never sees Bedrock. This wraps
``botocore.client.BaseClient._make_api_call`` (as opentelemetry-instrumentation-botocore does; its Bedrock
Runtime extension makes GenAI spans too, but only when that instrumentation is installed and on, and
with its own reading of usage; we do not depend on it, and when it is on, its span is the call's and we add
none) and, for the ``bedrock-runtime`` service only, reads what botocore already parsed:

* Converse: ``usage`` (``inputTokens`` excludes cache reads and writes, so they are added, as semconv and
  genai-prices count them), ``stopReason``.
* ConverseStream: botocore's own event-stream parser hands the application an ``EventStream``; we hand it
  a proxy that yields the very same events and reads ``messageStop`` and ``metadata.usage`` on the way;
  the span ends when the stream is read to its end, closed or fails.
* InvokeModel: the body is read once and handed back as an identical ``StreamingBody``; tokens come from
  Bedrock's ``x-amzn-bedrock-input-token-count`` / ``-output-token-count`` headers (every model family),
  and an Anthropic body is read by the Anthropic wire parser (cache tokens, stop reason, model).

Every other service and operation costs one string compare on the service name.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_agent import attributes as A
from otel_agent.errors import classify_error
from otel_agent.genai.body import parse_json
from otel_agent.genai.errors import read_exception
from otel_agent.genai.facts import CallFacts, TokenCounts, add, as_int
from otel_agent.genai.wire import anthropic
from otel_agent.guard import guard, record_failure
from otel_agent.spanattrs import set_clean_attributes

PROVIDER = "aws.bedrock"
SERVICE = "bedrock-runtime"
_OPERATIONS = {"Converse": A.OP_CHAT, "ConverseStream": A.OP_CHAT, "InvokeModel": A.OP_CHAT}
_COMPONENT = "genai.bedrock"
_original: list[Any] = []


def install(tracer: trace.Tracer) -> bool:
    """Wrap botocore's API call if botocore is importable; True when done."""
    uninstall()
    try:
        from botocore.client import BaseClient
    except ImportError:
        return False
    original = BaseClient._make_api_call
    _original.append(original)
    BaseClient._make_api_call = _wrapped(original, tracer)
    return True


def uninstall() -> None:
    if _original:
        from botocore.client import BaseClient

        BaseClient._make_api_call = _original.pop()


def _wrapped(original: Any, tracer: trace.Tracer) -> Any:
    @functools.wraps(original)
    def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name != SERVICE or operation_name not in _OPERATIONS:
            return original(self, operation_name, api_params)
        if _instrumented_already():
            return original(self, operation_name, api_params)
        call = _start(tracer, operation_name, api_params)
        if call is None:
            return original(self, operation_name, api_params)
        token = otel_context.attach(trace.set_span_in_context(call.span))
        try:
            result = original(self, operation_name, api_params)
        except BaseException as exc:  # re-raised unchanged: we only end the span
            call.failed(exc)
            raise
        finally:
            otel_context.detach(token)
        return call.succeeded(operation_name, result)

    return _make_api_call


def _instrumented_already() -> bool:
    """opentelemetry-instrumentation-botocore's Bedrock extension already made this call's GenAI span (its
    wrapper, installed after ours, runs first): one span per call, so none of ours."""
    span = trace.get_current_span()
    if not span.is_recording() or getattr(span, "kind", None) is not SpanKind.CLIENT:
        return False
    attrs = getattr(span, "attributes", None) or {}
    return bool(attrs.get(A.GEN_AI_PROVIDER_NAME) or attrs.get(A.GEN_AI_SYSTEM_LEGACY))


def _start(tracer: trace.Tracer, operation_name: str, params: dict[str, Any]) -> BedrockCall | None:
    try:
        model = params.get("modelId")
        model = model if isinstance(model, str) else None
        attributes: dict[str, Any] = {
            A.GEN_AI_PROVIDER_NAME: PROVIDER,
            A.GEN_AI_OPERATION_NAME: _OPERATIONS[operation_name],
        }
        if model:
            attributes[A.GEN_AI_REQUEST_MODEL] = model
        if operation_name == "ConverseStream":
            attributes[A.GEN_AI_REQUEST_STREAM] = True
        name = f"{attributes[A.GEN_AI_OPERATION_NAME]} {model}" if model else A.OP_CHAT
        span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        return BedrockCall(span, CallFacts(PROVIDER, A.OP_CHAT, model))
    except Exception as exc:
        with guard(_COMPONENT):
            raise exc
    return None


class BedrockCall:
    """One Bedrock call's span and what its response says."""

    def __init__(self, span: Any, facts: CallFacts) -> None:
        self.span = span
        self.facts = facts
        self._ended = False

    def failed(self, exc: BaseException) -> None:
        """botocore raised (ClientError with Bedrock's error code, or a connection error)."""
        try:
            response = getattr(exc, "response", None)
            if isinstance(response, dict) and isinstance(
                response.get("Error"), dict
            ):  # botocore's ClientError
                error = response["Error"]
                status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
                self.facts.error_type = str(error.get("Code") or status)
                self.facts.error_category = classify_error(
                    status_code=status, body=error, message=str(error.get("Message") or "")
                )
            else:
                read_exception(exc, self.facts)
            self.end()
        except Exception as bug:
            record_failure(_COMPONENT, bug)

    def succeeded(self, operation_name: str, result: Any) -> Any:
        streaming = operation_name == "ConverseStream" and isinstance(result, dict) and "stream" in result
        try:
            if operation_name == "Converse":
                read_converse(result, self.facts)
            elif operation_name == "InvokeModel":
                result = self._read_invoke(result)
            elif streaming:
                return {**result, "stream": ConverseEvents(result["stream"], self)}  # ends with the stream
        except Exception as exc:
            self.facts.note(f"capture failed ({type(exc).__name__})")
            with guard(_COMPONENT):
                raise exc
        finally:
            if not streaming:
                self.end()
        return result

    def _read_invoke(self, result: dict[str, Any]) -> dict[str, Any]:
        from botocore.response import StreamingBody

        body = result["body"].read()
        result = {**result, "body": StreamingBody(io.BytesIO(body), len(body))}
        headers = result.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        decoded = parse_json(body, self.facts, "response body")
        if isinstance(decoded, dict) and decoded.get("type") == "message":  # an Anthropic model
            anthropic.read_body(decoded, self.facts)
        elif self.facts.usage is None:
            tokens_in = as_int(_int_header(headers, "x-amzn-bedrock-input-token-count"))
            tokens_out = as_int(_int_header(headers, "x-amzn-bedrock-output-token-count"))
            if tokens_in is not None or tokens_out is not None:
                self.facts.usage = TokenCounts(tokens_in, tokens_out)
        return result

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        attributes = self.facts.response_attributes()
        reasons = attributes.get(A.GEN_AI_RESPONSE_FINISH_REASONS)
        if reasons is not None:
            attributes[A.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(reasons)
        set_clean_attributes(self.span, attributes)
        if self.facts.error_type:
            self.span.set_status(Status(StatusCode.ERROR, self.facts.error_type))
        self.span.end()


def _int_header(headers: Any, name: str) -> int | None:
    raw = headers.get(name) if isinstance(headers, dict) else None
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def converse_usage(usage: Any) -> TokenCounts | None:
    """Converse usage: inputTokens exclude cache reads and writes; semconv counts them inside input."""
    if not isinstance(usage, dict):
        return None
    read = as_int(usage.get("cacheReadInputTokens"))
    write = as_int(usage.get("cacheWriteInputTokens"))
    given = as_int(usage.get("inputTokens"))
    return TokenCounts(
        add(given, read, write) if given is not None else None, as_int(usage.get("outputTokens")), read, write
    )


def read_converse(result: Any, facts: CallFacts) -> None:
    if not isinstance(result, dict):
        return
    usage = converse_usage(result.get("usage"))
    if usage is not None:
        facts.usage = usage
    facts.set_finish_reason(0, result.get("stopReason"))


class ConverseEvents:
    """The application's ConverseStream events, unchanged, read on the way (botocore parsed them)."""

    def __init__(self, events: Any, call: BedrockCall) -> None:
        self._events = events
        self._call = call

    def __iter__(self) -> Any:
        try:
            for event in self._events:
                self._read(event)
                yield event
        except BaseException as exc:
            self._call.failed(exc)
            raise
        self._call.end()

    def _read(self, event: Any) -> None:
        try:
            if not isinstance(event, dict):
                return
            if "messageStop" in event:
                self._call.facts.set_finish_reason(0, event["messageStop"].get("stopReason"))
            elif "metadata" in event:
                usage = converse_usage(event["metadata"].get("usage"))
                if usage is not None:
                    self._call.facts.usage = usage
            else:
                for key in event:  # modelStreamErrorException, throttlingException, ...
                    if key.endswith("Exception"):
                        self._call.facts.error_type = key
        except Exception as exc:
            with guard(_COMPONENT):
                raise exc

    def close(self) -> None:
        self._call.end()
        self._events.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._events, name)
