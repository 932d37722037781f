"""Cost of the genai capture, against the plain httpx instrumentation, in the same run.

The fake provider runs in a subprocess on loopback, so its CPU is not counted; CPU is this process's
time.process_time. Both set-ups have opentelemetry-instrumentation-httpx on and the same TracerProvider
(SimpleSpanProcessor + a no-op exporter, so span export cost is counted, synchronously); "ours" adds
otel_agent.genai. Rounds alternate between the two, in ABBA order so drift and "who runs second" cancel;
the median round is reported. A control row wraps Client.send in a pass-through wrapper the same way, to
show what the harness itself measures for no work (its noise floor).

Goals (issue 4): a non-streamed chat call costs at most 50 us more CPU; reading a 1 MB SSE stream costs
at most 1.05x the plain instrumented read. Issue 13 adds rows for a call to an endpoint nobody
configured (recognised by its path and body), a POST that is no LLM call (one cheap check), and the
call against no instrumentation at all (the httpx instrumentation off too).
"""

from __future__ import annotations

import functools
import gc
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_agent import genai

CALLS_PER_ROUND = 400
STREAMS_PER_ROUND = 4
ROUNDS = 9
CALL_ROUNDS = 16  # the per-call figures are a few percent of a call: more rounds for a steadier median
COUNTED_CALLS = 2000  # per child process when instructions are counted (and 3x that)
ROOT = Path(__file__).resolve().parents[1]
STREAM_BYTES = 1 << 20
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hello"}]}


class NoOpExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def start_fake(stream_bytes: int) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-m", "otel_agent.fakeprovider", "--stream-bytes", str(stream_bytes)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def cpu_per_op(work: Callable[[], None], count: int) -> float:
    gc.collect()
    start = time.process_time()
    for _ in range(count):
        work()
    return (time.process_time() - start) / count


def alternate(
    work: Callable[[], None],
    count: int,
    instrument: Callable[[], None],
    uninstrument: Callable[[], None] = genai.uninstrument,
    rounds: int = ROUNDS,
) -> tuple[float, float, float]:
    """Median CPU seconds per op over paired rounds: (plain, ours, ours - plain). Pairs run ABBA."""
    plain, ours, added = [], [], []
    for round_no in range(rounds):
        pair = {}
        for on in (False, True) if round_no % 2 == 0 else (True, False):
            (instrument if on else uninstrument)()
            pair[on] = cpu_per_op(work, count)
        plain.append(pair[False])
        ours.append(pair[True])
        added.append(pair[True] - pair[False])
    uninstrument()
    return statistics.median(plain), statistics.median(ours), statistics.median(added)


def pass_through_wrapper() -> tuple[Callable[[], None], Callable[[], None]]:
    """(install, remove) a wrapper around httpx.Client.send that only calls the original: the control."""
    original = httpx.Client.send

    @functools.wraps(original)
    def send(self: httpx.Client, request: httpx.Request, *, stream: bool = False, **kwargs: Any) -> Any:
        return original(self, request, stream=stream, **kwargs)

    return (lambda: setattr(httpx.Client, "send", send)), (lambda: setattr(httpx.Client, "send", original))


def capture_cpu(provider: TracerProvider, chat_url: str, count: int = 20_000) -> float:
    """CPU per call of the capture's own work on a real request/response pair: the floor under the figure
    above, which also carries cache and GC effects of the surrounding HTTP work."""
    from otel_agent.fakeprovider import replies
    from otel_agent.genai.capture import Capture
    from otel_agent.genai.settings import GenAISettings, normalise_base_urls

    base = chat_url.split("/openai/")[0] + "/openai"
    capture = Capture(GenAISettings(base_urls=normalise_base_urls({base: "openai"})), provider)
    request = httpx.Request("POST", chat_url, json=CHAT)
    reply = replies.openai_chat("gpt-4o")
    response = httpx.Response(200, headers=reply.headers, content=reply.body, request=request)

    def one() -> None:
        begun = capture.begin(request)
        assert begun is not None
        call = begun[0]
        call.detach(call.attach())
        call.read_whole_response(response)

    return min(cpu_per_op(one, count) for _ in range(3))


def capture_alone(url: str, rounds: int = 7, count: int = 5_000) -> None:
    """`python -m bench.bench_genai alone`: the capture's own CPU per request on real request/response
    pairs, no network (the steadiest figure on a loaded machine), for a configured endpoint, an
    unconfigured one recognised by its shape, and POSTs that are no LLM call. Rounds interleave the
    cases; the median is printed with the load average."""
    from otel_agent.fakeprovider import replies
    from otel_agent.genai.capture import Capture
    from otel_agent.genai.settings import GenAISettings, normalise_base_urls

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(NoOpExporter()))
    capture = Capture(GenAISettings(base_urls=normalise_base_urls({url + "/openai": "openai"})), provider)
    reply = replies.openai_chat("gpt-4o")

    def llm_call(path: str) -> Callable[[], None]:
        request = httpx.Request("POST", url + path, json=CHAT)
        response = httpx.Response(200, headers=reply.headers, content=reply.body, request=request)

        def one() -> None:
            begun = capture.begin(request)
            if begun is None:  # not recognised (code before issue 13, for the unconfigured endpoint)
                return
            call = begun[0]
            call.detach(call.attach())
            call.read_whole_response(response)

        return one

    def no_call(path: str, body: dict[str, Any]) -> Callable[[], None]:
        request = httpx.Request("POST", url + path, json=body)
        return lambda: capture.begin(request)  # type: ignore[func-returns-value]

    other = {"name": "x", "rows": [1, 2, 3]}
    cases = {
        "LLM call, configured endpoint": llm_call("/openai/v1/chat/completions"),
        "LLM call, unconfigured endpoint (recognised by shape)": llm_call("/gateway/v1/chat/completions"),
        "POST to another path, no LLM call": no_call("/upload", other),
        "POST to a chat-shaped path, body no LLM call": no_call("/gateway/v1/chat/completions", other),
        "GET": no_call_get(capture, url + "/openai/v1/models"),
    }
    for work in cases.values():  # warm up: price lookups, genai-prices' data, route caches
        for _ in range(200):
            work()
    results: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(rounds):
        for label, work in cases.items():
            results[label].append(cpu_per_op(work, count))
    load = os.getloadavg()[0]
    for label, per_op in results.items():
        print(f"capture work alone, {label}: {statistics.median(per_op) * 1e6:.2f} us (load {load:.1f})")


def no_call_get(capture: Any, url: str) -> Callable[[], None]:
    request = httpx.Request("GET", url)
    return lambda: capture.begin(request)  # type: ignore[no-any-return]


def instructions_per_call(
    url: str, target: str = "configured", layer: str = "httpx"
) -> tuple[float, float] | None:
    """User-space instructions per call (plain, ours), counted by `perf stat` on a child process making N
    and 3N calls (the difference cancels start-up). Unlike CPU time, it does not grow with the machine's
    load (cache misses); None when perf cannot count here. `target`: configured | unconfigured | notllm
    (see TARGETS); `layer`: httpx (its instrumentation on in both) | bare (no other instrumentation)."""
    if shutil.which("perf") is None:
        return None
    per_call = []
    for mode in ("plain", "ours"):
        spec = f"{mode}:{target}:{layer}"
        counts = [_instructions(spec, calls, url) for calls in (COUNTED_CALLS, 3 * COUNTED_CALLS)]
        if counts[0] is None or counts[1] is None:
            return None
        per_call.append((counts[1] - counts[0]) / (2 * COUNTED_CALLS))
    return per_call[0], per_call[1]


def _instructions(mode: str, calls: int, url: str) -> int | None:
    command = ["perf", "stat", "-x,", "-e", "instructions:u", "--no-inherit", sys.executable, "-m"]
    command += ["bench.bench_genai", mode, str(calls), url]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # same dict layouts in every child
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    for line in done.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
            return int(fields[0])
    return None


# What the counted calls post: (path, body, map the path's base URL to openai?)
TARGETS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "configured": ("/openai/v1/chat/completions", CHAT, True),
    "unconfigured": ("/gateway/v1/chat/completions", CHAT, False),  # recognised by its shape (issue 13)
    "notllm": ("/upload", {"name": "x", "rows": [1, 2, 3]}, False),  # no LLM call: one cheap check
}


def counted_calls(mode: str, calls: int, url: str) -> None:
    """The child of `instructions_per_call`: warm up, then `calls` posts, plain or with the capture."""
    who, target, layer = (mode.split(":") + ["configured", "httpx"])[:3]
    path, body, mapped = TARGETS[target]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(NoOpExporter()))
    if layer == "httpx":
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    if who == "ours":
        base_urls = {url + "/openai": "openai"} if mapped else None
        genai.instrument(genai.GenAISettings(), tracer_provider=provider, base_urls=base_urls)
    with httpx.Client() as client:
        for _ in range(50 + calls):
            client.post(url + path, json=body).read()


def count_only() -> None:
    """`python -m bench.bench_genai count`: the instruction counts alone (quick, and load-independent)."""
    proc, url = start_fake(STREAM_BYTES)
    try:
        for layer in ("httpx", "bare"):
            for target in TARGETS:
                counted = instructions_per_call(url, target, layer)
                if counted is None:
                    print("instructions: not counted (perf is missing or not allowed here)")
                    return
                plain, ours = counted
                where = "httpx instrumentation on" if layer == "httpx" else "no other instrumentation"
                added = (ours - plain) / 1e3
                print(
                    f"instructions per POST ({target}, {where}): without capture {plain / 1e3:.0f}k,"
                    f" with {ours / 1e3:.0f}k: {added:+.1f}k",
                    flush=True,
                )
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(NoOpExporter()))
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    proc, url = start_fake(STREAM_BYTES)
    try:
        with httpx.Client() as client:
            run(client, provider, url)
        counted = instructions_per_call(url)
        if counted is None:
            print("instructions per chat call: not counted (perf is missing or not allowed here)")
        else:
            plain, ours = counted
            print(
                f"instructions per chat call (perf stat, user space, independent of load): httpx"
                f" instrumentation only {plain / 1e3:.0f}k, with genai capture {ours / 1e3:.0f}k:"
                f" +{(ours - plain) / 1e3:.0f}k (+{(ours - plain) / plain:.1%})"
            )
    finally:
        proc.terminate()
        proc.wait()
        HTTPXClientInstrumentor().uninstrument()


def run(client: httpx.Client, provider: TracerProvider, url: str) -> None:
    chat_url = url + "/openai/v1/chat/completions"
    tracer = provider.get_tracer("bench")

    def instrument() -> None:
        genai.instrument(
            genai.GenAISettings(), tracer_provider=provider, base_urls={url + "/openai": "openai"}
        )

    def call() -> None:
        client.post(chat_url, json=CHAT).read()

    def call_in_step() -> None:
        with tracer.start_as_current_span("step"):  # LLM calls run inside an agent step in practice
            client.post(chat_url, json=CHAT).read()

    def stream(reader: str) -> Callable[[], None]:
        def read() -> None:
            with client.stream("POST", chat_url, json={**CHAT, "stream": True}) as response:
                for _ in getattr(response, reader)():
                    pass

        return read

    for _ in range(50):  # warm up connections, caches and the price lookup
        call()
    gc.freeze()  # start-up objects out of the collector's way, so GC pauses do not swamp 50 us
    for label, work in (("alone", call), ("inside a parent span", call_in_step)):
        plain, ours, added = alternate(work, CALLS_PER_ROUND, instrument, rounds=CALL_ROUNDS)
        print(
            f"chat call ({label}), CPU per call: httpx instrumentation only {plain * 1e6:.0f} us,"
            f" with genai capture {ours * 1e6:.0f} us: {added * 1e6:+.1f} us (goal <= +50 us)"
        )
    plain, ours, added = alternate(call, CALLS_PER_ROUND, *pass_through_wrapper(), rounds=CALL_ROUNDS)
    print(
        f"control: chat call with a pass-through wrapper on Client.send instead of the capture:"
        f" {plain * 1e6:.0f} us vs {ours * 1e6:.0f} us: {added * 1e6:+.1f} us (the harness's floor)"
    )
    per_call = capture_cpu(provider, chat_url)
    print(f"capture work alone per non-streamed call (span included, no network): {per_call * 1e6:.1f} us")
    detected_and_plain_posts(client, provider, url)
    for reader in ("iter_raw", "iter_lines"):
        plain, ours, _ = alternate(stream(reader), STREAMS_PER_ROUND, instrument)
        print(
            f"1 MB SSE stream read with {reader}(): plain {plain * 1e3:.2f} ms CPU, with genai capture"
            f" {ours * 1e3:.2f} ms: {ours / plain:.3f}x (goal <= 1.05x)"
        )


def detected_and_plain_posts(client: httpx.Client, provider: TracerProvider, url: str) -> None:
    """Issue 13: an unconfigured endpoint (the path's shape says chat), and a POST that is no LLM call."""

    def instrument() -> None:
        genai.instrument(genai.GenAISettings(), tracer_provider=provider)

    def detected() -> None:
        client.post(url + "/gateway/v1/chat/completions", json=CHAT).read()

    def not_llm() -> None:
        client.post(url + "/gateway/v1/chat/completions", json={"name": "x", "rows": [1, 2, 3]}).read()

    def upload() -> None:
        client.post(url + "/upload", json={"name": "x", "rows": [1, 2, 3]}).read()

    rows = (
        ("chat call to an unconfigured endpoint (recognised by shape)", detected),
        ("POST to a chat-shaped path whose body is no LLM call", not_llm),
        ("POST to another path (no LLM call)", upload),
    )
    for label, work in rows:
        plain, ours, added = alternate(work, CALLS_PER_ROUND, instrument, rounds=CALL_ROUNDS)
        print(f"{label}: {plain * 1e6:.0f} us vs {ours * 1e6:.0f} us: {added * 1e6:+.1f} us (goal <= +50 us)")
    chat_url = url + "/openai/v1/chat/completions"

    def configured() -> None:
        client.post(chat_url, json=CHAT).read()

    HTTPXClientInstrumentor().uninstrument()
    try:
        for label, work in (("configured", configured), ("unconfigured", detected)):
            plain, ours, added = alternate(
                work, CALLS_PER_ROUND, instrument_with_map(provider, url), rounds=CALL_ROUNDS
            )
            print(
                f"chat call ({label} endpoint) against no instrumentation at all: {plain * 1e6:.0f} us vs"
                f" {ours * 1e6:.0f} us with genai capture: {added * 1e6:+.1f} us (goal <= +50 us)"
            )
    finally:
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)


def instrument_with_map(provider: TracerProvider, url: str) -> Callable[[], None]:
    def instrument() -> None:
        genai.instrument(
            genai.GenAISettings(), tracer_provider=provider, base_urls={url + "/openai": "openai"}
        )

    return instrument


if __name__ == "__main__":
    if (
        len(sys.argv) == 4
    ):  # python -m bench.bench_genai plain|ours[:TARGET:LAYER] CALLS URL: the counted child
        counted_calls(sys.argv[1], int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1:] == ["count"]:
        count_only()
    elif sys.argv[1:] == ["alone"]:
        capture_alone("http://127.0.0.1:8765")
    else:
        main()
