"""A daemon's tools act for the event's tenant: the model can leave the tenant out and cannot
name another (:class:`processors.tools.scoped.TenantScoped`, applied by the catalogue)."""

from __future__ import annotations

import asyncio

from processors.agent.fakes import FunctionTool
from processors.tools.base import CallContext
from processors.tools.catalog import ToolCatalog
from processors.tools.scoped import TenantScoped, arguments_run
from processors.untrusted import defenses

CTX = CallContext(tenant_id="t-ridgeline", principal_id="u-1", event_id="e-1")
SCHEMA = {
    "type": "object",
    "properties": {"tenant_id": {"type": "string"}, "limit": {"type": "integer"}},
    "required": ["tenant_id", "limit"],
}


def accounts() -> FunctionTool:
    return FunctionTool(
        "listAccounts", lambda a, c: {"tenant": a.get("tenant_id")}, input_schema=SCHEMA
    )


def test_the_event_tenant_replaces_whatever_the_model_names_or_omits() -> None:
    tool = accounts()
    scoped = TenantScoped(tool)
    assert scoped.input_schema["required"] == ["limit"]  # optional for the model
    for asked in ({"limit": 1}, {"limit": 1, "tenant_id": "t-quillstack"}):
        assert asyncio.run(scoped.call(asked, CTX)) == {"tenant": "t-ridgeline"}
    assert [args["tenant_id"] for args, _ in tool.calls] == ["t-ridgeline", "t-ridgeline"]
    assert arguments_run(scoped, {"tenant_id": "t-x"}, CTX) == {"tenant_id": "t-ridgeline"}
    assert arguments_run(tool, {"tenant_id": "t-x"}, CTX) == {"tenant_id": "t-x"}  # unscoped


def test_a_tool_without_a_tenant_argument_is_called_as_asked() -> None:
    tool = FunctionTool("searchDirectory", lambda a, c: dict(a))
    assert asyncio.run(TenantScoped(tool).call({"query": "x"}, CTX)) == {"query": "x"}


def test_only_the_red_team_benchmark_can_switch_scoping_off() -> None:
    scoped = TenantScoped(accounts())
    with defenses.disabled(fencing=False, screen=False, scoping=True):
        assert scoped.arguments_for({"tenant_id": "t-quillstack"}, CTX)["tenant_id"] == (
            "t-quillstack"
        )
        assert scoped.arguments_for({}, CTX)["tenant_id"] == "t-ridgeline"


def test_a_daemons_catalogue_scopes_every_tool() -> None:
    source = {"listAccounts": accounts()}
    assert isinstance(ToolCatalog.build([source], ["listAccounts"], tenant_scoped=True)
                      .get("listAccounts"), TenantScoped)  # fmt: skip
    assert not isinstance(ToolCatalog.build([source], ["listAccounts"]).get("listAccounts"),
                          TenantScoped)  # fmt: skip
