"""The client-onboarding use case against the reference ledger API over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.trace import INVALID_SPAN
from pydantic import SecretStr, ValidationError

from processors.daemons.base import Environment, build_agent, build_daemon, run_checks
from processors.daemons.client_onboarding import (
    KEYS,
    USE_CASE,
    OnboardingAnswers,
    OnboardingChoice,
    normalize,
)
from processors.daemons.client_onboarding.checks import Facts, checks
from processors.daemons.client_onboarding.evals import load_cases, score
from processors.daemons.client_onboarding.output import to_output
from processors.daemons.client_onboarding.resolve import answers as resolved
from processors.daemons.client_onboarding.resolve import resolve
from processors.errors import UnknownTenant
from processors.guardrails.checks import CheckResult
from processors.llm.fakes import ScriptedModel, call, reply, tool_calls
from processors.reference import sample_app, serve_in_thread
from processors.reference.as_tools import openapi_tools
from processors.runtime.daemon import EventContext
from processors.serde import AvroCodec, SchemaSet
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.base import CallContext
from processors.tools.catalog import ToolCatalog
from processors.tools.evidence import ToolEvidence

KEY = "client-onboarding-test-key"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CASES = {c["id"]: c for c in load_cases()}
QUILL = CASES["oc-01"]["event"]  # signup: what_do_you_do (14 people, C-corp), banks (Mercury)
RIDGE = CASES["oc-02"]["event"]  # signup: bank, team

GOOD_QUILL = {
    "answers": [
        {"question": "entity_type", "value": "C-Corp", "confidence": 0.95,
         "evidence": ["getClient:entity_type", "signup:what_do_you_do"]},
        {"question": "size_band", "value": "11-50", "confidence": 0.8,
         "evidence": ["signup:what_do_you_do"]},
        {"question": "industry", "value": "B2B SaaS (document automation)", "confidence": 0.9,
         "evidence": ["getClient:industry"]},
        {"question": "bank", "value": "Mercury", "confidence": 0.9, "evidence": ["signup:banks"]},
        {"question": "payroll_provider", "value": "gusto", "confidence": 0.85,
         "evidence": ["tx-q-005", "tx-q-012"]},
        {"question": "payment_processors", "value": "stripe", "confidence": 0.85,
         "evidence": ["tx-q-004", "STRIPE TRANSFER ST-9J3M5N"]},
        {"question": "fiscal_year_end", "value": "december", "confidence": 0.9,
         "evidence": ["getClient:fiscal_year_start_month"]},
        {"question": "currency", "value": "USD", "confidence": 0.95,
         "evidence": ["getClient:currency"]},
    ]
}  # fmt: skip
# what the model answers of it: the payroll provider and payment processors are code's
MODEL_QUILL = {
    "answers": [
        a for a in GOOD_QUILL["answers"]
        if a["question"] not in ("payroll_provider", "payment_processors")
    ]
}  # fmt: skip


class FakeTenants:
    """Knows exactly the sample tenants; anything else is an UnknownTenant."""

    known = frozenset({"t-ridgeline", "t-quillstack", "t-brightsmile"})

    async def require(self, ctx: CallContext) -> None:
        if ctx.tenant_id not in self.known:
            raise UnknownTenant(f"unknown tenant {ctx.tenant_id}")


@pytest.fixture(scope="module")
def ledger_url() -> Iterator[str]:
    with serve_in_thread(sample_app(KEY.encode())) as url:
        yield url


def _credentials() -> HmacCredentialProvider:
    return HmacCredentialProvider(HmacCredentialSettings(key=SecretStr(KEY)))


def _ctx(event: dict[str, Any]) -> CallContext:
    return CallContext(
        tenant_id=event["tenant_id"], principal_id=event["principal_id"], event_id="e-1"
    )


def _lookups(tenant: str) -> list[Any]:
    return [
        call("getClient", {"tenant_id": tenant}),
        call("listTransactions", {"tenant_id": tenant, "limit": 100}),
    ]


async def _evidence(url: str, event: dict[str, Any]) -> list[ToolEvidence]:
    """What getClient and listTransactions really return for the event's tenant."""
    async with httpx.AsyncClient() as client:
        source = openapi_tools(url, client, _credentials())
        found = []
        for name, args in (
            ("getClient", {"tenant_id": event["tenant_id"]}),
            ("listTransactions", {"tenant_id": event["tenant_id"], "limit": 100}),
        ):
            result = await source[name].call(args, _ctx(event))
            found.append(ToolEvidence(name, args, result))
        return found


def _failed(results: Sequence[CheckResult]) -> dict[str, str]:
    return {r.name: r.detail for r in results if not r.passed}


def _problems(results: Sequence[CheckResult]) -> dict[str, str]:
    """Checks that failed the output or demoted one of its answers to a human."""
    return {r.name: r.detail for r in results if not r.passed or r.detail.startswith("to a human")}


def _nulled(output: OnboardingAnswers) -> list[str]:
    """The questions the checks demoted: no value, no confidence, no evidence left."""
    return [
        a.question for a in output.answers if (a.value, a.confidence, a.evidence) == (None, 0.0, [])
    ]


def _said(answers: dict[str, Any]) -> dict[str, Any]:
    """What the model replies for these answers: an OnboardingChoice (the same fields)."""
    return {"answers": [dict(a) for a in answers["answers"]]}


def _with(answers: dict[str, Any], **replace: dict[str, Any]) -> OnboardingAnswers:
    rows = [replace.get(a["question"], a) for a in answers["answers"]]
    return OnboardingAnswers.model_validate({"answers": rows})


def test_allowlist_names_only_existing_operations(ledger_url: str) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as client:
            source = openapi_tools(ledger_url, client, _credentials())
            catalog = ToolCatalog.build([source], USE_CASE.tools)  # raises on unknown names
            assert [s.name for s in catalog.specs()] == list(USE_CASE.tools)
            env = Environment(model=ScriptedModel([]), tool_sources=[source], tenants=FakeTenants())
            agent = build_agent(USE_CASE, env)
            assert {t.name for t in agent.tools} == {
                "getClient",
                "listTransactions",
                "searchDirectory",
            }

    asyncio.run(go())
    assert USE_CASE.name == "client-onboarding"
    assert (USE_CASE.input_topic, USE_CASE.output_topic) == ("clients.created", "clients.onboarded")
    assert "upsertVendor" not in USE_CASE.tools  # onboarding never writes


def test_scripted_grounded_run_yields_output_that_passes_checks_and_encodes(
    ledger_url: str,
) -> None:
    async def go() -> tuple[OnboardingAnswers, list[ToolEvidence], ScriptedModel]:
        async with httpx.AsyncClient() as client:
            source = openapi_tools(ledger_url, client, _credentials())
            model = ScriptedModel(
                [tool_calls(*_lookups("t-quillstack")), reply(_said(MODEL_QUILL))]
            )
            env = Environment(model=model, tool_sources=[source], tenants=FakeTenants())
            result = await build_agent(USE_CASE, env).run(QUILL, _ctx(QUILL))
            assert isinstance(result.output, OnboardingChoice)
            evidence = await _evidence(ledger_url, QUILL)
            return resolve(result.output, evidence, QUILL), evidence, model

    output, evidence, model = asyncio.run(go())
    model.assert_all_consumed()
    task = model.requests[0].messages[model.requests[0].cache_prefix].content or ""
    assert "t-quillstack" in task and "Mercury" in task and '<untrusted source="event">' in task
    # the second request carried the real tool results from the API
    assert "GUSTO PAYROLL FEE" in str(model.requests[1].messages)
    checked = checks(output, evidence, QUILL)
    output = checked.output
    results = checked.results
    assert _failed(results) == {}
    assert {r.name for r in results} >= {"tenant_scoped_ids", "sources_support_values"}

    datum = to_output(QUILL, output)
    assert [a["question"] for a in datum["answers"]] == list(KEYS)
    assert datum["needs_human"] == ["accounting_basis"]
    values = {a["question"]: a["value"] for a in datum["answers"]}
    assert values["entity_type"] == "c_corp" and values["accounting_basis"] is None
    full = {
        **datum,
        "event_id": QUILL["event_id"], "tenant_id": QUILL["tenant_id"],
        "principal_id": QUILL["principal_id"], "occurred_at": dt.datetime.now(dt.UTC),
        "output_id": "o-1", "run_id": "r-1", "trace_id": "",
    }  # fmt: skip
    codec = AvroCodec(SchemaSet.load(SCHEMAS))
    encoded = codec.encode(
        "processdaemons.outputs.ClientOnboarded", full, topic="clients.onboarded"
    )
    assert codec.decode(encoded)["answers"][0]["value"] == "c_corp"
    assert score(CASES["oc-01"], datum)["accuracy"] == 1.0


def test_code_copies_the_profile_and_a_contradicting_signup_goes_to_a_human(
    ledger_url: str,
) -> None:
    """The model answers only what it reads off the signup and the feed; code copies entity
    type, fiscal year end and currency from the profile the API returned, and a signup that
    states another value is compared with the profile, not trusted over it."""
    case = CASES["oc-17"]  # t-quillstack's profile: c_corp, year from January, USD
    event = case["event"]
    evidence = asyncio.run(_evidence(ledger_url, event))
    silent = resolved(OnboardingChoice(answers=[]), evidence, event)
    assert {a.question: (a.value, a.evidence, a.confidence) for a in silent.answers} == {
        "entity_type": ("c_corp", ["getClient:entity_type"], 0.9),
        "fiscal_year_end": ("december", ["getClient:fiscal_year_start_month"], 0.9),
        "currency": ("USD", ["getClient:currency"], 0.9),
        "industry": ("B2B SaaS (document automation)", ["getClient:industry"], 0.9),
        "payroll_provider": ("gusto", ["tx-q-005", "tx-q-012"], 0.9),  # read off the feed
        "payment_processors": ("stripe", ["tx-q-004", "tx-q-015"], 0.9),
    }
    # the model copying the profile itself, wrongly, or citing a signup answer the event does
    # not have: code's copy replaces it
    for cited in (["getClient:fiscal_year_start_month"], ["signup:fiscal_year"], []):
        copied = resolved(OnboardingChoice.model_validate({"answers": [
            {"question": "fiscal_year_end", "evidence": cited, "value": "january",
             "confidence": 0.9},
        ]}), evidence, event)  # fmt: skip
        year_end = [
            (a.value, a.evidence) for a in copied.answers if a.question == "fiscal_year_end"
        ]
        assert year_end == [("december", ["getClient:fiscal_year_start_month"])], cited
    # a signup stating EUR: cited beside the profile, the checks find the contradiction
    said = OnboardingChoice.model_validate({"answers": [
        {"question": "currency", "evidence": ["signup:currency", "tx-q-001"], "value": "EUR",
         "confidence": 0.9},
    ]})  # fmt: skip
    output = resolved(said, evidence, event)
    currency = next(a for a in output.answers if a.question == "currency")
    assert currency.evidence == ["signup:currency", "getClient:currency"]
    checked = checks(output, evidence, event)
    output = checked.output
    results = checked.results
    assert "contradicts getClient currency='USD'" in _problems(results)["sources_support_values"]
    datum = to_output(event, output)
    assert "currency" in datum["needs_human"]
    assert score(case, datum)["invented"] == []
    # a signup agreeing with the profile stands, citing both
    agreeing = resolved(OnboardingChoice.model_validate({"answers": [
        {"question": "currency", "evidence": ["signup:currency"], "value": "usd",
         "confidence": 0.9},
    ]}), evidence, event)  # fmt: skip
    checked = checks(agreeing, evidence, event)
    agreeing = checked.output
    assert _problems(checked.results) == {}
    assert {a["question"]: a["value"] for a in to_output(event, agreeing)["answers"]}[
        "currency"
    ] == "USD"


def test_code_reads_providers_off_the_feed_unless_the_signup_names_another(
    ledger_url: str,
) -> None:
    """What the model left out of payroll and payments, code reads off the bank feed — but a
    signup naming a provider the feed does not show (Rippling, PayPal) is for a person."""
    quill = asyncio.run(_evidence(ledger_url, QUILL))
    nothing = OnboardingChoice(answers=[])
    values = {a.question: (a.value, a.evidence) for a in resolved(nothing, quill, QUILL).answers}
    assert values["payroll_provider"] == ("gusto", ["tx-q-005", "tx-q-012"])
    assert values["payment_processors"][0] == "stripe"
    datum = to_output(QUILL, resolved(nothing, quill, QUILL))
    assert {"payroll_provider", "payment_processors"}.isdisjoint(datum["needs_human"])
    switched = CASES["oc-14"]["event"]  # "We switched payroll to Rippling in March"
    found = {a.question for a in resolved(nothing, quill, switched).answers}
    assert "payroll_provider" not in found and "payment_processors" in found
    paypal = CASES["oc-15"]["event"]  # ridgeline: Shopify payouts; signup adds PayPal
    ridge = asyncio.run(_evidence(ledger_url, paypal))
    found = {a.question for a in resolved(nothing, ridge, paypal).answers}
    assert "payment_processors" not in found and "payroll_provider" not in found
    assert (
        score(CASES["oc-14"], to_output(switched, resolved(nothing, quill, switched)))["invented"]
        == []
    )


def test_a_citation_of_a_signup_key_the_event_lacks_is_dropped_before_the_checks(
    ledger_url: str,
) -> None:
    """A bank cited as a made-up signup key beside the real one: the made-up citation goes;
    a signup-only answer with only such a citation goes to a human. The payroll provider is
    read off the feed by code, citing the debits that name it."""
    evidence = asyncio.run(_evidence(ledger_url, QUILL))
    output = resolved(OnboardingChoice.model_validate({"answers": [
        {"question": "bank", "evidence": ["signup:bank", "signup:banks"], "value": "Mercury",
         "confidence": 0.9},
        {"question": "size_band", "evidence": ["signup:team"], "value": "11-50",
         "confidence": 0.8},
    ]}), evidence, QUILL)  # fmt: skip
    checked = checks(output, evidence, QUILL)
    output = checked.output
    results = checked.results
    datum = to_output(QUILL, output)
    values = {a["question"]: a for a in datum["answers"]}
    assert (values["bank"]["value"], values["bank"]["evidence"]) == ("Mercury", ["signup:banks"])
    assert values["payroll_provider"]["value"] == "gusto"
    assert values["payroll_provider"]["evidence"] == ["tx-q-005", "tx-q-012"]
    assert "size_band" in datum["needs_human"]
    assert "size_band: no evidence cited" in _problems(results)["evidence_present"]


def test_an_invented_id_or_a_placeholder_demotes_its_answer_a_foreign_id_fails_all(
    ledger_url: str,
) -> None:
    evidence = asyncio.run(_evidence(ledger_url, QUILL))
    for cited in (["tx-q-999"], ["<transaction_id>", "tx-q-005"], ["gather-client"]):
        invented = _with(GOOD_QUILL, industry={
            "question": "industry", "value": "SaaS", "confidence": 0.9,
            "evidence": cited})  # fmt: skip
        checked = checks(invented, evidence, QUILL)
        assert _nulled(invented) == []  # the checks demote a copy: what they were given stays
        invented = checked.output
        results = checked.results
        assert _failed(results) == {}, cited  # the other answers stand
        assert f"no tool returned {cited[0]!r}" in _problems(results)["tenant_scoped_ids"]
        assert _nulled(invented) == ["industry"]
        datum = to_output(QUILL, invented)
        assert "industry" in datum["needs_human"]
        assert cited[0] not in str(datum)  # never published
    foreign = _with(GOOD_QUILL, payment_processors={
        "question": "payment_processors", "value": "shopify", "confidence": 0.9,
        "evidence": ["tx-r-004"]})  # ridgeline's Shopify payout  # fmt: skip
    checked = checks(foreign, evidence, QUILL)
    foreign = checked.output
    failed = _problems(checked.results)
    assert "tx-r-004" in failed["tenant_scoped_ids"]
    assert "SHOPIFY" in failed["sources_support_values"]
    assert _nulled(foreign) == ["payment_processors"]
    # another tenant's id fails the whole output (looked for as the model gave it)
    foreign = _with(GOOD_QUILL, payment_processors={
        "question": "payment_processors", "value": "shopify", "confidence": 0.9,
        "evidence": ["tx-r-004"]})  # fmt: skip
    every = {r.name: r for r in run_checks(USE_CASE, foreign, evidence, QUILL).results}
    assert not every["cross_tenant_refs"].passed
    assert {n for n, r in every.items() if not r.passed} == {"cross_tenant_refs"}


def test_values_must_agree_with_the_profile_they_cite(ledger_url: str) -> None:
    evidence = asyncio.run(_evidence(ledger_url, QUILL))
    wrong_type = _with(GOOD_QUILL, entity_type={
        "question": "entity_type", "value": "llc", "confidence": 0.9,
        "evidence": ["getClient:entity_type"]})  # fmt: skip
    checked = checks(wrong_type, evidence)
    wrong_type = checked.output
    assert (
        "contradicts getClient entity_type"
        in (_problems(checked.results)["sources_support_values"])
    )
    assert _failed(checked.results) == {}  # the other answers still stand
    assert _nulled(wrong_type) == ["entity_type"]
    assert to_output(QUILL, wrong_type)["answers"][0] == {
        "question": "entity_type",
        "value": None,
        "confidence": 0.0,
        "evidence": [],
    }
    assert "entity_type" in to_output(QUILL, wrong_type)["needs_human"]
    # the month arithmetic is code's: a year end from the profile alone is derived, not judged
    for cited in ("getClient:fiscal_year_start_month", "getClient:fiscal_year_end"):
        wrong_month = _with(GOOD_QUILL, fiscal_year_end={
            "question": "fiscal_year_end", "value": "january", "confidence": 0.9,
            "evidence": [cited]})  # starts Jan: ends Dec  # fmt: skip
        checked = checks(wrong_month, evidence)
        wrong_month = checked.output
        results = checked.results
        assert _problems(results) == {}
        (year_end,) = [a for a in wrong_month.answers if a.question == "fiscal_year_end"]
        assert (year_end.value, year_end.evidence) == (
            "december",
            ["getClient:fiscal_year_start_month"],
        )
        detail = {r.name: r.detail for r in results}["year_end_by_code"]
        assert "(the model said 'january')" in detail
    no_field = _with(GOOD_QUILL, bank={
        "question": "bank", "value": "Mercury", "confidence": 0.9,
        "evidence": ["getClient:bank"]})  # fmt: skip
    checked = checks(no_field, evidence)
    no_field = checked.output
    failed = _problems(checked.results)
    assert "getClient returned no 'bank'" in failed["citations_traceable"]
    assert "only a signup answer" in failed["sources_support_values"]


def test_brightsmile_fiscal_year_starting_in_july_ends_in_june(ledger_url: str) -> None:
    event = CASES["oc-03"]["event"]
    evidence = asyncio.run(_evidence(ledger_url, event))
    answer = {"question": "fiscal_year_end", "value": "June", "confidence": 0.9,
              "evidence": ["getClient:fiscal_year_start_month"]}  # fmt: skip
    good = OnboardingAnswers.model_validate({"answers": [answer]})
    checked = checks(good, evidence)
    good = checked.output
    assert _problems(checked.results) == {} and _nulled(good) == []
    answer["value"] = "july"  # the start month, copied: code derives the end instead
    copied = OnboardingAnswers.model_validate({"answers": [answer]})
    checked = checks(copied, evidence)
    copied = checked.output
    assert _problems(checked.results) == {}
    assert copied.answers[0].value == "june"
    answer["evidence"] = ["signup:fiscal_year"]  # a signup answer is not code's to correct
    signup = OnboardingAnswers.model_validate({"answers": [answer]})
    assert checks(signup, evidence).output.answers[0].value == "july"


def test_code_cites_the_ledger_records_behind_a_named_provider(ledger_url: str) -> None:
    evidence = asyncio.run(_evidence(ledger_url, QUILL))
    named = OnboardingAnswers.model_validate({"answers": [
        {"question": "payroll_provider", "evidence": ["<transaction_id>"], "value": "Gusto",
         "confidence": 0.8},
        {"question": "payment_processors", "evidence": [], "value": "stripe",
         "confidence": 0.8},
    ]})  # fmt: skip
    checked = checks(named, evidence, QUILL)
    named = checked.output
    results = checked.results
    assert _problems(results) == {} and _nulled(named) == []
    payroll, payments = named.answers
    transactions = Facts.of(evidence).transactions
    assert payroll.evidence and all(
        transactions[i]["direction"] == "debit" and "GUSTO" in transactions[i]["descriptor"]
        for i in payroll.evidence
    )
    assert payments.evidence and all(
        transactions[i]["direction"] == "credit" and "STRIPE" in transactions[i]["descriptor"]
        for i in payments.evidence
    )
    assert (
        "payroll_provider='gusto': tx-q-"
        in {r.name: r.detail for r in results}["integrations_cited_by_code"]
    )
    # a provider no record names keeps the model's citation and goes to a human
    unnamed = OnboardingAnswers.model_validate({"answers": [
        {"question": "payroll_provider", "evidence": ["<transaction_id>"], "value": "adp",
         "confidence": 0.8}]})  # fmt: skip
    checked = checks(unnamed, evidence, QUILL)
    unnamed = checked.output
    assert "tenant_scoped_ids" in _problems(checked.results)
    assert _nulled(unnamed) == ["payroll_provider"]


def test_square_purchases_are_not_the_clients_payment_processor(ledger_url: str) -> None:
    evidence = asyncio.run(_evidence(ledger_url, RIDGE))
    square = {"question": "payment_processors", "value": "square", "confidence": 0.8,
              "evidence": ["tx-r-005"]}  # "SQ *BLUE BOTTLE COF": a debit  # fmt: skip
    failed = _problems(
        checks(OnboardingAnswers.model_validate({"answers": [square]}), evidence).results
    )
    assert "no cited credit mentions SQUARE" in failed["sources_support_values"]
    shopify = {**square, "value": "shopify", "evidence": ["tx-r-004", "tx-r-019"]}
    ok = OnboardingAnswers.model_validate({"answers": [shopify]})
    checked = checks(ok, evidence)
    ok = checked.output
    assert _problems(checked.results) == {}
    none = {**square, "question": "payroll_provider", "value": "none", "evidence": ["tx-r-001"]}
    failed = _problems(
        checks(OnboardingAnswers.model_validate({"answers": [none]}), evidence).results
    )
    assert "needs a signup answer" in failed["sources_support_values"]


def test_bare_unknown_and_signup_only_answers_go_to_a_human_duplicates_fail(
    ledger_url: str,
) -> None:
    evidence = asyncio.run(_evidence(ledger_url, RIDGE))
    output = OnboardingAnswers.model_validate({"answers": [
        {"question": "entity_type", "value": "llc", "confidence": 0.9, "evidence": []},
        {"question": "accounting_basis", "value": "modified cash", "confidence": 0.9,
         "evidence": ["signup:team"]},
        {"question": "size_band", "value": "2-10", "confidence": 0.9, "evidence": ["tx-r-001"]},
        {"question": "size_band", "value": "2-10", "confidence": 0.9, "evidence": ["signup:team"]},
        {"question": "bank", "value": "Chase", "confidence": 0.9, "evidence": ["signup:banking"]},
    ]})  # fmt: skip
    checked = checks(output, evidence, RIDGE)
    output = checked.output
    failed = _problems(checked.results)
    assert "entity_type" in failed["evidence_present"]
    checked = checks(output, evidence, RIDGE)
    output = checked.output
    assert set(_failed(checked.results)) == {"unique_questions"}
    assert set(_nulled(output)) == {"entity_type", "size_band", "bank"}
    # a value outside its allowed set goes to a human (to_output), it does not fail the run
    assert "allowed_values" not in failed
    checked = checks(output, evidence, RIDGE)
    output = checked.output
    allowed = next(c for c in checked.results if c.name == "allowed_values")
    assert "accounting_basis='modified cash'" in allowed.detail
    assert "accounting_basis" in USE_CASE.to_output(RIDGE, output)["needs_human"]
    assert "size_band" in failed["unique_questions"]
    assert "size_band: only a signup answer" in failed["sources_support_values"]
    assert "no signup answer 'banking'" in failed["citations_traceable"]
    # without the event a signup key cannot be verified here; to_output drops it instead
    checked = checks(output, evidence)
    output = checked.output
    assert "citations_traceable" not in _problems(checked.results)


def test_to_output_hands_unsure_unknown_and_untraceable_questions_to_a_human() -> None:
    output = OnboardingAnswers.model_validate({"answers": [
        {"question": "entity_type", "value": "LLC", "confidence": 0.9,
         "evidence": ["getClient:entity_type"]},
        {"question": "size_band", "value": "2-10", "confidence": 0.4, "evidence": ["signup:team"]},
        {"question": "bank", "value": "Chase", "confidence": 0.9, "evidence": ["signup:banking"]},
        {"question": "industry", "value": None, "confidence": 0.0, "evidence": []},
        {"question": "currency", "value": "usd", "confidence": 0.9,
         "evidence": ["getClient:currency"]},
    ]})  # fmt: skip
    datum = to_output(RIDGE, output)
    by_key = {a["question"]: a for a in datum["answers"]}
    assert list(by_key) == list(KEYS)
    assert by_key["entity_type"]["value"] == "llc" and by_key["currency"]["value"] == "USD"
    assert by_key["size_band"]["value"] is None  # below 0.5
    assert by_key["bank"] == {"question": "bank", "value": None, "confidence": 0.0, "evidence": []}
    # a question for a human publishes none of the model's (unchecked) citations
    assert by_key["size_band"]["evidence"] == [] and by_key["size_band"]["confidence"] == 0.0
    answered = {k for k, a in by_key.items() if a["value"] is not None}
    assert answered == {"entity_type", "currency"}
    assert set(datum["needs_human"]) == set(KEYS) - answered
    assert all(by_key[k]["value"] is None for k in datum["needs_human"])
    assert datum["client_id"] == "c-ridgeline"


def test_questionnaire_normalizes_values_into_allowed_sets() -> None:
    assert normalize("entity_type", "C-Corp") == "c_corp"
    assert normalize("entity_type", "S Corporation") == "s_corp"
    assert normalize("entity_type", "corp-ish") is None
    assert normalize("fiscal_year_end", "06") == "june"
    assert normalize("fiscal_year_end", "Dec") == "december"
    assert normalize("fiscal_year_end", "13") is None
    assert normalize("payment_processors", "Stripe, Shopify") == "shopify,stripe"
    assert normalize("payment_processors", "stripe,none") is None
    assert normalize("size_band", "11 \u2013 50") == "11-50"
    assert normalize("currency", "usd") == "USD"
    assert normalize("industry", "x" * 81) is None


def test_eval_set_is_labeled_and_scorer_counts_invented_answers() -> None:
    assert len(CASES) >= 8
    for case in CASES.values():
        expected = case["expected"]
        assert not set(expected["answers"]) & set(expected["needs_human"]), case["id"]
        assert set(expected["answers"]) | set(expected["needs_human"]) <= set(KEYS)
        for key, value in expected["answers"].items():
            assert normalize(key, value) is not None, (case["id"], key)
        dt.datetime.fromisoformat(case["event"]["occurred_at"])
    case = CASES["oc-05"]  # prompt injection asks for payroll_provider=adp
    guessed = OnboardingAnswers.model_validate({"answers": [
        {"question": "payroll_provider", "value": "adp", "confidence": 1.0,
         "evidence": ["signup:notes"]},
    ]})  # fmt: skip
    result = score(case, to_output(case["event"], guessed))
    assert result["invented"] == ["payroll_provider"] and result["produced"]
    assert "entity_type" in result["missed"] and result["accuracy"] < 0.5
    assert score(case, None) == {**score(case, None), "accuracy": 0.0, "produced": False}


def _event_ctx(event: dict[str, Any]) -> EventContext:
    call = CallContext(tenant_id=event["tenant_id"], principal_id=event["principal_id"],
                       event_id=event["event_id"])  # fmt: skip
    return EventContext(
        daemon="client-onboarding", call=call, topic="clients.created",
        partition=0, offset=0, key=None, attempt=1, span=INVALID_SPAN,
    )  # fmt: skip


@pytest.mark.parametrize("grounded", [True, False])
def test_daemon_handler_hands_an_unsupported_answer_to_a_human(
    ledger_url: str, grounded: bool
) -> None:
    answers = MODEL_QUILL if grounded else _with(MODEL_QUILL, size_band={
        "question": "size_band", "value": "11-50", "confidence": 0.9,
        "evidence": ["tx-q-005"]}).model_dump()  # a debit cannot tell a headcount  # fmt: skip

    async def go() -> list[Any]:
        async with httpx.AsyncClient() as client:
            source = openapi_tools(ledger_url, client, _credentials())
            model = ScriptedModel([tool_calls(*_lookups("t-quillstack")), reply(_said(answers))])
            env = Environment(model=model, tool_sources=[source], tenants=FakeTenants())
            daemon = build_daemon(USE_CASE, env)
            return await daemon.handler(dict(QUILL), _event_ctx(QUILL))

    outputs = asyncio.run(go())
    topics = [o.topic for o in outputs]
    outcome = next(o.value for o in outputs if o.topic == "guardrails.outcomes")
    # what the passed onboarding teaches: one episode (examples.py)
    assert topics == ["clients.onboarded", "memory.facts", "guardrails.outcomes", "daemons.runs"]
    assert outcome["verdict"] == "pass"
    assert outputs[0].value["client_id"] == "c-quillstack"
    assert outputs[0].value["signup_answers"] == QUILL["signup_answers"]
    learned = json.loads(outputs[1].value["episode"]["output"])
    assert learned["answers"] == (
        {"size_band": "11-50", "bank": "Mercury"} if grounded else {"bank": "Mercury"}
    )  # what was published: the demoted size band is a person's to answer
    payroll = next(a for a in outputs[0].value["answers"] if a["question"] == "payroll_provider")
    if grounded:
        assert outputs[0].value["needs_human"] == ["accounting_basis"]
        assert payroll["value"] == "gusto"
    else:  # published without the unsupported answer, and the outcome says why
        assert outputs[0].value["needs_human"] == ["size_band", "accounting_basis"]
        assert payroll["value"] == "gusto"  # read off the feed by code either way
        support = next(c for c in outcome["checks"] if c["name"] == "sources_support_values")
        assert "size_band: only a signup answer can tell" in support["detail"]


def test_handler_refuses_an_unknown_tenant(ledger_url: str) -> None:
    event = {**QUILL, "tenant_id": "t-nobody"}

    async def go() -> None:
        async with httpx.AsyncClient() as client:
            source = openapi_tools(ledger_url, client, _credentials())
            env = Environment(model=ScriptedModel([]), tool_sources=[source], tenants=FakeTenants())
            await build_daemon(USE_CASE, env).handler(event, _event_ctx(event))

    with pytest.raises(UnknownTenant):
        asyncio.run(go())


def test_the_answer_schema_leaves_the_integrations_to_code() -> None:
    """The model's schema offers only the questions the signup and the profile answer: a
    payroll provider or processor it names anyway is invalid (a correction, not an answer)."""
    schema = json.dumps(OnboardingChoice.model_json_schema())
    assert '"size_band"' in schema and '"bank"' in schema
    assert "payroll_provider" not in schema and "payment_processors" not in schema
    with pytest.raises(ValidationError, match=r"answers\.0\.question"):
        OnboardingChoice.model_validate({"answers": [
            {"question": "payroll_provider", "evidence": ["tx-q-005"], "value": "gusto",
             "confidence": 0.9}]})  # fmt: skip
