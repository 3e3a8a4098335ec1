"""Glue between the reference ledger and the daemons' tool generators (both routes).

This is the only module of the example that imports ``processors``: the ledger itself knows
nothing about agents.
"""

from __future__ import annotations

from typing import Any

import httpx

from processors.reference import handlers
from processors.reference.handlers import IdempotencyKey
from processors.reference.security import Principal, TokenVerifier
from processors.reference.store import Ledger
from processors.tools.auth import CredentialProvider
from processors.tools.openapi import OpenAPISource, load_document
from processors.tools.reflection import Injection, ReflectedTool, reflect


def reflection_tools(
    ledger: Ledger, verifier: TokenVerifier, credentials: CredentialProvider
) -> dict[str, ReflectedTool]:
    """Tools over the handlers in-process. The principal is whoever the minted credential
    names, as checked by the ledger's own verifier — the same path as over HTTP."""

    def principal(injection: Injection) -> Principal:
        header = (
            None if injection.credential is None else injection.credential.authorization_header()
        )
        return verifier.authenticate(header)

    inject: dict[Any, Any] = {
        Ledger: lambda _injection: ledger,
        Principal: principal,
        IdempotencyKey: lambda injection: injection.ctx.event_id,
    }
    return reflect(handlers.ALL, inject=inject, credentials=credentials)


def openapi_tools(
    base_url: str,
    client: httpx.AsyncClient,
    credentials: CredentialProvider,
    *,
    timeout: float = 10.0,
) -> OpenAPISource:
    """Tools over HTTP, from the document the running API serves at ``/openapi.json``."""
    document = load_document(f"{base_url.rstrip('/')}/openapi.json")
    return OpenAPISource(
        document, base_url=base_url, client=client, credentials=credentials, timeout=timeout
    )
