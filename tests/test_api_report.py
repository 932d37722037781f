"""The API's SQL-side report on PostgreSQL gives the same figures as `otel-agent report`'s Python path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from otel_agent.api.queries.report import usage_report
from otel_agent.cli import report as cli_report
from otel_agent.store import queries
from otel_agent.store.materialiser import Materialiser
from tests.api_fixtures import database, migrated_engine, seed
from tests.test_store_traces import agent_trace

pytestmark = pytest.mark.postgres
GROUPINGS = ["project", "stage", "role", "status", "user", "trigger", "workspace", "provider", "model"]
GROUPINGS += ["tag:style", "tag:absent"]  # a bare tag name is an error (test_report_grouping.py)


@pytest.fixture(scope="module")
def engine(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    with database("postgres", str(tmp_path_factory.mktemp("r")), postgres_url) as url:
        engine = migrated_engine(url)
        seed(engine)
        records = [
            r for i in range(1, 9) for r in agent_trace(i, steps=5 + i, fail_step=3 if i % 3 else None)
        ]
        Materialiser(engine).write(records)
        yield engine
        engine.dispose()


def _python_report(conn: sa.Connection, where: queries.RunFilter, by: str) -> list[dict]:
    per, key = cli_report._key_function(by)
    rows = queries.report_calls(conn, where) if per == "calls" else queries.report_runs(conn, where)
    return cli_report.aggregate(rows, key, per)


@pytest.mark.parametrize("by", GROUPINGS)
@pytest.mark.parametrize("workspace", [None, "acme"])
def test_sql_report_equals_the_cli_report(engine: sa.Engine, by: str, workspace: str | None) -> None:
    where = queries.RunFilter(workspace=workspace, since=datetime(2020, 1, 1, tzinfo=timezone.utc))
    with engine.connect() as conn:
        ours, theirs = usage_report(conn, where, by), _python_report(conn, where, by)
    assert theirs, "the comparison needs rows"
    assert len(ours) == len(theirs)
    for mine, cli in zip(ours, theirs, strict=True):
        assert mine.keys() == cli.keys()
        assert mine == {**cli, "cost_usd": pytest.approx(cli["cost_usd"], abs=2e-6)}


def test_sqlite_uses_the_cli_code_unchanged(tmp_path: object) -> None:
    engine = migrated_engine(f"sqlite:///{tmp_path}/r.db")
    seed(engine)
    where = queries.RunFilter(workspace="acme", since=datetime(2020, 1, 1, tzinfo=timezone.utc))
    with engine.connect() as conn:
        assert usage_report(conn, where, "project") == _python_report(conn, where, "project")
