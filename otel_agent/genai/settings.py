"""How the LLM-call capture is configured: a view of the OTEL_AGENT_GENAI_* fields of otel_agent.settings
(where they are parsed, with every other variable), with the base-URL mapping parsed and sorted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from otel_agent.settings import Settings


@dataclass(frozen=True)
class GenAISettings:
    """How LLM calls are captured from HTTP traffic."""

    enabled: bool = True
    # Base URL prefix -> provider name, for OpenAI-compatible (or other known-format) endpoints on any host.
    base_urls: Mapping[str, str] = field(default_factory=dict)
    # Ask OpenAI-style chat streams for usage (hiding that chunk from the app): "auto" for the providers
    # documented to accept stream_options, "all" for every endpoint, "off". True / False mean all / off.
    stream_usage: str | bool = "auto"
    detect: bool = True  # recognise LLM calls to any endpoint by the request's shape
    price_file: str | None = None  # the user's prices win: usage details are then left to the processors
    capture_content: bool = False
    content_max_bytes: int = 8192
    max_event_bytes: int = 1 << 20  # one stream event larger than this is skipped (and noted)
    enrich_foreign: bool = True  # enrich another instrumentation's GenAI span instead of adding ours

    def __post_init__(self) -> None:
        if isinstance(self.stream_usage, bool):
            object.__setattr__(self, "stream_usage", "all" if self.stream_usage else "off")

    @classmethod
    def from_settings(cls, settings: Settings) -> GenAISettings:
        return cls(
            enabled=settings.genai_enabled,
            base_urls=parse_base_urls(settings.genai_base_urls),
            stream_usage=settings.genai_stream_usage,
            detect=settings.genai_detect,
            price_file=settings.price_file,
            capture_content=settings.genai_capture_content,
            content_max_bytes=settings.genai_content_max_bytes,
            max_event_bytes=settings.genai_max_event_bytes,
            enrich_foreign=settings.genai_enrich_foreign,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GenAISettings:
        return cls.from_settings(Settings.from_env(env))


def parse_base_urls(raw: str) -> dict[str, str]:
    """``url=provider,url=provider`` -> {url: provider}, longest URL first so the most specific wins."""
    pairs: dict[str, str] = {}
    for item in raw.split(","):
        url, sep, provider = item.strip().rpartition("=")
        if sep and url.strip() and provider.strip():
            pairs[url.strip().rstrip("/")] = provider.strip()
    return normalise_base_urls(pairs)


def normalise_base_urls(pairs: Mapping[str, str]) -> dict[str, str]:
    cleaned = {url.rstrip("/"): provider for url, provider in pairs.items()}
    return dict(sorted(cleaned.items(), key=lambda item: -len(item[0])))
