"""The tool port: a :class:`Tool` is something the agent may call, with JSON Schemas for its
input and output. Tools are generated (by reflection over Python handlers or from an OpenAPI
document), never hand-written per daemon, and always called *as* the event's principal
(:class:`~processors.context.CallContext`, re-exported here).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from processors.context import CallContext


class ToolError(Exception):
    """A tool failed in a way the model should hear about (validation, 4xx/5xx, timeout).

    ``status`` is the HTTP status where there is one; ``retryable`` says whether the same call
    may succeed if tried again (never for 401/403)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@runtime_checkable
class Tool(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def input_schema(self) -> dict[str, Any]: ...

    @property
    def output_schema(self) -> dict[str, Any] | None: ...

    async def call(self, arguments: dict[str, Any], ctx: CallContext) -> Any:
        """Run the tool; return JSON-serializable data or raise :class:`ToolError`."""
        ...


class ToolBase:
    """The read-only identity every concrete tool shares; subclasses set the four fields in
    ``__init__`` and implement ``call``."""

    _name: str
    _description: str
    _input_schema: dict[str, Any]
    _output_schema: dict[str, Any] | None

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str:
        return self._description

    @property
    def input_schema(self) -> dict[str, Any]:
        return self._input_schema

    @property
    def output_schema(self) -> dict[str, Any] | None:
        return self._output_schema


__all__ = ["CallContext", "Tool", "ToolBase", "ToolError"]
