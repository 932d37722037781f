"""`otel-agent runs | failures | stalls`: what ran, what failed, what stalled."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from otel_agent.cli.output import Cost, add_common, engine_for, parse_since, print_json, print_table
from otel_agent.duration import parse_duration
from otel_agent.settings import Settings
from otel_agent.store import queries
from otel_agent.store.materialiser import Materialiser

RUN_TABLE = (
    ("run_id", "RUN"), ("started_at", "STARTED (UTC)"), ("status", "STATUS"), ("project", "PROJECT"),
    ("stage", "STAGE"), ("agent_role", "ROLE"), ("name", "NAME"), ("duration_s", "SECONDS"),
    ("tokens", "TOKENS IN/OUT"), ("cost", "COST"), ("tree_cost", "WITH NESTED"),
    ("user_id", "USER"), ("trigger", "TRIGGER"),
)  # fmt: skip
FAILURE_TABLE = (
    ("occurred_at", "WHEN (UTC)"), ("run_id", "RUN"), ("step_name", "STEP"), ("stage", "STAGE"),
    ("error_category", "CATEGORY"), ("error_type", "TYPE"), ("attempt", "ATTEMPT"), ("state", "STATE"),
    ("message", "MESSAGE"),
)  # fmt: skip
STALL_TABLE = (
    ("run_id", "RUN"), ("status", "STATUS"), ("name", "NAME"), ("project", "PROJECT"), ("stage", "STAGE"),
    ("started_at", "STARTED (UTC)"), ("last_seen_at", "LAST SEEN (UTC)"), ("silent_s", "SILENT S"),
)  # fmt: skip


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    runs = subparsers.add_parser("runs", help="list agent runs, newest first")
    add_common(runs)
    for flag in ("project", "stage", "role", "status", "user", "workspace"):
        runs.add_argument(f"--{flag}")
    runs.add_argument("--since", help="24h, 7d or an ISO time")
    runs.add_argument("--limit", type=int, default=50)
    runs.set_defaults(func=list_runs)

    failures = subparsers.add_parser("failures", help="list failures (errored steps and runs, stalls)")
    add_common(failures)
    failures.add_argument("--run", help="only this run's failures")
    failures.add_argument("--category", help="rate_limit, timeout, stalled, ...")
    failures.add_argument("--open", action="store_true", help="only unresolved failures")
    failures.add_argument("--since", help="24h, 7d or an ISO time")
    failures.add_argument("--limit", type=int, default=50)
    failures.set_defaults(func=list_failures)

    stalls = subparsers.add_parser("stalls", help="mark silent runs as stalled, then list stalled runs")
    add_common(stalls)
    stalls.add_argument("--after", help="silence that counts as stalled (default: OTEL_AGENT_STALL_AFTER)")
    stalls.add_argument("--running", action="store_true", help="also list runs still running")
    stalls.set_defaults(func=list_stalls)
    return runs


def _run_view(row: dict[str, Any]) -> dict[str, Any]:
    duration = row.get("duration_ms")
    trigger = "/".join(str(v) for v in (row.get("trigger_type"), row.get("trigger_id")) if v)
    return {
        **row,
        "duration_s": round(duration / 1000, 3) if duration is not None else None,
        "tokens": f"{row['input_tokens']}/{row['output_tokens']}",
        "cost": Cost(row["cost_usd"], row["unpriced_calls"]),
        "tree_cost": (
            Cost(row["tree_cost_usd"], row["tree_unpriced_calls"] or 0)
            if row.get("tree_cost_usd") is not None
            else None  # a nested run: its tree is its root's
        ),
        "trigger": trigger or None,
    }


def _failure_view(row: dict[str, Any]) -> dict[str, Any]:
    # Stored as the SDK counts retries (0 = the first try); shown as people count attempts (1 = first).
    attempt = row.get("retry_attempt")
    return {
        **row,
        "attempt": attempt + 1 if attempt is not None else None,
        "state": "resolved" if row["resolved"] else "open",
    }


def list_runs(args: argparse.Namespace) -> int:
    where = queries.RunFilter(
        project=args.project, stage=args.stage, agent_role=args.role, status=args.status,
        user_id=args.user, workspace=args.workspace, since=parse_since(args.since), limit=args.limit,
    )  # fmt: skip
    with engine_for(args).connect() as conn:
        rows = queries.list_runs(conn, where)
    if args.json:
        print_json(rows)
    else:
        print_table([_run_view(r) for r in rows], RUN_TABLE, "no runs match")
    return 0


def list_failures(args: argparse.Namespace) -> int:
    with engine_for(args).connect() as conn:
        rows = queries.list_failures(
            conn, args.run, args.category, args.open, parse_since(args.since), args.limit
        )
    if args.json:
        print_json(rows)
    else:
        print_table([_failure_view(r) for r in rows], FAILURE_TABLE, "no failures match")
    return 0


def list_stalls(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    stall_after_s = parse_duration(args.after) if args.after else settings.stall_after_s
    engine = engine_for(args, for_writing=True)
    newly = Materialiser(engine, ensure_schema=False).sweep(stall_after_s)
    with engine.connect() as conn:
        rows = queries.stalled_runs(conn, include_running=args.running)
    now = datetime.now(timezone.utc)
    for row in rows:
        seen = row.get("last_seen_at")
        row["silent_s"] = round((now - seen).total_seconds()) if isinstance(seen, datetime) else None
    if args.json:
        print_json({"newly_stalled": newly, "runs": rows})
    else:
        if newly:
            print(f"marked {len(newly)} run(s) stalled (silent > {stall_after_s:g} s)")
        print_table(rows, STALL_TABLE, "no stalled runs")
    return 0
