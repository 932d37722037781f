"""Zero-code use: ``opentelemetry-instrument python app.py`` with otel-agent installed.

Entry points (pyproject.toml):

* ``opentelemetry_distro`` ``otel_agent`` -> ``OtelAgentDistro``: sets no exporter or other defaults (we
  add nothing the user did not ask for); it only asks for our configurator when none was named.
* ``opentelemetry_configurator`` ``otel_agent`` -> ``OtelAgentConfigurator``: the SDK's standard
  configuration from every OTEL_* variable (or ``OTEL_CONFIG_FILE``), then ``otel_agent.instrument()``
  puts our processors in front of every exporter it created.
* ``opentelemetry_post_instrument`` ``otel_agent`` -> ``ensure_instrumented``: when another distro or
  configurator won the first-found race (opentelemetry-distro installs both), instrument the provider
  they built. ``instrument()`` is idempotent, so this is a no-op when our configurator ran.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import MutableMapping
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from otel_agent.guard import guard
from otel_agent.profiles import apply_profile
from otel_agent.settings import Settings

CONFIGURATOR_NAME = "otel_agent"
# Names the service.instance.id we generated, so a child process that inherits the environment makes its own.
GENERATED_INSTANCE_ENV = "OTEL_AGENT_GENERATED_INSTANCE_ID"
_this_process: dict[str, str] = {}


class OtelAgentDistro(BaseDistro):
    """otel-agent's distro: no defaults, just our configurator."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", CONFIGURATOR_NAME)
        ensure_instance_id(os.environ)
        apply_profile(os.environ)  # before the SDK reads OTEL_METRIC_EXPORT_INTERVAL and friends


class OtelAgentConfigurator(_OTelSDKConfigurator):
    """The SDK's configuration, then otel-agent's processors in front of its exporters."""

    def _configure(self, **kwargs: Any) -> None:
        ensure_instance_id(os.environ)
        apply_profile(os.environ)
        super()._configure(**kwargs)
        ensure_instrumented()


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

        settings = Settings.from_env()
        if settings.enabled:
            instrument(settings=settings)
