"""The agent core: a small, readable loop from an event to a validated, recorded decision.

from processors.agent import Agent, Limits, Prompt

agent = Agent(daemon="vendor-enricher", model=model, instructions=Prompt.load(...),
              task=Prompt.load(...), output_type=VendorProfile, tools=tools,
              limits=Limits(max_turns=8))
result = await agent.run(event, CallContext(tenant_id=..., principal_id=..., event_id=...))
result.output   # a validated VendorProfile
result.record   # the RunRecord (the decision trace)
"""

from processors.agent.limits import Budget, Limits
from processors.agent.loop import (
    Agent,
    AnswerSchema,
    FollowUp,
    Gather,
    Regather,
    Settle,
    TaskNotes,
)
from processors.agent.planning import DEFAULT_PLANNER_PROMPT, Planner
from processors.agent.prompt import Prompt
from processors.agent.record import Plan, PlanStep, RunRecord
from processors.agent.results import CallTools, Correct, FinalResult, RunResult
from processors.untrusted.fencing import untrusted

__all__ = [
    "DEFAULT_PLANNER_PROMPT",
    "Agent",
    "AnswerSchema",
    "Budget",
    "CallTools",
    "Correct",
    "FinalResult",
    "FollowUp",
    "Gather",
    "Limits",
    "Plan",
    "PlanStep",
    "Planner",
    "Prompt",
    "Regather",
    "RunRecord",
    "RunResult",
    "Settle",
    "TaskNotes",
    "untrusted",
]
