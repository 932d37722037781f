"""Opt-in content capture: prompts and completions, redacted and size-capped. Off by default.

Credentials never reach a span: headers are never read here, and key-shaped strings inside content
(``sk-...``, ``sk-ant-...``, Google ``AIza...``, bearer tokens, ``"api_key": "..."``) are replaced.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SECRETS = re.compile(
    r"sk-(?:ant-)?[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,}|(?i:bearer)\s+[A-Za-z0-9._\-]{16,}|"
    r"(?i:\"(?:api[_-]?key|authorization|x-api-key|password|secret)\"\s*:\s*\")[^\"]*"
)
_INPUT_KEYS = ("messages", "input", "contents", "system", "instructions", "prompt")
_OUTPUT_KEYS = ("choices", "content", "output", "candidates", "message")


def redact(text: str) -> str:
    return _SECRETS.sub(_mask, text)


def _mask(match: re.Match[str]) -> str:
    found = match.group(0)
    if found.startswith('"'):  # keep the key, hide the value
        return found[: found.rfind('"') + 1] + "[REDACTED]"
    return "[REDACTED]"


def cap(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore") + "...[truncated]"


def _pick(body: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return None
    picked = {k: body[k] for k in keys if k in body}
    return picked or None


def input_content(request_body: Any, max_bytes: int) -> str | None:
    """The prompt side of a request body, as redacted, capped JSON text."""
    picked = _pick(request_body, _INPUT_KEYS)
    return cap(redact(json.dumps(picked, ensure_ascii=False)), max_bytes) if picked else None


def output_content(response_body: Any, max_bytes: int) -> str | None:
    """The completion side of a JSON response body, as redacted, capped JSON text."""
    picked = _pick(response_body, _OUTPUT_KEYS)
    return cap(redact(json.dumps(picked, ensure_ascii=False)), max_bytes) if picked else None
