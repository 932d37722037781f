"""`otel-agent report`: runs, success rate, p50/p95 latency, tokens and cost, grouped over a window.

Group by a run column (project, stage, role, status, user, workspace, trigger), by any run tag
(``--by tag:style``), or by provider / model, which aggregates the LLM calls of the matching runs
(latency is then per call; success is their runs'). Any other ``--by`` is an error naming these.

Every run is counted once, under its own value: a nested run under its own stage, its parent under the
parent's. A run that sets no stage itself (often the outermost run, whose work happens in stages below
it) forms the ``-`` group; its tokens and cost are those of its own LLM calls outside any nested run, so
the groups add up to the total without counting anything twice.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from otel_agent.cli.output import Cost, add_common, engine_for, parse_since, print_json, print_table
from otel_agent.store import queries
from otel_agent.store.report import aggregate, percentile, usage_report

__all__ = ["aggregate", "percentile", "usage_report"]  # the report's code lives in otel_agent.store.report

TABLE = (
    ("group", "GROUP"), ("runs", "RUNS"), ("calls", "CALLS"), ("success_rate", "SUCCESS %"),
    ("p50_s", "P50 S"), ("p95_s", "P95 S"), ("input_tokens", "TOKENS IN"), ("output_tokens", "TOKENS OUT"),
    ("cost", "COST"),
)  # fmt: skip


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("report", help="success, latency, tokens and cost by group")
    add_common(parser)
    parser.add_argument("--by", default="project", help="project, stage, role, status, user, workspace, "
                        "trigger, provider, model, or a run tag as tag:NAME")  # fmt: skip
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
    per = queries.report_grouping(args.by).per  # an unknown --by fails here, before the database
    with engine_for(args).connect() as conn:
        summary = usage_report(conn, where, args.by)
    if args.json:
        print_json(summary)
    else:
        columns = [c for c in TABLE if per == "calls" or c[0] != "calls"]
        view = [{**row, "cost": Cost(row["cost_usd"], row["unpriced_calls"])} for row in summary]
        print_table(
            view, [(k, args.by.upper() if k == "group" else h) for k, h in columns], "no runs in window"
        )
        if per == "runs" and any(row["group"] is None for row in summary):
            print(_NONE_NOTE.format(by=args.by))
    return 0


_NONE_NOTE = (
    "(-: runs that set no {by} themselves, such as the outer run of a pipeline whose work is in nested "
    "runs;\n each run counts once, under its own {by}, with its own calls' tokens and cost)"
)
