"""The operator HTTP API (``pip install 'otel-agent[api]'``): runs, failures, cost, users, audit, health.

``create_app`` is imported lazily so that ``otel_agent.api.tables`` and ``otel_agent.audit`` work without
the web framework installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_agent.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from otel_agent.api.app import create_app

        return create_app
    raise AttributeError(name)
