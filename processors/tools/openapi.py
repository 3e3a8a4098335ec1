"""Tools from an OpenAPI 3 document: one tool per selected operation (by ``operationId``).

A tool's input schema gathers the operation's path and query parameters (and any header
parameters other than ``Authorization`` and ``Idempotency-Key``, which the tool supplies) plus
the JSON request body under one property (``body``, or the name in ``x-body-name``). Its output
schema is the JSON schema of the success response. Local ``$ref``s are inlined so each schema
stands alone; recursive ones are kept under ``$defs``.

Calls go over an injectable :class:`httpx.AsyncClient` with a per-call timeout, carrying the
credential minted for the event's principal. 4xx/5xx become :class:`ToolError` with the
status (retryable for 429/5xx/timeouts, never for 401/403).

Each call is an HTTP CLIENT span (``{method} {path template}``, OpenTelemetry HTTP
conventions: ``http.request.method``, ``url.full``, ``server.address``,
``http.response.status_code``, ``error.type``) whose W3C trace context goes into the request
headers, so the API's server span joins the event's trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from processors.errors import ConfigError
from processors.tools._common import check_tool_name, redact, status_error
from processors.tools.auth import Credential, CredentialProvider
from processors.tools.base import CallContext, ToolBase, ToolError

_METHODS = ("get", "put", "post", "delete", "patch")
_SUPPLIED_HEADERS = {"authorization", "idempotency-key"}
IdempotencyKeyFn = Callable[[CallContext, str, dict[str, Any]], str]


def event_idempotency_key(ctx: CallContext, tool: str, arguments: dict[str, Any]) -> str:
    """Default ``Idempotency-Key``: the event id, so a redelivered event writes once."""
    del tool, arguments
    return ctx.event_id


def load_document(source: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """Read an OpenAPI document (JSON) from an ``http(s)://`` URL or a file path."""
    try:
        if source.startswith(("http://", "https://")):
            response = httpx.get(source, timeout=timeout)
            response.raise_for_status()
            doc = response.json()
        else:
            doc = json.loads(Path(source).read_text(encoding="utf-8"))
    except (httpx.HTTPError, OSError, ValueError) as exc:
        raise ConfigError(f"cannot load OpenAPI document {source}: {exc}") from exc
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3."):
        raise ConfigError(f"{source} is not an OpenAPI 3 document")
    return doc


def _pointer(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ConfigError(f"only local $refs are supported, not {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"dangling $ref {ref!r}")
        node = node[part]
    return node


def inline_refs(schema: Any, root: Mapping[str, Any]) -> Any:
    """``schema`` with every local ``$ref`` replaced by its target; cycles go to ``$defs``."""
    defs: dict[str, Any] = {}

    def walk(node: Any, stack: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [walk(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return {k: walk(v, stack) for k, v in node.items()}
        if ref in stack:
            name = ref.rsplit("/", 1)[-1]
            if name not in defs:
                defs[name] = {}
                defs[name] = walk(_pointer(root, ref), stack)
            return {"$ref": f"#/$defs/{name}"}
        target = walk(_pointer(root, ref), stack | {ref})
        siblings = {k: walk(v, stack) for k, v in node.items() if k != "$ref"}
        return {**target, **siblings} if isinstance(target, dict) else target

    out = walk(schema, frozenset())
    if defs and isinstance(out, dict):
        out = {**out, "$defs": defs}
    return out


def _json_schema(content: Mapping[str, Any] | None) -> Any | None:
    for media, entry in (content or {}).items():
        if media.split(";")[0].strip() in ("application/json", "application/problem+json"):
            return entry.get("schema", {})
    return None


class OpenAPITool(ToolBase):
    """A :class:`~processors.tools.base.Tool` that calls one HTTP operation."""

    def __init__(
        self,
        *,
        name: str,
        method: str,
        path: str,
        operation: Mapping[str, Any],
        path_item: Mapping[str, Any],
        document: Mapping[str, Any],
        base_url: str,
        client: httpx.AsyncClient,
        credentials: CredentialProvider,
        timeout: httpx.Timeout,
        idempotency_key: IdempotencyKeyFn = event_idempotency_key,
        tracer: Tracer | None = None,
    ) -> None:
        self._name = check_tool_name(name)
        self._tracer = tracer or trace.get_tracer("processors.tools.openapi")
        self._method = method.upper()
        self._path = path
        self._base_url = base_url.rstrip("/")
        self._client = client
        self._credentials = credentials
        self._timeout = timeout
        self._idempotency_key = idempotency_key
        parts = [operation.get("summary", ""), operation.get("description", "")]
        self._description = " ".join(dict.fromkeys(p.strip() for p in parts if p and p.strip()))
        self._params: dict[str, str] = {}  # argument name -> location (path/query/header)
        self._sends_idempotency_key = False
        properties: dict[str, Any] = {}
        required: list[str] = []
        merged: dict[tuple[str, str], Mapping[str, Any]] = {}
        for raw in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
            param = _pointer(document, raw["$ref"]) if "$ref" in raw else raw
            merged[(param["name"], param["in"])] = param
        for (pname, where), param in merged.items():
            if where == "header" and pname.lower() in _SUPPLIED_HEADERS:
                self._sends_idempotency_key |= pname.lower() == "idempotency-key"
                continue
            if where not in ("path", "query", "header"):
                continue
            schema = dict(inline_refs(param.get("schema", {}), document))
            if param.get("description"):
                schema.setdefault("description", param["description"])
            properties[pname] = schema
            self._params[pname] = where
            if param.get("required") or where == "path":
                required.append(pname)
        self._body: str | None = None
        body = operation.get("requestBody")
        if body is not None:
            body = _pointer(document, body["$ref"]) if "$ref" in body else body
            body_schema = _json_schema(body.get("content"))
            if body_schema is None:
                raise ConfigError(f"operation {name}: only JSON request bodies are supported")
            self._body = str(operation.get("x-body-name", "body"))
            properties[self._body] = inline_refs(body_schema, document)
            if body.get("required"):
                required.append(self._body)
        self._input_schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
        self._output_schema: dict[str, Any] | None = None
        responses = operation.get("responses", {})
        for code in ("200", "201", "202", "2XX", "default"):
            if code in responses:
                response = responses[code]
                response = _pointer(document, response["$ref"]) if "$ref" in response else response
                success = _json_schema(response.get("content"))
                self._output_schema = None if success is None else inline_refs(success, document)
                break

    def __repr__(self) -> str:
        return f"OpenAPITool(name={self._name!r}, {self._method} {self._path})"

    async def call(self, arguments: dict[str, Any], ctx: CallContext) -> Any:
        """Send the request as ``ctx``'s principal; return the decoded JSON response."""
        request = self._build(arguments)
        credential = await self._credentials.credential(ctx)
        request.headers["Authorization"] = credential.authorization_header()
        if self._sends_idempotency_key:
            request.headers["Idempotency-Key"] = self._idempotency_key(ctx, self._name, arguments)
        response = await self._send(request, credential)
        if response.status_code >= 400:
            raise status_error(self._name, response.status_code, _detail(response), credential)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return redact(response.text, credential)

    async def _send(self, request: httpx.Request, credential: Credential) -> httpx.Response:
        """One HTTP exchange inside its CLIENT span, trace context injected into the headers."""
        url = request.url
        attributes: dict[str, AttributeValue] = {
            "http.request.method": self._method,
            "url.full": str(url.copy_with(username=None, password=None)),
            "url.template": self._path,
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "daemons.tool.name": self._name,
        }
        with self._tracer.start_as_current_span(
            f"{self._method} {self._path}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            propagate.inject(request.headers)
            try:
                response = await self._client.send(request)
            except httpx.TimeoutException:
                span.set_attribute("error.type", "timeout")
                raise ToolError(f"{self._name} timed out", retryable=True) from None
            except httpx.TransportError as exc:
                span.set_attribute("error.type", type(exc).__name__)
                detail = redact(str(exc), credential)
                raise ToolError(
                    f"{self._name} could not reach the API: {detail}", retryable=True
                ) from None
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(trace.StatusCode.ERROR)
            return response

    def _bounded(self, name: str, value: Any) -> None:
        schema = self._input_schema["properties"].get(name, {})
        limit = min(MAX_PARAMETER_CHARS, int(schema.get("maxLength") or MAX_PARAMETER_CHARS))
        longest = max(
            (len(_text(v)) for v in (value if isinstance(value, list) else [value])), default=0
        )
        if longest > limit:
            raise ToolError(
                f"invalid arguments for {self._name}: {name!r} is {longest} characters, "
                f"more than {limit}"
            )

    def _build(self, arguments: dict[str, Any]) -> httpx.Request:
        allowed = set(self._input_schema["properties"])
        unknown = sorted(set(arguments) - allowed)
        missing = [n for n in self._input_schema["required"] if arguments.get(n) is None]
        if unknown or missing:
            problems = [f"unknown argument {n!r}" for n in unknown]
            problems += [f"missing required argument {n!r}" for n in missing]
            raise ToolError(f"invalid arguments for {self._name}: {'; '.join(problems)}")
        path = self._path
        query: list[tuple[str, str | int | float | bool | None]] = []
        headers: dict[str, str] = {}
        for pname, where in self._params.items():
            value = arguments.get(pname)
            if value is None:
                continue
            self._bounded(pname, value)
            if where == "path":
                path = path.replace("{" + pname + "}", quote(_text(value), safe=""))
            elif where == "query":
                values = value if isinstance(value, list) else [value]
                query.extend((pname, _text(v)) for v in values)
            else:
                headers[pname] = _text(value)
        kwargs: dict[str, Any] = {}
        if self._body is not None and arguments.get(self._body) is not None:
            kwargs["json"] = arguments[self._body]
        return self._client.build_request(
            self._method,
            self._base_url + path,
            params=query,
            headers=headers,
            timeout=self._timeout,
            **kwargs,
        )


MAX_PARAMETER_CHARS = 1024
"""A path, query or header value longer than this (or than its schema's ``maxLength``) is an
invalid argument, never sent: untrusted text (a descriptor, a question) goes into URLs, and a
megabyte of it would only fail in the HTTP client — or at the API."""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _detail(response: httpx.Response) -> str:
    """The API's own error message if it sent one in JSON, else the start of the body."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        if "detail" in payload:
            return str(payload["detail"])
    return json.dumps(payload)[:500]


class OpenAPISource(Mapping[str, OpenAPITool]):
    """All operations of a document, by ``operationId``; each tool is built on first access.

    Building lazily means an operation nobody allowlisted can never break startup.
    """

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        base_url: str,
        client: httpx.AsyncClient,
        credentials: CredentialProvider,
        timeout: httpx.Timeout | float = 10.0,
        idempotency_key: IdempotencyKeyFn = event_idempotency_key,
        tracer: Tracer | None = None,
    ) -> None:
        self._document = document
        self._tracer = tracer
        self._base_url = base_url
        self._client = client
        self._credentials = credentials
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._idempotency_key = idempotency_key
        self._operations: dict[str, tuple[str, str]] = {}
        for path, item in document.get("paths", {}).items():
            for method in _METHODS:
                op = item.get(method)
                if op is not None and op.get("operationId"):
                    self._operations[op["operationId"]] = (method, path)
        self._built: dict[str, OpenAPITool] = {}

    def __getitem__(self, name: str) -> OpenAPITool:
        if name not in self._built:
            method, path = self._operations[name]
            item = self._document["paths"][path]
            self._built[name] = OpenAPITool(
                name=name,
                method=method,
                path=path,
                operation=item[method],
                path_item=item,
                document=self._document,
                base_url=self._base_url,
                client=self._client,
                credentials=self._credentials,
                timeout=self._timeout,
                idempotency_key=self._idempotency_key,
                tracer=self._tracer,
            )
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._operations)

    def __len__(self) -> int:
        return len(self._operations)


__all__ = [
    "IdempotencyKeyFn",
    "OpenAPISource",
    "OpenAPITool",
    "event_idempotency_key",
    "inline_refs",
    "load_document",
]
