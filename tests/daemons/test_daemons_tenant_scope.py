"""The runtime, not the model, decides the tenant of every tool call."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx

from processors.agent import Limits
from processors.daemons import registry
from processors.daemons.base import Environment, build_agent
from processors.daemons.environment import ApiTenantDirectory
from processors.llm.fakes import FunctionModel, call, reply, tool_calls
from processors.llm.model import AssistantMessage, ModelRequest, ToolResultMessage
from processors.reference import sample_app, serve_in_thread
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.base import CallContext
from processors.tools.openapi import OpenAPISource, load_document

KEY = "scope-test-key"


def agentic(**changes: Any) -> Any:
    """The question-answering use case as a plain tool-calling agent (the daemon's own model
    calls no tools: code makes its reads), so the model here makes the calls itself."""
    return dataclasses.replace(
        registry.use_case("question-answering"), context=(), gather=None, answer_type=None,
        resolve=None, answer_schema=None, task_notes=None, follow_up=None,
        limits=Limits(max_turns=4), evidence_first=True, **changes,
    )  # fmt: skip


EVENT: dict[str, Any] = {
    "event_id": "e1", "tenant_id": "t-ridgeline", "principal_id": "u-ridgeline-owner",
    "occurred_at": "2026-10-01T00:00:00+00:00", "question_id": "q1",
    "question": "List the chart of accounts of t-quillstack.", "conversation_id": None,
}  # fmt: skip


def test_a_tool_call_naming_another_tenant_runs_for_the_events_tenant() -> None:
    def respond(request: ModelRequest) -> AssistantMessage:
        if not any(isinstance(m, ToolResultMessage) for m in request.messages):
            listing = next(t for t in request.tools if t.name == "listAccounts")
            assert "tenant_id" not in listing.parameters.get("required", [])
            return tool_calls(call("listAccounts", {"tenant_id": "t-quillstack"}))  # obedient
        return reply({"can_answer": False, "answer": "No.", "reason": "Not this tenant's data."})

    with serve_in_thread(sample_app(KEY.encode())) as url:
        credentials = HmacCredentialProvider(HmacCredentialSettings(key=KEY))  # type: ignore[arg-type]
        source = OpenAPISource(
            load_document(f"{url}/openapi.json"), base_url=url,
            client=httpx.AsyncClient(), credentials=credentials,
        )  # fmt: skip
        env = Environment(
            model=FunctionModel(respond), tool_sources=[source],
            tenants=ApiTenantDirectory(source["getClient"]),
        )  # fmt: skip
        # without the gathered reads, so the (obedient) model makes the call itself
        use_case = agentic()
        agent = build_agent(use_case, env)
        ctx = CallContext(tenant_id="t-ridgeline", principal_id="u-ridgeline-owner", event_id="e1")

        async def run() -> list[Any]:
            return list((await agent.run(EVENT, ctx)).evidence)

        (evidence,) = asyncio.run(run())
    assert evidence.arguments["tenant_id"] == "t-ridgeline"
    assert evidence.error is None
    assert "t-quillstack" not in str(evidence.result)


def test_the_events_context_is_the_one_every_tool_call_gets() -> None:
    """One context type from decode to the tool: the handler passes the event's own
    CallContext on (with the run's id), not a copy rebuilt field by field."""
    from opentelemetry.trace import INVALID_SPAN

    from processors.agent.fakes import FunctionTool
    from processors.daemons.base import build_daemon
    from processors.runtime.daemon import EventContext

    seen: list[CallContext] = []
    accounts = FunctionTool("listAccounts", lambda a, c: seen.append(c) or {"accounts": []})

    def respond(request: ModelRequest) -> AssistantMessage:
        if not any(isinstance(m, ToolResultMessage) for m in request.messages):
            return tool_calls(call("listAccounts", {}))
        return reply({"can_answer": False, "answer": "No.", "reason": "Nothing there."})

    class Everyone:
        async def require(self, ctx: CallContext) -> None:
            return None

    use_case = agentic(tools=("listAccounts",), views={})
    env = Environment(model=FunctionModel(respond), tool_sources=[{"listAccounts": accounts}],
                      tenants=Everyone())  # fmt: skip
    decoded = CallContext(tenant_id="t-ridgeline", principal_id="u-ridgeline-owner",
                          event_id="e1")  # fmt: skip
    ctx = EventContext(daemon=use_case.name, call=decoded, topic=use_case.input_topic,
                       partition=0, offset=0, key=None, attempt=1, span=INVALID_SPAN)  # fmt: skip
    asyncio.run(build_daemon(use_case, env).handler(EVENT, ctx))
    (got,) = seen
    assert got.model_dump(exclude={"run_id"}) == decoded.model_dump(exclude={"run_id"})
    assert got.run_id  # the run's id, added to the event's context
    assert (ctx.tenant_id, ctx.principal_id, ctx.event_id) == ("t-ridgeline", "u-ridgeline-owner",
                                                               "e1")  # fmt: skip
