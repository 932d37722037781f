"""otel-agent: OpenTelemetry plugins that make the standard observability stack understand AI agents.

Public API (imported lazily, so ``import otel_agent.<submodule>`` stays cheap)::

    from otel_agent import agent_run, agent_step, tool, bind_context   # context API
    from otel_agent import configure, instrument, add_span_processor    # set-up for code that owns OTel
    from otel_agent import BudgetExceeded                                # a budget refused an LLM call
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "agent_run": "otel_agent.context",
    "agent_step": "otel_agent.context",
    "tool": "otel_agent.context",
    "bind_context": "otel_agent.context",
    "current_attribution": "otel_agent.context",
    "configure": "otel_agent.setup",
    "instrument": "otel_agent.setup",
    "add_span_processor": "otel_agent.setup",
    "EnrichingSpanProcessor": "otel_agent.processors.enriching",
    "Settings": "otel_agent.settings",
    "PriceBook": "otel_agent.pricing",
    "classify_error": "otel_agent.errors",
    "BudgetExceeded": "otel_agent.budget",
    "normalize_usage": "otel_agent.usage",
    "register_span_processor": "otel_agent.extensions",
    "register_instrument_hook": "otel_agent.extensions",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_agent' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
