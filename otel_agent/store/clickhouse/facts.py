"""A BatchPlan (otel_agent.store.plan: the SQL store's own planning and row building) -> the rows the
ClickHouse store appends. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from otel_agent.store.plan import BatchPlan

# A root the processor declared is final: any link found from parent spans ranks below it.
DECLARED = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _rank(row: Mapping[str, Any], settled: set[str]) -> int:
    declared = row["root_run_id"] != row["run_id"] or row["run_id"] in settled
    return DECLARED if declared else 0


def run_facts(plan: BatchPlan) -> list[dict[str, Any]]:
    """One fact per run span, marker and placeholder of the batch."""
    facts = []
    for row in plan.runs:
        facts.append({**row, "source": "span", "fact_id": "", "link_rank": _rank(row, plan.settled_roots)})
    for row in plan.markers:
        beat = row["last_heartbeat_at"]
        facts.append(
            {
                **row,
                "source": "marker",
                "fact_id": beat.isoformat() if beat else "",
                "heartbeat_at": beat,
                "link_rank": _rank(row, plan.settled_roots),
            }
        )
    for row in plan.placeholders:
        facts.append({**row, "source": "placeholder", "fact_id": "", "link_rank": 0})
    return facts


def steps(plan: BatchPlan) -> list[dict[str, Any]]:
    return [
        {**row, "started_at": row["started_at"] or EPOCH, "link_rank": int(row["run_id"] is not None)}
        for row in plan.steps
    ]


def failures(plan: BatchPlan) -> list[dict[str, Any]]:
    return [{**row, "link_rank": int(row["run_id"] is not None)} for row in plan.failures]


def parent_link(run_id: str, trace_id: str, parent_run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "trace_id": trace_id,
        "source": "link",
        "fact_id": "parent",
        "parent_run_id": parent_run_id,
        "link_rank": 0,
    }


def root_link(run_id: str, trace_id: str, root_run_id: str, rank: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "trace_id": trace_id,
        "source": "link",
        "fact_id": f"root:{rank}",
        "root_run_id": root_run_id,
        "link_rank": rank,
    }
