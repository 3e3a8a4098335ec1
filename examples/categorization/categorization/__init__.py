"""The ``transaction-categorization`` daemon: which account of the tenant's chart does an
uncategorized bank transaction belong to, how sure is it, and on which records does it rest?

``transactions.uncategorized`` → the chart of accounts and vendor records (read by code, the
same for every event of a tenant) and the earlier transactions of the same merchant (read by
code for the event) → the model's choice (an account code, a confidence, the ids it relied
on, a reason) → code copies the account's name and type from the chart → deterministic checks
(an account no chart has, or a record no tool returned, withholds the result; a wrong
direction or a low confidence leaves the transaction to a person) → the judge, when one is
configured → ``transactions.categorized``. Nothing is written back: the reference ledger API
has no operation that sets a transaction's category.

Registered by this package's entry point (group ``process_daemons.daemons``), so ``daemons
run transaction-categorization`` finds it; nothing under ``processors/`` names it.
"""

from __future__ import annotations

from pathlib import Path

from processors.agent import Limits
from processors.daemons.usecase import UseCase

from categorization.checks import THRESHOLD, checks
from categorization.evals import EVALS
from categorization.gather import CONTEXT, VIEWS, gather
from categorization.models import Categorization, CategoryChoice
from categorization.output import to_output
from categorization.resolve import resolve

HERE = Path(__file__).parent

TOOLS = ("listAccounts", "listVendors", "listTransactions")
"""The allowlist: three reads, all made by code before the model's turn; no write."""

USE_CASE: UseCase[Categorization] = UseCase(
    name="transaction-categorization",
    input_topic="transactions.uncategorized",
    output_topic="transactions.categorized",
    output_type=Categorization,
    prompts=HERE / "prompts",
    tools=TOOLS,
    to_output=to_output,
    checks=checks,
    # the reads are made by code, so the model answers from them (no tool turns); turns to
    # spare for corrections of an answer that does not validate
    limits=Limits(
        max_turns=3, max_tokens=30_000, timeout_s=120.0, max_corrections=2, max_tool_turns=0
    ),
    context=CONTEXT,
    gather=gather,
    views=VIEWS,
    # the model picks the account and cites records; code copies the account's name and
    # type from the chart and caps the confidence of an account no cited record books
    answer_type=CategoryChoice,
    resolve=resolve,
    contracts=HERE / "contracts",
    evals=EVALS,
    # samples stays None: the demo runs every daemon that has samples
)

__all__ = ["THRESHOLD", "TOOLS", "USE_CASE", "Categorization", "CategoryChoice", "checks"]
