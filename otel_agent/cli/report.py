"""`otel-agent report`: runs, success rate, p50/p95 latency, tokens and cost, grouped over a window.

Group by a run column (project, stage, role, status, user, workspace, trigger), by any run tag
(``--by tag:style``, or just ``--by style`` when it is not a column), or by provider / model, which
aggregates the LLM calls of the matching runs (latency is then per call; success is their runs').
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from otel_agent.cli.output import add_common, engine_for, parse_since, print_json, print_table
from otel_agent.store import queries

TABLE = (
    ("group", "GROUP"), ("runs", "RUNS"), ("calls", "CALLS"), ("success_rate", "SUCCESS %"),
    ("p50_s", "P50 S"), ("p95_s", "P95 S"), ("input_tokens", "TOKENS IN"), ("output_tokens", "TOKENS OUT"),
    ("cost_usd", "COST $"),
)  # fmt: skip


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("report", help="success, latency, tokens and cost by group")
    add_common(parser)
    parser.add_argument("--by", default="project", help="project, stage, role, status, user, workspace, "
                        "trigger, provider, model, or a run tag (tag:NAME or NAME)")  # fmt: skip
    parser.add_argument("--since", default="7d", help="window start: 24h, 7d or an ISO time (default 7d)")
    for flag in ("project", "stage", "role", "workspace"):
        parser.add_argument(f"--{flag}", help=f"only runs of this {flag}")
    parser.set_defaults(func=report)
    return parser


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every figure is a real observation)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _key_function(by: str) -> tuple[str, Callable[[dict[str, Any]], Any]]:
    """('runs' | 'calls', row -> group value) for a --by value (see queries.report_grouping)."""
    grouping = queries.report_grouping(by)
    return grouping.per, grouping.key


def aggregate(
    rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any], per: str
) -> list[dict[str, Any]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return [
        _summary(group, members, per) for group, members in sorted(groups.items(), key=lambda g: str(g[0]))
    ]


def _summary(group: Any, members: list[dict[str, Any]], per: str) -> dict[str, Any]:
    statuses = {m["run_id"]: m["status"] for m in members}
    ended = [s for s in statuses.values() if s != "running"]
    durations = [m["duration_ms"] / 1000 for m in members if m.get("duration_ms") is not None]
    p50, p95 = percentile(durations, 0.5), percentile(durations, 0.95)
    summary = {
        "group": group,
        "runs": len(statuses),
        "success_rate": round(100 * ended.count("succeeded") / len(ended), 1) if ended else None,
        "p50_s": round(p50, 3) if p50 is not None else None,
        "p95_s": round(p95, 3) if p95 is not None else None,
        "input_tokens": sum(m["input_tokens"] or 0 for m in members),
        "output_tokens": sum(m["output_tokens"] or 0 for m in members),
        "cost_usd": round(sum(m["cost_usd"] or 0.0 for m in members), 6),
    }
    if per == "calls":
        summary["calls"] = len(members)
    return summary


def report(args: argparse.Namespace) -> int:
    where = queries.RunFilter(
        project=args.project, stage=args.stage, agent_role=args.role, workspace=args.workspace,
        since=parse_since(args.since),
    )  # fmt: skip
    grouping = queries.report_grouping(args.by)
    per = grouping.per
    with engine_for(args).connect() as conn:
        rows = queries.report_calls(conn, where) if per == "calls" else queries.report_runs(conn, where)
    summary = aggregate(rows, grouping.key, per)
    if args.json:
        print_json(summary)
    else:
        columns = [c for c in TABLE if per == "calls" or c[0] != "calls"]
        print_table(
            summary, [(k, args.by.upper() if k == "group" else h) for k, h in columns], "no runs in window"
        )
    return 0
