"""The alert rules load in the real promtool and pass their unit tests (deploy/prometheus/tests/)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.services import REPO_ROOT, binary

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "rules" / "otel-agent.rules.yml"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "otel-agent.test.yml"

EXPECTED_ALERTS = {
    "AgentRunFailed",
    "AgentRunOverdue",
    "AgentWorkerDown",
    "TelemetryExportFailing",
    "SinkOverloaded",
    "SinkDatabaseWritesFailing",
    "AgentRunErrorRateHigh",
    "AgentRunLatencyP95High",
    "AgentWorkflowsStalled",
    "AgentHourlyCostUp50Percent",
    "ProjectDailyBudget80Percent",
    "ProviderRateLimited",
    "TelemetryDropped",
    "CollectorDown",
    "SinkDown",
}


def promtool(*args: str | Path, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    tool = binary("promtool", "prometheus")
    return subprocess.run([tool, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_of_the_issue_exists_and_has_a_unit_test() -> None:
    import yaml

    rules = yaml.safe_load(RULES.read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    assert alerts == EXPECTED_ALERTS
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    }
    assert tested == EXPECTED_ALERTS


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_catch_a_broken_threshold(tmp_path: Path) -> None:
    """The unit tests can fail: raise the error-rate threshold to 50% and they must."""
    shutil.copytree(PROMETHEUS_DIR, tmp_path / "prometheus")
    rules = tmp_path / "prometheus" / "rules" / "otel-agent.rules.yml"
    text = rules.read_text()
    assert ") > 0.05" in text
    rules.write_text(text.replace(") > 0.05", ") > 0.5", 1))
    result = promtool("test", "rules", "tests/otel-agent.test.yml", cwd=tmp_path / "prometheus")
    assert result.returncode != 0
    assert "AgentRunErrorRateHigh" in result.stdout + result.stderr


def alert_rules() -> list[dict[str, Any]]:
    import yaml

    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_alert_links_a_runbook_that_exists() -> None:
    for rule in alert_rules():
        url = rule["annotations"].get("runbook_url", "")
        path, _, anchor = url.partition("#")
        assert path.startswith("docs/runbooks/"), f"{rule['alert']}: runbook_url {url!r}"
        runbook = REPO_ROOT / path
        assert runbook.is_file(), f"{rule['alert']}: {path} does not exist"
        if anchor:
            assert anchor in heading_anchors(runbook.read_text()), f"{rule['alert']}: no heading #{anchor}"
        # the runbook names the alert, so an operator who lands there knows they are in the right place
        assert rule["alert"] in runbook.read_text(), f"{path} does not mention {rule['alert']}"


def test_the_runbook_check_can_fail() -> None:
    assert "missing-heading" not in heading_anchors("# Stalled workflow\n## A run alive past its limit\n")
    assert "a-run-alive-past-its-limit" in heading_anchors("## A run alive past its limit\n")


@pytest.mark.parametrize("config", ["prometheus.yml"])
def test_compose_prometheus_config_loads(config: str) -> None:
    result = promtool("check", "config", PROMETHEUS_DIR / config)
    assert result.returncode == 0, result.stdout + result.stderr
