"""A loopback OTLP/HTTP receiver for tests and benchmarks: no collector needed to check what
an exporter really sends (decode the bodies with ``opentelemetry-proto``)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OtlpReceiver:
    """A loopback OTLP/HTTP receiver (plain ``http.server`` in a thread): keeps each POSTed
    body by path (``/v1/traces``, ``/v1/metrics``) and answers 200 like a collector."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {}
        self.content_types: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.bodies.setdefault(self.path, []).append(body)
                receiver.content_types.add(self.headers.get("Content-Type", ""))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the test asserts what arrived

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
