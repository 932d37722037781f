"""OTEL_AGENT_GENAI_* settings, parsed with otel_agent.settings helpers (bad values log and default)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from otel_agent.settings import parse_bool, parse_int, parse_str


@dataclass(frozen=True)
class GenAISettings:
    """How LLM calls are captured from HTTP traffic."""

    enabled: bool = True
    # Base URL prefix -> provider name, for OpenAI-compatible (or other known-format) endpoints on any host.
    base_urls: Mapping[str, str] = field(default_factory=dict)
    stream_usage: bool = (
        False  # ask OpenAI-style endpoints for usage in streams, hide that chunk from the app
    )
    capture_content: bool = False
    content_max_bytes: int = 8192
    max_event_bytes: int = 1 << 20  # one stream event larger than this is skipped (and noted)
    enrich_foreign: bool = True  # enrich another instrumentation's GenAI span instead of adding ours

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GenAISettings:
        env = os.environ if env is None else env
        return cls(
            enabled=parse_bool(env, "OTEL_AGENT_GENAI_ENABLED", True),
            base_urls=parse_base_urls(parse_str(env, "OTEL_AGENT_GENAI_BASE_URLS") or ""),
            stream_usage=parse_bool(env, "OTEL_AGENT_GENAI_STREAM_USAGE", False),
            capture_content=parse_bool(env, "OTEL_AGENT_GENAI_CAPTURE_CONTENT", False),
            content_max_bytes=parse_int(env, "OTEL_AGENT_GENAI_CONTENT_MAX_BYTES", 8192),
            max_event_bytes=parse_int(env, "OTEL_AGENT_GENAI_MAX_EVENT_BYTES", 1 << 20, minimum=1024),
            enrich_foreign=parse_bool(env, "OTEL_AGENT_GENAI_ENRICH_FOREIGN", True),
        )


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
