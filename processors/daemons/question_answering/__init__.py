"""The ``question-answering`` daemon: answers a question about a tenant's books with figures
that trace to records.

``questions.asked`` → agent (``listAccounts``, ``aggregateSpend``, ``listTransactions``,
``listVendors``; read-only) → checks → ``questions.answered``. Sums come from the ledger's
``aggregateSpend`` or from code; a difference is computed by code from two cited figures;
a question the data cannot answer gets ``can_answer = false`` and a reason.
"""

from __future__ import annotations

from pathlib import Path

from processors.agent import Limits
from processors.agent.views import rows
from processors.daemons.base import UseCase
from processors.daemons.question_answering.checks import checks
from processors.daemons.question_answering.evals import EVALS
from processors.daemons.question_answering.models import QuestionAnswer
from processors.daemons.question_answering.output import to_output
from processors.daemons.question_answering.redteam import REDTEAM
from processors.llm.model import ToolCall

CONTEXT = (
    ToolCall(id="gather-accounts", name="listAccounts", arguments={}),
    ToolCall(id="gather-vendors", name="listVendors", arguments={}),
)
"""The chart of accounts and the vendor list: the names a question uses, as codes and ids.
The same for every question of a tenant, so they come before the question in the prompt."""

VIEWS = {"listVendors": rows("vendors", columns=("vendor_id", "name"))}


USE_CASE: UseCase[QuestionAnswer] = UseCase(
    name="question-answering",
    input_topic="questions.asked",
    output_topic="questions.answered",
    output_type=QuestionAnswer,
    prompts=Path(__file__).parent / "prompts",
    tools=("listAccounts", "aggregateSpend", "listTransactions", "listVendors"),
    to_output=to_output,
    checks=checks,
    # accounts and vendors are gathered; a question needs one or two rounds of sums (one per
    # period), so after three tool turns the model is asked for its answer — a question the
    # books cannot answer otherwise sends a small model summing every account in turn
    limits=Limits(
        max_turns=6, timeout_s=120.0, max_tokens=60_000, max_tool_retries=2, max_tool_turns=3
    ),
    context=CONTEXT,
    views=VIEWS,
    evals=EVALS,
    redteam=REDTEAM,
    samples=Path(__file__).parent / "samples.jsonl",
)

__all__ = ["USE_CASE", "QuestionAnswer", "checks", "to_output"]
