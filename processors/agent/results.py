"""The small typed values the loop passes around: one per turn, one per run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from processors.agent.record import RunRecord
from processors.llm.model import ToolCall
from processors.tools.evidence import ToolEvidence

OutputT = TypeVar("OutputT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class FinalResult(Generic[OutputT]):
    """The turn ended with a final response that validates: the run is done."""

    output: OutputT


@dataclass(frozen=True, slots=True)
class CallTools:
    """The turn asked for tools; ``reason`` is the text the model sent along (may be empty)."""

    calls: tuple[ToolCall, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Correct:
    """The turn's final response was invalid; ``correction`` goes back to the model."""

    correction: str


TurnResult = FinalResult[OutputT] | CallTools | Correct


@dataclass(frozen=True, slots=True)
class RunResult(Generic[OutputT]):
    """A successful run: the validated output, the closed run record, and what the tools
    really returned (the checks' and the judge's ground truth)."""

    output: OutputT
    record: RunRecord
    evidence: tuple[ToolEvidence, ...] = ()


def correction_for(error: ValidationError, schema_name: str) -> Correct:
    """The correction sent back for a final response that failed validation (no input echo)."""
    problems = "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'response'}: {e['msg']}"
        for e in error.errors(include_url=False, include_input=False)[:5]
    )
    return Correct(
        f"Your final response is invalid ({problems}). Reply with only JSON matching the "
        f"{schema_name} schema, or call a tool."
    )
