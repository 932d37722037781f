"""The otel-agent CLI over a real store: tables, JSON, filters, reports, stalls, purge, db."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_agent import attributes as A
from otel_agent.cli import main
from otel_agent.record import SpanRecord
from otel_agent.store import Materialiser, make_engine
from tests.test_store_traces import agent_trace, run_id_of, span


def retagged(trace: list[SpanRecord], **changes: Any) -> list[SpanRecord]:
    """The trace with attributes changed on every span (e.g. another user or style)."""
    out = []
    for r in trace:
        attrs = {
            **r.attributes,
            **{k: v for k, v in changes.items() if k in r.attributes or k.startswith(A.TAG_PREFIX)},
        }
        if r.attributes.get(A.GEN_AI_OPERATION_NAME) != A.OP_INVOKE_AGENT:
            attrs = {k: v for k, v in attrs.items() if not k.startswith(A.TAG_PREFIX)}
        out.append(dataclasses.replace(r, attributes=attrs))
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = (
        f"sqlite:///{tmp_path}/cli.db"
        if request.param == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    store = Materialiser(make_engine(url))
    store.write(agent_trace(1, project="books", stage="draft"))
    store.write(agent_trace(2, project="books", stage="edit", fail_step=3))
    failing = agent_trace(3, project="cards", stage="draft")
    run = failing[-1]
    store.write(
        [
            *failing[:-1],
            span(
                run.trace_id,
                run.span_id,
                None,
                run.name,
                {**run.attributes, A.ERROR_CATEGORY: "timeout", A.TAG_PREFIX + "style": "plain"},
                run.start_time_unix_nano,
                run.end_time_unix_nano,
                "ERROR",
                status_message="gave up",
            ),
        ]
    )
    store.write(retagged(agent_trace(4, project="cards"), **{A.USER_ID: "user-7"}))
    store.engine.dispose()
    return url


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out = cli(capsys, *argv, "--json")
    assert code == 0
    return json.loads(out)


def test_runs_lists_and_filters(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(capsys, "runs", "--database-url", db)
    assert code == 0 and out.splitlines()[0].split()[:3] == ["RUN", "STARTED", "(UTC)"]
    assert len(out.splitlines()) == 5
    every = cli_json(capsys, "runs", "--database-url", db, "--since", "3650d")
    assert [r["project"] for r in every] == ["cards", "cards", "books", "books"]  # newest first
    assert [r["status"] for r in cli_json(capsys, "runs", "--database-url", db, "--project", "cards")] == [
        "succeeded",
        "failed",
    ]
    assert len(cli_json(capsys, "runs", "--database-url", db, "--status", "failed")) == 1
    assert len(cli_json(capsys, "runs", "--database-url", db, "--user", "user-7")) == 1
    assert cli_json(capsys, "runs", "--database-url", db, "--since", "1h") == []  # the traces are from 2025


def test_failures(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = cli_json(capsys, "failures", "--database-url", db)
    assert sorted((f["source"], f["error_category"], f["resolved"]) for f in rows) == [
        ("run", "timeout", False),
        ("step", "rate_limit", True),
    ]
    assert [f["message"] for f in cli_json(capsys, "failures", "--database-url", db, "--open")] == ["gave up"]
    code, out = cli(capsys, "failures", "--database-url", db, "--category", "rate_limit")
    assert code == 0 and "resolved" in out and "rate_limit" in out


def test_report_by_column_model_and_tag(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    by_project = {g["group"]: g for g in cli_json(capsys, "report", "--database-url", db, "--since", "3650d")}
    assert by_project["books"]["runs"] == 2 and by_project["books"]["success_rate"] == 100.0
    assert by_project["cards"]["success_rate"] == 50.0
    assert by_project["books"]["cost_usd"] == pytest.approx(2 * 0.146)
    assert by_project["books"]["p50_s"] == pytest.approx(0.04, abs=0.001)
    (model,) = cli_json(capsys, "report", "--database-url", db, "--since", "3650d", "--by", "model")
    # 52 LLM steps, one of them an SDK retry (attempt 1) of a call: 51 calls, as the runs count them
    assert (model["group"], model["runs"], model["calls"]) == ("gpt-4o", 4, 51)
    by_style = {
        g["group"]: g["runs"]
        for g in cli_json(capsys, "report", "--database-url", db, "--since", "3650d", "--by", "tag:style")
    }
    assert by_style == {"noir": 3, "plain": 1}
    code, out = cli(capsys, "report", "--database-url", db, "--since", "3650d", "--by", "stage")
    assert code == 0 and out.splitlines()[0].startswith("STAGE") and "edit" in out


def test_stalls_marks_and_lists_silent_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/stall.db"
    trace = agent_trace(5)
    Materialiser(make_engine(db)).write(trace[:-1])  # the marker and steps, never the run's end
    result = cli_json(capsys, "stalls", "--database-url", db, "--after", "10m")
    assert result["newly_stalled"] == [run_id_of(trace)] and result["runs"][0]["status"] == "stalled"
    code, out = cli(capsys, "stalls", "--database-url", db)
    assert code == 0 and "stalled" in out and "marked" not in out


def test_purge_by_user_and_age(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    dry = cli_json(capsys, "purge", "--database-url", db, "--user", "user-7", "--dry-run")
    assert dry["deleted"]["runs"] == 1 and len(cli_json(capsys, "runs", "--database-url", db)) == 4
    code, out = cli(capsys, "purge", "--database-url", db, "--user", "user-7")
    assert code == 0 and out.strip() == "deleted 1 runs, 20 steps, 0 failures"
    assert [r["user_id"] for r in cli_json(capsys, "runs", "--database-url", db)] == ["user-42"] * 3
    assert cli_json(capsys, "purge", "--database-url", db, "--older-than", "3650d")["deleted"]["runs"] == 0
    gone = cli_json(capsys, "purge", "--database-url", db, "--older-than", "90d")["deleted"]
    assert gone == {"runs": 3, "steps": 60, "failures": 2}
    assert cli_json(capsys, "runs", "--database-url", db) == []


def test_db_upgrade_and_status(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    monkeypatch.setenv("OTEL_AGENT_SPOOL_DIR", str(tmp_path / "spool"))
    db = f"sqlite:///{tmp_path}/new.db"
    code, out = cli(capsys, "db", "upgrade", "--database-url", db)
    assert code == 0 and out.startswith("database at revision")
    status = cli_json(capsys, "db", "status", "--database-url", db)
    assert status["revision"] == status["head"] and status["spooled_batches"] == 0


def test_bad_arguments_get_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--database-url", f"sqlite:///{tmp_path}/x.db", "--since", "last tuesday"]) == 2
    assert "not a duration or ISO time" in capsys.readouterr().err


def test_the_console_script(db: str) -> None:
    script = Path(sys.executable).with_name("otel-agent")
    done = subprocess.run(
        [str(script), "runs", "--database-url", db, "--json"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 4


def test_top_level_runs_show_totals_with_nested_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_store import nested_trace

    db = f"sqlite:///{tmp_path}/nested.db"
    records, outer, inner = nested_trace(foreign=True)
    Materialiser(make_engine(db)).write(records)
    by_id = {r["run_id"]: r for r in cli_json(capsys, "runs", "--database-url", db)}
    assert (by_id[outer]["cost_usd"], by_id[outer]["tree_cost_usd"], by_id[outer]["tree_input_tokens"]) == (
        0,
        0.5,
        10,
    )
    assert by_id[inner]["tree_cost_usd"] is None  # nested: its own totals are the figure
