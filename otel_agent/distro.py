"""Zero-code use: ``opentelemetry-instrument python app.py`` with otel-agent installed.

Entry points (pyproject.toml):

* ``opentelemetry_distro`` ``otel_agent`` -> ``OtelAgentDistro``: sets no exporter or other defaults (we
  add nothing the user did not ask for); gives the process its own ``service.instance.id`` and applies
  ``OTEL_AGENT_PROFILE`` before the SDK reads the environment.
* ``opentelemetry_post_instrument`` ``otel_agent`` -> ``ensure_instrumented``: after the configurator built
  the SDK's providers from every OTEL_* variable (or ``OTEL_CONFIG_FILE``), ``otel_agent.instrument()``
  puts our processors in front of every exporter it created. ``instrument()`` is idempotent.

We register no ``opentelemetry_configurator`` of our own: opentelemetry-instrument warns about every
configurator entry point beyond the one it loads (``Configuration of X not loaded, Y already loaded``),
and opentelemetry-distro, a dependency, always registers one. The SDK's standard configurator plus the
post-instrument hook is the same configuration, with nothing printed at start-up
(tests/test_instrument_quiet.py starts a real ``opentelemetry-instrument`` to check). When
opentelemetry-distro's distro is picked instead of ours (the first found, unless ``OTEL_PYTHON_DISTRO``
says), the instance id and the profile's SDK defaults are not applied before the SDK reads them; the
profile still sets otel-agent's own settings (``ensure_instrumented``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import MutableMapping
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from otel_agent.guard import guard
from otel_agent.profiles import apply_profile
from otel_agent.settings import Settings

# Older set-ups named our configurator; it is gone, and naming it would leave the SDK unconfigured.
_RETIRED_CONFIGURATOR = "otel_agent"
# Names the service.instance.id we generated, so a child process that inherits the environment makes its own.
GENERATED_INSTANCE_ENV = "OTEL_AGENT_GENERATED_INSTANCE_ID"
_this_process: dict[str, str] = {}


class OtelAgentDistro(BaseDistro):
    """otel-agent's distro: no defaults; an instance id and the profile before the SDK configures."""

    def _configure(self, **kwargs: Any) -> None:
        if os.environ.get("OTEL_PYTHON_CONFIGURATOR", "").strip() == _RETIRED_CONFIGURATOR:
            del os.environ["OTEL_PYTHON_CONFIGURATOR"]
        ensure_instance_id(os.environ)
        apply_profile(os.environ)  # before the SDK reads OTEL_METRIC_EXPORT_INTERVAL and friends


def ensure_instance_id(env: MutableMapping[str, str]) -> str:
    """Give this process its own ``service.instance.id`` unless the user set one.

    Counters are cumulative per process: without a unique instance, one-run processes of the same service
    report 1, 1, 1 into one Prometheus series and ``increase()`` sees nothing. A new UUID per process
    gives each its own series (docs/metrics.md, "Short-lived processes"). Returns the id in effect.
    """
    pairs = [pair for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",") if pair.strip()]
    generated = env.get(GENERATED_INSTANCE_ENV)
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key.strip() == "service.instance.id" and value.strip():
            if value.strip() != generated or generated == _this_process.get("id"):
                return value.strip()
            pairs.remove(pair)  # inherited from the parent process that generated it: make our own
            break
    instance = str(uuid.uuid4())
    env["OTEL_RESOURCE_ATTRIBUTES"] = ",".join([*pairs, f"service.instance.id={instance}"])
    env[GENERATED_INSTANCE_ENV] = _this_process["id"] = instance
    return instance


def ensure_instrumented() -> None:
    """Instrument the global TracerProvider if enabled; never raises into the application's start-up."""
    with guard("distro.instrument"):
        from otel_agent.setup import instrument

        apply_profile(os.environ)  # a no-op after our distro; otherwise the profile still sets ours
        settings = Settings.from_env()
        if settings.enabled:
            instrument(settings=settings)
