"""The API's per-call report (by model / provider) on PostgreSQL: calls without a model or provider,
several models in one run, and runs still going give the same figures as `otel-agent report`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from otel_agent import attributes as A
from otel_agent.api.queries.report import usage_report
from otel_agent.cli import report as cli_report
from otel_agent.record import SpanRecord
from otel_agent.store import Materialiser, make_engine, queries, upgrade
from tests.api_fixtures import database
from tests.test_store_traces import agent_trace

pytestmark = pytest.mark.postgres
SINCE = datetime(2020, 1, 1, tzinfo=timezone.utc)


def _varied(seed: int) -> list[SpanRecord]:
    """A trace whose LLM calls use three models, one call with no model and no provider at all."""
    out = []
    for i, record in enumerate(agent_trace(seed, steps=9, fail_step=4 if seed % 2 else None)):
        attrs = dict(record.attributes)
        if attrs.get(A.GEN_AI_OPERATION_NAME) == A.OP_CHAT:
            model = ("gpt-4o", "claude-sonnet-4", None)[(i + seed) % 3]
            for key in (A.GEN_AI_REQUEST_MODEL, A.GEN_AI_RESPONSE_MODEL, A.GEN_AI_PROVIDER_NAME):
                attrs.pop(key, None)
            if model:
                attrs |= {A.GEN_AI_REQUEST_MODEL: model, A.GEN_AI_PROVIDER_NAME: model.split("-")[0]}
        end = record.end_time_unix_nano + (i * 7_919_000 % 3_000_000_000)  # varied durations
        out.append(dataclasses.replace(record, attributes=attrs, end_time_unix_nano=end))
    if seed % 3 == 0:
        out = out[:-1]  # the run span never arrived: the run is still running
    elif seed % 4 == 1:
        out[-1] = dataclasses.replace(out[-1], status_code="ERROR", status_message="gave up")
    return out


@pytest.fixture(scope="module")
def engine(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    with database("postgres", str(tmp_path_factory.mktemp("calls")), postgres_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        Materialiser(engine).write([r for seed in range(1, 10) for r in _varied(seed)])
        yield engine
        engine.dispose()


@pytest.mark.parametrize("by", ["model", "provider"])
def test_per_call_report_equals_the_cli(engine: sa.Engine, by: str) -> None:
    where = queries.RunFilter(since=SINCE)
    with engine.connect() as conn:
        ours = usage_report(conn, where, by)
        per, key = cli_report._key_function(by)
        theirs = cli_report.aggregate(queries.report_calls(conn, where), key, per)
    groups = [g["group"] for g in theirs]
    assert None in groups and len(groups) == 3  # the data has the cases we want to cover
    assert any(g["success_rate"] not in (None, 100.0) for g in theirs)
    assert len(ours) == len(theirs)
    for mine, cli in zip(ours, theirs, strict=True):
        assert mine == {**cli, "cost_usd": pytest.approx(cli["cost_usd"], abs=2e-6)}
