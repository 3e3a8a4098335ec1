"""The tool-call validity measurement, with a hand-played model (no real model)."""

from __future__ import annotations

import asyncio

from processors.errors import TransientError
from processors.llm.local.validity import (
    ACCOUNTING_CASES,
    ACCOUNTING_TOOLS,
    ValidityCase,
    measure_tool_call_validity,
)
from processors.llm.model import AssistantMessage, ModelRequest, ModelResponse, ToolCall


class PlayedModel:
    """Answers each request with the next scripted reply; fails loudly when out of replies."""

    name = "test:played"
    provider = "test"

    def __init__(self, *replies: AssistantMessage | Exception) -> None:
        self.replies = list(replies)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        assert self.replies, "unexpected model call"
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return ModelResponse(message=reply, model=self.name)


def call(tool: str, **arguments: object) -> AssistantMessage:
    return AssistantMessage(tool_calls=(ToolCall(id="c", name=tool, arguments=arguments),))


def test_validity_scores_parse_name_and_schema() -> None:
    case = ValidityCase(prompt="p", tools=ACCOUNTING_TOOLS, expected_tool="get_invoice")
    model = PlayedModel(
        call("get_invoice", invoice_id="1"),  # valid and correct
        call("search_vendor", name="Acme"),  # valid, wrong tool
        call("get_invoice"),  # missing required argument
        call("drop_table"),  # not offered
        AssistantMessage(content="I would call get_invoice"),  # no call at all
        call("categorize_transaction", transaction_id="t", category="yachts"),  # enum violated
        TransientError("model wrote broken JSON"),
    )
    report = asyncio.run(measure_tool_call_validity(model, [case] * 7))
    assert (report.cases, report.valid, report.correct) == (7, 2, 1)
    problems = [o.problem for o in report.outcomes]
    assert problems[0] is None and problems[1] is None
    assert "required" in (problems[2] or "")
    assert "unknown tool" in (problems[3] or "")
    assert "got 0" in (problems[4] or "")
    assert "yachts" in (problems[5] or "")
    assert "TransientError" in (problems[6] or "")
    assert report.validity_rate == 2 / 7 and report.median_latency_s >= 0
    assert model.replies == []


def test_the_shipped_cases_name_offered_tools() -> None:
    names = {t.name for t in ACCOUNTING_TOOLS}
    assert len(ACCOUNTING_CASES) == 10
    assert all(c.expected_tool in names for c in ACCOUNTING_CASES)


def test_a_call_whose_arguments_could_not_be_read_is_not_valid() -> None:
    case = ValidityCase(prompt="p", tools=ACCOUNTING_TOOLS, expected_tool="get_invoice")
    broken = ToolCall(
        id="c",
        name="get_invoice",
        arguments={},
        invalid_arguments="arguments are not JSON: {invoice",
    )
    report = asyncio.run(
        measure_tool_call_validity(PlayedModel(AssistantMessage(tool_calls=(broken,))), [case])
    )
    assert report.valid == 0 and "not JSON" in (report.outcomes[0].problem or "")
