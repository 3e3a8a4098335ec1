"""Auth passthrough: tools call existing APIs *as the event's principal*.

Events carry ``tenant_id`` and ``principal_id``, never a token. At call time a
:class:`CredentialProvider` mints a short-lived credential scoped to exactly that tenant and
principal, so the API's own authorization decides and an agent can never exceed the rights of
the principal it acts for. A :class:`Credential` masks itself in ``repr``/``str``; only
:meth:`Credential.authorization_header` reveals it, at the moment it goes on the wire.

:class:`HmacCredentialProvider` is the reference provider: compact JWTs (``HS256``) with
``sub``, ``tenant``, ``iat``, ``exp`` and ``jti``, built with the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from processors.tools.base import CallContext
from processors.untrusted.redaction import remember_secret


@dataclass(frozen=True)
class Credential:
    """A short-lived bearer credential for one tenant and principal. Never printable."""

    token: SecretStr = field(repr=False)
    tenant_id: str
    principal_id: str
    expires_at: float

    def __post_init__(self) -> None:
        remember_secret(self.token.get_secret_value(), minted=True)  # known if echoed

    def authorization_header(self) -> str:
        """The ``Authorization`` header value; call only where it goes on the wire."""
        return f"Bearer {self.token.get_secret_value()}"

    def __str__(self) -> str:
        return repr(self)


@runtime_checkable
class CredentialProvider(Protocol):
    """Mints credentials for the principal an event names. Implementations may call a token
    service; they must scope the credential to ``ctx.tenant_id`` and ``ctx.principal_id``."""

    async def credential(self, ctx: CallContext) -> Credential: ...


class HmacCredentialSettings(BaseModel):
    """Configuration of :class:`HmacCredentialProvider`; the key prints as ``**********``."""

    model_config = ConfigDict(frozen=True)

    key: SecretStr
    ttl_seconds: int = Field(default=300, ge=1, le=3600)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class HmacCredentialProvider:
    """Signs HS256 compact JWTs that the API verifies with the same key."""

    def __init__(
        self, settings: HmacCredentialSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._clock = clock
        remember_secret(settings.key.get_secret_value())

    def __repr__(self) -> str:
        return f"HmacCredentialProvider(ttl_seconds={self._settings.ttl_seconds})"

    async def credential(self, ctx: CallContext) -> Credential:
        return self.mint(ctx.tenant_id, ctx.principal_id)

    def mint(
        self, tenant_id: str, principal_id: str, *, ttl_seconds: int | None = None
    ) -> Credential:
        """Sign a token now; ``ttl_seconds`` overrides the configured lifetime (tests use a
        negative one to get an expired token)."""
        now = int(self._clock())
        ttl = self._settings.ttl_seconds if ttl_seconds is None else ttl_seconds
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            "sub": principal_id,
            "tenant": tenant_id,
            "iat": now,
            "exp": now + ttl,
            "jti": secrets.token_urlsafe(12),
        }
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        key = self._settings.key.get_secret_value().encode()
        signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return Credential(
            token=SecretStr(f"{signing_input}.{_b64(signature)}"),
            tenant_id=tenant_id,
            principal_id=principal_id,
            expires_at=float(now + ttl),
        )
