"""The ledger's own authentication and authorization.

Bearer tokens are compact JWTs signed with HMAC-SHA256 (``alg: HS256``) carrying ``sub``
(the principal), ``tenant``, ``iat``, ``exp`` and ``jti``. The ledger trusts only its signing
key and its own principal table: the role comes from the table, never from the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from processors.reference.models import Role

_WRITE_ROLES: frozenset[str] = frozenset({"admin", "bookkeeper"})


class LedgerError(Exception):
    """An error the HTTP layer turns into a response with ``status`` and ``code``."""

    status = 500
    code = "internal"


class Unauthorized(LedgerError):
    status = 401
    code = "unauthorized"


class Forbidden(LedgerError):
    status = 403
    code = "forbidden"


class NotFound(LedgerError):
    status = 404
    code = "not_found"


class Conflict(LedgerError):
    status = 409
    code = "conflict"


class Invalid(LedgerError):
    status = 422
    code = "invalid"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: who, for which tenant, with which role."""

    principal_id: str
    tenant_id: str
    role: Role

    def require_tenant(self, tenant_id: str) -> None:
        """Refuse access to any tenant but the principal's own."""
        if tenant_id != self.tenant_id:
            raise Forbidden(f"principal {self.principal_id} may not access tenant {tenant_id}")

    def require_write(self, tenant_id: str) -> None:
        self.require_tenant(tenant_id)
        if self.role not in _WRITE_ROLES:
            raise Forbidden(f"role {self.role!r} may not write")


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class TokenVerifier:
    """Checks a bearer token's signature and expiry and looks its principal up."""

    def __init__(
        self,
        key: bytes,
        principals: Mapping[str, tuple[str, Role]],
        *,
        clock: Callable[[], float] = time.time,
        leeway_s: float = 5.0,
    ) -> None:
        self._key = key
        self._principals = dict(principals)
        self._clock = clock
        self._leeway_s = leeway_s

    def __repr__(self) -> str:
        return f"TokenVerifier(principals={len(self._principals)})"

    def authenticate(self, authorization: str | None) -> Principal:
        """Turn an ``Authorization`` header value into a :class:`Principal` or raise 401."""
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("missing bearer token")
        claims = self._verify(authorization.removeprefix("Bearer ").strip())
        sub, tenant = claims.get("sub"), claims.get("tenant")
        known = self._principals.get(sub) if isinstance(sub, str) else None
        if known is None:
            raise Unauthorized("unknown principal")
        if known[0] != tenant:
            raise Forbidden("token tenant does not match the principal's tenant")
        return Principal(principal_id=str(sub), tenant_id=known[0], role=known[1])

    def _verify(self, token: str) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise Unauthorized("malformed token")
        try:
            header = json.loads(_b64decode(parts[0]))
            claims = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except (ValueError, binascii.Error) as exc:
            raise Unauthorized("malformed token") from exc
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise Unauthorized("unsupported token algorithm")
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.digest(), signature):
            raise Unauthorized("bad token signature")
        if not isinstance(claims, dict):
            raise Unauthorized("malformed token")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp + self._leeway_s < self._clock():
            raise Unauthorized("token expired")
        return claims
