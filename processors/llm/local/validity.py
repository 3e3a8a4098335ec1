"""Measure how reliably a model makes valid tool calls (for ``benchmarks/agent.py``).

A call is *valid* when the model answered with exactly one tool call (it parsed), the call
names a tool that was offered, and its arguments validate against that tool's JSON Schema.
*Correct* additionally means it is the tool the case expected. Needs ``jsonschema`` (in the
``local`` extras).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from processors.errors import DaemonsError
from processors.llm.model import (
    Message,
    Model,
    ModelRequest,
    ModelSettings,
    SystemMessage,
    ToolCall,
    ToolSpec,
    UserMessage,
)


class ValidityCase(BaseModel):
    model_config = ConfigDict(frozen=True)

    prompt: str
    tools: tuple[ToolSpec, ...]
    expected_tool: str


class CaseOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    prompt: str
    expected_tool: str
    called_tool: str | None
    valid: bool
    correct: bool
    latency_s: float
    problem: str | None = None


class ValidityReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    cases: int
    valid: int
    correct: int
    median_latency_s: float
    outcomes: tuple[CaseOutcome, ...]

    @property
    def validity_rate(self) -> float:
        return self.valid / self.cases if self.cases else 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.cases if self.cases else 0.0


def _check(calls: Sequence[ToolCall], tools: tuple[ToolSpec, ...]) -> tuple[str | None, str | None]:
    """(called tool name, problem) for a response's tool calls."""
    import jsonschema

    if len(calls) != 1:
        return None, f"expected one tool call, got {len(calls)}"
    call = calls[0]
    spec = next((t for t in tools if t.name == call.name), None)
    if spec is None:
        return call.name, f"called unknown tool {call.name!r}"
    if call.invalid_arguments is not None:
        return call.name, f"arguments invalid: {call.invalid_arguments}"
    try:
        jsonschema.validate(call.arguments, spec.parameters)
    except jsonschema.ValidationError as exc:
        return call.name, f"arguments invalid: {exc.message}"
    return call.name, None


async def measure_tool_call_validity(
    model: Model,
    cases: Sequence[ValidityCase],
    *,
    system_prompt: str | None = None,
    settings: ModelSettings | None = None,
    tool_choice: str = "auto",
) -> ValidityReport:
    """Run each case once and score the tool call it produces. ``tool_choice="required"`` is
    what an agent with ``evidence_first`` sends on its first turn."""
    settings = settings or ModelSettings(temperature=0.0, max_tokens=256)
    outcomes = []
    for case in cases:
        messages: tuple[Message, ...] = (UserMessage(content=case.prompt),)
        if system_prompt:
            messages = (SystemMessage(content=system_prompt), *messages)
        request = ModelRequest(
            messages=messages, tools=case.tools, tool_choice=tool_choice, settings=settings
        )
        started = time.monotonic()
        try:
            response = await model.complete(request)
            called, problem = _check(response.message.tool_calls, case.tools)
        except DaemonsError as exc:
            called, problem = None, f"{type(exc).__name__}: {exc}"
        latency = time.monotonic() - started
        outcomes.append(
            CaseOutcome(
                prompt=case.prompt,
                expected_tool=case.expected_tool,
                called_tool=called,
                valid=problem is None,
                correct=problem is None and called == case.expected_tool,
                latency_s=latency,
                problem=problem,
            )
        )
    return ValidityReport(
        model=model.name,
        cases=len(outcomes),
        valid=sum(o.valid for o in outcomes),
        correct=sum(o.correct for o in outcomes),
        median_latency_s=statistics.median(o.latency_s for o in outcomes) if outcomes else 0.0,
        outcomes=tuple(outcomes),
    )


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> ToolSpec:
    schema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    return ToolSpec(name=name, description=description, parameters=schema)


_ID = {"type": "string"}
ACCOUNTING_TOOLS: tuple[ToolSpec, ...] = (
    _tool("get_invoice", "Fetch one invoice by its id.", {"invoice_id": _ID}, ["invoice_id"]),
    _tool(
        "categorize_transaction",
        "Assign a ledger category to a bank transaction.",
        {
            "transaction_id": _ID,
            "category": {"enum": ["travel", "meals", "software", "rent", "payroll", "utilities"]},
        },
        ["transaction_id", "category"],
    ),
    _tool(
        "search_vendor",
        "Find a vendor by (part of) its name.",
        {"name": {"type": "string"}},
        ["name"],
    ),
    _tool(
        "create_journal_entry",
        "Post a journal entry moving an amount between two accounts.",
        {
            "debit_account": _ID,
            "credit_account": _ID,
            "amount": {"type": "number", "exclusiveMinimum": 0},
            "memo": {"type": "string"},
        },
        ["debit_account", "credit_account", "amount"],
    ),
    _tool(
        "flag_for_review",
        "Flag a transaction for a human accountant, with a reason.",
        {"transaction_id": _ID, "reason": {"type": "string"}},
        ["transaction_id", "reason"],
    ),
)

ACCOUNTING_CASES: tuple[ValidityCase, ...] = tuple(
    ValidityCase(prompt=prompt, tools=ACCOUNTING_TOOLS, expected_tool=expected)
    for prompt, expected in (
        ("Show me invoice INV-2024-0042.", "get_invoice"),
        (
            "Transaction tx_881 is an Uber ride to the airport. Categorize it.",
            "categorize_transaction",
        ),
        ("Who is the vendor 'Acme Cloud'? Look them up.", "search_vendor"),
        (
            "Record a journal entry: debit 6100 Rent, credit 1000 Cash, 2500.00, memo March rent.",
            "create_journal_entry",
        ),
        ("tx_902 looks like a duplicate charge of $4,999; send it to a human.", "flag_for_review"),
        ("Categorize tx_17: monthly GitHub subscription.", "categorize_transaction"),
        ("I need the details of invoice number 7781.", "get_invoice"),
        ("Find the supplier called Northwind.", "search_vendor"),
        (
            "Lunch with a client, transaction tx_55: put it in the right category.",
            "categorize_transaction",
        ),
        (
            "Move 120.50 from account 1000 to account 6400 for the electricity bill.",
            "create_journal_entry",
        ),
    )
)
