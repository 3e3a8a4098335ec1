"""The runtime's guard around every tool a daemon's agent or write-back calls: the event's
tenant put into every call, what the tool returned kept as evidence for the checks and
screened for instruction-like content, and a write refused once a read of the run was
flagged. :func:`collecting_evidence` is where that evidence is collected."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from pydantic import BaseModel

from processors.guardrails import defenses as guard_defenses
from processors.guardrails.checks import (
    ToolEvidence,
)
from processors.guardrails.screen import (
    record_flags,
    screen_value,
)
from processors.tools.base import CallContext, Tool, ToolError

_EVIDENCE: ContextVar[list[ToolEvidence]] = ContextVar("tool_evidence")


class _ScopedTool:
    """Delegates to a tool as the runtime's guard: the event's tenant is put into every call
    (a ``tenant_id`` argument is optional for the model and overwritten — the model can never
    name another tenant), what the tool really returned is kept for the checks, screened for
    instruction-like content (flags in the evidence and on the span), and a ``write`` tool is
    refused once an earlier result of the run was flagged."""

    def __init__(self, tool: Tool, *, write: bool = False) -> None:
        self._tool, self._write = tool, write
        schema = tool.input_schema
        self._scoped = "tenant_id" in schema.get("properties", {})
        if self._scoped:
            required = [r for r in schema.get("required", []) if r != "tenant_id"]
            schema = {**schema, "required": required}
        self._schema = schema

    @property
    def name(self) -> str:
        return self._tool.name

    @property
    def description(self) -> str:
        return self._tool.description

    @property
    def input_schema(self) -> dict[str, Any]:
        return self._schema

    @property
    def output_schema(self) -> dict[str, Any] | None:
        return self._tool.output_schema

    async def call(self, arguments: dict[str, Any], ctx: CallContext) -> Any:
        evidence = _EVIDENCE.get([])
        defenses = guard_defenses.current()
        if self._scoped:
            asked = arguments.get("tenant_id")
            if asked not in (None, ctx.tenant_id):
                trace.get_current_span().add_event(
                    "tenant_overridden", {"tool": self.name, "asked": str(asked)}
                )
            if defenses.scoping or asked is None:
                arguments = {**arguments, "tenant_id": ctx.tenant_id}
        where = f"tool:{self.name}"
        tainted = [flag for item in evidence for flag in item.flags]
        if self._write and tainted and defenses.screen:
            message = (
                "write refused: this run's tool results held instruction-like content "
                f"({tainted[0]}); a person must review before anything is written"
            )
            evidence.append(ToolEvidence(self.name, arguments, None, message))
            raise ToolError(message)
        try:
            result = await self._tool.call(arguments, ctx)
        except ToolError as exc:
            flags = _screen(str(exc), f"{where} error", defenses.screen)
            evidence.append(ToolEvidence(self.name, arguments, None, str(exc), flags))
            raise
        plain = _plain(result)
        evidence.append(
            ToolEvidence(self.name, arguments, plain, None, _screen(plain, where, defenses.screen))
        )
        return result


def _screen(value: Any, where: str, enabled: bool) -> tuple[str, ...]:
    """Screen what a tool returned; flags go on the current (execute_tool) span and into the
    evidence, from where ``run_checks`` reports them as the ``prompt_injection`` check."""
    if not enabled:
        return ()
    flags = screen_value(value, where)
    record_flags(flags)
    return tuple(str(flag) for flag in flags)


@contextlib.contextmanager
def collecting_evidence(
    into: list[ToolEvidence] | None = None,
) -> Iterator[list[ToolEvidence]]:
    """Collect what the daemon's tools return inside the block (for checks, evals, tests),
    appending to ``into`` when given: the write-back runs with its run's evidence, so a write
    tool sees what the run's reads were flagged for."""
    evidence: list[ToolEvidence] = into if into is not None else []
    token = _EVIDENCE.set(evidence)
    try:
        yield evidence
    finally:
        _EVIDENCE.reset(token)


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value
