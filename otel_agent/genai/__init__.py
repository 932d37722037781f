"""LLM calls captured from HTTP traffic (httpx and httpx2) for every major provider, streaming included.

``instrument()`` turns it on (done for you under ``opentelemetry-instrument``); ``uninstrument()`` turns it
off. See docs/genai.md for providers, attributes, settings and limits.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace

from otel_agent.genai import bedrock, detect, patch
from otel_agent.genai.capture import Capture
from otel_agent.genai.settings import GenAISettings, normalise_base_urls
from otel_agent.settings import Settings

__all__ = ["GenAISettings", "install_hook", "instrument", "is_instrumented", "uninstrument"]

_active: list[Capture] = []


def instrument(
    settings: GenAISettings | None = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    base_urls: Mapping[str, str] | None = None,
) -> list[str]:
    """Start capturing; returns the HTTP libraries patched. ``base_urls`` adds URL -> provider mappings."""
    settings = settings or GenAISettings.from_env()
    if not settings.enabled:
        return []
    if base_urls:
        merged = {**settings.base_urls, **base_urls}
        settings = GenAISettings(**{**vars(settings), "base_urls": normalise_base_urls(merged)})
    capture = Capture(settings, tracer_provider)
    _active[:] = [capture]
    if settings.detect:
        detect.warm_up()  # genai-prices' data, for naming providers by model, off the request path
    done = patch.install(capture)
    if bedrock.install(capture.tracer):
        done.append("botocore")
    return done


def uninstrument() -> None:
    patch.uninstall()
    bedrock.uninstall()
    _active.clear()


def is_instrumented() -> bool:
    return bool(_active)


def install_hook(settings: Settings | None = None) -> None:
    """``otel_agent_instrument_hooks`` entry point: on by default once ``otel_agent.instrument()`` ran
    (so under ``opentelemetry-instrument``); OTEL_AGENT_GENAI_ENABLED=false turns it off. A capture the
    application set up itself is left as it is."""
    if not is_instrumented():
        instrument(GenAISettings.from_settings(settings) if settings is not None else None)
