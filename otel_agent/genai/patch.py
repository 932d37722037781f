"""Wrap ``Client.send`` / ``AsyncClient.send`` of httpx and httpx2 (same shape; openai 3.x and anthropic 2.x
use httpx2, most other SDKs httpx). Wrapping ``send`` rather than a transport covers custom transports and
keeps the HTTP instrumentation's transport span *under* ours."""

from __future__ import annotations

import functools
import importlib
from typing import Any

from otel_agent.genai.capture import Capture
from otel_agent.genai.tee import tee_classes
from otel_agent.guard import guard

LIBRARIES = ("httpx", "httpx2")
_COMPONENT = "genai.capture"
_originals: list[tuple[type, Any]] = []


def install(capture: Capture) -> list[str]:
    """Patch every importable library; returns their names. Calling it twice re-targets the capture."""
    uninstall()
    done = []
    for name in LIBRARIES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        sync_tee, async_tee = tee_classes(module)
        _patch(module.Client, _sync_send(module.Client.send, capture, sync_tee))
        _patch(module.AsyncClient, _async_send(module.AsyncClient.send, capture, async_tee))
        done.append(name)
    return done


def uninstall() -> None:
    while _originals:
        cls, original = _originals.pop()
        setattr(cls, "send", original)  # noqa: B010


def _patch(cls: type, wrapper: Any) -> None:
    _originals.append((cls, getattr(cls, "send")))  # noqa: B009
    setattr(cls, "send", wrapper)  # noqa: B010


def _failed_to_begin(exc: Exception) -> None:
    """The guard only runs on failure (counts, logs, re-raises in tests): a plain try on the hot path."""
    with guard(_COMPONENT):
        raise exc


def _after(call: Any, response: Any, stream: bool, tee: type) -> None:
    """Non-streamed: read what the client already read. Streamed: wrap the body."""
    try:
        if stream:
            call.open_body(response)
            response.stream = tee(response.stream, call)
        else:
            call.read_whole_response(response)
    except Exception as exc:
        with guard(_COMPONENT):
            raise exc


def _sync_send(original: Any, capture: Capture, tee: type) -> Any:
    @functools.wraps(original)
    def send(self: Any, request: Any, *, stream: bool = False, **kwargs: Any) -> Any:
        try:
            begun = capture.begin(request)
        except Exception as exc:
            _failed_to_begin(exc)
            begun = None
        if begun is None:
            return original(self, request, stream=stream, **kwargs)
        call, request = begun
        # A stripped stream must pass through our wrapper even if the caller reads it whole.
        as_stream = stream or call.strip_usage
        token = call.attach()
        try:
            response = original(self, request, stream=as_stream, **kwargs)
        except BaseException as exc:  # re-raised unchanged: we only end the span
            call.failed(exc)
            raise
        finally:
            call.detach(token)
        _after(call, response, as_stream, tee)
        if as_stream and not stream:
            _read_or_close(response)
        return response

    send.__otel_agent_genai__ = True  # type: ignore[attr-defined]
    return send


def _read_or_close(response: Any) -> None:
    try:
        response.read()
    except BaseException:
        response.close()
        raise


def _async_send(original: Any, capture: Capture, tee: type) -> Any:
    @functools.wraps(original)
    async def send(self: Any, request: Any, *, stream: bool = False, **kwargs: Any) -> Any:
        try:
            begun = capture.begin(request)
        except Exception as exc:
            _failed_to_begin(exc)
            begun = None
        if begun is None:
            return await original(self, request, stream=stream, **kwargs)
        call, request = begun
        as_stream = stream or call.strip_usage
        token = call.attach()
        try:
            response = await original(self, request, stream=as_stream, **kwargs)
        except BaseException as exc:
            call.failed(exc)
            raise
        finally:
            call.detach(token)
        _after(call, response, as_stream, tee)
        if as_stream and not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response

    send.__otel_agent_genai__ = True  # type: ignore[attr-defined]
    return send
