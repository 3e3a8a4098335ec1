"""The ``question-answering`` daemon: answers a question about a tenant's books with figures
that trace to records.

``questions.asked`` → the chart of accounts and the vendor list (read by code) → one
constrained model turn that fills a :class:`~.query.Query` (metric, account and vendor chosen
from this tenant's names, the period(s) from the candidates code read off the question,
grouping) or says ``cannot_answer`` and what data is missing → code runs the query through the
read tools (``aggregateSpend``, ``listTransactions``), adds and subtracts, cites every record
and writes the sentence (:mod:`.execute`) → checks → ``questions.answered``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from processors.agent import Limits
from processors.daemons.base import UseCase
from processors.daemons.question_answering.checks import checks
from processors.daemons.question_answering.criteria import CRITERIA
from processors.daemons.question_answering.evals import EVALS
from processors.daemons.question_answering.examples import RECALL, notes, remember, shown_above
from processors.daemons.question_answering.execute import follow_up, resolve
from processors.daemons.question_answering.models import QuestionAnswer
from processors.daemons.question_answering.output import to_output
from processors.daemons.question_answering.query import Query, answer_schema
from processors.daemons.question_answering.redteam import REDTEAM
from processors.llm.model import ToolCall

CONTEXT = (
    ToolCall(id="gather-accounts", name="listAccounts", arguments={}),
    ToolCall(id="gather-vendors", name="listVendors", arguments={}),
)
"""The chart of accounts and the vendor list: the names a question uses, as codes and ids.
The same for every question of a tenant, so they come before the question in the prompt."""


def _in_schema(key: str) -> Any:
    """A view that shows only how many records a list holds: the model reads their names in
    the answer schema's enums (:func:`~.query.answer_schema`), not twice."""

    def view(result: Any) -> Any:
        if not isinstance(result, Mapping) or not isinstance(result.get(key), list):
            return result  # an error or an unexpected answer is shown as it is
        return {key: "their names are the choices of the answer schema"}

    return view


VIEWS = {
    "listAccounts": _in_schema("accounts"),
    "listVendors": _in_schema("vendors"),
    "recall": shown_above,  # with memory: the examples are in the task notes
}

USE_CASE: UseCase[QuestionAnswer] = UseCase(
    name="question-answering",
    input_topic="questions.asked",
    output_topic="questions.answered",
    output_type=QuestionAnswer,
    prompts=Path(__file__).parent / "prompts",
    tools=("listAccounts", "aggregateSpend", "listTransactions", "listVendors"),
    to_output=to_output,
    checks=checks,
    # one constrained answer, no tool turns (code makes every read); turns for corrections
    limits=Limits(
        max_turns=3, timeout_s=120.0, max_tokens=20_000, max_corrections=2, max_tool_turns=0
    ),
    evidence_first=False,
    context=CONTEXT,
    views=VIEWS,
    answer_type=Query,
    answer_schema=answer_schema,
    task_notes=notes,
    follow_up=follow_up,
    resolve=resolve,
    # an approved answer is remembered; with memory, the most similar ones come back as
    # worked examples in the task notes (examples.py)
    remember=remember,
    recall=RECALL,
    evals=EVALS,
    redteam=REDTEAM,
    criteria=CRITERIA,
    samples=Path(__file__).parent / "samples.jsonl",
)

__all__ = ["USE_CASE", "Query", "QuestionAnswer", "checks", "to_output"]
