"""How HTTP failures become ToolErrors, and ``$ref`` inlining (no network: MockTransport)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from processors.errors import ConfigError
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.base import CallContext, ToolError
from processors.tools.openapi import OpenAPISource, inline_refs

CTX = CallContext(tenant_id="t1", principal_id="p1", event_id="evt-7")
PROVIDER = HmacCredentialProvider(HmacCredentialSettings(key=SecretStr("k")))
DOC: dict[str, Any] = {
    "openapi": "3.0.3",
    "paths": {
        "/things/{thing_id}": {
            "parameters": [{"$ref": "#/components/parameters/ThingId"}],
            "get": {
                "operationId": "getThing",
                "summary": "Get a thing.",
                "parameters": [{"name": "verbose", "in": "query", "schema": {"type": "boolean"}}],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}
                        },
                    }
                },
            },
            "put": {
                "operationId": "putThing",
                "parameters": [{"name": "Idempotency-Key", "in": "header"}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}
                    },
                },
                "responses": {"204": {"description": "done"}},
            },
        }
    },
    "components": {
        "parameters": {
            "ThingId": {
                "name": "thing_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
            }
        },
        "schemas": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                },
            }
        },
    },
}


def _call(handler: Any, tool: str = "getThing", args: dict[str, Any] | None = None) -> Any:
    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            source = OpenAPISource(
                DOC, base_url="http://api.test", client=client, credentials=PROVIDER, timeout=1.0
            )
            return await source[tool].call(args or {"thing_id": "a/b"}, CTX)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
    ],
)
def test_status_maps_to_tool_error(status: int, retryable: bool) -> None:
    with pytest.raises(ToolError) as err:
        _call(lambda req: httpx.Response(status, json={"error": {"message": "nope"}}))
    assert (err.value.status, err.value.retryable) == (status, retryable)
    assert "nope" in str(err.value)


def test_timeouts_and_connection_errors_are_retryable() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    for handler in (timeout, refused):
        with pytest.raises(ToolError) as err:
            _call(handler)
        assert err.value.retryable is True and err.value.status is None


def test_request_carries_quoted_path_query_bearer_and_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return (
            httpx.Response(200, json={"name": "x"})
            if request.method == "GET"
            else (httpx.Response(204))
        )

    assert _call(handler, args={"thing_id": "a/b", "verbose": True}) == {"name": "x"}
    assert seen[0].url.raw_path == b"/things/a%2Fb?verbose=true"
    assert seen[0].headers["authorization"].startswith("Bearer ")
    assert "idempotency-key" not in seen[0].headers
    assert _call(handler, "putThing", {"thing_id": "t", "body": {"name": "n"}}) is None
    assert seen[1].headers["idempotency-key"] == "evt-7"
    assert seen[1].content == b'{"name":"n"}'


def test_bad_arguments_fail_before_any_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    with pytest.raises(ToolError, match="missing required argument 'thing_id'"):
        _call(handler, args={"verbose": True})
    with pytest.raises(ToolError, match="unknown argument 'sneaky'"):
        _call(handler, args={"thing_id": "x", "sneaky": 1})


def test_an_api_echoing_the_token_cannot_leak_it() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": request.headers["authorization"]}})

    with pytest.raises(ToolError) as err:
        _call(echo)
    assert "Bearer [REDACTED]" in str(err.value)


def test_recursive_refs_are_kept_under_defs_and_path_item_params_are_merged() -> None:
    source = OpenAPISource(
        DOC, base_url="http://api.test", client=httpx.AsyncClient(), credentials=PROVIDER
    )
    get = source["getThing"]
    assert get.input_schema["required"] == ["thing_id"]
    assert set(get.input_schema["properties"]) == {"thing_id", "verbose"}
    out = get.output_schema
    assert out is not None
    assert out["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert out["$defs"]["Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    put = source["putThing"]
    assert put.output_schema is None
    assert put.input_schema["properties"]["body"]["properties"]["name"] == {"type": "string"}
    assert put.input_schema["required"] == ["thing_id", "body"]


def test_remote_or_dangling_refs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="only local"):
        inline_refs({"$ref": "https://elsewhere/schema.json"}, {})
    with pytest.raises(ConfigError, match="dangling"):
        inline_refs({"$ref": "#/components/schemas/Missing"}, {"components": {}})
