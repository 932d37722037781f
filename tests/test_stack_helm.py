"""The Helm chart (deploy/helm/otel-agent): `helm lint`, `helm template` with the default and the other
values, and every rendered manifest validated offline against the Kubernetes schemas shipped by the PyPI
package kubernetes-validate (kubeconform would download them at run time, which cannot work here).

helm is built from its Go module by deploy/tools/go-tool.sh (cached per version); .ci/run builds it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.services import REPO_ROOT, missing

CHART = REPO_ROOT / "deploy" / "helm" / "otel-agent"
GATEWAY_CONFIG = REPO_ROOT / "collector-config" / "gateway.yaml"
KUBERNETES_VERSION = "1.33.0"  # K3s stable line at the time of writing; the schemas are in the package
OTHER_VALUES = [
    "--set", "sink.autoscaling.enabled=false", "--set", "gateway.queue.persistentVolume.enabled=true",
    "--set", "database.existingSecret=otel-agent-db", "--set", "migration.enabled=false",
    "--set", "sink.env.OTEL_AGENT_SINK_WRITERS=4",
]  # fmt: skip


def helm() -> str:
    found = subprocess.run(
        [str(REPO_ROOT / "deploy" / "tools" / "go-tool.sh"), "helm", "--print-path"],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        missing(f"helm not built at {found.stdout.strip()}; run deploy/tools/go-tool.sh helm")
    return found.stdout.strip()


def render(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [helm(), "template", "t", str(CHART), *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def kinds(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        found.setdefault(doc["kind"], []).append(doc)
    return found


def kubernetes_validate() -> Any:
    try:
        import kubernetes_validate as module
    except ImportError:
        missing("kubernetes-validate not installed: make venv-k8s (.ci/run does)")
    return module


def validate_all(docs: list[dict[str, Any]]) -> None:
    validator = kubernetes_validate()
    for doc in docs:
        try:
            validator.validate(doc, KUBERNETES_VERSION, strict=True)
        except validator.ValidationError as exc:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_helm_lint_passes() -> None:
    result = subprocess.run([helm(), "lint", str(CHART)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", [[], OTHER_VALUES], ids=["defaults", "other-values"])
def test_rendered_manifests_validate_against_the_kubernetes_schemas(values: list[str]) -> None:
    docs = render(*values)
    assert len(docs) >= 5
    validate_all(docs)


def test_defaults_give_the_gateway_the_autoscaled_sink_and_the_migration_hook() -> None:
    found = kinds(render())
    deployments = {d["metadata"]["name"]: d for d in found["Deployment"]}
    assert set(deployments) == {"t-otel-agent-gateway", "t-otel-agent-sink"}
    (hpa,) = found["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "t-otel-agent-sink"
    assert "replicas" not in deployments["t-otel-agent-sink"]["spec"]  # the autoscaler owns it
    (job,) = found["Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]


def test_the_gateway_runs_the_repository_config_and_sets_only_variables_it_reads() -> None:
    found = kinds(render())
    (config_map,) = found["ConfigMap"]
    assert config_map["data"]["gateway.yaml"].strip() == GATEWAY_CONFIG.read_text().strip()
    gateway = next(d for d in found["Deployment"] if d["metadata"]["name"].endswith("gateway"))
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    text = GATEWAY_CONFIG.read_text()
    for variable in container["env"]:
        assert "${env:" + variable["name"] in text, variable["name"]
    sink = next(s for s in found["Service"] if s["metadata"]["name"].endswith("sink"))
    endpoint = next(v["value"] for v in container["env"] if v["name"] == "OTEL_AGENT_SINK_ENDPOINT")
    assert endpoint == f"dns:///{sink['metadata']['name']}:4317"
    assert sink["spec"]["clusterIP"] == "None"  # headless: the gRPC client sees every sink pod


def test_the_gateway_config_loads_in_our_collector_with_the_charts_environment(tmp_path: Path) -> None:
    from tests.services import collector_binary

    found = kinds(render())
    gateway = next(d for d in found["Deployment"] if d["metadata"]["name"].endswith("gateway"))
    env = {v["name"]: v["value"] for v in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    env["OTEL_AGENT_QUEUE_DIR"] = str(tmp_path / "queue")
    result = subprocess.run(
        [collector_binary(), "validate", f"--config={GATEWAY_CONFIG}"],
        env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_validation_can_fail() -> None:
    """A manifest with a wrong type is refused, so the check above means something."""
    docs = render()
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["replicas"] = "two"
    validator = kubernetes_validate()
    with pytest.raises(validator.ValidationError):
        validator.validate(deployment, KUBERNETES_VERSION, strict=True)
