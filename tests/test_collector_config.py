"""collector-config/: every pipeline config validates in the built slim Collector, which has exactly the
components the configs use."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.services import REPO_ROOT, collector_binary

CONFIG_DIR = REPO_ROOT / "collector-config"
CONFIGS = ("gateway.yaml", "agent.yaml")
KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")
# What validation needs from the environment; the defaults name docker-compose services.
VALIDATE_ENV = {"OTEL_AGENT_GATEWAYS": "[gateway-1:4317, gateway-2:4317]", "OTEL_AGENT_QUEUE_DIR": "/tmp"}


def validate(binary: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "validate", f"--config={config}"],
        env={"PATH": "/usr/bin:/bin", **VALIDATE_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )


def used_components(config: dict[str, Any]) -> dict[str, set[str]]:
    """Component types a config defines ("otlp_grpc/tempo" is of type otlp_grpc)."""
    return {kind: {name.split("/")[0] for name in config.get(kind) or {}} for kind in KINDS}


def built_components(binary: str) -> dict[str, set[str]]:
    listing = yaml.safe_load(
        subprocess.run([binary, "components"], capture_output=True, text=True, check=True, timeout=60).stdout
    )
    return {kind: {entry["name"] for entry in listing.get(kind) or []} for kind in KINDS}


@pytest.mark.collector
@pytest.mark.parametrize("name", CONFIGS)
def test_config_validates_in_the_built_collector(name: str) -> None:
    result = validate(collector_binary(), CONFIG_DIR / name)
    assert result.returncode == 0, result.stderr


@pytest.mark.collector
@pytest.mark.parametrize("name", CONFIGS)
def test_config_validates_with_no_variable_set(name: str) -> None:
    """Every OTEL_AGENT_* variable has a default: `otelcol validate` passes on the files as they ship."""
    result = subprocess.run(
        [collector_binary(), "validate", f"--config={CONFIG_DIR / name}"],
        env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.collector
def test_validation_rejects_a_broken_config(tmp_path: Path) -> None:
    """validate really checks: a processor the distribution lacks is refused."""
    config = yaml.safe_load((CONFIG_DIR / "gateway.yaml").read_text())
    config["processors"]["groupbytrace"] = {}
    config["service"]["pipelines"]["traces/all"]["processors"].insert(1, "groupbytrace")
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(config))
    result = validate(collector_binary(), broken)
    assert result.returncode != 0
    assert "groupbytrace" in result.stderr


@pytest.mark.collector
def test_distribution_has_exactly_the_components_the_configs_use() -> None:
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for name in CONFIGS:
        for kind, types in used_components(yaml.safe_load((CONFIG_DIR / name).read_text())).items():
            used[kind] |= types
    assert built_components(collector_binary()) == used


def test_gateway_processor_order_memory_limiter_first_batch_last() -> None:
    pipelines = yaml.safe_load((CONFIG_DIR / "gateway.yaml").read_text())["service"]["pipelines"]
    for name, pipeline in pipelines.items():
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter", name
        assert processors[-1] == "batch", name


def test_runs_reach_the_sink_unsampled_and_tempo_sampled() -> None:
    pipelines = yaml.safe_load((CONFIG_DIR / "gateway.yaml").read_text())["service"]["pipelines"]
    to_sink = [p for p in pipelines.values() if "otlp_grpc/sink" in p["exporters"]]
    to_tempo = [p for p in pipelines.values() if "otlp_grpc/tempo" in p["exporters"]]
    assert to_sink and all("tail_sampling" not in p["processors"] for p in to_sink)
    assert to_tempo and all("tail_sampling" in p["processors"] for p in to_tempo)


def test_build_script_prints_the_cache_path_keyed_on_the_manifest() -> None:
    import hashlib

    result = subprocess.run(
        [str(CONFIG_DIR / "build.sh"), "--print-path"], capture_output=True, text=True, timeout=30
    )
    digest = hashlib.sha256((CONFIG_DIR / "manifest.yaml").read_bytes()).hexdigest()[:16]
    assert result.stdout.strip().endswith(f"/otel-agent/otelcol-{digest}/otelcol-otel-agent")
