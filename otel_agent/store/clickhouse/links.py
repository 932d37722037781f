"""Links found after the fact, appended (never updated), so the result does not depend on arrival order.

The same repair as the SQL store's otel_agent.store.links: a step stored before its run was known is
appended again with its run (and its failure with it); a run whose enclosing run arrives later gets a
parent link; and every nested run gets a root link naming its parent's root, ranked one above the
parent's, so the highest-ranked root of a run is the top of the longest chain known above it.
"""

from __future__ import annotations

from collections.abc import Iterable

from otel_agent.store.clickhouse import facts
from otel_agent.store.clickhouse.client import Client, literal, one_of

MAX_ROUNDS = 64  # one per level of a parent chain that arrived bottom-up
_CHUNK = 10_000


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(ids)
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def lookup_runs(client: Client, ids: set[str]) -> dict[str, str | None]:
    """For span ids: the run each one is (a run) or belongs to (a linked step)."""
    found: dict[str, str | None] = {}
    for chunk in _chunks(ids):
        ids_sql = one_of(chunk)
        rows = client.rows(f"""
SELECT DISTINCT run_id AS id, run_id AS run FROM otel_ch_run_facts WHERE run_id IN {ids_sql}
UNION ALL
SELECT span_id AS id, any(run_id) AS run FROM otel_ch_steps
WHERE span_id IN {ids_sql} AND run_id IS NOT NULL GROUP BY span_id""")
        found.update({row["id"]: row["run"] for row in rows})
    return found


def relink(client: Client, frontier: set[str], check_roots: set[str]) -> set[str]:
    """Link orphans below ``frontier``, then repair roots; return the runs whose links changed."""
    changed: set[str] = set()
    for _ in range(MAX_ROUNDS):
        if not frontier:
            break
        linked_steps, linked_runs = _link_round(client, frontier)
        changed |= set(linked_steps.values()) | set(linked_runs)
        frontier = set(linked_steps) | set(linked_runs)
    if changed or check_roots:
        changed |= follow_roots(client, changed | check_roots)
    return changed


def orphan_parents(client: Client, limit: int = 10_000) -> set[str]:
    """Parents of steps still without a run (for the sweep)."""
    rows = client.rows(f"""
SELECT DISTINCT parent FROM (
    SELECT any(parent_span_id) AS parent FROM otel_ch_steps
        WHERE run_id IS NULL AND parent_span_id IS NOT NULL
    GROUP BY span_id HAVING max(link_rank) = 0
) LIMIT {int(limit)}""")
    return {row["parent"] for row in rows}


def _link_round(client: Client, frontier: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    linked_steps: dict[str, str] = {}
    linked_runs: dict[str, tuple[str, str]] = {}
    for chunk in _chunks(frontier):
        parents = one_of(chunk)
        orphans = client.rows(f"""
SELECT 'step' AS kind, span_id AS id, '' AS trace_id, any(parent_span_id) AS parent FROM otel_ch_steps
WHERE parent_span_id IN {parents} GROUP BY span_id HAVING max(link_rank) = 0
UNION ALL
SELECT 'run' AS kind, run_id AS id, any(trace_id) AS trace_id,
    anyIf(parent_span_id, source = 'span') AS parent
FROM otel_ch_run_facts
WHERE run_id IN (SELECT run_id FROM otel_ch_run_facts WHERE source = 'span' AND parent_span_id IN {parents})
GROUP BY run_id HAVING countIf(parent_run_id IS NOT NULL) = 0 AND parent != run_id""")
        if not orphans:
            continue
        steps = [{"span_id": o["id"], "parent": o["parent"]} for o in orphans if o["kind"] == "step"]
        runs = [{"run_id": o["id"], **o} for o in orphans if o["kind"] == "run"]
        owners = lookup_runs(client, {row["parent"] for row in steps + runs})
        linked_steps.update({r["span_id"]: owners[r["parent"]] for r in steps if owners.get(r["parent"])})
        linked_runs.update(
            {r["run_id"]: (r["trace_id"], owners[r["parent"]]) for r in runs if owners.get(r["parent"])}
        )
    _append_step_runs(client, linked_steps)
    client.insert(
        "otel_ch_run_facts",
        ("run_id", "trace_id", "source", "fact_id", "parent_run_id", "link_rank"),
        [facts.parent_link(run, trace, parent) for run, (trace, parent) in linked_runs.items()],
    )
    return linked_steps, {run: parent for run, (_, parent) in linked_runs.items()}


def _append_step_runs(client: Client, linked: dict[str, str]) -> None:
    """The steps again, now with their run (version 1 replaces version 0); their failures follow.
    Filtered in a subquery: in the outer WHERE, ``link_rank`` would name the REPLACE's 1."""
    for chunk in _chunks(linked):
        spans, runs = literal(chunk), literal([linked[s] for s in chunk])
        run = f"toNullable(transform(span_id, {spans}, {runs}, ''))"
        spans = one_of(chunk)
        client.command(f"""
INSERT INTO otel_ch_steps SELECT * REPLACE ({run} AS run_id, 1 AS link_rank)
FROM (SELECT * FROM otel_ch_steps WHERE span_id IN {spans} AND link_rank = 0 LIMIT 1 BY span_id)""")
        client.command(f"""
INSERT INTO otel_ch_failures SELECT * REPLACE ({run} AS run_id, 1 AS link_rank)
FROM (SELECT * FROM otel_ch_failures WHERE span_id IN {spans} AND link_rank = 0 LIMIT 1 BY failure_id)""")


_LINKS = """
SELECT run_id, any(trace_id) AS trace_id, anyIf(parent_run_id, parent_run_id IS NOT NULL) AS parent,
    argMaxIf(root_run_id, link_rank, root_run_id IS NOT NULL) AS root,
    maxIf(link_rank, root_run_id IS NOT NULL) AS rank
FROM otel_ch_run_facts WHERE {condition} GROUP BY run_id"""


def _links(client: Client, condition: str) -> dict[str, dict[str, object]]:
    return {row["run_id"]: row for row in client.rows(_LINKS.format(condition=condition))}


def follow_roots(client: Client, start: set[str]) -> set[str]:
    """Give every nested run its parent's root, down from the runs in ``start``."""
    changed: set[str] = set()
    frontier = set(start)
    for _ in range(MAX_ROUNDS):
        if not frontier:
            break
        appended = []
        for chunk in _chunks(frontier):
            ids = one_of(chunk)
            related = f"SELECT run_id FROM otel_ch_run_facts WHERE run_id IN {ids} OR parent_run_id IN {ids}"
            below = f"run_id IN ({related})"
            children = _links(client, below)
            wanted = {str(c["parent"]) for c in children.values() if c["parent"]}
            parents = _links(client, f"run_id IN {one_of(wanted)}") if wanted else {}
            for run_id, child in children.items():
                parent = parents.get(str(child["parent"]))
                if parent and parent["root"] and child["root"] != parent["root"]:
                    rank = max(int(parent["rank"]) + 1, int(child["rank"]) + 1)  # type: ignore[call-overload]
                    appended.append(
                        facts.root_link(run_id, str(child["trace_id"]), str(parent["root"]), rank)
                    )
        client.insert(
            "otel_ch_run_facts",
            ("run_id", "trace_id", "source", "fact_id", "root_run_id", "link_rank"),
            appended,
        )
        frontier = {row["run_id"] for row in appended}
        changed |= frontier
    return changed
