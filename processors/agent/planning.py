"""Optional planning: a (reasoning) model turns the objective into an ordered tool plan.

The executor is shown the plan and follows it. It may deviate **once**; the deviation and its
reason (the text of the executor's message that made the call) are recorded, a second
deviation is refused. When a planned step fails (tool error, bad arguments, forbidden) — or
when the plan itself is unusable (not valid JSON, names a tool outside the catalogue) — the
planner is asked **once** more, told what went wrong. Every plan is in the run record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from processors.agent.chat import Meter
from processors.agent.prompt import Prompt
from processors.agent.record import DeviationRecord, Plan, PlanRecord
from processors.agent.toolbox import ToolBox, ToolOutcome
from processors.errors import PlanningFailed
from processors.llm.model import (
    Model,
    ModelRequest,
    ModelSettings,
    SystemMessage,
    ToolCall,
    UserMessage,
)
from processors.untrusted.fencing import untrusted

DEFAULT_PLANNER_PROMPT = Prompt.from_text(
    "You plan the work of a background agent before it starts. Read the objective and the "
    "tool catalogue, then return the tools to call, in order, each with one sentence on why. "
    "Use only tools from the catalogue; plan as few calls as the objective needs. "
    "Reply with JSON matching the plan schema and nothing else.",
    name="planner",
)


@dataclass(frozen=True)
class Planner:
    """Planning configuration: the planning model (often a reasoning model) and its prompt."""

    model: Model
    prompt: Prompt = DEFAULT_PLANNER_PROMPT
    settings: ModelSettings = field(default_factory=ModelSettings)


@dataclass(frozen=True, slots=True)
class Verdict:
    """How a requested call relates to the plan: the ``step`` it carries out (``None``: an
    allowed deviation), or ``refusal``, the outcome to send back instead of running it."""

    step: int | None = None
    refusal: ToolOutcome | None = None


class Planning:
    """One run's planning state: the current plan, the next step, what has been used up."""

    def __init__(self, planner: Planner, *, objective: str, tools: ToolBox, meter: Meter) -> None:
        self._planner, self._objective, self._tools, self._meter = planner, objective, tools, meter
        self._record, self._tracer = meter.record, meter.tracer
        self.plan = Plan(steps=[])
        self._next = 0
        self._replans_left = 1
        self._deviated = False
        self._failed_step: int | None = None

    async def start(self) -> str:
        """Make the first plan (re-planning once if it is unusable); return it for the executor."""
        with self._tracer.start_as_current_span("plan"):
            rejection = await self._make(reason=None)
            if rejection is not None:
                await self._replan(f"the previous plan was unusable: {rejection}")
        return self._show()

    async def replan_after_failure(self, step: int, error: str) -> str | None:
        """A planned step failed: re-plan once and return the new plan's text, else ``None``."""
        self._failed_step = step
        if self._replans_left == 0:
            return None
        done = [s.tool for s in self.plan.steps[:step]]
        reason = (
            f"step {step + 1} ({self.plan.steps[step].tool}) failed with {error}; "
            f"steps already done: {done or 'none'}"
        )
        with self._tracer.start_as_current_span("plan"):
            await self._replan(reason)
        return self._show()

    def check(self, call: ToolCall, *, reason: str, turn: int) -> Verdict:
        """Classify a call to an allowed tool against the plan; record any deviation."""
        steps = self.plan.steps
        if self._next < len(steps) and steps[self._next].tool == call.name:
            self._next += 1
            self._failed_step = None
            return Verdict(step=self._next - 1)
        if self._failed_step is not None and steps[self._failed_step].tool == call.name:
            return Verdict(step=self._failed_step)  # retrying a failed step is not a deviation
        expected = steps[self._next].tool if self._next < len(steps) else None
        allowed, self._deviated = not self._deviated, True
        self._record.deviations.append(
            DeviationRecord(
                turn=turn,
                expected=expected,
                actual=call.name,
                reason=reason.strip(),
                allowed=allowed,
            )
        )
        if allowed:
            return Verdict()
        follow = f"call {expected!r} next" if expected else "the plan is done; give the answer"
        message = (
            f"refused: the call leaves the plan and the one allowed deviation is used; {follow}"
        )
        return Verdict(
            refusal=self._tools.refuse(call, turn=turn, refusal="deviation", message=message)
        )

    async def _replan(self, reason: str) -> None:
        if self._replans_left == 0:
            raise PlanningFailed(f"no usable plan: {reason}", run_id=self._record.run_id)
        self._replans_left -= 1
        rejection = await self._make(reason=reason)
        if rejection is not None:
            raise PlanningFailed(f"re-plan unusable: {rejection}", run_id=self._record.run_id)

    async def _make(self, *, reason: str | None) -> str | None:
        """Ask the planner; adopt the plan if usable. Returns why it was rejected, else None."""
        task = f"Objective:\n{self._objective}"
        if reason is not None:
            previous = untrusted(self.plan.model_dump_json(), source="previous_plan")
            why = untrusted(reason, source="run")
            task += f"\n\nPlan again. Previous plan:\n{previous}\nReason: {why}"
        request = ModelRequest(
            messages=(SystemMessage(content=self._planner.prompt.text), UserMessage(content=task)),
            tools=self._tools.specs,
            tool_choice="none",
            settings=self._planner.settings,
            response_schema=Plan.model_json_schema(),
            response_name="plan",
        )
        response = await self._meter.chat(
            self._planner.model,
            request,
            purpose="plan",
            turn=self._meter.budget.turns,
            prompt_version=self._planner.prompt.version,
        )
        attempt = len(self._record.plans) + 1
        try:
            plan = Plan.model_validate_json(strip_fences(response.message.content or ""))
        except ValidationError as exc:
            invalid = f"not a valid plan ({exc.error_count()} errors)"
            self._record.plans.append(
                PlanRecord(attempt=attempt, reason=reason, accepted=False, rejection=invalid)
            )
            return invalid
        unknown = sorted({s.tool for s in plan.steps if s.tool not in self._tools})
        rejection = f"names tools outside the catalogue: {unknown}" if unknown else None
        self._record.plans.append(
            PlanRecord(
                attempt=attempt,
                reason=reason,
                steps=plan.steps,
                accepted=rejection is None,
                rejection=rejection,
            )
        )
        if rejection is None:
            self.plan, self._next, self._failed_step = plan, 0, None
        return rejection

    def _show(self) -> str:
        lines = "\n".join(f"{i}. {s.tool}: {s.why}" for i, s in enumerate(self.plan.steps, 1))
        return (
            "A planner made this plan of tool calls. Follow it in order. You may deviate from it "
            "once, and only with a reason: say why in your message text when you do.\n"
            + untrusted(lines or "(no tool calls needed)", source="planner")
        )


def strip_fences(text: str) -> str:
    """Drop a surrounding Markdown code fence (```json … ```), which some models add."""
    text = text.strip()
    if text.startswith("```") and text.endswith("```") and len(text) >= 6:
        text = text[3:-3]
        first_line, _, rest = text.partition("\n")
        text = rest if first_line.strip().isalpha() or not first_line.strip() else text
    return text.strip()
