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

from otel_agent.duration import parse_duration
from otel_agent.profiles import with_profile

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


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A duration such as 90, 90s, 10m, 2h or 7d, in seconds."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse_duration(raw)
    except ValueError as exc:
        _log.warning("%s: %s; using %s s", name, exc, default)
        return default


def _stream_usage(env: Mapping[str, str], name: str) -> str:
    """auto | all | off; true means all and false off (the variable was a boolean before)."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "auto"):
        return "auto"
    if raw in _TRUE or raw in ("all", "always"):
        return "all"
    if raw in _FALSE:
        return "off"
    _log.warning("%s=%r is not auto, all or off; using auto", name, raw)
    return "auto"


def _optional_float(env: Mapping[str, str], name: str) -> float | None:
    """A non-negative number, or None when unset (or bad: logged)."""
    value = _float(env, name, -1.0)
    return None if value < 0 else value


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    raw = env.get(name, "").strip()
    return raw or default


JOURNAL_DIR = "otel-agent-data/sink-journal"  # the sink's journal (docs/sink.md)


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
    # `otel-agent sink` (docs/sink.md); an endpoint of "none" turns that receiver off.
    sink_grpc_endpoint: str = "0.0.0.0:4317"
    sink_http_endpoint: str = "0.0.0.0:4318"
    sink_database_url: str | None = None  # None: the store's own database URL
    sink_queue_spans: int = 10_000  # bound of the in-memory queue; full -> RESOURCE_EXHAUSTED / 429
    sink_batch_spans: int = 5_000  # spans per materialiser call (larger batches write faster)
    sink_writers: int = 1  # writer threads (more only contend on one PostgreSQL; see docs/benchmarks.md)
    sink_grpc_workers: int = 8  # gRPC handler threads
    sink_max_request_bytes: int = 16 * 1024 * 1024  # 413 / RESOURCE_EXHAUSTED beyond (after gunzip)
    sink_retry_after_s: float = 1.0  # delay advertised with backpressure
    sink_shutdown_timeout_s: float = 30.0  # flush budget on SIGTERM
    sink_bearer_token: str | None = None
    sink_tls_cert_file: str | None = None
    sink_tls_key_file: str | None = None
    sink_journal_dir: str = JOURNAL_DIR  # requests wait here until written; "none": off
    sink_journal_max_mb: float = 1024.0  # beyond, requests are refused with a retry delay
    sink_journal_fsync: bool = False  # fsync each request before answering (survives a power cut too)
    sink_keep_non_agent_spans: bool = False  # also store spans of traces with no agent run (as orphan steps)
    # `otel-agent api` (docs/api.md): the operator HTTP API and its links to Grafana.
    api_host: str = "127.0.0.1"
    api_port: int = 8321
    grafana_url: str | None = None  # e.g. http://localhost:3000; None: runs carry no trace link
    grafana_tempo_uid: str = "tempo"  # uid of Grafana's Tempo data source
    grafana_loki_uid: str = "loki"  # uid of Grafana's Loki data source (the web UI's log links)
    ui_secret: str | None = None  # signs the web UI's session cookies; None: a new one per process
    # The store and the SQL exporter (docs/schema.md).
    database_url: str | None = None  # None: sqlite:///otel-agent-data/otel-agent.db
    stall_after_s: float = 600.0  # a running run silent this long becomes "stalled"
    spool_dir: str = "otel-agent-data/spool"  # where batches wait while the database is down
    spool_max_mb: float = 256.0  # beyond this, new batches are dropped (and counted)
    store_content: bool = False  # store prompts/completions (redacted, capped) in the database
    content_max_chars: int = 16_384
    # Metrics and logs (docs/metrics.md, docs/logs.md).
    metrics: bool = True  # record otel-agent's metrics (needs a MeterProvider, e.g. OTEL_METRICS_EXPORTER)
    metrics_max_series: int = 1000  # label sets per metric before new ones fold into "other"
    metrics_buffer: int = 65_536  # finished spans held between metric collections; beyond: dropped, counted
    log_json: bool = False  # also write every log record to stdout as one line of JSON
    log_events: bool = True  # log run start/finish, LLM failures and retries, tool errors, stalls
    # LLM-call capture from httpx/httpx2 traffic (docs/genai.md; otel_agent.genai.GenAISettings).
    genai_enabled: bool = True
    genai_base_urls: str = ""  # "url=provider,url=provider": OpenAI-compatible (or known) endpoints
    # Ask OpenAI-style streams for usage (that chunk hidden from the app): auto (documented providers)/all/off
    genai_stream_usage: str = "auto"
    genai_detect: bool = True  # recognise LLM calls to any endpoint by the request's shape
    genai_capture_content: bool = False
    genai_content_max_bytes: int = 8192
    genai_max_event_bytes: int = 1 << 20  # a larger single stream event is skipped (and noted)
    genai_enrich_foreign: bool = True  # enrich another instrumentation's GenAI span instead of adding ours
    # Budgets (docs/budgets.md): "project:books=5,stage:draft=0.5,workflow:nightly=2" (USD per run).
    budgets: str = ""
    budget_mode: str = "stop"  # stop: refuse the call (BudgetExceeded); warn: log once and send it
    daily_budgets: str = ""  # "books=50,films=10": USD per project per UTC day, across processes (the store)
    daily_budget_refresh_s: float = 5.0  # how often today's spend is read from the store
    credits_per_usd: float | None = None  # credits, the product's unit: this many per USD (or the price file)
    extra: Mapping[str, str] = field(default_factory=dict)  # every OTEL_AGENT_* seen, for plugins

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = with_profile(os.environ if env is None else env)  # OTEL_AGENT_PROFILE's defaults, under env
        return cls(
            enabled=_bool(env, "OTEL_AGENT_ENABLED", True),
            heartbeat_interval_s=_float(env, "OTEL_AGENT_HEARTBEAT_INTERVAL", 30.0),
            markers=_bool(env, "OTEL_AGENT_MARKERS", True),
            price_file=_str(env, "OTEL_AGENT_PRICE_FILE"),
            propagate_hosts=_list(env, "OTEL_AGENT_PROPAGATE_HOSTS"),
            rollup=_bool(env, "OTEL_AGENT_ROLLUP", True),
            error_log_interval_s=_float(env, "OTEL_AGENT_ERROR_LOG_INTERVAL", 60.0),
            sink_grpc_endpoint=_str(env, "OTEL_AGENT_SINK_GRPC_ENDPOINT", "0.0.0.0:4317") or "",
            sink_http_endpoint=_str(env, "OTEL_AGENT_SINK_HTTP_ENDPOINT", "0.0.0.0:4318") or "",
            sink_database_url=_str(env, "OTEL_AGENT_SINK_DATABASE_URL"),
            sink_queue_spans=_int(env, "OTEL_AGENT_SINK_QUEUE_SPANS", 10_000, 1),
            sink_batch_spans=_int(env, "OTEL_AGENT_SINK_BATCH_SPANS", 5_000, 1),
            sink_writers=_int(env, "OTEL_AGENT_SINK_WRITERS", 1, 1),
            sink_grpc_workers=_int(env, "OTEL_AGENT_SINK_GRPC_WORKERS", 8, 1),
            sink_max_request_bytes=_int(env, "OTEL_AGENT_SINK_MAX_REQUEST_BYTES", 16 * 1024 * 1024, 1024),
            sink_retry_after_s=_float(env, "OTEL_AGENT_SINK_RETRY_AFTER", 1.0),
            sink_shutdown_timeout_s=_float(env, "OTEL_AGENT_SINK_SHUTDOWN_TIMEOUT", 30.0),
            sink_bearer_token=_str(env, "OTEL_AGENT_SINK_BEARER_TOKEN"),
            sink_tls_cert_file=_str(env, "OTEL_AGENT_SINK_TLS_CERT_FILE"),
            sink_tls_key_file=_str(env, "OTEL_AGENT_SINK_TLS_KEY_FILE"),
            sink_journal_dir=_str(env, "OTEL_AGENT_SINK_JOURNAL_DIR", JOURNAL_DIR) or "none",
            sink_journal_max_mb=_float(env, "OTEL_AGENT_SINK_JOURNAL_MAX_MB", 1024.0),
            sink_journal_fsync=_bool(env, "OTEL_AGENT_SINK_JOURNAL_FSYNC", False),
            sink_keep_non_agent_spans=_bool(env, "OTEL_AGENT_SINK_KEEP_NON_AGENT_SPANS", False),
            api_host=_str(env, "OTEL_AGENT_API_HOST", "127.0.0.1") or "127.0.0.1",
            api_port=_int(env, "OTEL_AGENT_API_PORT", 8321, 1),
            grafana_url=_str(env, "OTEL_AGENT_GRAFANA_URL"),
            grafana_tempo_uid=_str(env, "OTEL_AGENT_GRAFANA_TEMPO_UID", "tempo") or "tempo",
            grafana_loki_uid=_str(env, "OTEL_AGENT_GRAFANA_LOKI_UID", "loki") or "loki",
            ui_secret=_str(env, "OTEL_AGENT_UI_SECRET"),
            database_url=_str(env, "OTEL_AGENT_DATABASE_URL"),
            stall_after_s=_seconds(env, "OTEL_AGENT_STALL_AFTER", 600.0),
            spool_dir=_str(env, "OTEL_AGENT_SPOOL_DIR", "otel-agent-data/spool") or "otel-agent-data/spool",
            spool_max_mb=_float(env, "OTEL_AGENT_SPOOL_MAX_MB", 256.0),
            store_content=_bool(env, "OTEL_AGENT_STORE_CONTENT", False),
            content_max_chars=_int(env, "OTEL_AGENT_CONTENT_MAX_CHARS", 16_384),
            metrics=_bool(env, "OTEL_AGENT_METRICS", True),
            metrics_max_series=_int(env, "OTEL_AGENT_METRICS_MAX_SERIES", 1000, 1),
            metrics_buffer=_int(env, "OTEL_AGENT_METRICS_BUFFER", 65_536, 1),
            log_json=_bool(env, "OTEL_AGENT_LOG_JSON", False),
            log_events=_bool(env, "OTEL_AGENT_LOG_EVENTS", True),
            genai_enabled=_bool(env, "OTEL_AGENT_GENAI_ENABLED", True),
            genai_base_urls=_str(env, "OTEL_AGENT_GENAI_BASE_URLS", "") or "",
            genai_stream_usage=_stream_usage(env, "OTEL_AGENT_GENAI_STREAM_USAGE"),
            genai_detect=_bool(env, "OTEL_AGENT_GENAI_DETECT", True),
            genai_capture_content=_bool(env, "OTEL_AGENT_GENAI_CAPTURE_CONTENT", False),
            genai_content_max_bytes=_int(env, "OTEL_AGENT_GENAI_CONTENT_MAX_BYTES", 8192),
            genai_max_event_bytes=_int(env, "OTEL_AGENT_GENAI_MAX_EVENT_BYTES", 1 << 20, 1024),
            genai_enrich_foreign=_bool(env, "OTEL_AGENT_GENAI_ENRICH_FOREIGN", True),
            budgets=_str(env, "OTEL_AGENT_BUDGETS", "") or "",
            budget_mode=_str(env, "OTEL_AGENT_BUDGET_MODE", "stop") or "stop",
            daily_budgets=_str(env, "OTEL_AGENT_DAILY_BUDGETS", "") or "",
            daily_budget_refresh_s=_seconds(env, "OTEL_AGENT_DAILY_BUDGET_REFRESH", 5.0),
            credits_per_usd=_optional_float(env, "OTEL_AGENT_CREDITS_PER_USD"),
            extra={k: v for k, v in env.items() if k.startswith("OTEL_AGENT_")},
        )


# Helpers other modules use to parse their own entries the same way.
parse_bool = _bool
parse_float = _float
parse_int = _int
parse_list = _list
parse_str = _str
