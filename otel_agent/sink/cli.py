"""`otel-agent sink`: run the OTLP receiver that materialises spans from any language.

    otel-agent sink [--grpc-endpoint HOST:PORT|none] [--http-endpoint HOST:PORT|none] [--database-url URL]

Every option defaults to its OTEL_AGENT_SINK_* variable (docs/sink.md). SIGTERM or SIGINT stops intake,
flushes the queue within OTEL_AGENT_SINK_SHUTDOWN_TIMEOUT and exits 0, or 1 if spans had to be lost.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from otel_agent.settings import Settings
from otel_agent.sink.service import SinkService


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `sink` on the main CLI's subparsers; the handler is stored as `func`."""
    parser = subparsers.add_parser("sink", help="receive OTLP traces (gRPC, HTTP) into the run/step tables")
    parser.add_argument("--grpc-endpoint", help="default: OTEL_AGENT_SINK_GRPC_ENDPOINT or 0.0.0.0:4317")
    parser.add_argument("--http-endpoint", help="default: OTEL_AGENT_SINK_HTTP_ENDPOINT or 0.0.0.0:4318")
    parser.add_argument(
        "--database-url", help="default: OTEL_AGENT_SINK_DATABASE_URL, OTEL_AGENT_DATABASE_URL or SQLite"
    )
    parser.set_defaults(func=run)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides = {
        "sink_grpc_endpoint": args.grpc_endpoint,
        "sink_http_endpoint": args.http_endpoint,
        "sink_database_url": args.database_url,
    }
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("otel_agent.sink").setLevel(logging.INFO)  # a service logs its start and stop
    try:
        sink = SinkService.with_store(settings_from(args))
        sink.start()
    except (OSError, RuntimeError, ValueError) as exc:  # a port in use, an unreadable certificate, ...
        print(f"otel-agent sink: cannot start: {exc}", file=sys.stderr)
        return 2
    print(f"otel-agent sink: grpc port {sink.grpc_port}, http port {sink.http_port}", flush=True)
    stopped: list[bool] = []

    def on_signal(signum: int, _frame: object) -> None:
        # Stop in another thread: the handler runs on the main thread, which must stay free to wait.
        threading.Thread(target=lambda: stopped.append(sink.stop()), name="otel-agent-sink-stop").start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sink.wait()
    return 0 if all(stopped) else 1


def main(argv: list[str] | None = None) -> int:
    """Run `otel-agent sink` on its own: python -m otel_agent.sink."""
    parser = argparse.ArgumentParser(prog="otel-agent")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sink", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))
