"""What the onboarding agent answers, and the answer set code makes of it.

The model answers an :class:`OnboardingChoice`: the questions it reads off the signup answers
(and the profile, where a signup answer states otherwise), each cited; :mod:`.resolve` copies
the profile's entity type, fiscal year end, currency and industry and reads the payroll
provider and payment processors off the bank feed, which the model's schema does not offer.
The daemon's output is the :class:`OnboardingAnswers` that code builds from it; code
(:mod:`.output`) puts every question left out, answered with low confidence, or that could not
be traced into ``needs_human``.
Field descriptions are part of the response schema the model sees, so they are written for
it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from processors.daemons.client_onboarding.questionnaire import ModelQuestionKey, QuestionKey


class Answer(BaseModel):
    """One questionnaire answer with the evidence behind it.

    The evidence comes before the value on purpose, and every field is required: a
    schema-constrained model writes the fields in this order (llama.cpp's grammar puts
    required properties first, in order), so it names its source first and then copies the
    value from it. With the value first, the 1.5B model wrote null for every question of the
    two cases probed, each with a citation.
    """

    model_config = ConfigDict(extra="forbid")

    question: QuestionKey = Field(description="The questionnaire key this answers.")
    evidence: list[str] = Field(
        max_length=20,
        description=(
            "Where the value comes from: 'signup:<answer key>' for a signup answer, "
            "'getClient:<field>' for a company profile field, or a record id a tool "
            "returned (e.g. a transaction_id like 'tx-q-005')."
        ),
    )
    value: str | None = Field(
        max_length=120,
        description="One of the question's allowed values, or null when unknown. Never guess.",
    )
    confidence: float = Field(
        ge=0.0, le=1.0, description="0 to 1: how sure the evidence makes you (below 0.5 = unsure)."
    )


class Choice(BaseModel):
    """One answer as the model gives it: the evidence first, then the value (see
    :class:`Answer` for why this order), then how sure it is. Only the questions the signup
    answers and the profile can answer (:data:`ModelQuestionKey`)."""

    model_config = ConfigDict(extra="forbid")

    question: ModelQuestionKey = Field(description="The questionnaire key this answers.")
    evidence: list[str] = Field(
        max_length=20,
        description=(
            "Where the value comes from: 'signup:<answer key>' for a signup answer, "
            "'getClient:<field>' for a company profile field, or a record id a tool "
            "returned (e.g. a transaction_id like 'tx-q-005')."
        ),
    )
    value: str | None = Field(
        max_length=120,
        description="One of the question's allowed values, or null when unknown. Never guess.",
    )
    confidence: float = Field(
        ge=0.0, le=1.0, description="0 to 1: how sure the evidence makes you (below 0.5 = unsure)."
    )


class OnboardingChoice(BaseModel):
    """The model's answers to the questions it can read off the signup and the bank feed."""

    model_config = ConfigDict(extra="forbid")

    answers: list[Choice] = Field(
        default_factory=list,
        max_length=20,
        description="One entry per question you found evidence for. Leave the rest out.",
    )


class OnboardingAnswers(BaseModel):
    """The agent's answers to the onboarding questionnaire for one new client."""

    model_config = ConfigDict(extra="forbid")

    answers: list[Answer] = Field(
        default_factory=list,
        max_length=20,
        description="One entry per question you found evidence for. Leave the rest out.",
    )
