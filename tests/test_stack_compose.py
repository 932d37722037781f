"""docker-compose.yml (Docker does not run here): valid YAML, every file it mounts or builds from exists, and
each service's config loads in the real binary where we have one (the Collector's in our build with the
service's own environment, Prometheus's and its rules in promtool)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.services import REPO_ROOT, binary, collector_binary

COMPOSE = REPO_ROOT / "docker-compose.yml"
SERVICES = {
    "postgres", "migrate", "sink", "collector", "tempo", "loki", "prometheus", "alertmanager", "grafana",
    "example",
}  # fmt: skip


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(host path, container path) of each ./ bind mount."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts.append((REPO_ROOT / source, target))
    return mounts


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """The repo file a container path of the service comes from."""
    for source, target in bind_mounts(service):
        if container_path == target:
            return source
        if container_path.startswith(target.rstrip("/") + "/"):
            return source / container_path[len(target.rstrip("/")) + 1 :]
    raise AssertionError(f"{container_path} is not mounted from the repository")


def flag(service: dict[str, Any], name: str) -> str:
    args = service.get("command", [])
    return next(arg.split("=", 1)[1] for arg in args if arg.startswith(f"{name}="))


def test_compose_has_the_whole_stack() -> None:
    assert set(services()) == SERVICES


def test_every_mounted_or_built_file_exists() -> None:
    for name, service in services().items():
        for source, _ in bind_mounts(service):
            assert source.exists(), f"{name} mounts missing {source}"
        build = service.get("build")
        if build:
            assert (REPO_ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).exists(), name


def test_images_are_pinned_and_the_collector_matches_the_manifest() -> None:
    for name, service in services().items():
        image = service.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, name
    manifest = yaml.safe_load((REPO_ROOT / "collector-config" / "manifest.yaml").read_text())
    dockerfile = REPO_ROOT / services()["collector"]["build"]["context"] / "Dockerfile"
    version = manifest["dist"]["version"]
    assert f"FROM otel/opentelemetry-collector-contrib:{version} " in dockerfile.read_text()
    assert services()["collector"]["image"].endswith(f":{version}")


def test_the_mounted_files_are_where_the_services_read_them() -> None:
    found = services()
    assert host_path(found["collector"], flag(found["collector"], "--config")).name == "gateway.yaml"
    assert host_path(found["prometheus"], flag(found["prometheus"], "--config.file")).name == "prometheus.yml"
    assert "--web.enable-remote-write-receiver" in found["prometheus"]["command"]
    provider = yaml.safe_load(
        (REPO_ROOT / "deploy/grafana/provisioning/dashboards/otel-agent.yaml").read_text()
    )["providers"][0]
    dashboards = host_path(found["grafana"], provider["options"]["path"])
    assert sorted(p.name for p in dashboards.glob("*.json")) == sorted(
        p.name for p in (REPO_ROOT / "deploy/grafana/dashboards").glob("*.json")
    )
    assert host_path(found["grafana"], "/etc/grafana/provisioning/datasources/otel-agent.yaml").exists()
    assert host_path(found["loki"], flag(found["loki"], "-config.file")).exists()
    assert host_path(found["tempo"], flag(found["tempo"], "-config.file")).exists()


def test_the_apps_run_real_commands() -> None:
    from otel_agent.cli import COMMANDS

    found = services()
    for name in ("migrate", "sink"):
        assert found[name]["command"][0] in COMMANDS, name
    module = re.search(r"python -m ([\w.]+)", found["example"]["entrypoint"][-1])
    assert module and (REPO_ROOT / (module.group(1).replace(".", "/") + ".py")).exists()


def test_env_references_resolve_to_compose_services() -> None:
    found = services()
    env = found["collector"]["environment"]
    for variable in ("OTEL_AGENT_TEMPO_ENDPOINT", "OTEL_AGENT_SINK_ENDPOINT"):
        assert env[variable].split(":")[0] in found, variable
    for variable in ("OTEL_AGENT_LOKI_ENDPOINT", "OTEL_AGENT_PROMETHEUS_REMOTE_WRITE"):
        assert re.match(r"http://([\w-]+):", env[variable]).group(1) in found, variable  # type: ignore[union-attr]
    assert found["example"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4317"


@pytest.mark.collector
def test_the_collector_config_loads_in_our_build_with_the_compose_environment() -> None:
    service = services()["collector"]
    config = host_path(service, flag(service, "--config"))
    result = subprocess.run(
        [collector_binary(), "validate", f"--config={config}"],
        env={"PATH": "/usr/bin:/bin", **{k: str(v) for k, v in service["environment"].items()}},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.prometheus
def test_the_prometheus_config_and_rules_load_in_promtool() -> None:
    service = services()["prometheus"]
    config = host_path(service, flag(service, "--config.file"))
    result = subprocess.run(
        [binary("promtool", "prometheus"), "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SUCCESS: \d+ rules found", result.stdout)  # the rules/ mount resolved and loaded
    assert "alertmanager:9093" in config.read_text()  # the rules/ mount resolved and loaded


def test_a_missing_mount_is_caught() -> None:
    """The existence check can fail: a service mounting a file that is not there."""
    service = {"volumes": ["./deploy/no-such-file.yaml:/etc/x.yaml:ro"]}
    assert not all(source.exists() for source, _ in bind_mounts(service))


def test_our_services_set_only_settings_that_exist() -> None:
    """A misspelt OTEL_AGENT_* variable would be ignored silently; each must be one Settings reads."""
    known = (REPO_ROOT / "otel_agent" / "settings.py").read_text()
    for name in ("migrate", "sink", "example"):
        for variable in services()[name].get("environment", {}):
            if variable.startswith("OTEL_AGENT_"):
                assert f'"{variable}"' in known, f"{name}: {variable}"


def test_the_collector_service_sets_only_variables_its_config_reads() -> None:
    service = services()["collector"]
    config = host_path(service, flag(service, "--config")).read_text()
    for variable in service["environment"]:
        assert "${env:" + variable in config, variable


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    found = services()
    one_shot = {"migrate"}  # runs to completion; the others wait for service_completed_successfully
    for name, service in found.items():
        if name not in one_shot | {"example"}:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dependency, condition in depends.items():
            expected = "service_completed_successfully" if dependency in one_shot else "service_healthy"
            assert condition == {"condition": expected}, f"{name} -> {dependency}"
            assert dependency in found


def test_the_collector_waits_for_every_backend_it_exports_to() -> None:
    depends = services()["collector"]["depends_on"]
    assert {"tempo", "loki", "prometheus", "sink"} <= set(depends)


def test_alertmanager_renders_its_config_from_the_environment_and_amtool_accepts_it(tmp_path: Path) -> None:
    service = services()["alertmanager"]
    render = host_path(service, "/etc/alertmanager/otel-agent/render.sh")
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_AGENT_ALERT_WEBHOOK_URL": "http://127.0.0.1:5001/hook?team='ops'",
        "OTEL_AGENT_ALERT_EMAIL_TO": "oncall@example.com",
        "OTEL_AGENT_ALERT_SMTP_USER": "alerts",
        "OTEL_AGENT_ALERT_SMTP_PASSWORD": "it's secret",
    }
    out = tmp_path / "alertmanager.yml"
    subprocess.run(["sh", str(render), str(out)], env=env, check=True, capture_output=True, timeout=30)
    config = yaml.safe_load(out.read_text())
    receiver = config["receivers"][0]
    assert receiver["webhook_configs"][0]["url"] == env["OTEL_AGENT_ALERT_WEBHOOK_URL"]
    assert receiver["email_configs"][0]["auth_password"] == "it's secret"
    assert all(c["send_resolved"] for c in receiver["webhook_configs"] + receiver["email_configs"])
    for variable in service["environment"]:
        assert variable in render.read_text(), variable
    amtool = binary("amtool", "prometheus-alertmanager")
    checked = subprocess.run([amtool, "check-config", str(out)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text(out.read_text().replace("receiver: otel-agent", "receiver: nobody"))
    refused = subprocess.run([amtool, "check-config", str(bad)], capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0  # the check can fail
