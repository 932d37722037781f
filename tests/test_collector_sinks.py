"""N sinks behind one gateway (collector-config/gateway-sinks.yaml over gateway.yaml): each trace is
routed by trace id to one sink, whole, and the sinks share the load."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from tests.services import ServiceProcess
from tests.stack_support import (
    GATEWAY_CONFIG,
    GatewayCollector,
    RecordingHttpBackend,
    RecordingTraceBackend,
    collector_binary,
    wait_until,
)
from tests.test_collector_loadbalancing import SPANS_PER_TRACE, TRACES, send_traces

pytestmark = pytest.mark.collector
OVERLAY = GATEWAY_CONFIG.with_name("gateway-sinks.yaml")


def test_each_trace_lands_whole_on_one_of_several_sinks(tmp_path: Path) -> None:
    http, tempo = RecordingHttpBackend(), RecordingTraceBackend()
    sinks = [RecordingTraceBackend() for _ in range(3)]
    for backend in (tempo, *sinks):
        backend.start()
    hostnames = "[" + ", ".join(s.endpoint for s in sinks) + "]"
    gateway = GatewayCollector(
        tempo.endpoint,
        "unused:4317",
        http.url,
        f"{http.url}/api/v1/write",
        tmp_path,
        extra_env={"OTEL_AGENT_SINKS": hostnames},
    )
    process = gateway.process
    gateway.process = ServiceProcess(
        [collector_binary(), f"--config={GATEWAY_CONFIG}", f"--config={OVERLAY}"],
        process.env,
        process.log_path,
        process.ready_url,
    )
    try:
        gateway.process.start()
        sent = send_traces(f"127.0.0.1:{gateway.ports['grpc']}")
        total = TRACES * SPANS_PER_TRACE
        assert wait_until(lambda: sum(len(s.snapshot()) for s in sinks) >= total, 30), (
            gateway.process.log_tail()
        )
    finally:
        gateway.process.stop()
        for backend in (tempo, *sinks):
            backend.stop()
        http.close()
    sinks_of: dict[str, set[int]] = defaultdict(set)
    for index, sink in enumerate(sinks):
        for span in sink.snapshot():
            sinks_of[span.trace_id].add(index)
    assert set(sinks_of) == sent
    assert not [t for t, seen in sinks_of.items() if len(seen) > 1], "a trace was split across sinks"
    assert all(any(i in seen for seen in sinks_of.values()) for i in range(3)), "a sink got nothing"
