"""Which prompt-injection defenses are on. Always all of them — except inside
:func:`disabled`, which exists only so ``benchmarks/redteam.py`` can measure what the
defenses are worth (attack success with them on and off). Nothing in the product calls it.

The runtime's allowlist and the API's own authorization are not switchable: they are not
defenses against the model's gullibility but the boundary of what a daemon may do at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Defenses:
    fencing: bool = True  # untrusted data delimited and labeled in the prompt
    screen: bool = True  # instruction-like content flagged (prompt_injection check)
    scoping: bool = True  # the event's tenant overwrites any tenant_id the model names


ON = Defenses()
_CURRENT: ContextVar[Defenses] = ContextVar("guardrail_defenses", default=ON)


def current() -> Defenses:
    return _CURRENT.get()


@contextlib.contextmanager
def disabled(
    *, fencing: bool = True, screen: bool = True, scoping: bool = True
) -> Iterator[Defenses]:
    """Turn the named defenses off inside the block (benchmark only): ``True`` = disable."""
    off = Defenses(fencing=not fencing, screen=not screen, scoping=not scoping)
    token = _CURRENT.set(off)
    try:
        yield off
    finally:
        _CURRENT.reset(token)
