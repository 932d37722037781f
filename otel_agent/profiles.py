"""Profiles: one switch for a group of settings. ``OTEL_AGENT_PROFILE=lite`` is for small machines.

A profile only changes DEFAULTS: a variable the user set keeps its value. ``lite`` turns the heavy parts
off and samples metrics less often (docs/configuration.md, "Profiles"; its overhead in docs/benchmarks.md):

* no run-event log records (``OTEL_AGENT_LOG_EVENTS=false``): one log record per run start/finish, failure
  and retry is the largest per-run cost after the spans themselves;
* heartbeat markers every 60 s instead of 30 s (the stall limit stays 600 s, and AgentWorkerDown waits
  300 s, so both still tell a silent run from a slow heartbeat);
* fewer metric series per metric (200 instead of 1000) before new label sets fold into ``other``;
* SDK metrics read and exported every 60 s (``OTEL_METRIC_EXPORT_INTERVAL``; our compose file uses 10 s), no
  exemplars (``OTEL_METRICS_EXEMPLAR_FILTER=always_off``): the counters stay exact, only their time
  resolution is coarser.

Spans, LLM-call capture, pricing and the run tables are unchanged: what is counted stays the same.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Final

_log = logging.getLogger(__name__)

PROFILE_ENV: Final = "OTEL_AGENT_PROFILE"
PROFILES: Final[dict[str, dict[str, str]]] = {
    "default": {},
    "lite": {
        "OTEL_AGENT_LOG_EVENTS": "false",
        "OTEL_AGENT_HEARTBEAT_INTERVAL": "60",
        "OTEL_AGENT_METRICS_MAX_SERIES": "200",
        "OTEL_METRIC_EXPORT_INTERVAL": "60000",
        "OTEL_METRICS_EXEMPLAR_FILTER": "always_off",
    },
}


def profile_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """The defaults of the profile ``env`` names (an unknown name is logged and ignored)."""
    name = env.get(PROFILE_ENV, "").strip().lower() or "default"
    if name not in PROFILES:
        known = ", ".join(PROFILES)
        _log.warning("%s=%r is not a profile (known: %s); using the defaults", PROFILE_ENV, name, known)
        return {}
    return PROFILES[name]


def with_profile(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with its profile's defaults under it: what the user set wins."""
    return {**profile_defaults(env), **env}


def apply_profile(env: MutableMapping[str, str]) -> None:
    """Put the profile's defaults into ``env`` (the process environment, before the SDK reads it)."""
    for name, value in profile_defaults(env).items():
        env.setdefault(name, value)
