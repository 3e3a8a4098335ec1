"""The tenant guard asks the existing API once per (tenant, principal), however many events of
that pair arrive at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr

from processors.daemons.environment import ApiTenantDirectory
from processors.errors import UnknownTenant
from processors.reference import sample_app, serve_in_thread
from processors.reference.as_tools import openapi_tools
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.base import CallContext

KEY = "tenant-directory-test-key"


def test_concurrent_lookups_of_one_tenant_share_one_request() -> None:
    app = sample_app(KEY.encode())
    asked: list[str] = []
    real = app.handle
    app.handle = lambda m, t, h, b: (asked.append(t), real(m, t, h, b))[1]  # type: ignore[method-assign]
    known = CallContext(tenant_id="t-ridgeline", principal_id="u-ridgeline-owner", event_id="e")
    foreign = CallContext(tenant_id="t-quillstack", principal_id="u-ridgeline-owner", event_id="e")

    async def go(url: str) -> list[BaseException | None]:
        credentials = HmacCredentialProvider(HmacCredentialSettings(key=SecretStr(KEY)))
        async with httpx.AsyncClient() as client:
            directory = ApiTenantDirectory(openapi_tools(url, client, credentials)["getClient"])
            asked.clear()
            await asyncio.gather(*(directory.require(known) for _ in range(25)))
            await directory.require(known)  # remembered
            return await asyncio.gather(
                *(directory.require(foreign) for _ in range(25)), return_exceptions=True
            )

    with serve_in_thread(app) as url:
        refused = asyncio.run(go(url))
    lookups = [t for t in asked if t.startswith("/tenants/")]
    assert len(lookups) == 2, asked  # one for the known pair, one for the foreign one
    assert all(isinstance(r, UnknownTenant) for r in refused)
    with pytest.raises(UnknownTenant, match="unknown to principal 'u-ridgeline-owner'"):
        raise refused[0]  # type: ignore[misc]
