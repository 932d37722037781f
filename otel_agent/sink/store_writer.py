"""The sink's write callable: the store's Materialiser (the same code path as the SQL exporter).

It also runs the store's sweep now and then (stalled runs, late orphans), as the SQL exporter does;
with several sinks on one database each sweeps, which is safe because the sweep is idempotent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from opentelemetry.instrumentation.utils import suppress_instrumentation

from otel_agent.record import SpanRecord
from otel_agent.settings import Settings
from otel_agent.sink.ratelog import RateLimitedLog
from otel_agent.store.content import ContentPolicy
from otel_agent.store.engine import make_engine
from otel_agent.store.materialiser import Materialiser, WriteResult
from otel_agent.store.migrate import is_current, upgrade

_log = logging.getLogger(__name__)
SWEEP_INTERVAL_S = 60.0


class MaterialiserWriter:
    """Callable(batch) -> WriteResult, plus a background sweep thread (start/stop)."""

    def __init__(self, settings: Settings, sweep_interval_s: float = SWEEP_INTERVAL_S) -> None:
        url = settings.sink_database_url or settings.database_url
        self.materialiser = Materialiser(make_engine(url), ContentPolicy.from_settings(settings))
        self._stall_after_s = settings.stall_after_s
        self._interval_s = sweep_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sweep_loop, name="otel-agent-sink-sweep", daemon=True)
        self._ratelog = RateLimitedLog(_log, 300.0)

    def __call__(self, batch: Sequence[SpanRecord]) -> WriteResult:
        return self.materialiser.write(batch)

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
