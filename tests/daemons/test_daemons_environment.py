"""The daemons' environment from settings: tools from the live API's OpenAPI document, the
tenant directory asking that API as the event's principal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from processors.daemons.environment import environment_from_settings
from processors.errors import ConfigError, UnknownTenant
from processors.reference import sample_app, serve_in_thread
from processors.settings import Settings
from processors.tools.base import CallContext

KEY = "environment-test-signing-key"


@pytest.fixture
def api_url() -> Iterator[str]:
    with serve_in_thread(sample_app(KEY.encode())) as url:
        yield url


def _settings(url: str, key: str | None = KEY) -> Settings:
    return Settings(
        tools_url=url,
        tools_signing_key=SecretStr(key) if key else None,
        model="openai-compatible:http://127.0.0.1:9/v1#unused",
    )


def test_known_tenant_passes_and_unknown_tenant_is_permanent(api_url: str) -> None:
    env = environment_from_settings(_settings(api_url))

    async def check() -> None:
        ok = CallContext(tenant_id="t-ridgeline", principal_id="u-ridgeline-owner", event_id="e")
        await env.tenants.require(ok)
        for tenant in ("t-nobody", "t-quillstack"):  # unknown, and not this principal's
            with pytest.raises(UnknownTenant, match=tenant):
                await env.tenants.require(
                    CallContext(tenant_id=tenant, principal_id="u-ridgeline-owner", event_id="e")
                )

    asyncio.run(check())


def test_tools_come_from_the_live_openapi_document(api_url: str) -> None:
    env = environment_from_settings(_settings(api_url))
    (source,) = env.tool_sources
    assert {"searchDirectory", "listTransactions", "upsertVendor"} <= set(source)


def test_missing_signing_key_or_unreachable_api_is_a_clear_error(api_url: str) -> None:
    with pytest.raises(ConfigError, match="DAEMONS_TOOLS_SIGNING_KEY"):
        environment_from_settings(_settings(api_url, key=None))
    with pytest.raises(ConfigError, match="OpenAPI document"):
        environment_from_settings(_settings("http://127.0.0.1:9"))
