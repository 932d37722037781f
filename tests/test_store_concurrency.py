"""Two processes writing halves of the same traces at once give the rows one process would."""

from __future__ import annotations

import multiprocessing
import random
from typing import Any

import pytest

from otel_agent.store import Materialiser, make_engine
from tests.test_store import _materialised, dump
from tests.test_store_traces import agent_trace, strip_run_ids


def _records(foreign: bool) -> list[Any]:
    traces = [agent_trace(seed, steps=12, fail_step=seed % 4 or None) for seed in range(12)]
    return [r for t in traces for r in (strip_run_ids(t) if foreign else t)]


def _writer(url: str, part: int, foreign: bool, start: Any) -> None:
    records = _records(foreign)
    rng = random.Random(part)
    mine = [r for i, r in enumerate(records) if i % 2 == part]
    rng.shuffle(mine)
    store = Materialiser(make_engine(url))
    start.wait(30)
    for i in range(0, len(mine), 9):
        store.write(mine[i : i + 9])
    store.sweep(stall_after_s=10**9)  # links orphans whose parent the other process wrote meanwhile


@pytest.mark.parametrize("foreign", [False, True], ids=["with-run-ids", "parent-links-only"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_processes(backend: str, foreign: bool, tmp_path: Any, request: pytest.FixtureRequest) -> None:
    url = (
        f"sqlite:///{tmp_path}/two.db"
        if backend == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    Materialiser(make_engine(url)).write([])  # schema first, as `otel-agent db upgrade` would
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_writer, args=(url, part, foreign, start)) for part in (0, 1)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    expected = _materialised(f"sqlite:///{tmp_path}/one.db", [_records(foreign)])
    engine = make_engine(url)
    try:
        assert dump(engine) == expected
    finally:
        engine.dispose()
