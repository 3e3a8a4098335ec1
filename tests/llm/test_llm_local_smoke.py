"""Smoke test of the embedded local model: ``daemons llm serve`` with the real Qwen weights,
reached through the OpenAI-compatible provider. Skips only when the model extra is missing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from processors.llm.config import LLMSettings
from processors.llm.local.validity import ACCOUNTING_TOOLS
from processors.llm.model import (
    ModelRequest,
    ModelSettings,
    SystemMessage,
    ToolResultMessage,
    UserMessage,
)
from processors.llm.registry import load_model
from processors.testing.llm import TEST_THREADS, local_model_server, missing_extra

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a busy machine is slow, not broken

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string"},
        "amount": {"type": "number"},
        "category": {"enum": ["travel", "meals", "software", "rent"]},
    },
    "required": ["vendor", "amount", "category"],
    "additionalProperties": False,
}
LOOKUP_PROMPT = "Look up invoice INV-7 and tell me its vendor, amount and category."


@pytest.fixture(scope="module", params=["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
def local_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    model: str = request.param
    reason = missing_extra(model)
    if reason:
        pytest.skip(reason)
    with local_model_server(model, threads=TEST_THREADS) as base_url:
        yield model, base_url


def _run(model_name: str, base_url: str, request: ModelRequest) -> Any:
    model = load_model(f"local:{model_name}", LLMSettings(local_base_url=base_url))

    async def go() -> Any:
        try:
            return await model.complete(request)
        finally:
            await model.aclose()  # type: ignore[attr-defined]

    return asyncio.run(go())


def test_real_model_makes_a_valid_tool_call(local_server: tuple[str, str]) -> None:
    name, base_url = local_server
    request = ModelRequest(
        messages=(UserMessage(content="Show me invoice INV-2024-0042."),),
        tools=ACCOUNTING_TOOLS,
        settings=ModelSettings(temperature=0.0, max_tokens=128),
    )
    response = _run(name, base_url, request)
    (call,) = response.message.tool_calls
    spec = next(t for t in ACCOUNTING_TOOLS if t.name == call.name)
    jsonschema.validate(call.arguments, spec.parameters)
    assert call.name == "get_invoice"
    assert response.finish_reason == "tool_calls"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.cost_usd == 0.0


def test_real_model_gives_a_schema_conforming_final_answer(local_server: tuple[str, str]) -> None:
    name, base_url = local_server
    first = _run(
        name,
        base_url,
        ModelRequest(
            messages=(
                UserMessage(
                    content="Look up invoice INV-7 and tell me its vendor, amount and category."
                ),
            ),
            tools=ACCOUNTING_TOOLS,
            tool_choice="get_invoice",
            settings=ModelSettings(temperature=0.0, max_tokens=128),
        ),
    )
    (call,) = first.message.tool_calls
    assert call.name == "get_invoice"
    result = ToolResultMessage(
        tool_call_id=call.id,
        name=call.name,
        content=json.dumps({"vendor": "Acme Cloud", "amount": 49.0, "memo": "monthly hosting"}),
    )
    final = _run(
        name,
        base_url,
        ModelRequest(
            messages=(UserMessage(content=LOOKUP_PROMPT), first.message, result),
            tools=ACCOUNTING_TOOLS,
            tool_choice="none",
            response_schema=ANSWER_SCHEMA,
            settings=ModelSettings(temperature=0.0, max_tokens=128),
        ),
    )
    assert final.message.tool_calls == () and final.finish_reason == "stop"
    answer = json.loads(final.message.content)
    jsonschema.validate(answer, ANSWER_SCHEMA)
    assert answer["vendor"] == "Acme Cloud" and answer["amount"] == 49.0


def _with_prefix(word: str) -> ModelRequest:
    """A request whose system prompt (the daemon's and tenant's prefix) is ``word``'s own."""
    prefix = " ".join(f"{word} account {i} is {word}-{i}." for i in range(40))
    return ModelRequest(
        messages=(SystemMessage(content=prefix), UserMessage(content="Name the first account.")),
        settings=ModelSettings(temperature=0.0, max_tokens=8),
    )


def test_each_prefix_stays_cached_when_daemons_take_turns(local_server: tuple[str, str]) -> None:
    """Two daemons (two prompt prefixes) alternate on one server: the second request of each
    is read almost whole from the prompt cache, and the usage says so."""
    name, base_url = local_server
    first_a = _run(name, base_url, _with_prefix("alpha"))
    first_b = _run(name, base_url, _with_prefix("beta"))
    again_a = _run(name, base_url, _with_prefix("alpha"))
    again_b = _run(name, base_url, _with_prefix("beta"))
    assert first_a.usage.cached_input_tokens < first_a.usage.input_tokens // 4
    assert first_b.usage.cached_input_tokens < first_b.usage.input_tokens // 2  # only the head
    for first, again in ((first_a, again_a), (first_b, again_b)):
        assert again.usage.input_tokens == first.usage.input_tokens
        assert again.usage.cached_input_tokens >= again.usage.input_tokens - 8
    rates = httpx.get(base_url.removesuffix("/v1") + "/health", timeout=10).json()["rates"]
    assert rates["completions"] >= 4 and rates["prompt_tokens_per_s"] > 0


def _for_tenant(tenant: str, event: str, rule: str = "Answer with the account. ") -> ModelRequest:
    """One daemon's request: its instructions, then ``tenant``'s records, then the event."""
    records = " ".join(f"{tenant} account {i} is {tenant}-{i}." for i in range(30))
    return ModelRequest(
        messages=(
            SystemMessage(content=rule * 20),
            UserMessage(content=records),
            UserMessage(content=f"Event {event}: which account?"),
        ),
        settings=ModelSettings(temperature=0.0, max_tokens=4),
    )


def test_each_tenant_keeps_its_prefix_when_tenants_take_turns(
    local_server: tuple[str, str],
) -> None:
    """Events of one daemon for tenants T1, T2, T1: the second T1 event computes only its
    own message (its tenant's records stay cached in their slot), not T1's records again."""
    name, base_url = local_server
    first = _run(name, base_url, _for_tenant("acme", "e1"))
    _run(name, base_url, _for_tenant("globex", "e2"))
    again = _run(name, base_url, _for_tenant("acme", "e3"))
    assert again.usage.input_tokens == first.usage.input_tokens
    assert again.usage.input_tokens - again.usage.cached_input_tokens <= 20


def test_a_new_tenant_reads_its_daemons_instructions_from_another_slot(
    local_server: tuple[str, str],
) -> None:
    """The first event of a second tenant runs in a slot the server first filled with a copy
    of the first tenant's (slot save and restore): the daemon's instructions come from the
    cache, only the tenant's records and the event are computed. (Instructions no earlier
    test used, so no slot holds them before.)"""
    name, base_url = local_server
    rule = "Answer with the ledger code only. "
    first = _run(name, base_url, _for_tenant("initech", "e1", rule))
    other = _run(name, base_url, _for_tenant("umbrella", "e2", rule))
    assert first.usage.cached_input_tokens < 20
    assert other.usage.cached_input_tokens >= 100  # the ~140 tokens of instructions
    assert other.usage.cached_input_tokens < other.usage.input_tokens - 100  # not its records
