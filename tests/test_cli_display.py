"""What people read: costs with sub-cent precision, unknown money flagged (never $0), percentages and
attempts as people count them, clear errors, quiet pipes, and no database made by reading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_agent import attributes as A
from otel_agent.cli import main
from otel_agent.cli.output import Cost, _number, format_usd
from otel_agent.store import Materialiser, make_engine
from tests.test_store_traces import T0, llm_attrs, span

CLI = [sys.executable, "-m", "otel_agent.cli"]


@pytest.mark.parametrize(
    ("usd", "shown"),
    [(0.0, "$0"), (0.0041, "$0.0041"), (0.00412345, "$0.004123"), (0.000006, "$0.000006"),
     (0.1234567, "$0.1235"), (1.5, "$1.50"), (1234.567, "$1,234.57")],
)  # fmt: skip
def test_costs_keep_four_significant_digits_below_a_dollar(usd: float, shown: str) -> None:
    assert format_usd(usd) == shown


def test_unpriced_calls_are_flagged_never_zero() -> None:
    assert str(Cost(0.0041, 1)) == "$0.0041 + 1 unpriced"
    assert str(Cost(0.0, 2)) == "2 unpriced" and str(Cost(None, 1)) == "1 unpriced"
    assert str(Cost(0.0, 0)) == "$0"


@pytest.mark.parametrize(
    ("value", "shown"), [(90.9, "90.9"), (100.0, "100"), (66.7, "66.7"), (0.125, "0.125")]
)
def test_percentages_and_seconds_read_plainly(value: float, shown: str) -> None:
    assert _number(value) == shown


def _trace() -> list[Any]:
    """One run: a priced call ($0.0041), a call of an unknown model, and a first attempt that failed."""
    trace, run = "ab" * 16, "1" * 16
    unknown = {k: v for k, v in llm_attrs("mystery-1", 10, 5, 0.0).items() if k != A.COST_USD}
    unknown[A.PRICE_SOURCE] = A.PRICE_SOURCE_UNPRICED
    failed = {**llm_attrs("gpt-4o", 0, 0, 0.0), A.ERROR_CATEGORY: "rate_limit", A.RETRY_ATTEMPT: 0}
    agent = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, A.STAGE: "draft", A.PROJECT: "books"}
    return [
        span(trace, "2" * 16, run, "chat gpt-4o", llm_attrs("gpt-4o", 100, 20, 0.0041), T0 + 1, T0 + 2),
        span(trace, "3" * 16, run, "chat mystery-1", unknown, T0 + 3, T0 + 4),
        span(trace, "4" * 16, run, "chat gpt-4o", failed, T0 + 5, T0 + 6, "ERROR", status_message="429"),
        span(trace, run, None, "invoke_agent writer", agent, T0, T0 + 7),
    ]


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = (
        f"sqlite:///{tmp_path}/d.db"
        if request.param == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    store = Materialiser(make_engine(url))
    store.write(_trace())
    store.engine.dispose()
    return url


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main([*argv]) == 0
    return capsys.readouterr().out


def test_runs_and_reports_flag_unpriced_calls(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--database-url", db, "--since", "3650d")
    assert "$0.0041 + 1 unpriced" in run_cli(capsys, "runs", *args)
    assert "$0.0041 + 1 unpriced" in run_cli(capsys, "report", "--by", "stage", *args)
    (group,) = json.loads(run_cli(capsys, "report", "--json", *args))
    assert group["cost_usd"] == pytest.approx(0.0041) and group["unpriced_calls"] >= 1
    by_model = {
        g["group"]: g for g in json.loads(run_cli(capsys, "report", "--by", "model", "--json", *args))
    }
    assert by_model["mystery-1"]["unpriced_calls"] == 1 and by_model["mystery-1"]["cost_usd"] == 0
    assert by_model["gpt-4o"]["unpriced_calls"] == 0
    assert "1 unpriced" in run_cli(capsys, "report", "--by", "model", *args)


def test_failures_number_attempts_from_one(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    header, row = run_cli(capsys, "failures", "--database-url", db).splitlines()[:2]
    column = header.index("ATTEMPT")
    assert row[column : column + len("ATTEMPT")].strip() == "1"  # the first try (stored retry_attempt 0)


def test_an_unknown_by_is_an_error(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--database-url", db, "--by", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown --by value 'nosuch'" in err and "tag:NAME" in err and "provider" in err


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    return {**env, **extra}


def test_reading_creates_no_database(tmp_path: Path) -> None:
    for command in (["runs"], ["report"], ["failures"], ["db", "status"], ["purge", "--user", "erin"]):
        done = subprocess.run(
            [*CLI, *command], cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 1, done.stderr
        assert "no database at otel-agent-data/otel-agent.db" in done.stderr and "make demo" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_closed_pipe_ends_quietly(db: str, tmp_path: Path) -> None:
    # `otel-agent report --json | head -1`: the reader leaves after one line
    report = subprocess.Popen([*CLI, "report", "--by", "model", "--json", "--since", "3650d"],
                              env=_clean_env(OTEL_AGENT_DATABASE_URL=db), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)  # fmt: skip
    assert report.stdout is not None and report.stderr is not None
    assert report.stdout.readline().strip() == b"["
    report.stdout.close()
    err = report.stderr.read().decode()
    assert report.wait(timeout=120) in (0, 141) and err == ""


def test_the_api_report_flags_unpriced_calls_and_refuses_an_unknown_by(db: str) -> None:
    import httpx

    from otel_agent.api.auth import Role
    from otel_agent.api.tokens import TokenStore
    from tests.api_fixtures import migrated_engine, serve

    engine = migrated_engine(db)
    token, _ = TokenStore(engine).create("default", Role.VIEWER)  # the trace names no workspace
    with serve(engine) as base, httpx.Client(base_url=base, timeout=60) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        by_model = client.get("/api/v1/report", params={"by": "model", "days": 3650}).json()["groups"]
        unknown = client.get("/api/v1/report", params={"by": "nosuch"})
    engine.dispose()
    assert {g["group"]: g["unpriced_calls"] for g in by_model} == {"gpt-4o": 0, "mystery-1": 1}
    assert unknown.status_code == 422 and "tag:NAME" in unknown.text
