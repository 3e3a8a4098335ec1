"""Names an entity appears under (a vendor's bank descriptors, a client's spellings): each is
a fact of its own whose attribute names the alias, so a new variant adds to what is known
instead of superseding the last one, and an exact lookup needs no search."""

from __future__ import annotations

import hashlib

PREFIX = "alias-"


def squeezed(alias: str) -> str:
    """An alias as compared: upper case, spaces squeezed."""
    return " ".join(alias.upper().split())


def alias_attribute(alias: str) -> str:
    """The attribute of one alias: ``alias-`` and a hash of its squeezed text."""
    return PREFIX + hashlib.sha256(squeezed(alias).encode()).hexdigest()[:16]


def is_alias(attribute: str) -> bool:
    return attribute.startswith(PREFIX)
