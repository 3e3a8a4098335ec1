"""The ledger's HTTP layer over the standard library's ``ThreadingHTTPServer``.

Routes wrap the handlers in :mod:`processors.reference.handlers`; each handler's signature says
where its arguments come from (path, query, JSON body, ``Idempotency-Key`` header, bearer
token), and the same analysis writes the OpenAPI 3.1 document served at ``/openapi.json``.

Every request is a SERVER span (``{method} {route}``) continuing the W3C trace context the
caller sent in ``traceparent``, as any OpenTelemetry-instrumented service would.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import re
import threading
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Tracer
from pydantic import BaseModel, Field, ValidationError, create_model
from pydantic.json_schema import models_json_schema

from processors.reference import handlers
from processors.reference.handlers import IdempotencyKey
from processors.reference.security import Invalid, LedgerError, Principal, TokenVerifier
from processors.reference.store import Ledger

log = logging.getLogger(__name__)
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Route:
    """One operation: ``method`` and ``path`` (``{name}`` marks a path parameter)."""

    method: str
    path: str
    handler: Callable[..., BaseModel]
    operation_id: str
    tag: str


ROUTES: tuple[Route, ...] = (
    Route("GET", "/directory/search", handlers.search_directory, "searchDirectory", "directory"),
    Route("GET", "/tenants/{tenant_id}/client", handlers.get_client, "getClient", "clients"),
    Route(
        "GET",
        "/tenants/{tenant_id}/transactions",
        handlers.list_transactions,
        "listTransactions",
        "transactions",
    ),
    Route("GET", "/tenants/{tenant_id}/vendors", handlers.list_vendors, "listVendors", "vendors"),
    Route(
        "GET",
        "/tenants/{tenant_id}/vendors/{vendor_id}",
        handlers.get_vendor,
        "getVendor",
        "vendors",
    ),
    Route(
        "POST", "/tenants/{tenant_id}/vendors", handlers.upsert_vendor, "upsertVendor", "vendors"
    ),
    Route(
        "GET", "/tenants/{tenant_id}/accounts", handlers.list_accounts, "listAccounts", "accounts"
    ),
    Route(
        "GET",
        "/tenants/{tenant_id}/spend",
        handlers.aggregate_spend,
        "aggregateSpend",
        "transactions",
    ),
)


def _param_docs(doc: str) -> dict[str, str]:
    """``name: text`` lines of a Google-style ``Args:`` section."""
    found: dict[str, str] = {}
    section = doc.split("Args:", 1)[1] if "Args:" in doc else ""
    for line in section.splitlines():
        m = re.match(r"\s+(\w+)(?: \(.*\))?: (.+)", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


@dataclass
class _Binding:
    """Where each handler argument comes from."""

    route: Route
    params: type[BaseModel]
    path: list[str] = field(default_factory=list)
    query: list[str] = field(default_factory=list)
    body: tuple[str, type[BaseModel]] | None = None
    ledger: str | None = None
    principal: str | None = None
    idempotency: str | None = None
    output: type[BaseModel] = BaseModel
    pattern: re.Pattern[str] = re.compile("")

    @classmethod
    def of(cls, route: Route) -> _Binding:
        hints = typing.get_type_hints(route.handler, include_extras=True)
        path_names = re.findall(r"{(\w+)}", route.path)
        docs = _param_docs(inspect.getdoc(route.handler) or "")
        b = cls(route=route, params=BaseModel, output=hints["return"])
        fields: dict[str, Any] = {}
        for name, p in inspect.signature(route.handler).parameters.items():
            ann = hints[name]
            bare = {a for a in typing.get_args(ann) if a is not type(None)}
            if ann is Ledger:
                b.ledger = name
            elif ann is Principal:
                b.principal = name
            elif ann is IdempotencyKey or bare == {IdempotencyKey}:
                b.idempotency = name
            elif isinstance(ann, type) and issubclass(ann, BaseModel):
                b.body = (name, ann)
            else:
                (b.path if name in path_names else b.query).append(name)
                default = ... if p.default is inspect.Parameter.empty else p.default
                fields[name] = (ann, _described(default, docs.get(name)))
        b.params = create_model(f"{route.operation_id}Params", **fields)
        regex = re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", route.path)
        b.pattern = re.compile(f"^{regex}$")
        return b


def _described(default: Any, description: str | None) -> Any:
    return Field(default=default, description=description)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    return _json(status, {"error": {"code": code, "message": message, **extra}})


class LedgerApp:
    """The ledger API without sockets: ``handle`` maps one request to one response."""

    def __init__(
        self, ledger: Ledger, verifier: TokenVerifier, *, tracer: Tracer | None = None
    ) -> None:
        self.ledger = ledger
        self.verifier = verifier
        self.tracer = tracer or trace.get_tracer("processors.reference")
        self._bindings = [_Binding.of(r) for r in ROUTES]
        self._openapi = json.dumps(openapi_document(self._bindings)).encode()

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one request inside a SERVER span joined to the caller's trace."""
        headers = {k.lower(): v for k, v in headers.items()}
        path = urlsplit(target).path
        route = next((b.route.path for b in self._bindings if b.pattern.match(path)), path)
        with self.tracer.start_as_current_span(
            f"{method} {route}",
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route, "url.path": path},
        ) as span:
            response = self._handle(method, target, headers, body)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(trace.StatusCode.ERROR)
            return response

    def _handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        url = urlsplit(target)
        if url.path == "/openapi.json" and method == "GET":
            return Response(200, self._openapi, {"Content-Type": "application/json"})
        matched = [(b, m) for b in self._bindings if (m := b.pattern.match(url.path))]
        if not matched:
            return _error(404, "not_found", f"no route {url.path}")
        for binding, m in matched:
            if binding.route.method == method:
                try:
                    return self._call(binding, m.groupdict(), url.query, headers, body)
                except LedgerError as exc:
                    return _error(exc.status, exc.code, str(exc))
        return _error(405, "method_not_allowed", f"{method} not allowed on {url.path}")

    def _call(
        self,
        b: _Binding,
        path: dict[str, str],
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Response:
        principal = self.verifier.authenticate(headers.get("authorization"))
        raw: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query).items() if k in b.query}
        raw.update({k: unquote(v) for k, v in path.items()})
        try:
            kwargs: dict[str, Any] = dict(b.params.model_validate(raw))
            if b.body is not None:
                kwargs[b.body[0]] = b.body[1].model_validate_json(body or b"null")
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            raise Invalid(f"invalid request: {json.dumps(errors)}") from exc
        if b.ledger:
            kwargs[b.ledger] = self.ledger
        if b.principal:
            kwargs[b.principal] = principal
        if b.idempotency:
            kwargs[b.idempotency] = headers.get(IDEMPOTENCY_HEADER.lower())
        result = b.route.handler(**kwargs)
        return Response(
            200, result.model_dump_json().encode(), {"Content-Type": "application/json"}
        )


def openapi_document(bindings: list[_Binding]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes, with shared schemas under ``components``."""
    models: list[tuple[type[BaseModel], Any]] = []
    for b in bindings:
        models.append((b.output, "serialization"))
        if b.body is not None:
            models.append((b.body[1], "validation"))
    keys, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    }
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    paths: dict[str, dict[str, Any]] = {}
    for b in bindings:
        doc = inspect.getdoc(b.route.handler) or ""
        props = b.params.model_json_schema()["properties"]
        required = set(b.params.model_json_schema().get("required", []))
        parameters = [
            {
                "name": n,
                "in": where,
                "required": where == "path" or n in required,
                "description": props[n].get("description", ""),
                "schema": {k: v for k, v in props[n].items() if k != "description"},
            }
            for where, names in (("path", b.path), ("query", b.query))
            for n in names
        ]
        if b.idempotency:
            parameters.append(
                {
                    "name": IDEMPOTENCY_HEADER,
                    "in": "header",
                    "required": False,
                    "description": "Repeat a write safely: same key, one write.",
                    "schema": {"type": "string"},
                }
            )
        op: dict[str, Any] = {
            "operationId": b.route.operation_id,
            "tags": [b.route.tag],
            "summary": doc.split("\n", 1)[0],
            "description": doc.split("\n\n")[0].replace("\n", " "),
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": keys[(b.output, "serialization")]}},
                },
                **{
                    str(s): {"description": HTTPStatus(s).phrase, **error}
                    for s in (401, 403, 404, 409, 422)
                },
            },
        }
        if b.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": keys[(b.body[1], "validation")]}},
            }
            op["x-body-name"] = b.body[0]
        paths.setdefault(b.route.path, {})[b.route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Ledger API (reference system)", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearer": []}],
    }


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        response = self.server.app.handle(self.command, self.path, headers, body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: LedgerApp) -> None:
        self.app = app
        super().__init__(address, _RequestHandler)


def make_server(app: LedgerApp, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (``0`` picks a free port); call ``serve_forever``."""
    return _Server((host, port), app)


@contextlib.contextmanager
def serve_in_thread(app: LedgerApp, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` on a free port in a background thread; yield its base URL."""
    server = make_server(app, host, 0)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="ledger-api", daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
