"""The sink's write callable: the store's Materialiser (the same code path as the SQL exporter).

The seam is: decoded records -> (agent spans only, agent_spans.py) -> materialiser write. It also runs
the store's sweep now and then (stalled runs, late orphans), as the SQL exporter does; with several sinks
on one database each sweeps, which is safe because the sweep is idempotent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from opentelemetry.instrumentation.utils import suppress_instrumentation

from otel_agent.pricing import PriceBook
from otel_agent.record import SpanRecord
from otel_agent.record_enrich import RecordEnricher
from otel_agent.settings import Settings
from otel_agent.sink.agent_spans import agent_spans
from otel_agent.sink.ratelog import RateLimitedLog
from otel_agent.store import models as M
from otel_agent.store.content import ContentPolicy
from otel_agent.store.engine import make_engine
from otel_agent.store.materialiser import Materialiser, WriteResult
from otel_agent.store.migrate import is_current, upgrade
from otel_agent.store.sqlparts import one_of

_log = logging.getLogger(__name__)
SWEEP_INTERVAL_S = 60.0
_CHUNK = 500  # trace ids per IN (...) list


@dataclass(frozen=True)
class SinkWriteResult:
    """The materialiser's WriteResult plus the spans skipped as belonging to no agent run."""

    written: int
    rejected: int
    skipped: int


class MaterialiserWriter:
    """Callable(batch) -> WriteResult, plus a background sweep thread (start/stop)."""

    def __init__(self, settings: Settings, sweep_interval_s: float = SWEEP_INTERVAL_S) -> None:
        url = settings.sink_database_url or settings.database_url
        enricher = RecordEnricher(PriceBook(settings.price_file))  # pricing as in-process: same price file
        self.materialiser = Materialiser(
            make_engine(url), ContentPolicy.from_settings(settings), enricher=enricher
        )
        self._keep_all = settings.sink_keep_non_agent_spans
        self._stall_after_s = settings.stall_after_s
        self._interval_s = sweep_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sweep_loop, name="otel-agent-sink-sweep", daemon=True)
        self._ratelog = RateLimitedLog(_log, 300.0)

    def __call__(self, batch: Sequence[SpanRecord]) -> SinkWriteResult:
        records = batch if self._keep_all else agent_spans(batch, self._traces_with_runs)
        result: WriteResult = self.materialiser.write(records)
        return SinkWriteResult(result.written, result.rejected, len(batch) - len(records))

    def _traces_with_runs(self, trace_ids: set[str]) -> set[str]:
        runs = M.runs.c
        found: set[str] = set()
        ordered = sorted(trace_ids)
        self.materialiser._ensure_schema()  # the first write of a fresh database creates the tables
        with self.materialiser.engine.connect() as conn:
            for i in range(0, len(ordered), _CHUNK):
                chunk = ordered[i : i + _CHUNK]
                query = sa.select(runs.trace_id).where(one_of(conn, runs.trace_id, chunk)).distinct()
                found.update(conn.scalars(query))
        return found

    def prepare(self) -> None:
        """Create or upgrade the schema now, so a sink starts ready; if the database is down, the
        writers retry and the first successful write upgrades it instead."""
        try:
            if not is_current(self.materialiser.engine):
                upgrade(self.materialiser.engine)
        except Exception as exc:
            _log.warning("otel-agent sink: could not prepare the database yet: %r", exc)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.materialiser.engine.dispose()

    def _sweep_loop(self) -> None:
        with suppress_instrumentation():
            while not self._stop.wait(self._interval_s):
                try:
                    self.materialiser.sweep(self._stall_after_s)
                except Exception as exc:  # the database may be down; the next sweep tries again
                    self._ratelog.log(logging.WARNING, "sweep", "store sweep failed: %r", exc)
