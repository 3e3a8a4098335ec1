"""What the tools returned in one run, as the runtime saw it: the ground truth the checks, the
judge and the write-back guard read (never what the model says a tool returned)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def rows(evidence: Sequence[ToolEvidence], tool: str, key: str) -> list[Mapping[str, Any]]:
    """The records under ``key`` of every successful ``tool`` result of the run, in order:
    ``rows(evidence, "listAccounts", "accounts")`` (what a check or a ``resolve`` reads)."""
    found: list[Mapping[str, Any]] = []
    for item in evidence:
        if item.tool == tool and item.error is None and isinstance(item.result, Mapping):
            listed = item.result.get(key)
            if isinstance(listed, list):
                found.extend(row for row in listed if isinstance(row, Mapping))
    return found
