"""The question-answering daemon against the reference ledger over real HTTP, with scripted
models playing the LLM: answers cite tool figures, code does the arithmetic, and the checks
catch invented amounts, foreign ids and stray numbers."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from opentelemetry.trace import INVALID_SPAN
from pydantic import SecretStr, ValidationError

from processors.catalog import Catalog
from processors.daemons.base import Environment, build_agent, build_daemon
from processors.daemons.question_answering import USE_CASE, QuestionAnswer, checks, to_output
from processors.daemons.question_answering.evals import load_cases, score
from processors.daemons.question_answering.evidence import resolve
from processors.errors import UnknownTenant
from processors.guardrails.checks import CheckResult
from processors.llm.fakes import ScriptedModel, call, reply, tool_calls
from processors.llm.model import Model
from processors.reference import sample_app, serve_in_thread
from processors.reference.as_tools import openapi_tools
from processors.runtime.daemon import EventContext, Output
from processors.serde import AvroCodec, SchemaSet
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.base import CallContext
from processors.tools.evidence import ToolEvidence

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = SchemaSet.load(ROOT / "schemas")
CATALOG = Catalog.load(ROOT / "topics", SCHEMAS)
KEY = "question-answering-test-signing-key"
TENANT, PRINCIPAL = "t-quillstack", "u-quillstack-viewer"
Q2 = {"date_from": "2026-04-01", "date_to": "2026-06-30"}
Q3 = {"date_from": "2026-07-01", "date_to": "2026-09-30"}


class KnownTenants:
    """A tenant directory that knows a fixed set of tenants and fails loudly otherwise."""

    def __init__(self, *tenants: str) -> None:
        self.tenants = set(tenants)

    async def require(self, ctx: CallContext) -> None:
        if ctx.tenant_id not in self.tenants:
            raise UnknownTenant(f"unknown tenant {ctx.tenant_id}")


@pytest.fixture(scope="module")
def ledger_url() -> Iterator[str]:
    with serve_in_thread(sample_app(KEY.encode())) as url:
        yield url


def event(question: str, tenant: str = TENANT, principal: str = PRINCIPAL) -> dict[str, Any]:
    return {
        "event_id": "evt-qa-1",
        "tenant_id": tenant,
        "principal_id": principal,
        "occurred_at": dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC),
        "question_id": "q-1",
        "question": question,
        "conversation_id": None,
    }


def ctx_for(e: dict[str, Any]) -> CallContext:
    return CallContext(tenant_id=e["tenant_id"], principal_id=e["principal_id"], event_id="e")


T = TypeVar("T")


def with_env(
    url: str, model: Model, body: Callable[[Environment], Awaitable[T]], tenants: Sequence[str]
) -> T:
    """Run ``body`` with an environment whose tools talk HTTP to the reference ledger."""

    async def main() -> T:
        credentials = HmacCredentialProvider(HmacCredentialSettings(key=SecretStr(KEY)))
        async with httpx.AsyncClient() as client:
            source = openapi_tools(url, client, credentials)
            env = Environment(model=model, tool_sources=[source], tenants=KnownTenants(*tenants))
            return await body(env)

    return asyncio.run(main())


async def _evidence_run(
    env: Environment, e: dict[str, Any]
) -> tuple[QuestionAnswer, list[ToolEvidence]]:
    """Run the agent; what its tools really returned comes with its result."""
    result = await build_agent(USE_CASE, env).run(e, ctx_for(e))
    return result.output, list(result.evidence)


def run_agent(
    url: str, steps: list[Any], e: dict[str, Any]
) -> tuple[QuestionAnswer, list[ToolEvidence], ScriptedModel]:
    model = ScriptedModel(steps)
    with model:
        output, evidence = with_env(url, model, lambda env: _evidence_run(env, e), [TENANT])
    return output, evidence, model


def software_steps(final: dict[str, Any]) -> list[Any]:
    category = {"tenant_id": TENANT, "category": "6500", "group_by": "vendor"}
    return [
        tool_calls(call("listAccounts", {"tenant_id": TENANT})),
        tool_calls(
            call("aggregateSpend", {**category, **Q3}), call("aggregateSpend", {**category, **Q2})
        ),
        tool_calls(call("listVendors", {"tenant_id": TENANT, "name": "GitHub"})),
        reply(final),
    ]


GOOD: dict[str, Any] = {
    "can_answer": True,
    "answer": "Software spend was 0.00 in 2026-Q3 and 420.00 in 2026-Q2, {difference}; "
    "the Q2 spend was all with GitHub (v-q-02).",
    "reason": None,
    "figures": [
        {"label": "Software 2026-Q3", "amount": "0", "record_ids": []},
        {"label": "Software 2026-Q2", "amount": "420.00", "record_ids": ["tx-q-003", "tx-q-010"]},
    ],
    "difference": {"label": "2026-Q3 minus 2026-Q2", "first": 1, "second": 2},
    "periods": ["2026-Q2", "2026-Q3"],
    "filters": {"category": "6500"},
}
QUESTION = "How much more did we spend on software in Q3 than Q2, and with whom?"


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def encode_answer(e: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    common = {
        "event_id": e["event_id"],
        "tenant_id": e["tenant_id"],
        "principal_id": e["principal_id"],
        "occurred_at": dt.datetime.now(dt.UTC),
        "output_id": "o-1",
        "run_id": "r-1",
        "trace_id": "",
    }
    datum = {**common, **fields}
    codec = AvroCodec(SCHEMAS)
    name = CATALOG.get("questions.answered").value_schema
    return codec.decode(codec.encode(name, datum, topic="questions.answered"))


def test_grounded_answer_passes_and_code_computes_the_difference(ledger_url: str) -> None:
    e = event(QUESTION)
    output, evidence, model = run_agent(ledger_url, software_steps(GOOD), e)

    results = checks(output, evidence, e).results
    assert all(r.passed for r in results), [r for r in results if not r.passed]
    assert {r.name for r in results} >= {"numeric_grounding", "tenant_scoped_ids"}

    fields = to_output(e, output, evidence)
    q3, q2, diff = fields["figures"]
    assert (q3["amount_minor"], q3["record_ids"]) == (0, [])
    assert (q2["amount_minor"], q2["record_ids"]) == (42000, ["tx-q-003", "tx-q-010"])
    assert (diff["amount_minor"], diff["record_ids"]) == (-42000, ["tx-q-003", "tx-q-010"])
    assert "{difference}" not in fields["answer"] and "-$420.00" in fields["answer"]
    assert fields["filters"] == {"category": "6500"}
    assert fields["periods"] == ["2026-Q2", "2026-Q3"]
    assert fields["reason"] is None and fields["question_id"] == "q-1"
    decoded = encode_answer(e, fields)
    assert decoded["figures"][1]["record_ids"] == ["tx-q-003", "tx-q-010"]
    # the model saw only the allowlisted tools, and the tenant it must pass
    first = model.requests[0]
    assert sorted(t.name for t in first.tools) == sorted(USE_CASE.tools)
    assert TENANT in str(first.messages[first.cache_prefix].content)


def test_published_figures_come_from_the_tool_not_the_models_copy(ledger_url: str) -> None:
    sloppy = {**GOOD, "answer": "Software spend was 420.00 in 2026-Q2, {difference}."}
    sloppy["figures"] = [
        {"label": "Software 2026-Q3", "amount": "0", "record_ids": []},
        # right amount, but only one of the two ids the tool returned with it
        {"label": "Software 2026-Q2", "amount": "$420", "record_ids": ["tx-q-010"]},
    ]
    e = event(QUESTION)
    output, evidence, _ = run_agent(ledger_url, software_steps(sloppy), e)
    assert all(r.passed for r in checks(output, evidence, e).results)
    assert to_output(e, output, evidence)["figures"][1]["record_ids"] == ["tx-q-003", "tx-q-010"]


def test_invented_amount_fails_grounding(ledger_url: str) -> None:
    invented = {**GOOD, "answer": "Software spend was 450.00 in 2026-Q2, {difference}."}
    invented["figures"] = [
        {"label": "Software 2026-Q3", "amount": "0", "record_ids": []},
        {"label": "Software 2026-Q2", "amount": "450.00", "record_ids": []},
    ]
    e = event(QUESTION)
    output, evidence, _ = run_agent(ledger_url, software_steps(invented), e)
    results = by_name(checks(output, evidence, e).results)
    assert not results["numeric_grounding"].passed
    assert "45000" in results["numeric_grounding"].detail
    assert not results["figures_traced"].passed  # and the difference rests on it


def test_amount_that_disagrees_with_its_records_fails(ledger_url: str) -> None:
    wrong = {**GOOD, "answer": "Software spend was 210.00 in 2026-Q2, {difference}."}
    wrong["figures"] = [
        {"label": "Software 2026-Q3", "amount": "0", "record_ids": []},
        {"label": "Software 2026-Q2", "amount": "215.00", "record_ids": ["tx-q-003", "tx-q-010"]},
    ]
    e = event(QUESTION)
    output, evidence, _ = run_agent(ledger_url, software_steps(wrong), e)
    results = by_name(checks(output, evidence, e).results)
    assert not results["figures_traced"].passed
    assert "differs from the tool's 420.00" in results["figures_traced"].detail


def test_record_id_of_another_tenant_fails_tenant_scoping(ledger_url: str) -> None:
    foreign = {**GOOD}
    foreign["figures"] = [
        {"label": "Software 2026-Q3", "amount": "0", "record_ids": []},
        {"label": "Software 2026-Q2", "amount": "420.00", "record_ids": ["tx-r-001"]},
    ]
    e = event(QUESTION)
    output, evidence, _ = run_agent(ledger_url, software_steps(foreign), e)
    results = by_name(checks(output, evidence, e).results)
    assert not results["tenant_scoped_ids"].passed
    assert "tx-r-001" in results["tenant_scoped_ids"].detail
    assert not results["figures_traced"].passed


def test_model_arithmetic_in_the_answer_is_caught_unless_it_matches_code(ledger_url: str) -> None:
    wrong_math = {**GOOD, "answer": "Software spend fell by 400.00 from 2026-Q2 to 2026-Q3."}
    e = event(QUESTION)
    output, evidence, _ = run_agent(ledger_url, software_steps(wrong_math), e)
    results = by_name(checks(output, evidence, e).results)
    assert not results["answer_numbers"].passed and "400" in results["answer_numbers"].detail

    right_math = {**GOOD, "answer": "Software spend fell by $420 from Q2 2026 to Q3 2026."}
    e = event(QUESTION)
    output, evidence, _ = run_agent(ledger_url, software_steps(right_math), e)
    assert all(r.passed for r in checks(output, evidence, e).results)
    # no {difference} in the text: code states it after the answer
    assert (
        "(2026-Q3 minus 2026-Q2: -$420.00.)"
        in to_output(event(QUESTION), output, evidence)["answer"]
    )


def test_money_received_is_summed_by_code_from_listed_transactions(ledger_url: str) -> None:
    final = {
        "can_answer": True,
        "answer": "Money received in 2026-Q2 totals the two deposits listed.",
        "figures": [
            {"label": "Received 2026-Q2", "amount": None, "record_ids": ["tx-r-004", "tx-r-011"]}
        ],
        "periods": ["2026-Q2"],
    }
    steps = [
        tool_calls(call("listTransactions", {"tenant_id": "t-ridgeline", **Q2})),
        reply(final),
    ]
    e = event("How much money came in during Q2 2026?", "t-ridgeline", "u-ridgeline-owner")
    model = ScriptedModel(steps)
    with model:
        output, evidence = with_env(
            ledger_url, model, lambda env: _evidence_run(env, e), ["t-ridgeline"]
        )
    assert all(r.passed for r in checks(output, evidence, e).results)
    (figure,) = to_output(e, output, evidence)["figures"]
    assert figure["amount_minor"] == 521044 + 390000
    case = next(c for c in load_cases() if c["id"] == "money-in-q2")
    assert score(case, {"can_answer": True, "figures": [figure]})["score"] == 1.0


def test_question_outside_the_data_cannot_be_answered(ledger_url: str) -> None:
    final = {
        "can_answer": False,
        "answer": "I cannot forecast next year's revenue.",
        "reason": "The books only hold past transactions; there is no forecast data.",
    }
    e = event("What will our revenue be next year?")
    # evidence_first: even a refusal looks at the data first
    steps = [tool_calls(call("listAccounts", {"tenant_id": TENANT})), reply(final)]
    output, evidence, _ = run_agent(ledger_url, steps, e)
    assert all(r.passed for r in checks(output, evidence, e).results)
    fields = to_output(e, output, evidence)
    assert fields["can_answer"] is False and fields["figures"] == []
    assert fields["reason"] and "forecast" in fields["reason"]
    encode_answer(e, fields)


def test_an_answer_without_any_tool_call_fails() -> None:
    output = QuestionAnswer.model_validate(
        {"can_answer": True, "answer": "You spent nothing on software."}
    )
    assert not by_name(checks(output, [], event(QUESTION)).results)["answer_rests_on_data"].passed


def test_a_tool_call_for_another_tenant_is_flagged() -> None:
    output = QuestionAnswer.model_validate(
        {"can_answer": False, "answer": "No data.", "reason": "Nothing recorded."}
    )
    refused = ToolEvidence("aggregateSpend", {"tenant_id": "t-ridgeline"}, None, "HTTP 403")
    own = ToolEvidence("listAccounts", {"tenant_id": TENANT}, {"accounts": []})
    results = by_name(checks(output, [own, refused], event(QUESTION)).results)
    assert not results["tool_calls_scoped"].passed
    assert "t-ridgeline" in results["tool_calls_scoped"].detail
    assert by_name(checks(output, [own], event(QUESTION)).results)["tool_calls_scoped"].passed


def test_cannot_answer_needs_a_reason_and_a_difference_needs_two_figures() -> None:
    without = QuestionAnswer.model_validate(
        {"can_answer": False, "answer": " The books hold no forecasts. ", "reason": None}
    )
    assert without.reason == "The books hold no forecasts."  # the answer says why
    given = {"can_answer": False, "answer": "No.", "reason": "No forecasts."}
    assert QuestionAnswer.model_validate(given).reason == "No forecasts."
    with pytest.raises(ValidationError, match="reason is required"):
        QuestionAnswer.model_validate({"can_answer": False, "answer": "  "})
    with pytest.raises(ValidationError, match="names figure 2"):
        QuestionAnswer.model_validate(
            {
                "can_answer": True,
                "answer": "x",
                "figures": [{"label": "a", "amount": "1.00"}],
                "difference": {"label": "d", "first": 1, "second": 2},
            }
        )


def test_dates_quarters_years_and_ids_are_not_taken_for_amounts() -> None:
    evidence = [
        ToolEvidence(
            "aggregateSpend",
            {"tenant_id": TENANT, "category": "5000"},
            {"total": "2026.50", "transaction_ids": ["tx-q-002"], "currency": "USD"},
        )
    ]
    base = {
        "can_answer": True,
        "figures": [{"label": "Hosting", "amount": "2,026.50", "record_ids": ["tx-q-002"]}],
        "filters": {"category": "5000"},
    }
    ok = QuestionAnswer.model_validate(
        {
            **base,
            "answer": "In Q3 2026 (2026-07-01..2026-09-30) hosting in 5000 was $2,026.50 "
            "(tx-q-002).",
        }
    )
    assert by_name(checks(ok, evidence, event(QUESTION)).results)["answer_numbers"].passed
    stray = QuestionAnswer.model_validate({**base, "answer": "Hosting was $2,026.50 over 3 bills."})
    assert not by_name(checks(stray, evidence, event(QUESTION)).results)["answer_numbers"].passed
    # "2026.00" is an amount, not a year followed by noise
    year_like = QuestionAnswer.model_validate({**base, "answer": "Hosting was 2026.00."})
    assert not by_name(checks(year_like, evidence, event(QUESTION)).results)[
        "answer_numbers"
    ].passed


def test_to_output_without_checks_keeps_model_figures_marked_unresolved() -> None:
    output = QuestionAnswer.model_validate(GOOD)
    assert resolve(output, []).problems  # nothing to tie them to
    fields = to_output(event(QUESTION), output)
    assert [f["amount_minor"] for f in fields["figures"]] == [0, 42000, -42000]


def test_allowlist_names_only_existing_read_operations(ledger_url: str) -> None:
    async def build(env: Environment) -> list[str]:
        agent = build_agent(USE_CASE, env)  # an unknown operationId would raise ConfigError
        return [t.name for t in agent.tools]

    names = with_env(ledger_url, ScriptedModel([]), build, [TENANT])
    assert sorted(names) == sorted(USE_CASE.tools)
    assert "upsertVendor" not in names
    limits = USE_CASE.limits
    assert limits.max_turns == 6 and limits.max_tool_turns == 3 and USE_CASE.planning is False


def _context(e: dict[str, Any]) -> EventContext:
    return EventContext(
        daemon=USE_CASE.name, topic=USE_CASE.input_topic, partition=0,
        call=CallContext(tenant_id=e["tenant_id"], principal_id=e["principal_id"],
                         event_id=e["event_id"]),
        offset=7, key=None, attempt=1, span=INVALID_SPAN,
    )  # fmt: skip


def run_handler(url: str, final: dict[str, Any]) -> list[Output]:
    e = event(QUESTION)

    async def handle(env: Environment) -> list[Output]:
        daemon = build_daemon(USE_CASE, env)
        assert daemon.inputs == ("questions.asked",)
        return await daemon.handler(e, _context(e))

    model = ScriptedModel(software_steps(final))
    with model:
        return with_env(url, model, handle, [TENANT])


def _encode_all(outputs: list[Output]) -> None:
    codec = AvroCodec(SCHEMAS)
    for out in outputs:
        value = {**out.value, "output_id": "o-1"} if "output_id" in out.value else out.value
        codec.encode(CATALOG.get(out.topic).value_schema, value, topic=out.topic)


def test_daemon_publishes_answer_outcome_and_run_on_pass(ledger_url: str) -> None:
    outputs = run_handler(ledger_url, GOOD)
    assert [o.topic for o in outputs] == [
        "questions.answered",
        "guardrails.outcomes",
        "daemons.runs",
    ]
    assert outputs[1].value["verdict"] == "pass"
    assert outputs[0].value["figures"][2]["amount_minor"] == -42000
    _encode_all(outputs)


def test_daemon_withholds_the_answer_when_a_check_fails(ledger_url: str) -> None:
    invented = {**GOOD}
    invented["figures"] = [
        {"label": "Software 2026-Q3", "amount": "75.00", "record_ids": []},
        GOOD["figures"][1],
    ]
    outputs = run_handler(ledger_url, invented)
    assert [o.topic for o in outputs] == ["guardrails.outcomes", "daemons.runs"]
    outcome = outputs[0].value
    assert outcome["verdict"] == "fail"
    assert any(r.startswith("numeric_grounding") for r in outcome["reasons"])
    _encode_all(outputs)


def test_unknown_tenant_is_refused_before_the_model_runs(ledger_url: str) -> None:
    e = event(QUESTION, tenant="t-nobody")

    async def handle(env: Environment) -> list[Output]:
        return await build_daemon(USE_CASE, env).handler(e, _context(e))

    with pytest.raises(UnknownTenant):
        with_env(ledger_url, ScriptedModel([]), handle, [TENANT])


def test_eval_cases_are_labeled_valid_events_and_the_scorer_discriminates() -> None:
    cases = load_cases()
    assert len(cases) >= 8
    assert {c["expected"]["can_answer"] for c in cases} == {True, False}
    codec = AvroCodec(SCHEMAS)
    name = CATALOG.get("questions.asked").value_schema
    for case in cases:
        value = dict(case["event"])
        value["occurred_at"] = dt.datetime.fromisoformat(value["occurred_at"])
        codec.encode(name, value, topic="questions.asked")
    software = next(c for c in cases if c["id"] == "software-q3-vs-q2")
    perfect: dict[str, Any] = {
        "can_answer": True,
        "figures": [
            {"amount_minor": 0, "record_ids": []},
            {"amount_minor": 42000, "record_ids": ["tx-q-003", "tx-q-010"]},
            {"amount_minor": -42000, "record_ids": ["tx-q-003", "tx-q-010"]},
        ],
    }
    assert score(software, perfect)["score"] == 1.0
    no_difference = {**perfect, "figures": perfect["figures"][:2]}
    assert score(software, no_difference)["difference_correct"] is False
    assert score(software, {"can_answer": False, "figures": []})["score"] == 0.0
    assert score(software, None)["produced"] is False
    forecast = next(c for c in cases if c["id"] == "revenue-forecast")
    assert score(forecast, {"can_answer": False, "reason": "no data", "figures": []})["score"] == 1
