"""Shared builders for the agent tests: a small vendor-enrichment agent and its tools."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

from processors.agent import Agent, Limits, Planner, Prompt
from processors.agent.fakes import FunctionTool
from processors.llm.model import Model
from processors.tools.base import CallContext, Tool

INSTRUCTIONS = Prompt.from_text("You enrich vendor records for bookkeeping.", name="enrich_sys")
TASK = Prompt.from_text("Enrich this vendor: {vendor}", name="enrich_task")
EVENT = {"vendor": "ACME CORP*4412 PAYMENT"}


class VendorProfile(BaseModel):
    name: str
    website: str | None = None
    category: Literal["software", "travel", "office", "other"]


GOOD_ANSWER = {"name": "Acme Corp", "website": "https://acme.example", "category": "software"}

SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"query": {"type": "string", "minLength": 1}},
    "required": ["query"],
    "additionalProperties": False,
}


def search_tool(fn: Callable[[dict[str, Any], CallContext], Any] | None = None) -> FunctionTool:
    def default(arguments: dict[str, Any], ctx: CallContext) -> Any:
        return {"matches": [{"name": "Acme Corp", "website": "https://acme.example"}]}

    return FunctionTool(
        "search_directory",
        fn or default,
        input_schema=SEARCH_SCHEMA,
        description="Search the vendor directory by name.",
    )


def lookup_tool(fn: Callable[[dict[str, Any], CallContext], Any] | None = None) -> FunctionTool:
    def default(arguments: dict[str, Any], ctx: CallContext) -> Any:
        return {"category": "software"}

    return FunctionTool(
        "lookup_category",
        fn or default,
        input_schema={
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
        },
        description="Look up a vendor's category.",
    )


def make_agent(
    model: Model,
    tools: list[Tool] | None = None,
    *,
    limits: Limits | None = None,
    planner: Planner | None = None,
    tracer: Any = None,
) -> Agent[VendorProfile]:
    return Agent(
        daemon="vendor-enricher",
        model=model,
        instructions=INSTRUCTIONS,
        task=TASK,
        output_type=VendorProfile,
        tools=tools if tools is not None else [search_tool()],
        limits=limits or Limits(),
        planner=planner,
        tracer=tracer,
    )


def ctx(run_id: str = "run-1") -> CallContext:
    return CallContext(tenant_id="t-1", principal_id="u-7", event_id="e-42", run_id=run_id)
