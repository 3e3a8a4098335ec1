"""Shared pieces of the observability tests: a daemon wired to the reference API over real
HTTP, played models (planner and executor), and the span tree as nested tuples."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from processors.daemons import registry
from processors.daemons.base import Environment, build_daemon
from processors.daemons.environment import ApiTenantDirectory
from processors.llm.fakes import FunctionModel, call, reply, tool_calls
from processors.llm.model import AssistantMessage, ModelRequest, ToolResultMessage
from processors.runtime.daemon import Daemon
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.openapi import OpenAPISource, load_document

ROOT = Path(__file__).resolve().parents[2]
KEY = "observability-signing-key"
DAEMON = "vendor-enrichment"
VENDOR_ANSWER: dict[str, Any] = {  # the model's choice: nothing matched
    "business_id": None, "existing_vendor_id": None, "name": None, "account_category": None,
}  # fmt: skip
PLAN = {"steps": [{"tool": "searchDirectory", "why": "find the business behind the descriptor"}]}


def _samples(topic: str) -> Path:
    """The sample events of the daemon reading ``topic``."""
    found = [u.samples for u in registry.use_cases() if u.input_topic == topic and u.samples]
    assert found, f"no daemon with samples reads {topic}"
    return found[0]


def sample_event(topic: str = "vendors.discovered") -> dict[str, Any]:
    line = _samples(topic).read_text().splitlines()[0]
    return dict(json.loads(line))


def executor(event: dict[str, Any]) -> FunctionModel:
    """Searches the directory first (evidence first), then answers 'not established'."""

    def respond(request: ModelRequest) -> AssistantMessage:
        if not any(isinstance(m, ToolResultMessage) for m in request.messages):
            return tool_calls(call("searchDirectory", {"query": event["raw_descriptor"]}))
        return reply(VENDOR_ANSWER)

    return FunctionModel(respond, name=f"function:{DAEMON}")


def planner() -> FunctionModel:
    return FunctionModel(lambda request: reply(PLAN), name="function:planner")


def vendor_daemon(url: str, provider: TracerProvider, event: dict[str, Any]) -> Daemon:
    """vendor-enrichment with planning on, tools over real HTTP, every span on ``provider``."""
    credentials = HmacCredentialProvider(HmacCredentialSettings(key=KEY))  # type: ignore[arg-type]
    source = OpenAPISource(
        load_document(f"{url}/openapi.json"), base_url=url, client=httpx.AsyncClient(),
        credentials=credentials, tracer=provider.get_tracer("tools"),
    )  # fmt: skip
    env = Environment(
        model=executor(event), planner_model=planner(), tool_sources=[source],
        tenants=ApiTenantDirectory(source["getClient"]), tracer=provider.get_tracer("daemons"),
    )  # fmt: skip
    # gathered reads (made by code before the first turn) are off: the played model makes
    # the one call, so the tree shows plan → chat → execute_tool → chat
    # the model makes the reads itself (no gathered calls, tool turns allowed), after a plan
    base = registry.use_case(DAEMON)
    limits = base.limits.model_copy(update={"max_tool_turns": None, "max_turns": 8})
    use_case = dataclasses.replace(base, planning=True, context=(), gather=None, limits=limits)
    daemon = build_daemon(use_case, env)
    return dataclasses.replace(daemon, group_id=f"{DAEMON}-{uuid.uuid4().hex[:8]}")


Tree = tuple[str, str, tuple["Tree", ...]]


def span_tree(spans: Sequence[ReadableSpan]) -> list[Tree]:
    """The spans as (name, kind, children) trees, children in start order."""
    ids = {s.context.span_id for s in spans}
    children: dict[int | None, list[ReadableSpan]] = {}
    for s in spans:
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
        children.setdefault(parent, []).append(s)

    def build(s: ReadableSpan) -> Tree:
        kids = sorted(children.get(s.context.span_id, []), key=lambda c: c.start_time or 0)
        return (s.name, s.kind.name, tuple(build(k) for k in kids))

    return [build(s) for s in sorted(children.get(None, []), key=lambda c: c.start_time or 0)]


def trace_hex(span: ReadableSpan) -> str:
    return f"{span.context.trace_id:032x}"


def span_hex(span: ReadableSpan) -> str:
    return f"{span.context.span_id:016x}"
