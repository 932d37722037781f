"""The sink service: queue, writer threads, gRPC and HTTP receivers, started and stopped together.

Every accepted request is in the journal (journal.py) before it is acknowledged; at start, what the last
process left there is replayed (replay.py). Shutdown order: stop taking new requests (gRPC lets the
in-flight ones finish within a grace period, HTTP stops accepting), close the queue, then let the writers
flush it within the shutdown budget. Spans still unwritten when the budget runs out (database down) are
counted and logged; they stay in the journal and are written after the next start.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc

from otel_agent.settings import Settings
from otel_agent.sink.grpc_server import TraceReceiver, build_grpc_server
from otel_agent.sink.http_app import HttpContext
from otel_agent.sink.http_server import SinkHttpServer
from otel_agent.sink.intake import BearerAuth, Intake
from otel_agent.sink.journal import Journal
from otel_agent.sink.metrics import SinkMetrics
from otel_agent.sink.queue import SpanQueue
from otel_agent.sink.replay import Replay
from otel_agent.sink.store_writer import MaterialiserWriter
from otel_agent.sink.writer import WriteFn, WriterPool

_log = logging.getLogger(__name__)
GRPC_GRACE_S = 5.0
DISABLED = ("none", "off", "")


@dataclass(frozen=True)
class Tls:
    """PEM certificate chain and private key, read once at start."""

    cert: bytes
    key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Tls | None:
        cert, key = settings.sink_tls_cert_file, settings.sink_tls_key_file
        if not cert and not key:
            return None
        if not (cert and key):
            raise ValueError("TLS needs both OTEL_AGENT_SINK_TLS_CERT_FILE and OTEL_AGENT_SINK_TLS_KEY_FILE")
        return cls(Path(cert).read_bytes(), Path(key).read_bytes())

    @staticmethod
    def files(settings: Settings) -> tuple[str, str]:
        return str(settings.sink_tls_cert_file), str(settings.sink_tls_key_file)


def _journal(settings: Settings) -> Journal | None:
    if settings.sink_journal_dir.lower() in DISABLED:
        return None
    max_bytes = int(settings.sink_journal_max_mb * 1024 * 1024)
    return Journal(settings.sink_journal_dir, max_bytes, fsync=settings.sink_journal_fsync)


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """ "host:port" or "[v6]:port" -> (host, port)."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"endpoint {endpoint!r} must be host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


class SinkService:
    """One otel-agent sink: build it with a write callable (the materialiser), then start() / stop()."""

    def __init__(
        self, write: WriteFn, settings: Settings | None = None, store: MaterialiserWriter | None = None
    ) -> None:
        self.settings = settings = settings or Settings.from_env()
        self.store = store
        self.queue = SpanQueue(settings.sink_queue_spans)
        self.journal = _journal(settings)
        self.metrics = SinkMetrics(lambda: self.queue.depth, settings.sink_queue_spans)
        self.writers = WriterPool(
            self.queue,
            write,
            self.metrics,
            threads=settings.sink_writers,
            batch_size=settings.sink_batch_spans,
            on_done=self.journal.done if self.journal else None,
        )
        self._intake = Intake(self.queue, self.metrics, self.journal)
        self._replay: Replay | None = None
        self._auth = BearerAuth(settings.sink_bearer_token)
        self._grpc: grpc.Server | None = None
        self._http: SinkHttpServer | None = None
        self._stopped = threading.Event()
        self.grpc_port: int | None = None
        self.http_port: int | None = None

    @classmethod
    def with_store(cls, settings: Settings | None = None) -> SinkService:
        """A sink writing through the store's Materialiser to OTEL_AGENT_SINK_DATABASE_URL."""
        settings = settings or Settings.from_env()
        store = MaterialiserWriter(settings)
        return cls(store, settings, store)

    def ready(self) -> bool:
        """Accepting and able to write: not closing, neither queue nor journal full, no write failing."""
        journal_full = self.journal is not None and self.journal.full()
        return self._intake.admit() is None and not journal_full and self.writers.healthy

    def start(self) -> None:
        tls = Tls.from_settings(self.settings)
        if self.journal is not None:
            left = self.journal.open()
            self._replay = Replay(self.journal, self.queue, left, self.settings.sink_max_request_bytes)
        if self.store is not None:
            self.store.prepare()
            self.store.start()
        self.writers.start()
        if self._replay is not None:
            self._replay.start()
        if self.settings.sink_grpc_endpoint.lower() not in DISABLED:
            self._start_grpc(tls)
        if self.settings.sink_http_endpoint.lower() not in DISABLED:
            self._start_http(tls)
        _log.info("otel-agent sink listening: grpc port %s, http port %s", self.grpc_port, self.http_port)

    def _start_grpc(self, tls: Tls | None) -> None:
        receiver = TraceReceiver(self._intake, self._auth, self.metrics, self.settings.sink_retry_after_s)
        self._grpc, self.grpc_port = build_grpc_server(
            receiver,
            self.settings.sink_grpc_endpoint,
            max_request_bytes=self.settings.sink_max_request_bytes,
            workers=self.settings.sink_grpc_workers,
            tls=(tls.cert, tls.key) if tls else None,
        )
        self._grpc.start()

    def http_context(self) -> HttpContext:
        """What the OTLP/HTTP app needs from this sink."""
        settings = self.settings
        return HttpContext(
            self._intake, self._auth, self.metrics, settings.sink_max_request_bytes,
            settings.sink_retry_after_s, self.ready,
        )  # fmt: skip

    def _start_http(self, tls: Tls | None) -> None:
        files = Tls.files(self.settings) if tls else None
        address = split_endpoint(self.settings.sink_http_endpoint)
        self._http = SinkHttpServer(address, self.http_context(), files)
        self.http_port = self._http.port
        self._http.start()

    def stop(self, timeout_s: float | None = None) -> bool:
        """Stop intake, flush the queue; True when every accepted span was written."""
        if self._stopped.is_set():
            return self.writers.lost == 0
        budget = self.settings.sink_shutdown_timeout_s if timeout_s is None else timeout_s
        if self._grpc is not None:
            self._grpc.stop(GRPC_GRACE_S).wait()
        if self._http is not None:
            self._http.stop()
        if self._replay is not None:
            self._replay.stop()
        flushed = self.writers.stop(budget)
        if self.journal is not None:
            self.journal.close()
        if self.store is not None:
            self.store.stop()
        self.metrics.shutdown()
        self._stopped.set()
        return flushed

    def wait(self) -> None:
        """Block until stop() has finished (the CLI's main thread waits here)."""
        self._stopped.wait()
