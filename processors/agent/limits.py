"""Per-run limits (a small frozen value) and the :class:`Budget` that enforces them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from processors.errors import CostLimitExceeded, TokenLimitExceeded, TurnLimitExceeded
from processors.llm.model import ModelResponse, Usage


class Limits(BaseModel):
    """What one agent run may spend. Exceeding ``max_turns``, ``max_tokens``, ``max_cost_usd`` or
    ``timeout_s`` ends the run with a :class:`processors.errors.BudgetExceeded` subclass.

    ``max_turns`` counts executor model calls; planner calls count towards tokens, cost and
    time only. ``max_corrections`` bounds how often an invalid final response is sent back;
    ``max_tool_retries`` how often one tool may fail in a run before the run gives up.
    ``max_tool_turns`` (None: no limit) bounds the model turns that may ask for tools; after
    that the model is asked for its answer (``tool_choice="none"``) — for daemons whose reads
    are gathered up front, so a small model answers instead of searching in circles.
    """

    model_config = ConfigDict(frozen=True)

    max_turns: int = Field(default=12, gt=0)
    max_tokens: int = Field(default=100_000, gt=0)
    max_cost_usd: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=120.0, gt=0)
    max_corrections: int = Field(default=2, ge=0)
    max_tool_retries: int = Field(default=2, ge=0)
    max_tool_turns: int | None = Field(default=None, ge=0)


class Budget:
    """Counts what a run has spent; raises the matching ``BudgetExceeded`` subclass."""

    def __init__(self, limits: Limits, *, run_id: str) -> None:
        self.limits = limits
        self.run_id = run_id
        self.turns = 0
        self.usage = Usage()
        self.cost_usd = 0.0

    def start_turn(self) -> int:
        """Count one executor turn; raise :class:`TurnLimitExceeded` if none is left."""
        if self.turns >= self.limits.max_turns:
            raise TurnLimitExceeded(
                f"run used all {self.limits.max_turns} turns", run_id=self.run_id
            )
        self.turns += 1
        return self.turns

    def charge(self, response: ModelResponse) -> None:
        """Add one model response's usage and cost; raise if a limit is now passed."""
        self.usage = self.usage + response.usage
        self.cost_usd += response.cost_usd
        tokens = self.usage.input_tokens + self.usage.output_tokens
        if tokens > self.limits.max_tokens:
            raise TokenLimitExceeded(
                f"run used {tokens} tokens > limit {self.limits.max_tokens}", run_id=self.run_id
            )
        if self.cost_usd > self.limits.max_cost_usd:
            raise CostLimitExceeded(
                f"run cost ${self.cost_usd:.4f} > limit ${self.limits.max_cost_usd:.4f}",
                run_id=self.run_id,
            )
