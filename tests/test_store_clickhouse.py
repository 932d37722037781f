"""What only the ClickHouse store has: its migrations, its cluster DDL, an unreachable server, odd input."""

from __future__ import annotations

import dataclasses

import pytest

from otel_agent.store.backend import open_store
from otel_agent.store.clickhouse import ClickHouseStore, migrate, schema
from otel_agent.store.clickhouse.client import literal
from otel_agent.store.materialiser import StoreUnavailable
from otel_agent.store.queries import RunFilter
from tests.services import free_port, missing
from tests.test_store_traces import agent_trace, run_id_of


def test_migrations_apply_once_and_record_their_version(fresh_chdb_url: str) -> None:
    store = ClickHouseStore(fresh_chdb_url, ensure_schema=False)
    try:
        assert not store.is_current()
        assert migrate.upgrade(store.client) == [1]
        assert migrate.upgrade(store.client) == []  # already there: nothing applied, nothing broken
        assert store.is_current() and migrate.applied_versions(store.client) == {1}
        tables = {
            r["name"]
            for r in store.client.rows("SELECT name FROM system.tables WHERE database = currentDatabase()")
        }
        assert tables == {*schema.TABLES, schema.VERSION_TABLE}
    finally:
        store.close()


def test_cluster_ddl_is_replicated_and_distributed_by_trace() -> None:
    [local_steps] = [s for s in schema.MIGRATIONS[0].statements if "otel_ch_steps (" in s]
    rendered = schema.render(local_steps, "prod")
    assert "CREATE TABLE IF NOT EXISTS otel_ch_steps_local ON CLUSTER prod" in rendered
    assert (
        "ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/otel_ch_steps', '{replica}', link_rank)"
        in rendered
    )
    assert "ReplacingMergeTree(link_rank)" in schema.render(local_steps)  # one server: plain, no cluster
    distributed = schema.distributed_ddl("prod")
    assert len(distributed) == 3 and all(
        "cityHash64(trace_id)" in d and "ON CLUSTER prod" in d for d in distributed
    )
    assert "Distributed(prod, currentDatabase(), otel_ch_steps_local" in distributed[1]


def test_an_unreachable_server_raises_store_unavailable_so_the_sink_spools() -> None:
    try:
        import clickhouse_connect  # noqa: F401
    except ImportError:
        missing("clickhouse-connect not installed: make venv-clickhouse")
    store = open_store(f"clickhouse://default:@127.0.0.1:{free_port()}/default")
    with pytest.raises(StoreUnavailable):
        store.write(agent_trace(1))
    store.close()


def test_literals_cannot_end_their_string() -> None:
    assert literal("it's \\ fine") == "'it\\'s \\\\ fine'"
    assert literal(["a", None, 2]) == "['a', NULL, 2]"


def test_odd_input_costs_only_itself(fresh_chdb_url: str) -> None:
    store = open_store(fresh_chdb_url)
    try:
        trace = agent_trace(9)
        run = trace[-1]
        odd = {**run.attributes, "otel_agent.tag.note": "quote ' back \\ nul \x00 é" + "x" * 10_000}
        bad_id = dataclasses.replace(trace[1], span_id="not-hex")
        result = store.write([*trace[:-1], dataclasses.replace(run, attributes=odd), bad_id])
        assert (result.written, result.rejected) == (len(trace), 1)
        [row] = store.list_runs(RunFilter())
        assert row["run_id"] == run_id_of(trace) and row["tags"]["note"].startswith(
            "quote ' back \\ nul \ufffd é"
        )
    finally:
        store.close()


def test_the_sink_writes_to_clickhouse_by_its_url(fresh_chdb_url: str) -> None:
    """`otel-agent sink --database-url chdb://...` (or clickhouse://): the sink's writer picks the store."""
    from otel_agent.settings import Settings
    from otel_agent.sink.store_writer import MaterialiserWriter

    writer = MaterialiserWriter(Settings(sink_database_url=fresh_chdb_url))
    writer.prepare()
    trace = agent_trace(3, fail_step=2)
    assert writer(trace).written == len(trace)
    writer.materialiser.sweep(600)
    writer.stop()
    store = open_store(fresh_chdb_url)
    try:
        [run] = store.list_runs(RunFilter())
        assert (run["run_id"], run["status"], run["llm_calls"]) == (run_id_of(trace), "succeeded", 13)
        assert [f["resolved"] for f in store.list_failures()] == [True]
    finally:
        store.close()
