"""OTEL_AGENT_PROFILE=lite: one switch for small machines; a profile changes defaults only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_agent.profiles import PROFILES, apply_profile, with_profile
from otel_agent.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_lite_turns_the_heavy_parts_off() -> None:
    lite, default = Settings.from_env({"OTEL_AGENT_PROFILE": "lite"}), Settings.from_env({})
    assert default.log_events and not lite.log_events
    assert lite.heartbeat_interval_s == 60 and default.heartbeat_interval_s == 30
    # AgentWorkerDown waits 300 s: a heartbeat plus a metric export (60 s each) must fit in it
    assert lite.heartbeat_interval_s + 60 < 300
    assert lite.metrics_max_series < default.metrics_max_series
    assert lite.stall_after_s > 3 * lite.heartbeat_interval_s  # stalls are still told from slow heartbeats
    assert (lite.metrics, lite.markers, lite.genai_enabled, lite.rollup) == (True, True, True, True)


def test_what_the_user_set_wins_over_the_profile() -> None:
    env = {"OTEL_AGENT_PROFILE": "LITE", "OTEL_AGENT_LOG_EVENTS": "true"}
    env["OTEL_METRIC_EXPORT_INTERVAL"] = "5000"
    assert Settings.from_env(env).log_events
    assert with_profile(env)["OTEL_METRIC_EXPORT_INTERVAL"] == "5000"
    apply_profile(env)
    assert env["OTEL_METRIC_EXPORT_INTERVAL"] == "5000"
    assert env["OTEL_METRICS_EXEMPLAR_FILTER"] == "always_off"


def test_an_unknown_profile_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    tiny = Settings.from_env({"OTEL_AGENT_PROFILE": "tiny"})
    assert tiny.log_events and tiny.heartbeat_interval_s == Settings().heartbeat_interval_s
    assert "not a profile" in caplog.text
    assert set(PROFILES) == {"default", "lite"}


def test_under_opentelemetry_instrument_the_sdk_reads_metrics_every_minute_without_exemplars() -> None:
    """The distro puts the profile's SDK defaults in the environment before the SDK reads them."""
    script = (
        "from opentelemetry import metrics\n"
        "from otel_agent.settings import Settings\n"
        "provider = metrics.get_meter_provider()\n"
        "reader = provider._metric_readers[0]\n"
        "print(reader._export_interval_millis, Settings.from_env().log_events)\n"
        "print(type(provider._sdk_config.exemplar_filter).__name__)\n"
    )
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    env = {
        **os.environ,
        "OTEL_AGENT_PROFILE": "lite",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "console",
        "OTEL_LOGS_EXPORTER": "none",
    }
    env.pop("OTEL_METRIC_EXPORT_INTERVAL", None)
    env.pop("OTEL_METRICS_EXEMPLAR_FILTER", None)
    result = subprocess.run(
        [str(instrument), sys.executable, "-c", script],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0] == "60000.0 False" or lines[0] == "60000 False", result.stdout
    assert lines[1] == "AlwaysOffExemplarFilter"
