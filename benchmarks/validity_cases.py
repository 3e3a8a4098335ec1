"""Tool-call validity cases over the reference ledger API's eight tools (``benchmarks/agent.py``).

Every case offers all eight tools, reflected from :mod:`processors.reference.handlers` exactly
as a daemon would see them, and names the one tool a bookkeeper would expect to be called.
"""

from __future__ import annotations

from pydantic import SecretStr

from processors.llm.local.validity import ValidityCase
from processors.llm.model import ToolSpec
from processors.reference import Ledger, TokenVerifier
from processors.reference.as_tools import reflection_tools
from processors.reference.data import PRINCIPALS
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.reflection import ReflectedTool

BENCH_KEY = "benchmark-ledger-key"

SYSTEM_PROMPT = (
    "You are a bookkeeping assistant working on the ledger of an accounting firm's clients "
    "(tenants t-ridgeline, t-quillstack and t-brightsmile). The current tenant is t-ridgeline "
    "unless the request names another. You know nothing about the ledger's data yourself: "
    "every fact (accounts, transactions, vendors, spend, company details) and every change "
    "must go through a tool. Answer each request by calling exactly one tool, never with "
    "text."
)
FIRST_SYSTEM_PROMPT = (  # the first wording tried, kept for comparison (see the report)
    "You are a bookkeeping assistant working on the ledger of an accounting firm's clients "
    "(tenants t-ridgeline, t-quillstack and t-brightsmile). The current tenant is t-ridgeline "
    "unless the request names another. Answer each request by calling exactly one tool."
)

PROMPTS: tuple[tuple[str, str], ...] = (
    # vendor lookups from raw bank descriptors
    (
        "Who is behind the bank descriptor 'SQ *BLUE BOTTLE COF 1234 OAKLAND CA'?",
        "search_directory",
    ),
    (
        "Find the business for this card charge: 'HIGH DESERT PROPANE LA PINE OR'.",
        "search_directory",
    ),
    (
        "Search the business directory for 'LES SCHWAB TIRES #0213 BEND OR', only in Bend.",
        "search_directory",
    ),
    (
        "Look up which merchant 'TST* PINE TAVERN BEND OR' is, merchant category code 5812.",
        "search_directory",
    ),
    # listing a tenant's transactions
    (
        "List t-ridgeline's bank transactions from 2026-04-01 to 2026-04-30.",
        "list_transactions",
    ),
    (
        "Show Bright Smile's (t-brightsmile) transactions in account 5000 between "
        "2026-04-01 and 2026-06-30.",
        "list_transactions",
    ),
    (
        "Which t-ridgeline transactions have a descriptor containing 'SHOPIFY'?",
        "list_transactions",
    ),
    ("List every transaction of vendor v-q-01 for tenant t-quillstack.", "list_transactions"),
    # vendor records
    ("Show me vendor v-r-02 of tenant t-ridgeline.", "get_vendor"),
    ("Get the full vendor record v-q-01 for t-quillstack.", "get_vendor"),
    ("List all vendors of tenant t-ridgeline.", "list_vendors"),
    ("Does t-quillstack already have a vendor whose name contains 'Amazon'?", "list_vendors"),
    # chart of accounts
    ("What is t-ridgeline's chart of accounts?", "list_accounts"),
    ("List the account codes and names that t-brightsmile books into.", "list_accounts"),
    # spend aggregates
    (
        "How much did t-ridgeline spend per category between 2026-04-01 and 2026-06-30?",
        "aggregate_spend",
    ),
    ("Total t-quillstack's spend by month.", "aggregate_spend"),
    ("Sum t-brightsmile's spend grouped by vendor.", "aggregate_spend"),
    # client info
    ("What is the legal name and fiscal year of tenant t-quillstack?", "get_client"),
    ("Get the company profile for t-brightsmile.", "get_client"),
    # upserting an enriched vendor
    (
        "Save the vendor 'Blue Bottle Coffee' for t-ridgeline: website "
        "https://bluebottlecoffee.com, MCC 5814, default category 5000.",
        "upsert_vendor",
    ),
    (
        "Create a vendor record 'High Desert Propane' for t-ridgeline with phone 541-536-2161 "
        "and default category 6200.",
        "upsert_vendor",
    ),
    (
        "Update vendor v-r-02 of t-ridgeline: its website is https://www.uline.com and its "
        "default category is 5100.",
        "upsert_vendor",
    ),
)


def ledger_tools() -> tuple[Ledger, dict[str, ReflectedTool]]:
    """A sample ledger and its eight reflected tools (credentials signed with BENCH_KEY)."""
    ledger = Ledger.sample()
    provider = HmacCredentialProvider(HmacCredentialSettings(key=SecretStr(BENCH_KEY)))
    verifier = TokenVerifier(BENCH_KEY.encode(), PRINCIPALS)
    return ledger, reflection_tools(ledger, verifier, provider)


def ledger_tool_specs() -> tuple[ToolSpec, ...]:
    _, tools = ledger_tools()
    return tuple(
        ToolSpec(name=t.name, description=t.description, parameters=t.input_schema)
        for t in tools.values()
    )


def ledger_cases() -> tuple[ValidityCase, ...]:
    specs = ledger_tool_specs()
    names = {s.name for s in specs}
    assert all(expected in names for _, expected in PROMPTS)
    return tuple(
        ValidityCase(prompt=prompt, tools=specs, expected_tool=expected)
        for prompt, expected in PROMPTS
    )
