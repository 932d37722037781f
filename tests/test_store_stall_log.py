"""A sweep that marks a run stalled logs otel_agent.run.stalled once, with the run's ids and attribution."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from otel_agent import attributes as A
from otel_agent.logs.events import LOGGER_NAME
from otel_agent.logs.stamp import SPAN_ID, TRACE_ID, install_record_factory, uninstall_record_factory
from otel_agent.store import Materialiser, make_engine, upgrade
from tests.test_store import marker
from tests.test_store_traces import agent_trace


def test_a_stall_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/s.db")
    upgrade(engine)
    store = Materialiser(engine)
    trace = agent_trace(4, with_markers=False)
    run = trace[-1]
    store.write([marker(run, A.MARKER_RUN_START, run.start_time_unix_nano)] + trace[:5])
    started = datetime.fromtimestamp(run.start_time_unix_nano / 1e9, timezone.utc)
    install_record_factory()  # stamps trace/span ids and attribution, as otel_agent.instrument() does
    try:
        with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
            assert store.sweep(600, now=started + timedelta(seconds=599)) == []
            assert store.sweep(600, now=started + timedelta(seconds=601)) == [run.span_id]
            assert store.sweep(600, now=started + timedelta(seconds=700)) == []  # stalled already: no log
    finally:
        uninstall_record_factory()
    (record,) = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert record.levelno == logging.ERROR
    assert record.__dict__[A.EVENT_NAME] == "otel_agent.run.stalled"
    assert record.__dict__[A.ERROR_CATEGORY] == "stalled"
    assert "run stalled" in record.getMessage() and "600 s" in record.getMessage()
    stamped = record.__dict__
    assert (stamped[TRACE_ID], stamped[SPAN_ID]) == (run.trace_id, run.span_id)
    assert (stamped[A.PROJECT], stamped[A.RUN_ID]) == ("books", run.span_id)
    engine.dispose()
