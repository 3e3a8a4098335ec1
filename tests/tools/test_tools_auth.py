"""The reference credential provider: JWT-compatible HS256 tokens, never printable."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from pydantic import SecretStr

from processors.reference import TokenVerifier
from processors.reference.data import PRINCIPALS
from processors.reference.security import Forbidden, Unauthorized
from processors.tools.auth import (
    CredentialProvider,
    HmacCredentialProvider,
    HmacCredentialSettings,
)
from processors.tools.base import CallContext

KEY = "auth-test-signing-key"
NOW = 1_780_000_000.0


def _provider(key: str = KEY, ttl: int = 300) -> HmacCredentialProvider:
    settings = HmacCredentialSettings(key=SecretStr(key), ttl_seconds=ttl)
    return HmacCredentialProvider(settings, clock=lambda: NOW)


def _segment(part: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_token_is_a_compact_hs256_jwt_scoped_to_tenant_and_principal() -> None:
    provider = _provider()
    assert isinstance(provider, CredentialProvider)
    ctx = CallContext(tenant_id="t-ridgeline", principal_id="u-ridgeline-owner", event_id="e")
    cred = asyncio.run(provider.credential(ctx))
    header, claims, signature = cred.token.get_secret_value().split(".")
    assert _segment(header) == {"alg": "HS256", "typ": "JWT"}
    body = _segment(claims)
    assert body["sub"] == "u-ridgeline-owner" and body["tenant"] == "t-ridgeline"
    assert body["iat"] == int(NOW) and body["exp"] == int(NOW) + 300
    assert isinstance(body["jti"], str) and len(body["jti"]) >= 12
    assert "=" not in signature
    again = asyncio.run(provider.credential(ctx))
    assert _segment(again.token.get_secret_value().split(".")[1])["jti"] != body["jti"]


def test_the_ledger_accepts_the_token_and_checks_signature_expiry_and_tenant() -> None:
    verifier = TokenVerifier(KEY.encode(), PRINCIPALS, clock=lambda: NOW)
    good = _provider().mint("t-ridgeline", "u-ridgeline-viewer")
    principal = verifier.authenticate(good.authorization_header())
    assert (principal.tenant_id, principal.role) == ("t-ridgeline", "viewer")
    with pytest.raises(Unauthorized, match="signature"):
        verifier.authenticate(
            _provider("another-key")
            .mint("t-ridgeline", "u-ridgeline-viewer")
            .authorization_header()
        )
    with pytest.raises(Unauthorized, match="expired"):
        verifier.authenticate(
            _provider(ttl=1)
            .mint("t-ridgeline", "u-ridgeline-viewer", ttl_seconds=-60)
            .authorization_header()
        )
    with pytest.raises(Unauthorized, match="unknown principal"):
        verifier.authenticate(_provider().mint("t-ridgeline", "u-nobody").authorization_header())
    with pytest.raises(Forbidden):
        verifier.authenticate(
            _provider().mint("t-quillstack", "u-ridgeline-owner").authorization_header()
        )
    with pytest.raises(Unauthorized, match="missing"):
        verifier.authenticate(None)


def test_key_and_token_never_print() -> None:
    settings = HmacCredentialSettings(key=SecretStr(KEY))
    provider = HmacCredentialProvider(settings)
    cred = provider.mint("t-ridgeline", "u-ridgeline-owner")
    secret = cred.token.get_secret_value()
    for text in (
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        repr(provider),
        repr(cred),
        str(cred),
    ):
        assert KEY not in text and secret not in text
