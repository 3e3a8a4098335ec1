"""The agent loop: objective → model → tools → … → a validated final response.

One run, top to bottom (:meth:`Agent.run`):

1. build the objective: the daemon's instructions (system) and its task prompt filled with
   the event's fields, each fenced as untrusted data;
2. optionally run the daemon's tool calls made by code, recorded and traced like the model's
   own: first its *context* (reads that are the same for every event of a tenant: the chart
   of accounts, the vendor list, the client profile), then the task, then its *gathered*
   calls (reads of this event: a directory search for its descriptor), whose results join
   the task's message (computed for every event, so written as compactly as it can be: no
   call messages, one message, one ``<untrusted source="tools">`` fence around all of them,
   each under its tool's name, delimiters inside neutralized); and plan
   (:mod:`processors.agent.planning`);
3. each turn calls the model with the tool catalogue and returns one small result —
   :class:`FinalResult` (valid output: done), :class:`CallTools` (run them, feed the results
   back) or :class:`Correct` (invalid final response: send a correction, bounded);
4. the :class:`Budget` and the run's deadline stop a runaway loop with a ``BudgetExceeded``
   subclass; every step lands in the :class:`RunRecord`, which errors carry too.

The order is the prompt-cache layout: what is the same for every event of the daemon
(instructions; the provider adds its format guide and tool schemas there), then what is the
same for every event of the tenant (the context's results), then the event and its evidence.
So a model server's prefix cache (llama.cpp's, OpenAI's automatic one, Anthropic's
``cache_control`` breakpoints at ``ModelRequest.cache_prefix``) computes only the event's part.

The run is one ``invoke_agent {daemon}`` span (OpenTelemetry GenAI conventions) naming the
model, prompt version and parameters in effect; ``plan``, ``chat {model}`` and
``execute_tool {name}`` spans nest under it, and the record carries their ids. At the end
the run is counted (:func:`processors.runtime.metrics.record_run`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from opentelemetry import trace
from opentelemetry.trace import Tracer
from pydantic import BaseModel, ValidationError

from processors import telemetry
from processors.agent.chat import (
    COST_ATTRIBUTE,
    PROMPT_VERSION_ATTRIBUTE,
    Meter,
    record_error,
    request_model,
)
from processors.agent.chat import settings_attributes as _settings_attributes
from processors.agent.limits import Budget, Limits
from processors.agent.planning import Planner, Planning, strip_fences
from processors.agent.prompt import Prompt, render_task, short_hash
from processors.agent.record import (
    CorrectionRecord,
    RunRecord,
    canonical_json,
    transcript_json,
)
from processors.agent.results import (
    CallTools,
    Correct,
    FinalResult,
    OutputT,
    RunResult,
    TurnResult,
    correction_for,
)
from processors.agent.toolbox import ToolBox, View
from processors.errors import ConfigError, DaemonsError, InvalidAgentOutput, RunTimedOut
from processors.llm.model import (
    AssistantMessage,
    Message,
    Model,
    ModelRequest,
    ModelSettings,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from processors.runtime.metrics import ModelUsage, record_run
from processors.tools.base import CallContext, Tool
from processors.tools.evidence import Screen, ToolEvidence
from processors.untrusted.fencing import UNTRUSTED_NOTE, untrusted

NO_MORE_TOOLS = "No more tool calls in this run: give your final answer now, from the results."
CONTEXT_NOTE = "The daemon has read this tenant's records for you; the results follow."
Gather = Callable[[Mapping[str, Any]], Sequence[ToolCall]]
"""event -> the tool calls the daemon makes before the model's first turn."""
AnswerSchema = Callable[[dict[str, Any], Sequence[ToolEvidence]], dict[str, Any]]
"""(the output type's JSON schema, the context's results) -> the schema the model answers
in: the same for every event of a tenant (e.g. its account codes and vendor ids as enums)."""
TaskNotes = Callable[[Mapping[str, Any], Sequence[ToolEvidence]], str]
"""(event, the context's and the gathered reads' results) -> what code read off the event for
the model (e.g. the periods a question may mean, the tenant's accounts it names, worked
examples recalled from memory), after the task's fenced fields and before the gathered
results. Text of the event or of a tool in it must be fenced (:func:`untrusted`)."""
FollowUp = Callable[[Any, Sequence[ToolEvidence], Mapping[str, Any]], Sequence[ToolCall] | Correct]
"""(the validated answer, the run's tool results so far, the event) -> the reads code makes
from the answer (the query the model filled, run through the same tools), or a
:class:`Correct` when the answer does not hold for this tenant (sent back, bounded)."""
Regather = Callable[[Mapping[str, Any], Sequence[ToolEvidence]], Sequence[ToolCall]]
"""(event, what the context and gathered reads returned) -> more reads code makes from those
results before the model's first turn (the directory searched for the name memory holds
under a similar descriptor), shown with the gathered ones."""
Settle = Callable[[Mapping[str, Any], Sequence[ToolEvidence]], BaseModel | None]
"""(event, what the context and gathered reads returned) -> an answer code can give from
those reads alone, without a model turn (a vendor remembered under this very descriptor), or
None to ask the model. The answer then goes through the same resolve and checks as the
model's."""
_DEFAULT_LIMITS = Limits()
_DEFAULT_SETTINGS = ModelSettings()


@dataclass
class _Run:
    """One run's state: who it acts for, the conversation, its meter, tools and plan."""

    ctx: CallContext
    meter: Meter
    tools: ToolBox
    messages: list[Message]
    event: Mapping[str, Any]
    task: str = ""
    planning: Planning | None = None
    context: tuple[ToolCall, ...] = ()
    gathered: tuple[ToolCall, ...] = ()
    tool_turns: int = 0  # model turns that asked for tools
    cache_prefix: int = 0  # leading messages the same for every event of this tenant
    schema: dict[str, Any] | None = None  # the answer schema of this run (see AnswerSchema)

    @property
    def has_tool_results(self) -> bool:
        return bool(self.gathered) or any(isinstance(m, ToolResultMessage) for m in self.messages)


class Agent(Generic[OutputT]):
    """A daemon's agent: model, prompts, allowed tools, output model, limits, optional planner.

    ``tracer`` defaults to the global provider's tracer; ``clock`` only times calls.
    ``capture_content`` (default: the ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    opt-in) puts redacted prompt and completion text on the chat and tool spans.
    """

    def __init__(
        self,
        *,
        daemon: str,
        model: Model,
        instructions: Prompt,
        task: Prompt,
        output_type: type[OutputT],
        tools: Sequence[Tool] = (),
        limits: Limits = _DEFAULT_LIMITS,
        settings: ModelSettings = _DEFAULT_SETTINGS,
        planner: Planner | None = None,
        tracer: Tracer | None = None,
        clock: Callable[[], float] = time.perf_counter,
        evidence_first: bool = False,
        capture_content: bool | None = None,
        gather: Gather | None = None,
        context: Sequence[ToolCall] = (),
        views: Mapping[str, View] | None = None,
        screen: Screen | None = None,
        answer_schema: AnswerSchema | None = None,
        task_notes: TaskNotes | None = None,
        follow_up: FollowUp | None = None,
        settle: Settle | None = None,
        regather: Regather | None = None,
    ) -> None:
        self.daemon, self.model, self.instructions, self.task = daemon, model, instructions, task
        self.output_type, self.tools, self.limits = output_type, tuple(tools), limits
        self.settings, self.planner, self.clock = settings, planner, clock
        # evidence_first: the model must call a tool before it may answer (tool_choice
        # "required" until the first tool result), so no answer rests on the model's memory.
        self.evidence_first = evidence_first
        # gather: tool calls the daemon makes by code before the first turn (the reads every
        # run needs), recorded and traced like the model's own; the model starts from them.
        self.gather = gather
        # context: reads the same for every event of a tenant, made before the task is shown
        # (the cacheable prefix); views: what the model reads of a tool's result
        self.context, self.views = tuple(context), dict(views or {})
        # screen: what every tool result is screened with (the guardrails' screen), see ToolBox
        self.screen = screen
        # answer_schema: the schema refined from the context's results (the tenant's codes
        # as enums); task_notes: code's reading of the event, shown after its fields;
        # follow_up: the reads code makes from the validated answer (a query the model filled)
        self.answer_schema, self.task_notes, self.follow_up = answer_schema, task_notes, follow_up
        # settle: an answer from the gathered reads alone, when code can give one (no model)
        self.settle = settle
        # regather: reads made from the gathered results, before the first turn (see Regather)
        self.regather = regather
        self.tracer = tracer or trace.get_tracer("processors.agent")
        self._schema = output_type.model_json_schema()
        self._prompt_version = short_hash(instructions.version + task.version)
        if capture_content is None:
            capture_content = telemetry.capture_message_content()
        self.capture_content = capture_content
        self._parameters = settings.model_dump(exclude_none=True)

    async def run(self, event: Mapping[str, Any], ctx: CallContext) -> RunResult[OutputT]:
        """Run the agent on one event as ``ctx``'s principal. Errors carry the closed record."""
        run, started = self._start(event, ctx), self.clock()
        record, budget = run.meter.record, run.meter.budget
        attributes = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": self.daemon,
            "gen_ai.provider.name": self.model.provider,
            "gen_ai.request.model": request_model(self.model.name),
            "gen_ai.conversation.id": run.ctx.run_id,
            "daemons.run_id": run.ctx.run_id,
            "daemons.event_id": run.ctx.event_id,
            "daemons.tenant_id": run.ctx.tenant_id,
            PROMPT_VERSION_ATTRIBUTE: record.prompt_version,
            **{f"daemons.prompt.{name}": version for name, version in record.prompts.items()},
            **_settings_attributes(self.settings),
        }
        # exceptions are recorded by us, redacted (the SDK would record the raw message)
        with self.tracer.start_as_current_span(
            f"invoke_agent {self.daemon}", attributes=attributes, record_exception=False
        ) as span:
            if span.get_span_context().is_valid:
                record.trace_id = f"{span.get_span_context().trace_id:032x}"
                record.span_id = f"{span.get_span_context().span_id:016x}"
            try:
                output = await self._run_with_deadline(run)
            except DaemonsError as exc:
                record.close(budget=budget, wall_s=self.clock() - started, error=exc)
                record_error(span, exc)
                self._finish(span, record)
                exc.record = record  # every failed run's record goes out with its dead letter
                raise
            record.close(budget=budget, wall_s=self.clock() - started, error=None)
            self._finish(span, record)
        return RunResult(output=output, record=record, evidence=tuple(run.tools.evidence))

    def _finish(self, span: trace.Span, record: RunRecord) -> None:
        """Totals onto the agent span; the run into the decision metrics."""
        totals = record.totals
        span.set_attributes(
            {
                "gen_ai.usage.input_tokens": totals.input_tokens,
                "gen_ai.usage.output_tokens": totals.output_tokens,
                COST_ATTRIBUTE: totals.cost_usd,
                "daemons.run.outcome": record.outcome,
            }
        )
        if totals.cached_input_tokens:  # like the chat spans: only when there is any
            span.set_attribute("gen_ai.usage.cache_read.input_tokens", totals.cached_input_tokens)
        record_run(
            self.daemon,
            model=self.model.name,
            outcome=record.outcome,
            seconds=totals.wall_s,
            usage=[
                ModelUsage(
                    c.model,
                    c.input_tokens,
                    c.output_tokens,
                    c.cost_usd,
                    c.cached_input_tokens,
                    c.cache_write_tokens,
                )
                for c in record.model_calls
            ],
            tool_errors=[
                (c.name, c.refused or c.error_type) for c in record.tool_calls if c.error_type
            ],
        )

    def _start(self, event: Mapping[str, Any], ctx: CallContext) -> _Run:
        ctx = ctx.model_copy(update={"run_id": ctx.run_id or uuid.uuid4().hex})
        prompts = [self.instructions, self.task] + ([self.planner.prompt] if self.planner else [])
        versions = {p.name: p.version for p in prompts}
        record = RunRecord.open(
            daemon=self.daemon, model=self.model.name, ctx=ctx, prompts=versions
        )
        record.parameters = dict(self._parameters)
        record.planner_model = self.planner.model.name if self.planner else None
        budget = Budget(self.limits, run_id=ctx.run_id)
        meter = Meter(budget, record, self.tracer, self.clock, self.capture_content)
        tools = ToolBox(
            self.tools, meter=meter, max_retries=self.limits.max_tool_retries, views=self.views,
            screen=self.screen,
        )  # fmt: skip
        system = f"{self.instructions.text}\n\n{UNTRUSTED_NOTE}"
        task = render_task(self.task, event)
        messages: list[Message] = [SystemMessage(content=system)]
        gathered = tuple(self.gather(event)) if self.gather is not None else ()
        run = _Run(
            ctx, meter, tools, messages, event, task, context=self.context, gathered=gathered
        )
        if self.planner is not None:
            objective = f"{system}\n\nTask:\n{task}"
            run.planning = Planning(self.planner, objective=objective, tools=tools, meter=meter)
        return run

    async def _run_with_deadline(self, run: _Run) -> OutputT:
        try:
            async with asyncio.timeout(self.limits.timeout_s) as deadline:
                return await self._loop(run)
        except TimeoutError as exc:
            if not deadline.expired():
                raise  # a TimeoutError of someone else's making, not our deadline
            message = f"run passed its {self.limits.timeout_s}s wall-clock limit"
            raise RunTimedOut(message, run_id=run.ctx.run_id) from exc

    async def _loop(self, run: _Run) -> OutputT:
        record = run.meter.record
        if run.context:  # the tenant's part of the prompt, before the event's
            run.messages.append(UserMessage(content=CONTEXT_NOTE))
            run.messages.append(AssistantMessage(content=None, tool_calls=run.context))
            for call in run.context:
                outcome = await run.tools.execute(call, run.ctx, turn=0)
                run.messages.append(outcome.message)
        run.cache_prefix = len(run.messages)
        run.schema = self._schema
        if self.answer_schema is not None:  # from the context's results only: per tenant
            run.schema = self.answer_schema(self._schema, tuple(run.tools.evidence))
        task, block = run.task, None
        if run.gathered:  # read before the notes, which may use them (recalled examples)
            outcomes = [await run.tools.execute(c, run.ctx, turn=0) for c in run.gathered]
            if self.regather is not None:
                for call in self.regather(run.event, tuple(run.tools.evidence)):
                    outcomes.append(await run.tools.execute(call, run.ctx, turn=0))
            block = "\n".join(
                f"{o.message.name}{' (failed)' if o.failed else ''}: {o.shown}" for o in outcomes
            )
        if self.task_notes is not None:  # outside the event's fence: code's, not the sender's
            task = f"{task.rstrip()}\n\n{self.task_notes(run.event, tuple(run.tools.evidence))}"
        if block is not None:  # one fence for all of them, each result under its tool's name
            task = "\n\n".join((task.rstrip(), untrusted(block, source="tools")))
        if self.settle is not None:
            settled = self.settle(run.event, tuple(run.tools.evidence))
            if settled is not None:  # code answered from the reads: no model turn at all
                if not isinstance(settled, self.output_type):
                    raise ConfigError(
                        f"{self.daemon}: settle returned {type(settled).__name__}, "
                        f"not {self.output_type.__name__}"
                    )
                trace.get_current_span().set_attribute("daemons.settled_by", "code")
                record.final_response = canonical_json(settled.model_dump(mode="json"))
                return settled
        run.messages.append(UserMessage(content=task))
        if run.planning is not None:
            run.messages.append(UserMessage(content=await run.planning.start()))
        while True:
            match await self._turn(run):
                case FinalResult(output=output):
                    rejected = await self._follow_up(run, output)
                    if rejected is None:
                        record.final_response = canonical_json(output.model_dump(mode="json"))
                        record.transcript = transcript_json(run.messages, run.tools.specs)
                        return output
                    self._correct(run, rejected.correction)
                case CallTools() as step:
                    run.messages.extend(await self._run_tools(run, step))
                case Correct(correction=correction):
                    self._correct(run, correction)

    def _correct(self, run: _Run, correction: str) -> None:
        """Send ``correction`` back to the model, at most ``max_corrections`` times a run."""
        record = run.meter.record
        if len(record.corrections) >= self.limits.max_corrections:
            message = f"final response invalid after all corrections: {correction}"
            raise InvalidAgentOutput(message, run_id=run.ctx.run_id)
        turn = run.meter.budget.turns
        record.corrections.append(CorrectionRecord(turn=turn, error=correction))
        run.messages.append(UserMessage(content=correction))

    async def _follow_up(self, run: _Run, output: OutputT) -> Correct | None:
        """The reads code makes from a valid answer (:data:`FollowUp`), through the run's
        tools (same auth, spans, record and evidence as every call), or why the answer was
        rejected."""
        if self.follow_up is None:
            return None
        step = self.follow_up(output, tuple(run.tools.evidence), run.event)
        if isinstance(step, Correct):
            return step
        turn = run.meter.budget.turns
        for call in step:
            await run.tools.execute(call, run.ctx, turn=turn)
        return None

    async def _turn(self, run: _Run) -> TurnResult[OutputT]:
        turn = run.meter.budget.start_turn()
        # every message is already a validated model; re-validating the whole history each
        # turn would make the loop quadratic in the conversation length
        gathering = self.evidence_first and run.tools.specs and not run.has_tool_results
        limit = self.limits.max_tool_turns
        answering = limit is not None and run.tool_turns >= limit
        request = ModelRequest.model_construct(
            messages=tuple(run.messages),
            # tools the model may never call are not offered (their schemas cost prompt tokens)
            tools=() if limit == 0 else run.tools.specs,
            tool_choice="none" if answering else "required" if gathering else "auto",
            response_schema=run.schema if run.schema is not None else self._schema,
            response_name=self.output_type.__name__,
            settings=self.settings,
            cache_prefix=run.cache_prefix,
        )
        response = await run.meter.chat(
            self.model, request, purpose="execute", turn=turn, prompt_version=self._prompt_version
        )
        message = response.message
        run.messages.append(message)
        if message.tool_calls:
            if answering:  # asked for the answer, sent calls anyway: not run, not kept
                run.messages.pop()  # (a provider rejects tool calls left without results)
                return Correct(NO_MORE_TOOLS)
            run.tool_turns += 1
            return CallTools(calls=message.tool_calls, reason=message.content or "")
        try:
            text = strip_fences(message.content or "")
            return FinalResult(self.output_type.model_validate_json(text))
        except ValidationError as exc:
            return correction_for(exc, self.output_type.__name__)

    async def _run_tools(self, run: _Run, step: CallTools) -> list[Message]:
        """Run the calls in order; a failed planned step triggers the one re-plan."""
        results: list[Message] = []
        new_plan: str | None = None
        for call in step.calls:
            turn, planned = run.meter.budget.turns, None
            if run.planning is not None and call.name in run.tools:
                verdict = run.planning.check(call, reason=step.reason, turn=turn)
                if verdict.refusal is not None:
                    results.append(verdict.refusal.message)
                    continue
                planned = verdict.step
            outcome = await run.tools.execute(call, run.ctx, turn=turn, plan_step=planned)
            results.append(outcome.message)
            if run.planning is not None and planned is not None and outcome.failed:
                error = outcome.record.error_type or "error"
                new_plan = await run.planning.replan_after_failure(planned, error) or new_plan
        if new_plan is not None:
            results.append(UserMessage(content=new_plan))
        return results
