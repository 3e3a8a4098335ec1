"""Map a checked answer to the ``QuestionAnswered`` datum's use-case fields.

Amounts and record ids come from the :class:`~.evidence.Resolution` of the answer against
the tool evidence, as the checks computed it (the model's copy is only a pointer into it);
the difference is code's subtraction, written into the answer where the model put
``{difference}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from processors.daemons.question_answering.evidence import (
    Resolution,
    applied_filters,
    applied_periods,
    resolve,
)
from processors.daemons.question_answering.models import DIFFERENCE_PLACEHOLDER, QuestionAnswer
from processors.tools.evidence import ToolEvidence


def to_output(
    event: Mapping[str, Any], output: QuestionAnswer, evidence: Sequence[ToolEvidence] = ()
) -> dict[str, Any]:
    """The use-case fields of ``QuestionAnswered``, the answer resolved against ``evidence``
    (what the tools returned in the run); without evidence every cited amount is taken as
    the model wrote it and marked unresolved.
    """
    resolution: Resolution = resolve(output, evidence)
    figures = [f.as_datum() for f in resolution.all_figures]
    answer = output.answer
    if resolution.difference is not None:
        text = format_signed(resolution.difference.amount, resolution.difference.currency)
        if DIFFERENCE_PLACEHOLDER in answer:
            answer = answer.replace(DIFFERENCE_PLACEHOLDER, text)
        else:
            answer = f"{answer.rstrip()} ({resolution.difference.label}: {text}.)"
    return {
        "question_id": event["question_id"],
        "question": event["question"],
        "can_answer": output.can_answer,
        "answer": answer,
        "reason": None if output.can_answer else output.reason,
        "figures": figures,
        "periods": applied_periods(resolution, output.periods),
        "filters": applied_filters(resolution, output.filters),
    }


def format_signed(amount: Decimal, currency: str) -> str:
    """``Decimal("-420")`` → ``"-$420.00"`` (``"-420.00 EUR"`` for other currencies)."""
    sign = "-" if amount < 0 else "+" if amount > 0 else ""
    body = f"{abs(amount):,.2f}"
    return f"{sign}${body}" if currency == "USD" else f"{sign}{body} {currency}"
