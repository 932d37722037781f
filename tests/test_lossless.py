"""Nothing is lost between span end and the tables (exporters/lossless.py): spans ending much faster than
the store writes, a store that hangs (a real PostgreSQL lock), and the hard bound (a full spool)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from otel_agent.metrics.pipeline import dropped_totals
from tests.lossless_support import CALLS_PER_RUN, INPUT_TOKENS, Pipeline, pipeline, produce_runs, stored


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 1e6


def _finish(p: Pipeline) -> None:
    assert p.provider.force_flush(60_000)
    p.provider.shutdown()


def test_5000_runs_through_a_tiny_queue_are_all_stored_in_bounded_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="otel_agent.runs")  # pytest would keep 10,000 run-event records
    url = f"sqlite:///{tmp_path}/runs.db"
    # 20,000 spans (run, run.start marker, 2 calls) through a queue of 256: the stock processor drops most.
    p = pipeline(url, tmp_path / "spool", queue=256, batch=128)
    produce_runs(1000)
    rss_at_1000 = _rss_mb()
    produce_runs(4000)
    grown_mb = _rss_mb() - rss_at_1000
    _finish(p)
    got = stored(url)
    assert (got.runs, got.llm_calls, got.run_llm_calls) == (5000, 5000 * CALLS_PER_RUN, 5000 * CALLS_PER_RUN)
    assert got.input_tokens == 5000 * CALLS_PER_RUN * INPUT_TOKENS
    assert p.lossless.waits > 0  # the queue did fill: backpressure, not luck, kept every span
    # Holding the 16,000 spans of the last 4,000 runs would take tens of MB; the queue holds 256.
    assert grown_mb < 16, f"RSS grew {grown_mb:.1f} MB over 4,000 runs"


@contextmanager
def _table_locked(url: str) -> Iterator[None]:
    """Another session holds an exclusive lock on the runs table: the exporter's writes hang on it."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("LOCK TABLE otel_runs IN ACCESS EXCLUSIVE MODE"))
            yield
            conn.rollback()
    finally:
        engine.dispose()


def _produce_until(p: Pipeline, done: object, most_runs: int = 20_000) -> int:
    produced = 0
    while produced < most_runs and not done():  # type: ignore[operator]
        produce_runs(50)
        produced += 50
    return produced


def test_a_hung_database_sends_spans_to_the_spool_then_all_are_stored(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    p = pipeline(fresh_postgres_url, tmp_path / "spool", queue=256, batch=128, max_wait_s="0.05")
    produce_runs(10)
    assert p.provider.force_flush(60_000)  # the schema exists, so the lock below can be taken
    with _table_locked(fresh_postgres_url):
        produced = 10 + _produce_until(p, lambda: p.lossless.spilled > 0)
        assert p.lossless.spilled > 0, "the application never stopped waiting for the hung store"
        produce_runs(100)  # while congested: more spans go straight to the spool
        produced += 100
    _finish(p)
    got = stored(fresh_postgres_url)
    assert (got.runs, got.llm_calls) == (produced, produced * CALLS_PER_RUN)
    assert p.exporter.spool.pending() == 0  # every spilled batch was replayed


def test_a_full_spool_is_the_hard_bound_counted_and_logged_once(
    fresh_postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = pipeline(
        fresh_postgres_url, tmp_path / "spool", queue=64, batch=32, max_wait_s="0.05", spool_max_mb=0.05
    )
    produce_runs(5)
    assert p.provider.force_flush(60_000)
    before = dropped_totals().get("spool", 0)
    with caplog.at_level(logging.WARNING, logger="otel_agent"), _table_locked(fresh_postgres_url):
        _produce_until(p, lambda: dropped_totals().get("spool", 0) > before + 100)
    dropped = dropped_totals().get("spool", 0) - before
    _finish(p)
    assert dropped > 100
    refusals = [r for r in caplog.records if "spool dropped" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]
    assert stored(fresh_postgres_url).runs >= 5
