"""The ``vendor-enrichment`` daemon: who is behind a new bank descriptor?

``vendors.discovered`` → agent (directory search, the tenant's transactions, vendor records and
chart of accounts, gathered up front) → deterministic checks and judge → write-back with
upsertVendor (idempotent by event id, only for a passing result) → ``vendors.enriched``.
Unknown attributes are published as ``unknown``, never guessed.
"""

from __future__ import annotations

from pathlib import Path

from processors.agent import Limits
from processors.daemons.base import UseCase
from processors.daemons.vendor_enrichment.checks import checks
from processors.daemons.vendor_enrichment.criteria import CRITERIA
from processors.daemons.vendor_enrichment.evals import EVALS
from processors.daemons.vendor_enrichment.gather import CONTEXT, VIEWS, gather
from processors.daemons.vendor_enrichment.models import VendorChoice, VendorProfile
from processors.daemons.vendor_enrichment.output import to_output
from processors.daemons.vendor_enrichment.recall import RECALL, model_view
from processors.daemons.vendor_enrichment.redteam import REDTEAM
from processors.daemons.vendor_enrichment.remember import remember
from processors.daemons.vendor_enrichment.resolve import resolve
from processors.daemons.vendor_enrichment.write import write_back

TOOLS = ("searchDirectory", "listTransactions", "listVendors", "listAccounts", "upsertVendor")
"""The allowlist: four reads (the model's, gathered up front) and the one write (the
daemon's, after the guardrails), nothing else."""

USE_CASE: UseCase[VendorProfile] = UseCase(
    name="vendor-enrichment",
    input_topic="vendors.discovered",
    output_topic="vendors.enriched",
    output_type=VendorProfile,
    prompts=Path(__file__).parent / "prompts",
    tools=TOOLS,
    to_output=to_output,
    checks=checks,
    # the four reads are gathered by code, so the model answers from them (no tool turns; a
    # small model otherwise searches in circles); turns to spare for corrections
    limits=Limits(
        max_turns=4, max_tokens=40_000, timeout_s=120.0, max_corrections=2, max_tool_turns=0
    ),
    planning=False,
    writes=("upsertVendor",),
    context=CONTEXT,
    gather=gather,
    # of memory the model reads whether this descriptor is known and a near match's name,
    # never an id (recall.model_view)
    views={**VIEWS, "identify": model_view},
    write_back=write_back,
    remember=remember,
    recall=RECALL,
    # the model picks the directory entry, the existing record and the account; code copies
    # the website, phone, address, hours and code from the entry it picked
    restates_event={
        "name": "a bank descriptor names its vendor; a name only the descriptor gives is "
        "checked by fields_grounded and fenced like all event text",
    },
    answer_type=VendorChoice,
    resolve=resolve,
    evals=EVALS,
    redteam=REDTEAM,
    criteria=CRITERIA,
    samples=Path(__file__).parent / "samples.jsonl",
)

__all__ = ["TOOLS", "USE_CASE", "VendorChoice", "VendorProfile", "checks", "to_output"]
