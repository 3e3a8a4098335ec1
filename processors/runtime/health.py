"""``/healthz``, ``/readyz`` and ``/metrics`` over plain HTTP, for Kubernetes probes and Prometheus.

- ``/healthz`` (liveness): 200 while the daemon's loop calls :meth:`HealthServer.heartbeat`
  often enough; 503 once it has been silent for ``stale_after`` seconds (a stuck loop should be
  restarted, a slow agent run should not, so keep ``stale_after`` well above a poll interval),
  and 503 while the loop turns but makes no progress (:meth:`HealthServer.watch`: e.g.
  :meth:`~processors.runtime.runner.Runner.stalled`, partitions with lag and nothing consumed
  or finished for its bound), with the reason in the body.
- ``/readyz`` (readiness): 200 once :meth:`RuntimeMetrics.set_ready` said ``True`` (partitions
  assigned, consumer caught up), 503 before and after it is set back to ``False``.
- ``/metrics``: :meth:`RuntimeMetrics.render_prometheus`.
- ``/progress``: JSON, where each in-flight event is (stage, since when, model calls and
  tokens so far; :meth:`processors.telemetry.progress.ProgressTracker.snapshot`) plus the
  ``daemon``; 404 when the server was made without a ``progress`` source.

The server is the stdlib ``ThreadingHTTPServer`` on a daemon thread: no dependency, and a
scrape never blocks the consume loop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from processors.errors import ConfigError
from processors.runtime.metrics import RuntimeMetrics

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
log = logging.getLogger(__name__)


class HealthServer:
    """Serves the probes and metrics of one daemon process. ``port=0`` picks a free port;
    ``progress`` (e.g. a :class:`~processors.telemetry.progress.ProgressTracker`'s
    ``snapshot``) is what ``/progress`` serves."""

    def __init__(
        self,
        metrics: RuntimeMetrics,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stale_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        progress: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.metrics = metrics
        self.progress = progress
        self._stalled: Callable[[], str | None] = lambda: None
        self.host = host
        self.port = port
        self.stale_after = stale_after
        self._clock = clock
        self._last_beat = clock()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- what the runtime calls ---------------------------------------------------------

    def heartbeat(self) -> None:
        """The loop is alive. Call once per loop turn; cheap."""
        with self._lock:
            self._last_beat = self._clock()

    def watch(self, stalled: Callable[[], str | None]) -> None:
        """Let liveness also ask ``stalled`` (a reason when the loop makes no progress)."""
        self._stalled = stalled

    @property
    def alive(self) -> bool:
        """A heartbeat came within ``stale_after`` seconds (starting counts as one)."""
        with self._lock:
            return self._clock() - self._last_beat <= self.stale_after

    def seconds_since_heartbeat(self) -> float:
        with self._lock:
            return self._clock() - self._last_beat

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> HealthServer:
        """Bind and serve on a daemon thread. Starting counts as a heartbeat."""
        if self._server is not None:
            return self
        try:
            server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        except OSError as exc:
            raise ConfigError(f"health server: cannot bind {self.host}:{self.port}: {exc}") from exc
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self.heartbeat()
        self._thread = threading.Thread(
            target=server.serve_forever, name=f"health-{self.metrics.daemon}", daemon=True
        )
        self._thread.start()
        log.info("health and metrics on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port. Safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def url(self) -> str:
        """``http://host:port`` (the bound port once started)."""
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- responses ----------------------------------------------------------------------

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for ``path`` (pure: the handler only writes them)."""
        route = path.split("?", 1)[0]
        if route == "/healthz":
            if not self.alive:
                silent = self.seconds_since_heartbeat()
                body = f"no heartbeat for {silent:.0f}s\n"
                return 503, "text/plain; charset=utf-8", body.encode()
            stalled = self._stalled()
            if stalled is not None:
                return 503, "text/plain; charset=utf-8", f"stalled: {stalled}\n".encode()
            return 200, "text/plain; charset=utf-8", b"ok\n"
        if route == "/readyz":
            if self.metrics.ready:
                return 200, "text/plain; charset=utf-8", b"ready\n"
            return 503, "text/plain; charset=utf-8", b"not ready\n"
        if route == "/metrics":
            return 200, PROMETHEUS_CONTENT_TYPE, self.metrics.render_prometheus().encode()
        if route == "/progress" and self.progress is not None:
            body = json.dumps({"daemon": self.metrics.daemon, **self.progress()})
            return 200, "application/json", body.encode()
        return 404, "text/plain; charset=utf-8", b"not found\n"


def _handler_for(health: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "process-daemons"

        def do_GET(self) -> None:
            self._send(include_body=True)

        def do_HEAD(self) -> None:
            self._send(include_body=False)

        def _send(self, *, include_body: bool) -> None:
            status, content_type, body = health.respond(self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if include_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return Handler
