"""Content privacy: prompts and completions reach the database only when enabled, redacted and capped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from otel_agent.settings import Settings
from otel_agent.store.clean import text

REDACTED = "[REDACTED]"
# Credentials and obvious personal data; compiled once. Order matters: specific before generic.
_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}",  # OpenAI / Anthropic keys
        r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key ids
        r"\b(?:ghp|gho|ghs|github_pat)_[A-Za-z0-9_]{20,}",  # GitHub tokens
        r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]+=*",
        r"(?i)\b(?:api[_-]?key|password|passwd|secret|token)\b\s*[\"']?\s*[:=]\s*[\"']?[^\s\"',}]+",
        r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b",  # e-mail addresses
        r"\b(?:\d[ \-]?){13,19}\b",  # card-like digit runs
    )
)


def redact(value: str) -> str:
    for pattern in _PATTERNS:
        value = pattern.sub(REDACTED, value)
    return value


@dataclass(frozen=True)
class ContentPolicy:
    """Whether input/output content is stored, and how much of it."""

    enabled: bool = False
    max_chars: int = 16_384

    @classmethod
    def from_settings(cls, settings: Settings) -> ContentPolicy:
        return cls(enabled=settings.store_content, max_chars=settings.content_max_chars)

    def apply(self, value: Any) -> str | None:
        """The value to store: None when disabled or absent; else redacted, then capped."""
        if not self.enabled or value is None:
            return None
        # Cap before redacting too, so a 1 MB prompt costs bounded regex work.
        raw = text(value, self.max_chars * 2)
        return None if raw is None else redact(raw)[: self.max_chars]
