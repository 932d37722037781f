"""What the operator API needs from the configuration."""

from __future__ import annotations

from dataclasses import dataclass

from otel_agent.settings import Settings


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Links for the API's responses; ``ApiConfig.from_settings`` reads the OTEL_AGENT_* variables."""

    grafana_url: str | None = None  # OTEL_AGENT_GRAFANA_URL, e.g. http://localhost:3000
    tempo_uid: str = "tempo"  # OTEL_AGENT_GRAFANA_TEMPO_UID: the uid of Grafana's Tempo data source
    loki_uid: str = "loki"  # OTEL_AGENT_GRAFANA_LOKI_UID: the uid of Grafana's Loki data source
    ui_secret: str | None = None  # OTEL_AGENT_UI_SECRET: signs the web UI's session cookies

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiConfig:
        return cls(
            grafana_url=settings.grafana_url,
            tempo_uid=settings.grafana_tempo_uid,
            loki_uid=settings.grafana_loki_uid,
            ui_secret=settings.ui_secret,
        )
