"""otel-agent sink: an OTLP trace receiver (gRPC and HTTP) that materialises spans from any language.

receive -> room? -> decode (decode.py, otlp_json.py) -> journal (journal.py) -> enqueue (queue.py,
intake.py) -> materialise in batches (writer.py, store_writer.py calling the store's materialiser). The
receivers (grpc_server.py; http_app.py served by uvicorn in http_server.py) only check, decode, journal and
enqueue; service.py wires it all and cli.py is ``otel-agent sink``. docs/sink.md is the user guide.
"""

from otel_agent.sink.decode import DecodeResult, decode_request
from otel_agent.sink.otlp_json import decode_json
from otel_agent.sink.service import SinkService

__all__ = ["DecodeResult", "SinkService", "decode_json", "decode_request"]
