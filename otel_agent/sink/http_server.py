"""Serving the OTLP/HTTP app (http_app.py) with uvicorn on a thread of its own.

uvicorn does the HTTP/1.1 work (parsing, chunked transfer, keep-alive, TLS, connection limits) on an
asyncio event loop; asyncio sets TCP_NODELAY on every connection, so a keep-alive client never waits on
Nagle and delayed ACKs. The listening socket is bound here, before the thread starts, so a port in use
is an error of ``start`` (the CLI exits 2) and port 0 gives the real port at once.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from otel_agent.sink.http_app import HttpContext, build_app

_log = logging.getLogger(__name__)
MAX_CONNECTIONS = 256  # open connections plus requests in progress; beyond, uvicorn answers 503
KEEP_ALIVE_S = 60  # an idle keep-alive connection is closed after this long
START_TIMEOUT_S = 30.0


def listening_socket(address: tuple[str, int]) -> socket.socket:
    """A TCP listening socket whose protocol number says TCP: asyncio sets TCP_NODELAY only on sockets
    that say so (socket.create_server leaves it 0, and then every response waits on Nagle)."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


class SinkHttpServer:
    """uvicorn serving the sink's ASGI app on ``address``; start() returns once it listens."""

    def __init__(
        self,
        address: tuple[str, int],
        context: HttpContext,
        tls: tuple[str, str] | None = None,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.app = build_app(context)
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="error",  # not one warning per refused connection in a flood
            access_log=False,
            server_header=False,
            limit_concurrency=max_connections,
            timeout_keep_alive=KEEP_ALIVE_S,
            timeout_graceful_shutdown=5,
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
        )
        self._server = uvicorn.Server(config)
        self._socket = listening_socket(address)
        self.port: int = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="otel-agent-sink-http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError("the sink's HTTP server did not start")

    def connections(self) -> list[Any]:
        """uvicorn's protocol objects of the open connections (tests read their sockets)."""
        return list(self._server.server_state.connections)

    def _serve(self) -> None:
        self._server.run(sockets=[self._socket])

    def stop(self) -> None:
        """Stop accepting, let requests in progress finish (a few seconds at most), close."""
        self._server.should_exit = True
        self._thread.join(15)
        self.app.state.receiver.close()
        self._socket.close()
