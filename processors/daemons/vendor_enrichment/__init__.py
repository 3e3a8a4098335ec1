"""The ``vendor-enrichment`` daemon: who is behind a new bank descriptor?

``vendors.discovered`` → agent (directory search, the tenant's transactions, vendor records and
chart of accounts; writes the vendor back with upsertVendor, idempotent by event id) →
deterministic checks → ``vendors.enriched``. Unknown attributes are published as ``unknown``,
never guessed.
"""

from __future__ import annotations

from pathlib import Path

from processors.agent import Limits
from processors.daemons.base import UseCase
from processors.daemons.vendor_enrichment.checks import checks
from processors.daemons.vendor_enrichment.models import VendorProfile
from processors.daemons.vendor_enrichment.output import to_output

TOOLS = ("searchDirectory", "listTransactions", "listVendors", "listAccounts", "upsertVendor")
"""The allowlist: four reads and the one write, nothing else."""

USE_CASE: UseCase[VendorProfile] = UseCase(
    name="vendor-enrichment",
    input_topic="vendors.discovered",
    output_topic="vendors.enriched",
    output_type=VendorProfile,
    prompts=Path(__file__).parent / "prompts",
    tools=TOOLS,
    to_output=to_output,
    checks=checks,
    # six turns for the five calls and the answer, plus two to spare for a small model
    limits=Limits(max_turns=8, max_tokens=60_000, timeout_s=120.0, max_corrections=2),
    planning=False,
)

__all__ = ["TOOLS", "USE_CASE", "VendorProfile", "checks", "to_output"]
