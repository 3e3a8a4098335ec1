"""Agent-core benchmarks: loop overhead per turn, and planning vs no planning.

    .venv/bin/python benchmarks/agent.py [--turns 2000] [--sections loop_overhead,planning]

Each section is a function returning a dict of figures; ``main`` runs the chosen sections,
prints a readable line per figure and, as its LAST line, one JSON object with every figure
(``{"section": {...}, ...}``). To add a section, write ``section_<name>(args) -> dict`` (add
its options to the parser in ``main``) and register it in ``SECTIONS``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from processors.agent import Agent, Limits, Planner, Prompt
from processors.agent.fakes import FunctionTool
from processors.llm.fakes import FunctionModel, ScriptedModel, call, reply, tool_calls
from processors.llm.model import (
    Model,
    ModelRequest,
    ModelResponse,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from processors.tools.base import CallContext

CTX = CallContext(tenant_id="bench", principal_id="bench", event_id="bench")
INSTRUCTIONS = Prompt.from_text("You enrich vendor records.", name="bench_sys")
TASK = Prompt.from_text("Task: {task}", name="bench_task")
OPEN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"q": {"type": "string"}}}


class Answer(BaseModel):
    done: bool


class _Timed:
    """Wraps a model and adds up the time spent inside it (the no-op tool's own time is
    counted as loop overhead: a conservative figure)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def model(self, inner: ScriptedModel) -> Model:
        timer = self

        class TimedModel:
            name, provider = inner.name, inner.provider

            async def complete(self, request: ModelRequest) -> ModelResponse:
                started = time.perf_counter()
                try:
                    return await inner.complete(request)
                finally:
                    timer.seconds += time.perf_counter() - started

        return TimedModel()


def _overhead(turns: int, runs: int) -> dict[str, float]:
    """``runs`` runs of ``turns`` turns each (turns-1 tool turns, then the answer)."""
    usage = Usage(input_tokens=1, output_tokens=1)
    step = ModelResponse(
        message=tool_calls(call("noop", {"q": "x"}, id="c")), usage=usage, model="zero"
    )
    final = ModelResponse(message=reply({"done": True}), usage=usage, model="zero")
    limits = Limits(max_turns=turns, max_tokens=10 * turns, timeout_s=600)
    total = inside = 0.0
    for _ in range(runs):
        timer = _Timed()
        scripted = ScriptedModel([step] * (turns - 1) + [final], name="scripted:zero")
        tool = FunctionTool("noop", lambda a, c: {"ok": True}, input_schema=OPEN_SCHEMA)
        agent = Agent(
            daemon="bench",
            model=timer.model(scripted),
            instructions=INSTRUCTIONS,
            task=TASK,
            output_type=Answer,
            tools=[tool],
            limits=limits,
        )
        started = time.perf_counter()
        asyncio.run(agent.run({"task": "loop"}, CTX))
        total += time.perf_counter() - started
        inside += timer.seconds
        scripted.assert_all_consumed()
    per_turn_ms = (total - inside) / (turns * runs) * 1000
    return {
        "turns": turns * runs,
        "wall_s": round(total, 4),
        "model_and_tool_s": round(inside, 4),
        "overhead_ms_per_turn": round(per_turn_ms, 4),
    }


def section_loop_overhead(args: argparse.Namespace) -> dict[str, Any]:
    """Loop cost per turn, model and tool time excluded (zero-latency scripted model, no-op
    tool). One long run (the conversation grows to ``turns``) and many short (10-turn) runs."""
    long_run = _overhead(args.turns, 1)
    short_runs = _overhead(10, max(1, args.turns // 10))
    return {
        "long_run_turns": long_run["turns"],
        "long_run_wall_s": long_run["wall_s"],
        "long_run_overhead_ms_per_turn": long_run["overhead_ms_per_turn"],
        "short_runs_turns": short_runs["turns"],
        "short_runs_wall_s": short_runs["wall_s"],
        "short_runs_overhead_ms_per_turn": short_runs["overhead_ms_per_turn"],
        "bar_ms_per_turn": 1.0,
        "meets_bar": max(long_run["overhead_ms_per_turn"], short_runs["overhead_ms_per_turn"])
        <= 1.0,
    }


# --- planning vs no planning ------------------------------------------------------------

CATALOGUE = [
    "search_directory",
    "lookup_category",
    "fetch_website",
    "list_transactions",
    "get_client",
    "check_sanctions",
]
TASKS = {  # task -> the tools it really needs, in order
    "enrich_vendor": ["search_directory", "fetch_website", "lookup_category"],
    "onboard_client": ["get_client", "check_sanctions"],
    "answer_question": ["list_transactions"],
}
PLANNER_LATENCY_S = 0.006  # a reasoning model is slower per call...
EXECUTOR_LATENCY_S = 0.002  # ...than the executor


def _done(request: ModelRequest) -> list[str]:
    return [m.name for m in request.messages if isinstance(m, ToolResultMessage)]


def _unplanned_executor(needed: list[str]) -> Callable[[ModelRequest], Any]:
    """Without a plan the executor explores the catalogue in order until it has what it needs."""

    def act(request: ModelRequest) -> Any:
        done = _done(request)
        if all(tool in done for tool in needed):
            return reply({"done": True})
        return tool_calls(call(CATALOGUE[len(done)], {"q": "x"}))

    return act


def _planned_executor(request: ModelRequest) -> Any:
    """With a plan the executor calls the planned tools in order, then answers."""
    shown = [m.content for m in request.messages if isinstance(m, UserMessage)]
    plan = re.findall(r"^\d+\. (\w+):", "\n".join(shown), re.MULTILINE)
    done = _done(request)
    if len(done) >= len(plan):
        return reply({"done": True})
    return tool_calls(call(plan[len(done)], {"q": "x"}))


def _planner(needed: list[str]) -> Callable[[ModelRequest], Any]:
    def plan(request: ModelRequest) -> Any:
        return reply({"steps": [{"tool": t, "why": "needed for the task"} for t in needed]})

    return plan


def _run_task(task: str, needed: list[str], *, planned: bool) -> dict[str, Any]:
    tools = [
        FunctionTool(name, lambda a, c: {"ok": True}, input_schema=OPEN_SCHEMA)
        for name in CATALOGUE
    ]
    if planned:
        executor = FunctionModel(
            _planned_executor, name="sim:executor", latency_s=EXECUTOR_LATENCY_S
        )
        planner = Planner(
            FunctionModel(_planner(needed), name="sim:planner", latency_s=PLANNER_LATENCY_S)
        )
    else:
        executor = FunctionModel(
            _unplanned_executor(needed), name="sim:executor", latency_s=EXECUTOR_LATENCY_S
        )
        planner = None
    agent = Agent(
        daemon="bench",
        model=executor,
        instructions=INSTRUCTIONS,
        task=TASK,
        output_type=Answer,
        tools=tools,
        planner=planner,
    )
    started = time.perf_counter()
    record = asyncio.run(agent.run({"task": task}, CTX)).record
    totals = record.totals
    return {
        "turns": totals.turns,
        "model_calls": totals.model_calls,
        "tool_calls": totals.tool_calls,
        "tokens": totals.input_tokens + totals.output_tokens,
        "wall_s": time.perf_counter() - started,
    }


def section_planning(args: argparse.Namespace) -> dict[str, Any]:
    """The same three scripted tasks with and without a planner (simulated models: the
    unplanned executor explores the catalogue; the planned one follows the plan)."""
    figures: dict[str, Any] = {}
    for mode in ("no_planning", "planning"):
        sums = {"turns": 0, "model_calls": 0, "tool_calls": 0, "tokens": 0, "wall_s": 0.0}
        for task, needed in TASKS.items():
            for key, value in _run_task(task, needed, planned=mode == "planning").items():
                sums[key] += value
        sums["wall_s"] = round(sums["wall_s"], 4)
        figures.update({f"{mode}_{key}": value for key, value in sums.items()})
    figures["tasks"] = len(TASKS)
    return figures


SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "loop_overhead": section_loop_overhead,
    "planning": section_planning,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000, help="turns for loop_overhead")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for name in args.sections.split(","):
        figures = SECTIONS[name](args)
        results[name] = figures
        for key, value in figures.items():
            print(f"{name}.{key}: {value}")
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
