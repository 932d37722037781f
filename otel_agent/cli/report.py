"""`otel-agent report`: runs, success rate, p50/p95 latency, tokens and cost, grouped over a window.

Group by a run column (project, stage, role, status, user, workspace, trigger), by any run tag
(``--by tag:style``, or just ``--by style`` when it is not a column), or by provider / model, which
aggregates the LLM calls of the matching runs (latency is then per call; success is their runs').
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from otel_agent.cli.output import add_common, parse_since, print_json, print_table, store_for
from otel_agent.store import queries
from otel_agent.store.report import aggregate, percentile, usage_report

__all__ = ["aggregate", "percentile", "usage_report"]  # the report's code lives in otel_agent.store.report

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


def _key_function(by: str) -> tuple[str, Callable[[dict[str, Any]], Any]]:
    """('runs' | 'calls', row -> group value) for a --by value (see queries.report_grouping)."""
    grouping = queries.report_grouping(by)
    return grouping.per, grouping.key


def report(args: argparse.Namespace) -> int:
    where = queries.RunFilter(
        project=args.project, stage=args.stage, agent_role=args.role, workspace=args.workspace,
        since=parse_since(args.since),
    )  # fmt: skip
    per = queries.report_grouping(args.by).per
    with store_for(args) as store:
        summary = store.usage_report(where, args.by)
    if args.json:
        print_json(summary)
    else:
        columns = [c for c in TABLE if per == "calls" or c[0] != "calls"]
        print_table(
            summary, [(k, args.by.upper() if k == "group" else h) for k, h in columns], "no runs in window"
        )
    return 0
