"""Grafana provisioning and dashboards: generated files up to date, every panel on a provisioned data source,
the panels the issue asks for, and the trace <-> log <-> metric links between data sources."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.services import REPO_ROOT
from tests.stack_support import DASHBOARDS, dashboard_logql, dashboard_promql, dashboard_sql

GRAFANA = REPO_ROOT / "deploy" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "otel-agent.yaml"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_dashboards", GRAFANA / "make_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def datasources() -> dict[str, dict[str, Any]]:
    return {ds["uid"]: ds for ds in yaml.safe_load(DATASOURCES.read_text())["datasources"]}


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panel_titles(board: str) -> set[str]:
    return {panel["title"] for panel in dashboards()[board]["panels"]}


def test_generated_dashboards_are_up_to_date() -> None:
    assert load_generator().main(["--check"]) == 0


def test_the_up_to_date_check_catches_a_hand_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = load_generator()
    shutil.copytree(DASHBOARDS, tmp_path / "dashboards")
    edited = tmp_path / "dashboards" / "otel-agent-cost.json"
    edited.write_text(edited.read_text().replace("Burn rate", "Burn"))
    monkeypatch.setattr(generator, "OUT", tmp_path / "dashboards")
    assert generator.main(["--check"]) == 1


def test_every_panel_uses_a_provisioned_data_source() -> None:
    known = datasources()
    for board, dashboard in dashboards().items():
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                source = target["datasource"]
                assert source["uid"] in known, f"{board}/{panel['title']}"
                assert known[source["uid"]]["type"] == source["type"], f"{board}/{panel['title']}"


def test_dashboards_have_unique_uids_and_the_panels_the_issue_asks_for() -> None:
    boards = dashboards()
    assert len({b["uid"] for b in boards.values()}) == len(boards) == 4
    assert {"Runs started", "Success rate", "p95 run latency by stage"} <= panel_titles("otel-agent-overview")
    assert {
        "Cost by project",
        "Cost by stage",
        "Cost by agent role",
        "Cost by model",
        "Burn rate (USD per hour)",
    } <= panel_titles("otel-agent-cost")
    failures = {"Open failures", "Stalled and running runs", "Stalled runs in range", "Top failing agents"}
    assert failures <= panel_titles("otel-agent-failures")
    assert {
        "Tokens by model and type",
        "Rate-limited calls by provider",
        "p95 call latency by provider and model",
        "p95 time to first chunk by provider",
    } <= panel_titles("otel-agent-providers")


def test_tables_with_trace_ids_link_to_tempo() -> None:
    tables = [p for b in dashboards().values() for p in b["panels"] if p["type"] == "table"]
    with_trace = [p for p in tables if "trace_id" in p["targets"][0]["rawSql"]]
    assert len(with_trace) >= 5
    for panel in with_trace:
        override = panel["fieldConfig"]["overrides"][0]
        assert override["matcher"]["options"] == "trace_id"
        link = override["properties"][0]["value"][0]
        assert link["internal"]["datasourceUid"] == "tempo", panel["title"]


def test_data_sources_link_traces_logs_and_metrics() -> None:
    known = datasources()
    tempo = known["tempo"]["jsonData"]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert tempo["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert tempo["serviceMap"]["datasourceUid"] == "prometheus"
    assert tempo["lokiSearch"]["datasourceUid"] == "loki"
    # Literal $ in provisioning files is written $$ (Grafana expands $VAR from its environment).
    assert all("$$__tags" in q["query"] for q in tempo["tracesToMetrics"]["queries"])
    derived = known["loki"]["jsonData"]["derivedFields"][0]
    assert (derived["datasourceUid"], derived["matcherType"], derived["matcherRegex"]) == (
        "tempo",
        "label",
        "trace_id",
    )
    assert derived["url"] == "$${__value.raw}"
    exemplars = known["prometheus"]["jsonData"]["exemplarTraceIdDestinations"][0]
    assert exemplars["datasourceUid"] == "tempo"
    postgres = known["postgres"]
    assert postgres["type"] == "grafana-postgresql-datasource"
    assert postgres["user"] == "${OTEL_AGENT_GRAFANA_PG_USER}"  # the read-only role, never the owner


def test_query_lists_cover_every_target() -> None:
    targets = sum(len(p["targets"]) for b in dashboards().values() for p in b["panels"])
    assert len(dashboard_promql()) + len(dashboard_sql()) + len(dashboard_logql()) == targets


def test_every_dashboard_filters_by_project_stage_role_and_agent() -> None:
    for board in dashboards().values():
        names = [v["name"] for v in board["templating"]["list"]]
        assert names == ["project", "stage", "role", "agent"], board["uid"]
    for name, expr in dashboard_promql():
        if "otel_agent_" in expr and "otel_agent_project" in expr:
            assert 'otel_agent_agent_role=~"$role"' in expr and 'gen_ai_agent_name=~"$agent"' in expr, name


def test_cost_by_model_over_time_top_failing_agents_unpriced_beside_cost_and_logs() -> None:
    cost = dashboards()["otel-agent-cost"]["panels"]
    titles = [p["title"] for p in cost]
    assert titles[0] == "Cost in range (USD)" and "Unpriced LLM calls" in titles[1]  # side by side
    assert "otel_agent_llm_unpriced_calls_total" in cost[1]["targets"][0]["expr"]
    over_time = next(p for p in cost if p["title"].startswith("Cost by model over time"))
    assert over_time["type"] == "timeseries"
    assert "gen_ai_request_model" in over_time["targets"][0]["expr"]
    failures = dashboards()["otel-agent-failures"]["panels"]
    failing = next(p for p in failures if p["title"] == "Top failing agents")
    assert failing["targets"][0]["expr"].startswith("topk(10, sum by (gen_ai_agent_name")
    logs = dict(dashboard_logql())
    assert {"otel-agent-overview", "otel-agent-failures"} <= {name.split("/")[0] for name in logs}
    assert all(expr.startswith('{service_name=~".+"}') for expr in logs.values())
    # the Loki data source links each line's trace_id to Tempo (checked in test_data_sources_link_...)


def test_latency_panels_show_exemplars_linked_to_traces() -> None:
    quantiles = [expr for _, expr in dashboard_promql() if "histogram_quantile" in expr]
    targets = [t for b in dashboards().values() for p in b["panels"] for t in p["targets"] if "expr" in t]
    assert len(quantiles) >= 5
    assert all(t.get("exemplar") for t in targets if "histogram_quantile" in t["expr"])
