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
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from otel_agent.guard import guard
from otel_agent.settings import Settings

CONFIGURATOR_NAME = "otel_agent"


class OtelAgentDistro(BaseDistro):
    """otel-agent's distro: no defaults, just our configurator."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", CONFIGURATOR_NAME)


class OtelAgentConfigurator(_OTelSDKConfigurator):
    """The SDK's configuration, then otel-agent's processors in front of its exporters."""

    def _configure(self, **kwargs: Any) -> None:
        super()._configure(**kwargs)
        ensure_instrumented()


def ensure_instrumented() -> None:
    """Instrument the global TracerProvider if enabled; never raises into the application's start-up."""
    with guard("distro.instrument"):
        from otel_agent.setup import instrument

        settings = Settings.from_env()
        if settings.enabled:
            instrument(settings=settings)
