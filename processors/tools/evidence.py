"""What the tools returned in one run, as the runtime saw it: the ground truth the checks, the
judge and the write-back guard read (never what the model says a tool returned)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolEvidence:
    """One tool call of the run as the runtime saw it (not as the model described it)."""

    tool: str
    arguments: dict[str, Any]  # as the tool received them (the event's tenant put in)
    result: Any
    error: str | None = None
    flags: tuple[str, ...] = ()  # where the screen found instruction-like content in it


Screen = Callable[[Any, str], tuple[str, ...]]
"""(what a tool returned or its error text, where: ``tool:NAME``) -> the screen's flags, each
naming where it found instruction-like content (the guardrails' screen; empty when off)."""


def flagged(evidence: Sequence[ToolEvidence]) -> tuple[str, ...]:
    """Every flag of the run's tool results, in order."""
    return tuple(flag for item in evidence for flag in item.flags)
