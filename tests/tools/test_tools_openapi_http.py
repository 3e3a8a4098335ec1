"""OpenAPI tools against the reference ledger API over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr

from processors.errors import ConfigError
from processors.reference import LedgerApp, sample_app, serve_in_thread
from processors.reference.as_tools import openapi_tools
from processors.tools.auth import Credential, HmacCredentialProvider, HmacCredentialSettings
from processors.tools.base import CallContext, ToolError
from processors.tools.catalog import ToolCatalog
from processors.tools.openapi import OpenAPISource, load_document

T = TypeVar("T")
KEY = "openapi-http-test-signing-key"
OWNER_A = CallContext(tenant_id="t-ridgeline", principal_id="u-ridgeline-owner", event_id="e-1")
VIEWER_A = CallContext(tenant_id="t-ridgeline", principal_id="u-ridgeline-viewer", event_id="e-2")


class RecordingProvider:
    """The reference provider, remembering every token it minted (to hunt for leaks)."""

    def __init__(self, clock_offset_s: float = 0.0, key: str = KEY) -> None:
        settings = HmacCredentialSettings(key=SecretStr(key))
        self._inner = HmacCredentialProvider(settings, clock=lambda: time.time() + clock_offset_s)
        self.minted: list[str] = []

    async def credential(self, ctx: CallContext) -> Credential:
        cred = await self._inner.credential(ctx)
        self.minted.append(cred.token.get_secret_value())
        return cred


@pytest.fixture
def ledger() -> Iterator[tuple[str, LedgerApp]]:
    app = sample_app(KEY.encode())
    with serve_in_thread(app) as base_url:
        yield base_url, app


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def call(
    base_url: str,
    tool: str,
    arguments: dict[str, Any],
    ctx: CallContext,
    provider: Any = None,
) -> Any:
    async with httpx.AsyncClient() as client:
        source = openapi_tools(base_url, client, provider or RecordingProvider())
        return await source[tool].call(arguments, ctx)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_allowlisted_operations_become_self_contained_tools(
    ledger: tuple[str, LedgerApp],
) -> None:
    base_url, _ = ledger
    document = load_document(f"{base_url}/openapi.json")
    source = OpenAPISource(
        document, base_url=base_url, client=httpx.AsyncClient(), credentials=RecordingProvider()
    )
    assert "aggregateSpend" in source
    catalog = ToolCatalog.build([source], ["listTransactions", "upsertVendor"])
    assert [s.name for s in catalog.specs()] == ["listTransactions", "upsertVendor"]
    listing = catalog.get("listTransactions")
    assert listing.input_schema["required"] == ["tenant_id"]
    assert "descriptor" in listing.input_schema["properties"]
    assert "Authorization" not in json.dumps(listing.input_schema)
    output = listing.output_schema
    assert output is not None
    tx = output["properties"]["transactions"]["items"]
    assert "descriptor" in tx["properties"]
    upsert = catalog.get("upsertVendor")
    assert set(upsert.input_schema["properties"]) == {"tenant_id", "vendor"}
    assert upsert.input_schema["properties"]["vendor"]["properties"]["mcc"]
    assert "Idempotency-Key" not in json.dumps(upsert.input_schema)
    for tool in catalog:
        assert _refs(tool.input_schema) == [] and _refs(tool.output_schema) == []
    with pytest.raises(ToolError, match="unknown tool"):
        catalog.get("aggregateSpend")  # in the document, not allowlisted


def test_unknown_allowlisted_operation_is_a_startup_error(ledger: tuple[str, LedgerApp]) -> None:
    base_url, _ = ledger
    source = OpenAPISource(
        load_document(f"{base_url}/openapi.json"),
        base_url=base_url,
        client=httpx.AsyncClient(),
        credentials=RecordingProvider(),
    )
    with pytest.raises(ConfigError) as err:
        ToolCatalog.build([source], ["listTransactions", "deleteEverything"])
    message = str(err.value)
    assert "deleteEverything" in message
    assert "available:" in message and "listVendors" in message


def test_call_as_tenant_principal_reads_its_own_books(ledger: tuple[str, LedgerApp]) -> None:
    base_url, _ = ledger
    page = run(
        call(
            base_url,
            "listTransactions",
            {"tenant_id": "t-ridgeline", "descriptor": "blue bottle"},
            OWNER_A,
        )
    )
    assert [t["transaction_id"] for t in page["transactions"]] == ["tx-r-005", "tx-r-017"]
    assert all(t["tenant_id"] == "t-ridgeline" for t in page["transactions"])
    found = run(
        call(
            base_url,
            "searchDirectory",
            {"query": "SQ *BLUE BOTTLE COF 1234 OAKLAND CA", "limit": 2},
            OWNER_A,
        )
    )
    assert found["results"][0]["city"] == "Oakland" and found["results"][0]["mcc"] == "5814"


def test_an_overlong_untrusted_value_is_an_invalid_argument_never_a_url(
    ledger: tuple[str, LedgerApp],
) -> None:
    from processors.tools.openapi import MAX_PARAMETER_CHARS

    base_url, app = ledger
    seen: list[str] = []
    real = app.handle
    app.handle = lambda m, t, h, b: (seen.append(t), real(m, t, h, b))[1]  # type: ignore[method-assign]
    try:
        for arguments in (
            {"query": "SQ *" + "X" * 1_000_000},
            {"tenant_id": "t-" + "r" * (MAX_PARAMETER_CHARS + 1)},  # a path parameter
        ):
            tool = "searchDirectory" if "query" in arguments else "listTransactions"
            with pytest.raises(ToolError, match="characters, more than") as refused:
                run(call(base_url, tool, arguments, OWNER_A))
            assert not refused.value.retryable
        assert [t for t in seen if t != "/openapi.json"] == []  # no call went out
        found = run(call(base_url, "searchDirectory", {"query": "X" * 200}, OWNER_A))
        assert found["results"] == [] and seen[-1].startswith("/directory/search?")
    finally:
        app.handle = real  # type: ignore[method-assign]


def test_spend_totals_are_sums_of_the_listed_records(ledger: tuple[str, LedgerApp]) -> None:
    base_url, _ = ledger
    q3 = {"tenant_id": "t-quillstack", "date_from": "2026-07-01", "date_to": "2026-09-30"}
    ctx = CallContext(tenant_id="t-quillstack", principal_id="u-quillstack-viewer", event_id="s")
    report = run(call(base_url, "aggregateSpend", {**q3, "group_by": "category"}, ctx))
    page = run(call(base_url, "listTransactions", q3, ctx))
    debits = {
        t["transaction_id"]: Decimal(t["amount"])
        for t in page["transactions"]
        if t["direction"] == "debit"
    }
    assert sorted(report["transaction_ids"]) == sorted(debits)
    assert Decimal(report["total"]) == sum(debits.values())
    for group in report["groups"]:
        assert Decimal(group["total"]) == sum(debits[i] for i in group["transaction_ids"])


def test_reading_another_tenant_is_denied_by_the_api(ledger: tuple[str, LedgerApp]) -> None:
    base_url, _ = ledger
    for arguments in (
        {"tenant_id": "t-quillstack"},
        {"tenant_id": "../tenants/t-quillstack"},  # cannot escape the path either
    ):
        with pytest.raises(ToolError) as err:
            run(call(base_url, "listTransactions", arguments, OWNER_A))
        assert err.value.status == 403
        assert err.value.retryable is False


def test_read_only_principal_cannot_write(ledger: tuple[str, LedgerApp]) -> None:
    base_url, app = ledger
    args = {"tenant_id": "t-ridgeline", "vendor": {"name": "High Desert Propane"}}
    with pytest.raises(ToolError) as err:
        run(call(base_url, "upsertVendor", args, VIEWER_A))
    assert err.value.status == 403 and err.value.retryable is False
    assert app.ledger.writes == 0


def test_expired_or_badly_signed_token_is_unauthorized(ledger: tuple[str, LedgerApp]) -> None:
    base_url, _ = ledger
    for provider in (RecordingProvider(clock_offset_s=-3600), RecordingProvider(key="wrong")):
        with pytest.raises(ToolError) as err:
            run(call(base_url, "listVendors", {"tenant_id": "t-ridgeline"}, OWNER_A, provider))
        assert err.value.status == 401
        assert err.value.retryable is False


def test_upsert_is_idempotent_by_event_id(ledger: tuple[str, LedgerApp]) -> None:
    base_url, app = ledger
    args = {
        "tenant_id": "t-ridgeline",
        "vendor": {"name": "High Desert Propane", "mcc": "5983", "default_category": "5200"},
    }
    first = run(call(base_url, "upsertVendor", args, OWNER_A))
    again = run(call(base_url, "upsertVendor", args, OWNER_A))
    assert first == again and first["created"] is True
    assert app.ledger.writes == 1
    vendors = run(
        call(base_url, "listVendors", {"tenant_id": "t-ridgeline", "name": "propane"}, OWNER_A)
    )
    assert len(vendors["vendors"]) == 1
    next_event = OWNER_A.model_copy(update={"event_id": "e-99"})
    later = run(call(base_url, "upsertVendor", args, next_event))
    assert later["vendor"]["revision"] == 2 and app.ledger.writes == 2
    changed = {**args, "vendor": {"name": "High Desert Propane", "phone": "541-555-0108"}}
    with pytest.raises(ToolError) as err:  # same key, different request
        run(call(base_url, "upsertVendor", changed, OWNER_A))
    assert err.value.status == 409 and app.ledger.writes == 2


def test_credential_never_leaks_into_errors_logs_or_results(
    ledger: tuple[str, LedgerApp], caplog: pytest.LogCaptureFixture
) -> None:
    base_url, _ = ledger
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # quiet by default in the CLI: on here
    provider = RecordingProvider()
    seen: list[str] = []
    result = run(call(base_url, "getClient", {"tenant_id": "t-ridgeline"}, OWNER_A, provider))
    seen.append(json.dumps(result))
    for ctx, args in ((OWNER_A, {"tenant_id": "t-brightsmile"}), (VIEWER_A, {"tenant_id": "x"})):
        with pytest.raises(ToolError) as err:
            run(call(base_url, "getClient", args, ctx, provider))
        seen += [str(err.value), repr(err.value), repr(err.value.__cause__)]
    expired = RecordingProvider(clock_offset_s=-3600)
    with pytest.raises(ToolError) as err:
        run(call(base_url, "getClient", {"tenant_id": "t-ridgeline"}, OWNER_A, expired))
    seen.append(str(err.value))
    tokens = provider.minted + expired.minted
    assert len(tokens) == 4
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # logging did happen
    for token in tokens:
        assert token not in caplog.text
        for text in seen:
            assert token not in text
            assert token.split(".")[2] not in text
