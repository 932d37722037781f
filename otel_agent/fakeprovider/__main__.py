"""Run the fake provider on its own (flags: --port N, --latency-ms N, --stream-bytes N).

Prints its base URL on the first line, then serves until interrupted.
"""

from __future__ import annotations

import argparse
import threading

from otel_agent.fakeprovider.server import FakeProvider


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m otel_agent.fakeprovider")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each response")
    parser.add_argument("--stream-bytes", type=int, default=0, help="pad streamed replies to about this size")
    args = parser.parse_args(argv)
    fake = FakeProvider(args.port, args.latency_ms / 1000.0, args.stream_bytes).start()
    print(fake.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
