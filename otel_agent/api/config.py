"""What the operator API needs from the configuration."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TEMPO_UID = "tempo"


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Links and limits; built from Settings by ``ApiConfig.from_settings`` or directly."""

    grafana_url: str | None = None  # OTEL_AGENT_GRAFANA_URL, e.g. http://localhost:3000
    tempo_uid: str = DEFAULT_TEMPO_UID  # OTEL_AGENT_GRAFANA_TEMPO_UID: the Tempo data source's uid
    max_page_size: int = 500
