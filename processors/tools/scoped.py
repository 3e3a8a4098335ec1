"""A daemon's tools act for the event's tenant only: :class:`TenantScoped` puts the event's
tenant into every call of a tool that takes a ``tenant_id``. The model may leave it out (it
is optional in the schema the model sees) and cannot name another: whatever it passes is
overwritten by the tenant of the :class:`~processors.tools.base.CallContext`, which comes
from the event, never from the model. :meth:`ToolCatalog.build` applies it to every tool of
a daemon's catalogue (``tenant_scoped=True``)."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from processors.tools.base import CallContext, Tool, ToolBase
from processors.untrusted import defenses


class TenantScoped(ToolBase):
    """``tool``, called for the event's tenant."""

    def __init__(self, tool: Tool) -> None:
        self._tool = tool
        self._name, self._description = tool.name, tool.description
        self._output_schema = tool.output_schema
        schema = tool.input_schema
        self.takes_tenant = "tenant_id" in schema.get("properties", {})
        if self.takes_tenant:
            required = [r for r in schema.get("required", []) if r != "tenant_id"]
            schema = {**schema, "required": required}
        self._input_schema = schema

    def arguments_for(self, arguments: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """The arguments the tool runs with: the event's tenant in ``tenant_id`` (pure)."""
        if not self.takes_tenant:
            return arguments
        asked = arguments.get("tenant_id")
        if asked is None or defenses.current().scoping:  # off only in the red-team benchmark
            return {**arguments, "tenant_id": ctx.tenant_id}
        return arguments

    async def call(self, arguments: dict[str, Any], ctx: CallContext) -> Any:
        asked = arguments.get("tenant_id") if self.takes_tenant else None
        if asked not in (None, ctx.tenant_id):
            trace.get_current_span().add_event(
                "tenant_overridden", {"tool": self.name, "asked": str(asked)}
            )
        return await self._tool.call(self.arguments_for(arguments, ctx), ctx)


def arguments_run(tool: Tool, arguments: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    """What ``tool`` receives for ``arguments``: scoped when it is :class:`TenantScoped`."""
    return tool.arguments_for(arguments, ctx) if isinstance(tool, TenantScoped) else arguments
