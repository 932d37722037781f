"""One parsing of a report's `by`, shared by `otel-agent report` and GET /api/v1/report."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_agent.cli import report as cli_report
from otel_agent.store.queries import ReportGrouping, report_grouping

RUN = {"run_id": "r1", "project": "books", "agent_role": "writer", "tags": {"style": "noir"}}
CALL = {"run_id": "r1", "provider": "openai", "model": "gpt-4o"}


@pytest.mark.parametrize(
    ("by", "per", "row", "group"),
    [
        ("project", "runs", RUN, "books"),
        ("role", "runs", RUN, "writer"),
        ("tag:style", "runs", RUN, "noir"),
        ("tag:absent", "runs", RUN, None),
        ("model", "calls", CALL, "gpt-4o"),
        ("provider", "calls", CALL, "openai"),
    ],
)
def test_grouping_reads_by(by: str, per: str, row: dict, group: str | None) -> None:
    grouping = report_grouping(by)
    assert (grouping.per, grouping.key(row)) == (per, group)


@pytest.mark.parametrize("by", ["nosuch", "style", "tag:", "Project", ""])
def test_an_unknown_by_is_an_error_listing_the_valid_ones(by: str) -> None:
    with pytest.raises(ValueError, match=r"unknown --by value .*project, stage, role, .*model, tag:NAME"):
        report_grouping(by)


def test_a_run_without_tags_groups_under_none() -> None:
    assert report_grouping("tag:style").key({"run_id": "r2", "tags": None}) is None


def test_the_cli_and_the_api_share_it() -> None:
    per, key = cli_report._key_function("role")
    assert (per, key(RUN)) == ("runs", "writer")
    assert report_grouping("role") == ReportGrouping("runs", "agent_role")
    api = Path("otel_agent/api/queries/report.py").read_text()
    cli = Path("otel_agent/cli/report.py").read_text()
    shared = Path("otel_agent/store/report.py").read_text()
    assert "_key_function" not in api and "report_grouping(by)" in shared
    assert "from otel_agent.store.report import" in api and "usage_report(conn, where, args.by)" in cli
