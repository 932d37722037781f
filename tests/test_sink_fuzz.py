"""Hostile input against a real sink process: over 20,000 malformed or edge OTLP requests (HTTP and gRPC).

Bounded and seeded (reproducible): every request must get an answer that is not a server error (no 5xx,
no INTERNAL/UNKNOWN), no connection may be dropped without an answer, the sink's memory may not grow
past 40 MiB over the run, and the valid spans mixed into bad requests must all reach the database.
"""

from __future__ import annotations

import gzip
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import sqlalchemy as sa

from otel_agent.store import models as M
from tests.sink_support import SinkProcess, pb_request, pb_span, wait_until

HTTP_REQUESTS = 16_000
GRPC_REQUESTS = 5_000
RAW_REQUESTS = 400  # malformed HTTP framing, one connection each
CLIENTS = 4
MAX_BYTES = 1024 * 1024  # the sink's request limit in this test: huge bodies are cheap to send
RSS_GROWTH_KIB = 40 * 1024
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SERVER_ERRORS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
JSON_H = {"Content-Type": "application/json"}
PB_H = {"Content-Type": "application/x-protobuf"}
NASTY = [1, -1, "x", "\ud800", [], {}, [[]], None, True, 1e308, "0" * 5000, {"a": [1]}, [1], ["x"]]


class Tally:
    """What the clients saw, from several threads."""

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.failures: list[str] = []
        self.valid_ids: set[str] = set()
        self.sent = 0
        self._lock = threading.Lock()

    def saw(self, status: str, bad: bool, what: str, valid: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        with self._lock:
            self.sent += 1
            self.statuses[status] += 1
            if bad and len(self.failures) < 20:
                self.failures.append(f"{status}: {what[:200]}")
            elif bad:
                self.failures.append("")
            self.valid_ids |= valid


def agent_span(rng: random.Random) -> dict[str, Any]:
    """A valid OTLP/JSON span that is an agent run (so it has a row of its own in otel_runs)."""
    span_id = f"{rng.getrandbits(64) | 1:016x}"
    return {
        "traceId": f"{rng.getrandbits(128) | 1:032x}",
        "spanId": span_id,
        "name": "invoke_agent fuzz",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000000000001",
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}}],
    }


def mutate(node: Any, rng: random.Random, depth: int = 0) -> Any:
    """The document with one randomly chosen node replaced by something hostile."""
    if depth > 6 or rng.random() < 0.25:
        return rng.choice(NASTY)
    if isinstance(node, dict) and node:
        key = rng.choice(sorted(node))
        return {**node, key: mutate(node[key], rng, depth + 1)}
    if isinstance(node, list) and node:
        index = rng.randrange(len(node))
        return node[:index] + [mutate(node[index], rng, depth + 1)] + node[index + 1 :]
    return rng.choice(NASTY)


def json_case(rng: random.Random) -> tuple[bytes, dict[str, str], set[str]]:
    good = agent_span(rng)
    document = {
        "resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [agent_span(rng)]}]}]
    }
    bad = mutate(document, rng)
    if rng.random() < 0.4:  # a mixed request: one bad span beside a good one; the good one must be kept
        spans = [good, mutate(agent_span(rng), rng)]
        bad = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
        text = json.dumps(bad, allow_nan=True)
        return text.encode("utf-8", "surrogatepass"), JSON_H, {good["spanId"]}
    text = json.dumps(bad, allow_nan=True)
    if rng.random() < 0.1:
        text = text[: rng.randrange(len(text))]  # truncated
    return text.encode("utf-8", "surrogatepass"), JSON_H, set()


def protobuf_case(rng: random.Random) -> tuple[bytes, dict[str, str], set[str]]:
    body = bytearray(pb_request([pb_span(rng.randrange(1, 1 << 30)) for _ in range(3)]).SerializeToString())
    choice = rng.random()
    if choice < 0.4:
        return bytes(body[: rng.randrange(1, len(body))]), PB_H, set()  # truncated
    if choice < 0.8:
        for _ in range(rng.randrange(1, 8)):
            body[rng.randrange(len(body))] = rng.randrange(256)  # flipped bytes
        return bytes(body), PB_H, set()
    return rng.randbytes(rng.randrange(1, 2000)), PB_H, set()


def envelope_case(rng: random.Random) -> tuple[bytes, dict[str, str], set[str]]:
    """Wrong content types and encodings, gzip bombs and damage, bodies past the limit."""
    valid = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [agent_span(rng)]}]}]}).encode()
    cases: list[Callable[[], tuple[bytes, dict[str, str]]]] = [
        lambda: (valid, {"Content-Type": rng.choice(["text/plain", "application/xml", "", "json", "*/*"])}),
        lambda: (valid, {**JSON_H, "Content-Encoding": rng.choice(["br", "deflate", "zstd", "gzip, gzip"])}),
        lambda: (gzip.compress(valid)[: rng.randrange(1, 30)], {**JSON_H, "Content-Encoding": "gzip"}),
        lambda: (rng.randbytes(100), {**PB_H, "Content-Encoding": "gzip"}),
        lambda: (BOMB, {**PB_H, "Content-Encoding": "gzip"}),
        lambda: (b"\x00" * (MAX_BYTES + 1), PB_H),
        lambda: (b"{" * 50_000, JSON_H),
        lambda: (
            b'{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"\\ud800"}}]}}]}',
            JSON_H,
        ),  # fmt: skip
    ]
    weights = [1, 1, 1, 1, 0.05, 0.02, 0.2, 1]
    body, headers = rng.choices(cases, weights)[0]()
    return body, headers, set()


BOMB = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)  # 64 MiB of zeros in ~64 KiB


def http_cases(seed: int, count: int) -> Iterator[tuple[bytes, dict[str, str], set[str]]]:
    rng = random.Random(seed)
    makers = [json_case, protobuf_case, envelope_case]
    for _ in range(count):
        yield rng.choices(makers, [5, 3, 1])[0](rng)


def http_client(sink: SinkProcess, seed: int, count: int, tally: Tally) -> None:
    with httpx.Client(base_url=sink.url, timeout=30) as client:
        for body, headers, valid in http_cases(seed, count):
            try:
                response = client.post("/v1/traces", content=body, headers=headers)
            except httpx.TransportError as exc:
                tally.saw("dropped", True, f"{exc!r} for {body[:80]!r} {headers}")
                continue
            code = response.status_code
            accepted = code == 200 and valid
            tally.saw(str(code), code >= 500, f"{body[:120]!r} {headers}", valid if accepted else set())


HEAD = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
CHUNKED = HEAD + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
RAW = [
    CHUNKED + b"-1\r\n" + b"a" * 4096 + b"\r\n0\r\n\r\n",  # the chunk size that bypassed the limit
    CHUNKED + b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
    CHUNKED + b"zz\r\nabc\r\n0\r\n\r\n",
    CHUNKED + b"1\r\na\r\n" * 2000 + b"0\r\n\r\n",
    HEAD + b"Content-Type: application/json\r\nContent-Length: -5\r\n\r\n{}",
    HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
    HEAD + b"Content-Type: application/json\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
    HEAD + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    HEAD + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    HEAD + b"Bad Header\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"POST /v1/traces HTTP/9.9\r\n\r\n",
    b"POST /v1/tr\x00aces HTTP/1.1\r\nHost: x\r\n\r\n",
]


def raw_client(sink: SinkProcess, tally: Tally) -> None:
    """Malformed HTTP framing on fresh connections: each must be answered (a 4xx), never dropped."""
    for n in range(RAW_REQUESTS):
        request = RAW[n % len(RAW)]
        with socket.create_connection(("127.0.0.1", sink.http_port), timeout=30) as conn:
            try:
                conn.sendall(request)
                conn.shutdown(socket.SHUT_WR)
                reply = conn.recv(64)
            except OSError as exc:
                reply = repr(exc).encode()
        status = reply[9:12].decode("latin-1") if reply.startswith(b"HTTP/1.1 ") else "dropped"
        tally.saw(status, status == "dropped" or status.startswith("5"), f"{request[:100]!r} -> {reply!r}")


def grpc_client(sink: SinkProcess, seed: int, count: int, tally: Tally) -> None:
    rng = random.Random(seed)
    with grpc.insecure_channel(f"127.0.0.1:{sink.grpc_port}") as channel:
        export = channel.unary_unary(EXPORT)
        for _ in range(count):
            body, valid = grpc_case(rng)
            try:
                export(body, timeout=30)
                tally.saw("OK", False, "", valid)
            except grpc.RpcError as exc:
                code = exc.code()  # type: ignore[attr-defined]
                bad = code in SERVER_ERRORS or code == grpc.StatusCode.UNAVAILABLE
                tally.saw(code.name, bad, f"{exc.details()} for {body[:80]!r}")  # type: ignore[attr-defined]


def grpc_case(rng: random.Random) -> tuple[bytes, set[str]]:
    if rng.random() < 0.3:  # mixed: a valid run span and invalid ones in one request
        good = pb_span(1, span_id=rng.getrandbits(63).to_bytes(8, "big"), trace_id=rng.randbytes(16))
        good.attributes.add(key="gen_ai.operation.name").value.string_value = "invoke_agent"
        bad = [pb_span(2, trace_id=b"\x01"), pb_span(3, kind=99), pb_span(4, start_time_unix_nano=0)]
        request = pb_request([good, *rng.sample(bad, 2)])
        return request.SerializeToString(), {good.span_id.hex()}
    body = protobuf_case(rng)[0]
    if rng.random() < 0.01:
        body = rng.randbytes(MAX_BYTES + 10)  # past the limit: RESOURCE_EXHAUSTED from gRPC itself
    return body, set()


def run_clients(jobs: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)


def stored_run_ids(url: str) -> set[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = set(conn.scalars(sa.select(M.runs.c.run_id)))
    engine.dispose()
    return found


@pytest.mark.parametrize("seed", [20_240])
def test_twenty_thousand_hostile_requests(tmp_path: Path, seed: int) -> None:
    url = f"sqlite:///{tmp_path}/fuzz.db"
    sink = SinkProcess(url, tmp_path, max_request_bytes=str(MAX_BYTES))
    started = time.monotonic()
    tally = Tally()
    growth = 0
    try:
        per = HTTP_REQUESTS // CLIENTS // 8
        run_clients([lambda k=k: http_client(sink, seed + k, per, tally) for k in range(CLIENTS)])  # warm-up
        before = sink.rss_kib()
        http = [lambda k=k: http_client(sink, seed + 100 + k, HTTP_REQUESTS // CLIENTS - per, tally)
                for k in range(CLIENTS)]  # fmt: skip
        grpcs = [lambda k=k: grpc_client(sink, seed + 200 + k, GRPC_REQUESTS // 2, tally) for k in range(2)]
        run_clients([*http, *grpcs, lambda: raw_client(sink, tally)])
        growth = sink.rss_kib() - before
        assert wait_until(lambda: tally.valid_ids <= stored_run_ids(url), 120)
        assert httpx.get(f"{sink.url}/healthz", timeout=10).status_code == 200
    finally:
        code = sink.stop()
    print(
        f"{tally.sent} requests in {time.monotonic() - started:.0f} s: {dict(tally.statuses)}; "
        f"RSS growth {growth / 1024:.1f} MiB; {len(tally.valid_ids)} valid spans in mixed requests"
    )
    assert tally.sent >= 20_000
    assert not tally.failures, tally.failures[:20]
    assert growth < RSS_GROWTH_KIB
    assert tally.valid_ids and tally.valid_ids <= stored_run_ids(url)
    assert code == 0
