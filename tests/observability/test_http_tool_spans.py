"""A tool call over HTTP is a CLIENT span whose context the reference API continues in its
SERVER span (real sockets, no broker); failures carry error.type; no credential on a span."""

from __future__ import annotations

import asyncio

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from processors.reference import sample_app, serve_in_thread
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.base import CallContext, ToolError
from processors.tools.openapi import OpenAPISource, load_document

KEY = "http-span-key"


def test_the_api_server_span_joins_the_tool_call_trace_and_errors_are_marked() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    ctx = CallContext(tenant_id="t-ridgeline", principal_id="u-ridgeline-owner", event_id="e1")
    credentials = HmacCredentialProvider(HmacCredentialSettings(key=KEY))  # type: ignore[arg-type]

    async def calls(url: str) -> str | None:
        async with httpx.AsyncClient() as client:
            source = OpenAPISource(
                load_document(f"{url}/openapi.json"), base_url=url, client=client,
                credentials=credentials, tracer=tracer,
            )  # fmt: skip
            with tracer.start_as_current_span("execute_tool listAccounts"):
                await source["listAccounts"].call({"tenant_id": "t-ridgeline"}, ctx)
            try:
                await source["listAccounts"].call({"tenant_id": "t-quillstack"}, ctx)
            except ToolError as exc:
                return str(exc.status)
        return None

    with serve_in_thread(sample_app(KEY.encode(), tracer=tracer)) as url:
        status = asyncio.run(calls(url))
    assert status == "403"
    spans = [s for s in exporter.get_finished_spans() if s.name != "GET /openapi.json"]
    name = "GET /tenants/{tenant_id}/accounts"
    clients = [s for s in spans if s.name == name and s.kind is SpanKind.CLIENT]
    servers = [s for s in spans if s.name == name and s.kind is SpanKind.SERVER]
    assert len(clients) == len(servers) == 2
    for client, server in zip(clients, servers, strict=True):
        assert server.parent is not None and server.parent.span_id == client.context.span_id
        assert server.context.trace_id == client.context.trace_id
    ok, denied = (c.attributes or {} for c in clients)
    tool = next(s for s in spans if s.name == "execute_tool listAccounts")
    assert clients[0].parent is not None and clients[0].parent.span_id == tool.context.span_id
    assert ok["http.request.method"] == "GET" and ok["http.response.status_code"] == 200
    assert ok["url.full"] == f"{url}/tenants/t-ridgeline/accounts"
    assert (
        ok["server.address"] == "127.0.0.1"
        and ok["url.template"] == "/tenants/{tenant_id}/accounts"
    )
    assert "error.type" not in ok
    assert denied["http.response.status_code"] == 403 and denied["error.type"] == "403"
    assert (servers[1].attributes or {})["http.response.status_code"] == 403
    for span in spans:
        assert "Bearer" not in str(span.attributes) and KEY not in str(span.attributes)
