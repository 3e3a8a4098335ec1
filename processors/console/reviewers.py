"""Who may review, and which tenants each may see: the reviewers file.

A TOML file, one ``[[reviewer]]`` table each::

    [[reviewer]]
    id = "u-anna"                       # recorded as the feedback's principal_id
    name = "Anna Berg"                  # shown in the console
    token_sha256 = "9f86d08…"           # SHA-256 (hex) of the reviewer's token, never the token
    tenants = ["t-ridgeline"]           # the tenants whose held results this reviewer sees

Tokens are random (``daemons review token`` makes one: 256 bits), so a plain SHA-256 is
enough to keep the file from being a list of passwords — there is nothing to guess. A
reviewer is found by hashing the presented token and comparing it, in constant time, with
every reviewer's hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from processors.errors import ConfigError

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$")


@dataclass(frozen=True)
class Reviewer:
    id: str
    name: str
    tenants: frozenset[str]
    token_sha256: str

    def may_see(self, tenant_id: str) -> bool:
        return tenant_id in self.tenants


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh reviewer token: 32 random bytes, URL-safe text."""
    return secrets.token_urlsafe(32)


class Reviewers:
    """The reviewers of one file, looked up by token or by id."""

    def __init__(self, reviewers: Iterable[Reviewer]) -> None:
        self._by_id = {r.id: r for r in reviewers}

    def __iter__(self) -> Iterator[Reviewer]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, reviewer_id: str) -> Reviewer | None:
        return self._by_id.get(reviewer_id)

    def authenticate(self, token: str) -> Reviewer | None:
        """The reviewer whose token this is, or None. Every hash is compared (no early exit)."""
        presented = hash_token(token)
        found = None
        for reviewer in self._by_id.values():
            if hmac.compare_digest(presented, reviewer.token_sha256):
                found = reviewer
        return found

    @classmethod
    def load(cls, path: Path) -> Reviewers:
        """Read a reviewers file; a bad entry is a :class:`ConfigError` naming the file and
        the entry."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the reviewers file: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not TOML: {exc}") from exc
        entries = data.get("reviewer")
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{path}: no [[reviewer]] tables")
        reviewers: list[Reviewer] = []
        for number, entry in enumerate(entries, 1):
            reviewers.append(_reviewer(path, number, entry))
        ids = [r.id for r in reviewers]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ConfigError(f"{path}: reviewer id {duplicates[0]!r} appears twice")
        hashes = [r.token_sha256 for r in reviewers]
        if len(set(hashes)) != len(hashes):
            raise ConfigError(f"{path}: two reviewers share one token")
        return cls(reviewers)


def _reviewer(path: Path, number: int, entry: object) -> Reviewer:
    where = f"{path}: reviewer #{number}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: not a table")
    unknown = sorted(set(entry) - {"id", "name", "token_sha256", "tenants", "token"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}")
    if "token" in entry:
        raise ConfigError(
            f"{where}: a token in plain text; keep only its hash as token_sha256 "
            "(daemons review token prints both)"
        )
    ident = entry.get("id")
    if not isinstance(ident, str) or not _ID.match(ident):
        raise ConfigError(f"{where}: id must be a short id (letters, digits, . _ @ : -)")
    digest = entry.get("token_sha256")
    if not isinstance(digest, str) or not _HEX64.match(digest.lower()):
        raise ConfigError(f"{where} ({ident}): token_sha256 must be 64 hex digits")
    tenants = entry.get("tenants")
    if (
        not isinstance(tenants, list)
        or not tenants
        or not all(isinstance(t, str) and t for t in tenants)
    ):
        raise ConfigError(f"{where} ({ident}): tenants must be a non-empty list of tenant ids")
    name = entry.get("name", ident)
    if not isinstance(name, str):
        raise ConfigError(f"{where} ({ident}): name must be text")
    return Reviewer(ident, name, frozenset(tenants), digest.lower())
