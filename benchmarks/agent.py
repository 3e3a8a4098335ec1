"""Agent-core benchmarks: loop overhead per turn, and planning vs no planning.

    .venv/bin/python benchmarks/agent.py [--turns 2000] [--sections loop_overhead,planning]
    .venv/bin/python benchmarks/agent.py --sections all       # also the local-model sections
    .venv/bin/python benchmarks/agent.py --sections local_validity,local_planning

The local-model sections (``local_validity``, ``local_planning``) start ``daemons llm serve``
and take minutes on a CPU, so they run only when named (or with ``--sections all``); without
the ``local`` extras they print a note and report ``null`` figures.

Each section is a function returning a dict of figures; ``main`` runs the chosen sections,
prints a readable line per figure and, as its LAST line, one JSON object with every figure
(``{"section": {...}, ...}``). To add a section, write ``section_<name>(args) -> dict`` (add
its options to the parser in ``main``) and register it in ``SECTIONS``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
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


# --- the local model: tool-call validity, and planning vs no planning -------------------

LOCAL_MODEL_NAMES = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b")
VALIDITY_BAR = 0.90  # valid calls, for the 1.5B model


def _bench_module(name: str) -> Any:
    """A data module next to this script (the script also runs via ``runpy``, off sys.path)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module(name)


def _local_missing(model_name: str) -> str | None:
    """Why the local model cannot be served here (``None``: it can)."""
    from processors.llm.local.catalog import LOCAL_MODELS

    for package in ("xllamacpp", "jsonschema"):
        if importlib.util.find_spec(package) is None:
            return f"package {package!r} is not installed (pip install '.[local]')"
    spec = LOCAL_MODELS[model_name]
    if importlib.util.find_spec(spec.part_modules[0]) is None:
        return f"model packages of {model_name} missing (pip install '.[{spec.extra}]')"
    return None


@contextlib.contextmanager
def _serving(model_name: str, *, startup_s: float = 600.0) -> Iterator[str]:
    """``daemons llm serve`` on a free port; yields its ``/v1`` base URL."""
    from processors.testing.llm import local_model_server

    with local_model_server(model_name, wait=startup_s) as base_url:
        yield base_url


def _local_model(model_name: str, base_url: str) -> Model:
    from processors.llm.config import LLMSettings, Timeouts
    from processors.llm.registry import load_model

    settings = LLMSettings(local_base_url=base_url, timeouts=Timeouts(read=600.0))
    return load_model(f"local:{model_name}", settings)


async def _validity(model_name: str, base_url: str, tool_choice: str = "auto") -> Any:
    from processors.llm.local.validity import measure_tool_call_validity

    cases_module = _bench_module("validity_cases")
    model = _local_model(model_name, base_url)
    try:
        return await measure_tool_call_validity(
            model,
            cases_module.ledger_cases(),
            system_prompt=cases_module.SYSTEM_PROMPT,
            tool_choice=tool_choice,
        )
    finally:
        await model.aclose()  # type: ignore[attr-defined]


def section_local_validity(args: argparse.Namespace) -> dict[str, Any]:
    """Tool-call validity of each local model over the reference ledger API's 8 reflected
    tools (all offered on every prompt), served by ``daemons llm serve`` and called through
    the same OpenAI-compatible provider as any gateway."""
    cases = len(_bench_module("validity_cases").PROMPTS)
    figures: dict[str, Any] = {"cases": cases, "tools_offered": 8, "bar_valid": VALIDITY_BAR}
    for model_name in args.local_models.split(","):
        key = model_name.removeprefix("qwen2.5-coder-").replace(".", "_")
        null = {f"{key}_{f}": None for f in ("valid_pct", "right_tool_pct", "median_latency_s")}
        missing = _local_missing(model_name)
        if missing is not None:
            print(f"local_validity: skipping {model_name}: {missing}")
            figures.update(null)
            continue
        started = time.perf_counter()
        with _serving(model_name) as base_url:
            report = asyncio.run(_validity(model_name, base_url))
            # What an evidence-first agent sends on its first turn: a tool call is required.
            required = asyncio.run(_validity(model_name, base_url, "required"))
        for outcome in report.outcomes:
            if not outcome.correct:
                print(
                    f"  {model_name} miss: expected {outcome.expected_tool}, "
                    f"called {outcome.called_tool}, problem={outcome.problem}: "
                    f"{outcome.prompt[:60]!r}"
                )
        figures.update(
            {
                f"{key}_valid_pct": round(100 * report.validity_rate, 1),
                f"{key}_right_tool_pct": round(100 * report.accuracy, 1),
                f"{key}_median_latency_s": round(report.median_latency_s, 3),
                f"{key}_required_valid_pct": round(100 * required.validity_rate, 1),
                f"{key}_required_right_tool_pct": round(100 * required.accuracy, 1),
                f"{key}_required_median_latency_s": round(required.median_latency_s, 3),
                f"{key}_section_wall_s": round(time.perf_counter() - started, 1),
            }
        )
    valid_1_5b = figures.get("1_5b_valid_pct")
    figures["meets_bar_1_5b"] = None if valid_1_5b is None else valid_1_5b >= 100 * VALIDITY_BAR
    required_1_5b = figures.get("1_5b_required_valid_pct")
    figures["meets_bar_1_5b_required"] = (
        None if required_1_5b is None else required_1_5b >= 100 * VALIDITY_BAR
    )
    return figures


class TaskAnswer(BaseModel):
    answer: str


LOCAL_INSTRUCTIONS = Prompt.from_text(
    "You are a bookkeeping assistant working on one client's ledger through its tools. "
    "Use the tools to get facts; never invent figures. When you have what the task needs, "
    "give a short answer.",
    name="bench_local_sys",
)
LOCAL_TASK = Prompt.from_text("Tenant: {tenant}\nTask: {task}", name="bench_local_task")
LOCAL_TASKS = (  # (tenant, principal, task)
    (
        "t-ridgeline",
        "u-ridgeline-owner",
        "Find the business behind the bank descriptor 'SQ *BLUE BOTTLE COF 1234 OAKLAND CA' "
        "and save it as a vendor of this tenant with its website and MCC.",
    ),
    (
        "t-ridgeline",
        "u-ridgeline-owner",
        "How much did the tenant spend per category from 2026-04-01 to 2026-06-30? "
        "Name the largest category.",
    ),
    (
        "t-brightsmile",
        "u-brightsmile-admin",
        "Give the tenant's legal name and the number of its transactions in account 5000 "
        "between 2026-04-01 and 2026-06-30.",
    ),
)


async def _local_task(
    model: Model, tenant: str, principal: str, task: str, *, planned: bool, run: int
) -> dict[str, Any]:
    cases_module = _bench_module("validity_cases")
    _, tools = cases_module.ledger_tools()  # a fresh ledger per run: writes do not carry over
    agent = Agent(
        daemon="bench-local",
        model=model,
        instructions=LOCAL_INSTRUCTIONS,
        task=LOCAL_TASK,
        output_type=TaskAnswer,
        tools=list(tools.values()),
        planner=Planner(model) if planned else None,
        limits=Limits(max_turns=8, max_tokens=60_000, timeout_s=900),
    )
    ctx = CallContext(tenant_id=tenant, principal_id=principal, event_id=f"bench-{run}")
    started = time.perf_counter()
    error = None
    try:
        record = (await agent.run({"tenant": tenant, "task": task}, ctx)).record
    except Exception as exc:  # a failed run still has its closed record
        record, error = getattr(exc, "record", None), type(exc).__name__
        if record is None:
            raise
    totals = record.totals
    return {
        "turns": totals.turns,
        "tool_calls": totals.tool_calls,
        "tokens": totals.input_tokens + totals.output_tokens,
        "wall_s": time.perf_counter() - started,
        "completed": error is None,
        "tools": [c.name for c in record.tool_calls],
        "error": error,
    }


async def _local_planning(base_url: str, model_name: str) -> dict[str, Any]:
    model = _local_model(model_name, base_url)
    figures: dict[str, Any] = {}
    try:
        for mode in ("no_planning", "planning"):
            sums = {"turns": 0, "tool_calls": 0, "tokens": 0, "wall_s": 0.0, "completed": 0}
            for run, (tenant, principal, task) in enumerate(LOCAL_TASKS):
                result = await _local_task(
                    model, tenant, principal, task, planned=mode == "planning", run=run
                )
                print(
                    f"  {mode} task {run}: tools={result['tools']} error={result['error']} "
                    f"turns={result['turns']} wall_s={result['wall_s']:.1f}"
                )
                for key in sums:
                    sums[key] += result[key]
            sums["wall_s"] = round(sums["wall_s"], 1)
            figures.update({f"{mode}_{key}": value for key, value in sums.items()})
    finally:
        await model.aclose()  # type: ignore[attr-defined]
    return figures


def section_local_planning(args: argparse.Namespace) -> dict[str, Any]:
    """Three real tasks over the reflected ledger tools with the 1.5B model as executor (and,
    with planning, as planner too): totals over the three tasks, with and without a plan."""
    model_name = LOCAL_MODEL_NAMES[0]
    keys = ("turns", "tool_calls", "tokens", "wall_s", "completed")
    figures: dict[str, Any] = {"model": model_name, "tasks": len(LOCAL_TASKS)}
    missing = _local_missing(model_name)
    if missing is not None:
        print(f"local_planning: skipping: {missing}")
        figures.update({f"{m}_{k}": None for m in ("no_planning", "planning") for k in keys})
        return figures
    with _serving(model_name) as base_url:
        figures.update(asyncio.run(_local_planning(base_url, model_name)))
    return figures


SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "loop_overhead": section_loop_overhead,
    "planning": section_planning,
    "local_validity": section_local_validity,
    "local_planning": section_local_planning,
}
FAST_SECTIONS = ("loop_overhead", "planning")  # the default: no model server needed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000, help="turns for loop_overhead")
    parser.add_argument(
        "--sections",
        default=",".join(FAST_SECTIONS),
        help=f"comma-separated, or 'all' (default {','.join(FAST_SECTIONS)})",
    )
    parser.add_argument(
        "--local-models",
        default=",".join(LOCAL_MODEL_NAMES),
        help="comma-separated local models for local_validity",
    )
    args = parser.parse_args(argv)
    names = list(SECTIONS) if args.sections == "all" else args.sections.split(",")
    results: dict[str, Any] = {}
    for name in names:
        figures = SECTIONS[name](args)
        results[name] = figures
        for key, value in figures.items():
            print(f"{name}.{key}: {value}")
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
