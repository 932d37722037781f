"""Every OTEL_AGENT_* environment variable, parsed in one place into a frozen Settings object.

A bad value never raises into the application: it is logged (naming the variable) and the default is
used. docs/configuration.md has one table of these variables; keep the two in step. To add a setting:
add a field with its default, one line in ``Settings.from_env`` and one row in the table.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

_log = logging.getLogger(__name__)

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE or raw in _FALSE:
        return raw in _TRUE
    _log.warning("%s=%r is not a boolean (true/false); using %s", name, raw, default)
    return default


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        _log.warning("%s=%r is not a number; using %s", name, raw, default)
        return default
    if not value >= minimum:  # also rejects NaN
        _log.warning("%s=%r is below %s; using %s", name, raw, minimum, default)
        return default
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    value = _float(env, name, float(default), float(minimum))
    if value != int(value):
        _log.warning("%s=%r is not a whole number; using %s", name, value, default)
        return default
    return int(value)


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    raw = env.get(name, "").strip()
    return raw or default


@dataclass(frozen=True)
class Settings:
    """otel-agent's configuration; build it with ``Settings.from_env()`` (or directly in tests)."""

    enabled: bool = True
    heartbeat_interval_s: float = 30.0  # 0 disables heartbeats (the run.start marker is still sent)
    markers: bool = True
    price_file: str | None = None
    propagate_hosts: tuple[str, ...] = ()  # hosts that may receive our baggage: "api.corp", "*.svc"
    rollup: bool = True
    error_log_interval_s: float = 60.0  # at most one log line per failing component per interval
    extra: Mapping[str, str] = field(default_factory=dict)  # every OTEL_AGENT_* seen, for plugins

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            enabled=_bool(env, "OTEL_AGENT_ENABLED", True),
            heartbeat_interval_s=_float(env, "OTEL_AGENT_HEARTBEAT_INTERVAL", 30.0),
            markers=_bool(env, "OTEL_AGENT_MARKERS", True),
            price_file=_str(env, "OTEL_AGENT_PRICE_FILE"),
            propagate_hosts=_list(env, "OTEL_AGENT_PROPAGATE_HOSTS"),
            rollup=_bool(env, "OTEL_AGENT_ROLLUP", True),
            error_log_interval_s=_float(env, "OTEL_AGENT_ERROR_LOG_INTERVAL", 60.0),
            extra={k: v for k, v in env.items() if k.startswith("OTEL_AGENT_")},
        )


# Helpers other modules use to parse their own entries the same way.
parse_bool = _bool
parse_float = _float
parse_int = _int
parse_list = _list
parse_str = _str
