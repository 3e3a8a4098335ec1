"""The answer the question-answering daemon checks and publishes: a short answer that *cites*
tool figures.

Code writes it from the model's query (:mod:`.execute`): each amount as a tool returned it,
with the record ids the tool returned with it; a difference ("how much more") is named by the
two figures to subtract and computed by code (:mod:`.evidence`); a sum of single records is
left to code (``amount`` null). The checks tie every figure to the tool evidence again, so a
writer of answers, code or a model, is held to the same standard.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

DIFFERENCE_PLACEHOLDER = "{difference}"


class CitedFigure(BaseModel):
    """One number the answer uses, as a tool returned it."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(
        min_length=1,
        max_length=200,
        description="What the number is, e.g. 'Software spend 2026-Q2' or 'GitHub, 2026-Q3'.",
    )
    amount: str | None = Field(
        default=None,
        max_length=40,
        description=(
            "The amount copied exactly as a tool returned it (a 'total' or 'amount' value, "
            "e.g. '420.00'). Null only to let code add up the transactions in record_ids."
        ),
    )
    record_ids: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="The transaction ids the tool returned with this amount (transaction_ids).",
    )


class Difference(BaseModel):
    """A difference of two figures, computed by code: figures[first] - figures[second]."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(
        min_length=1, max_length=200, description="What the difference is, e.g. 'Q3 minus Q2'."
    )
    first: int = Field(ge=1, description="Number of the figure to subtract from (1 = first).")
    second: int = Field(ge=1, description="Number of the figure to subtract (1 = first).")


class QuestionAnswer(BaseModel):
    """The agent's answer to one question about a tenant's books."""

    model_config = ConfigDict(extra="forbid")

    can_answer: bool = Field(
        description="False when the tools' data cannot answer the question (forecasts, "
        "data the books do not hold, another company's data)."
    )
    answer: str = Field(
        min_length=1,
        max_length=2000,
        description=(
            "The answer in one to three sentences. Use only numbers that are figure amounts; "
            "write {difference} where a computed difference goes."
        ),
    )
    reason: str | None = Field(
        default=None,
        max_length=500,
        description="Why the question cannot be answered (required when can_answer is false).",
    )
    figures: list[CitedFigure] = Field(
        default_factory=list,
        max_length=20,
        description="Every amount the answer uses, copied from tool results.",
    )
    difference: Difference | None = Field(
        default=None,
        description="Set when the question asks how much more/less: the two figures to "
        "subtract. Code computes it; never compute it yourself.",
    )
    periods: list[str] = Field(
        default_factory=list,
        max_length=12,
        description="Periods used, e.g. ['2026-Q2', '2026-Q3'] or ['2026-07'].",
    )
    filters: dict[str, str] = Field(
        default_factory=dict,
        description="Filters used, e.g. {'category': '6500', 'vendor_id': 'v-q-02'}.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> QuestionAnswer:
        if not self.can_answer and not (self.reason and self.reason.strip()):
            # The answer of a question the books cannot answer says why: that is the reason.
            # (Greedy decoding can repeat a null reason through every correction: both
            # unanswerable eval questions probed failed that way.)
            if not self.answer.strip():
                raise ValueError("reason is required when can_answer is false")
            self.reason = self.answer.strip()[:500]
        if self.difference is not None:
            count = len(self.figures)
            for n in (self.difference.first, self.difference.second):
                if n > count:
                    raise ValueError(f"difference names figure {n} but there are {count}")
            if self.difference.first == self.difference.second:
                raise ValueError("difference must name two different figures")
        return self
