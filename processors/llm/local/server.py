"""A small OpenAI-compatible HTTP server in front of a :class:`ChatEngine`.

    GET  /health                → {"status": "ok", "rates": {...}} (measured token rates)
    GET  /v1/models             → the one served model
    POST /v1/chat/completions   → tools, tool_choice and json_schema response_format;
                                  ``cache_prefix`` (ours): how many leading messages are
                                  the daemon's and tenant's part, kept in a slot of their own

Tool calls are produced by constraining generation with a schema union (see
:mod:`processors.llm.local.toolschema`), so they are always well-formed JSON naming an offered
tool, whatever the model's native tool-call format. Streaming is not supported.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from processors.errors import ProviderError
from processors.llm.local import toolschema
from processors.llm.local.engine import ChatEngine, EngineError
from processors.llm.local.slots import prefix_key

_log = logging.getLogger(__name__)
DEFAULT_MAX_TOKENS = 1024


class BadRequest(ProviderError):
    """The client's request is malformed (answered with HTTP 400)."""


def _response_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise BadRequest("response_format.json_schema.schema must be an object", status=400)
        return schema
    if fmt.get("type") == "json_object":
        return {"type": "object"}
    return None


def _engine_messages(
    body: dict[str, Any], guide: str, note: str | None = None
) -> list[dict[str, Any]]:
    """Chat messages for the engine: our format guide joins the system prompt, earlier tool
    calls are replayed in the constrained JSON format, tool results become user turns, and
    the turn's note (if any) comes last, so every earlier token stays a cacheable prefix."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list", status=400)
    names: dict[str, str] = {}
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        role, content = m.get("role"), m.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if role in ("system", "developer"):
            system.append(content or "")
        elif role == "user":
            out.append({"role": "user", "content": content or ""})
        elif role == "assistant":
            calls = m.get("tool_calls") or []
            for call in calls:
                fn = call.get("function") or {}
                names[call.get("id", "")] = fn.get("name", "")
                try:
                    arguments = json.loads(fn.get("arguments") or "{}")
                except ValueError:
                    arguments = {}
                replay = {"tool": fn.get("name", ""), "arguments": arguments}
                out.append({"role": "assistant", "content": json.dumps(replay)})
            if not calls:
                out.append({"role": "assistant", "content": json.dumps({"final": content or ""})})
        elif role == "tool":
            name = names.get(m.get("tool_call_id", ""), "tool")
            out.append({"role": "user", "content": f"Result of tool {name}: {content}"})
        else:
            raise BadRequest(f"unsupported message role {role!r}", status=400)
    if note:
        out.append({"role": "user", "content": note})
    return [{"role": "system", "content": "\n\n".join([*system, guide])}, *out]


class Rates:
    """Prompt and generation tokens per second over the last completions (thread-safe): what
    this machine does today, for progress estimates (``GET /health``)."""

    def __init__(self, window: int = 20) -> None:
        self._recent: deque[tuple[int, float, int, float]] = deque(maxlen=window)
        self._lock = threading.Lock()
        self.completions = 0

    def add(self, timings: Any) -> None:
        if not isinstance(timings, dict):
            return
        entry = (
            int(timings.get("prompt_n") or 0),
            float(timings.get("prompt_ms") or 0.0),
            int(timings.get("predicted_n") or 0),
            float(timings.get("predicted_ms") or 0.0),
        )
        with self._lock:
            self._recent.append(entry)
            self.completions += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            recent, completions = list(self._recent), self.completions

        def per_second(tokens: int, ms: float) -> float | None:
            return round(tokens / ms * 1000, 2) if tokens >= 16 and ms > 0 else None

        prompt = per_second(sum(r[0] for r in recent), sum(r[1] for r in recent))
        generated = per_second(sum(r[2] for r in recent), sum(r[3] for r in recent))
        return {"prompt_tokens_per_s": prompt, "generated_tokens_per_s": generated,
                "completions": completions}  # fmt: skip


DEFAULT_TEMPERATURE = 0.0
"""For requests that name no temperature: greedy. llama.cpp's own default samples at 0.8."""


def complete(
    engine: ChatEngine,
    body: dict[str, Any],
    *,
    temperature: float | None = DEFAULT_TEMPERATURE,
    rates: Rates | None = None,
) -> dict[str, Any]:
    """Answer one Chat Completions request body (the server's whole job, minus HTTP).

    ``temperature`` applies when the request names none: greedy (0) by default: steadier
    runs, though not identical ones (a greedy eval case failed in one run and passed in the
    next); ``None`` leaves llama.cpp's own sampling default (0.8).
    """
    if body.get("stream"):
        raise BadRequest("streaming is not supported by the local server", status=400)
    tools = body.get("tools") or []
    tool_choice = body.get("tool_choice") or "auto"
    if tool_choice == "required" and not tools:
        raise BadRequest("tool_choice 'required' needs tools", status=400)
    schema = _response_schema(body)
    union = toolschema.build_union(tools, tool_choice, schema)
    guide = toolschema.instructions(tools, tool_choice, schema)
    request: dict[str, Any] = {
        "messages": _engine_messages(body, guide, toolschema.turn_note(tools, tool_choice)),
        "max_tokens": body.get("max_tokens")
        or body.get("max_completion_tokens")
        or DEFAULT_MAX_TOKENS,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "turn", "schema": union},
        },
    }
    if temperature is not None:
        request["temperature"] = temperature
    for key in ("temperature", "seed", "top_p"):
        if body.get(key) is not None:
            request[key] = body[key]
    prefix = body.get("cache_prefix")
    if isinstance(prefix, int) and 0 < prefix < len(body["messages"]):
        # the guide (tool and answer schemas) joins the system prompt, so it is part of the
        # prefix: a tenant's own answer schema (its account names as enums) keys its own slot
        request["prefix_key"] = prefix_key([guide, *body["messages"][:prefix]])
    result = engine.chat(request)
    choice = result["choices"][0]
    content = choice.get("message", {}).get("content") or ""
    message, finish = toolschema.translate(content, schema)
    if choice.get("finish_reason") == "length":
        finish = "length"
    usage = result.get("usage") or {}
    timings = result.get("timings")
    _log_timings(timings)
    if rates is not None:
        rates.add(timings)
    # as OpenAI reports it: prompt_tokens is the whole prompt, of which
    # prompt_tokens_details.cached_tokens came from a slot's cache (llama.cpp: cache_n)
    prompt = int(usage.get("prompt_tokens") or 0)
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    if not cached and isinstance(timings, dict):
        cached = int(timings.get("cache_n") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": engine.model_id,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def _log_timings(timings: Any) -> None:
    """One line per completion: where the time went (prompt vs generation, cache reuse)."""
    if not isinstance(timings, dict):
        return
    _log.info(
        "completion: prompt %s tokens (%s cached) in %.0f ms, generated %s tokens in %.0f ms",
        timings.get("prompt_n"),
        timings.get("cache_n"),
        float(timings.get("prompt_ms") or 0.0),
        timings.get("predicted_n"),
        float(timings.get("predicted_ms") or 0.0),
    )


class _Handler(BaseHTTPRequestHandler):
    server: LocalHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": status}})

    def do_GET(self) -> None:
        path = self.path.rstrip("/")
        if path in ("/health", "/v1/health"):
            self._send(200, {"status": "ok", "rates": self.server.rates.snapshot()})
        elif path == "/v1/models":
            model = {"id": self.server.engine.model_id, "object": "model", "owned_by": "local"}
            self._send(200, {"object": "list", "data": [model]})
        else:
            self._error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route {self.path}", "not_found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
            if not isinstance(body, dict):
                raise BadRequest("the request body must be a JSON object", status=400)
            answer = complete(
                self.server.engine, body, temperature=self.server.temperature,
                rates=self.server.rates,
            )  # fmt: skip
        except ValueError:
            self._error(400, "the request body is not JSON", "invalid_request_error")
        except ProviderError as exc:
            self._error(exc.status or 400, str(exc), "invalid_request_error")
        except EngineError as exc:
            kind = "invalid_request_error" if exc.status < 500 else "server_error"
            self._error(exc.status, str(exc), kind)
        else:
            self._send(200, answer)


class LocalHTTPServer(ThreadingHTTPServer):
    """The HTTP server; the engine serializes generation itself."""

    daemon_threads = True

    def __init__(
        self,
        engine: ChatEngine,
        host: str = "127.0.0.1",
        port: int = 8090,
        *,
        temperature: float | None = DEFAULT_TEMPERATURE,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.engine = engine
        self.temperature = temperature  # for requests that name none
        self.rates = Rates()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start_in_thread(self) -> threading.Thread:
        """Serve in a daemon thread (tests, benchmarks); stop with :meth:`shutdown`."""
        thread = threading.Thread(target=self.serve_forever, name="local-llm", daemon=True)
        thread.start()
        return thread
