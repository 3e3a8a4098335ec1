"""transaction-categorization: the pure parts (the reads it gathers, resolve, the checks, the
scorer, the eval set's labels against the reference data) and, end to end, the real broker,
the reference ledger API over HTTP, the real runtime and a scripted model (no LLM needed)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from processors.daemons import registry
from processors.llm.fakes import FunctionModel, reply
from processors.llm.model import AssistantMessage, ModelRequest
from processors.reference import data, handlers
from processors.reference.data import PRINCIPALS
from processors.reference.security import Principal
from processors.reference.store import Ledger
from processors.settings import Settings
from processors.testing.harness import reference_api, run_events
from processors.tools.evidence import ToolEvidence
from pydantic import BaseModel

from categorization import USE_CASE
from categorization.checks import THRESHOLD, checks
from categorization.evals import EVALS, accepted
from categorization.gather import CONTEXT, gather, merchant_word
from categorization.models import Categorization, CategoryChoice
from categorization.output import to_output
from categorization.resolve import UNSUPPORTED_CAP, resolve

CASES = {case["id"]: case for case in EVALS.load()}


# --- what the daemon's reads return, from the reference ledger itself -----------------------


def evidence_for(event: Mapping[str, Any]) -> list[ToolEvidence]:
    """What the context and gathered calls return for ``event``, by the ledger's own
    handlers as the event's principal (the JSON the tools would return)."""
    ledger = Ledger.sample()
    tenant, role = PRINCIPALS[event["principal_id"]]
    principal = Principal(event["principal_id"], tenant, role)

    def run(name: str, args: dict[str, Any]) -> BaseModel:
        if name == "listAccounts":
            return handlers.list_accounts(ledger, principal, tenant)
        if name == "listVendors":
            return handlers.list_vendors(ledger, principal, tenant, **args)
        return handlers.list_transactions(ledger, principal, tenant, **args)

    return [
        ToolEvidence(call.name, dict(call.arguments),
                     run(call.name, dict(call.arguments)).model_dump(mode="json"))
        for call in [*CONTEXT, *gather(event)]
    ]  # fmt: skip


def choice(code: str | None, confidence: float = 0.9, evidence: tuple[str, ...] = ()) -> Any:
    return CategoryChoice(account_code=code, confidence=confidence, evidence=list(evidence),
                          reason="test")  # fmt: skip


def checked(case_id: str, answer: CategoryChoice) -> tuple[Categorization, dict[str, Any]]:
    """The checked categorization of a case's event for ``answer``, and its checks by name."""
    event = CASES[case_id]["event"]
    evidence = evidence_for(event)
    result = checks(resolve(answer, evidence, event), evidence, event)
    return result.output, {r.name: r for r in result.results}


# --- gather ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("descriptor", "word"),
    [
        ("SQ *BLUE BOTTLE COF 1234 OAKLAND CA", "BLUE"),
        ("TST* TWO RIVERS DINER TENINO WA", "TWO"),
        ("ULINE *S1977310 800-295-5510 WI", "ULINE"),
        ("GITHUB, INC. GITHUB.COM CA", "GITHUB"),
        ("ZOOM.US 888-799-9666 CA", "ZOOM"),
        ("REFUND ULINE S1849302 800-295-5510 WI", "ULINE"),
        ("ONLINE TRANSFER REF 88213", None),
        ("DEPOSIT 0923", None),
    ],
)
def test_the_merchant_word_is_what_earlier_descriptors_share(
    descriptor: str, word: str | None
) -> None:
    assert merchant_word(descriptor) == word


def test_a_generic_descriptor_gathers_no_history() -> None:
    assert gather(CASES["q-review-wire-in"]["event"]) == []
    (call,) = gather(CASES["r-vendor-uline"]["event"])
    assert (call.name, call.arguments) == ("listTransactions", {"descriptor": "ULINE"})


# --- resolve ---------------------------------------------------------------------------------


def test_resolve_copies_the_account_from_the_chart_and_caps_an_unsupported_confidence() -> None:
    event = CASES["r-vendor-pacific-power"]["event"]
    evidence = evidence_for(event)
    supported = resolve(choice("6200", 0.97, ("v-r-03",)), evidence, event)
    assert (supported.account_name, supported.account_type) == ("Utilities", "expense")
    assert supported.confidence == 0.97  # the cited vendor books 6200
    from_names = resolve(choice("6200", 0.97), evidence, event)
    assert from_names.confidence == UNSUPPORTED_CAP
    contradicted = resolve(choice("6400", 0.97, ("v-r-03",)), evidence, event)
    assert contradicted.confidence == UNSUPPORTED_CAP  # v-r-03 books 6200, not 6400


def test_no_account_is_left_to_a_person() -> None:
    output, results = checked("r-review-bare-deposit", choice(None, 0.2))
    assert (output.status, output.account_code, output.confidence) == ("needs_review", None, 0.0)
    assert all(r.passed for r in results.values())


# --- checks ----------------------------------------------------------------------------------


def test_a_supported_account_passes_unchanged() -> None:
    answer = choice("5000", 0.95, ("v-r-01", "tx-r-001"))
    output, results = checked("r-vendor-sweet-marias", answer)
    assert all(r.passed for r in results.values()), results
    assert (output.status, output.account_code, output.account_name) == (
        "categorized", "5000", "COGS - green coffee")  # fmt: skip


def test_an_account_of_another_tenants_chart_fails() -> None:
    # 6300 Vehicle expense is Ridgeline's; Quillstack's chart has no vehicle account
    assert "6300" not in {a.code for a in data.accounts("t-quillstack")}
    _, results = checked("q-not-in-chart-fuel", choice("6300", 0.9))
    assert not results["account_in_chart"].passed
    assert "'6300' is not in the tenant's chart" in results["account_in_chart"].detail


@pytest.mark.parametrize(
    "cited",
    [("6200",), ("tx-r-999",), ("v-q-01",)],  # an account code, an invented id, another tenant's
)
def test_a_citation_no_tool_returned_is_dropped_before_the_checks(cited: tuple[str, ...]) -> None:
    output, results = checked("r-vendor-pacific-power", choice("6200", 0.9, ("v-r-03", *cited)))
    assert output.evidence == ["v-r-03"]
    assert f"dropped: {cited[0]}" in output.reason
    assert results["evidence_returned"].passed


def test_an_account_resting_only_on_dropped_citations_is_capped() -> None:
    output, _ = checked("r-vendor-pacific-power", choice("6200", 0.95, ("tx-v-01",)))
    assert output.evidence == [] and output.status == "needs_review"
    assert "confidence 0.50 below" in str(output.review_reason)


@pytest.mark.parametrize(
    "cited",
    [("6200",), ("tx-r-999",), ("v-q-01",)],  # an account code, an invented id, another tenant's
)
def test_an_output_citing_what_no_tool_returned_fails(cited: tuple[str, ...]) -> None:
    event = CASES["r-vendor-pacific-power"]["event"]
    evidence = evidence_for(event)
    resolved = resolve(choice("6200", 0.9, ("v-r-03",)), evidence, event)
    forged = resolved.model_copy(update={"evidence": ["v-r-03", *cited]})
    results = {r.name: r for r in checks(forged, evidence, event).results}
    assert not results["evidence_returned"].passed
    assert cited[0] in results["evidence_returned"].detail


def test_money_in_to_an_expense_account_is_left_to_a_person() -> None:
    output, results = checked("r-review-supplier-refund", choice("5100", 0.95, ("v-r-02",)))
    assert all(r.passed for r in results.values())  # a demotion, not a failure
    assert (output.status, output.account_code, output.account_name) == (
        "needs_review", None, None)  # fmt: skip
    assert "5100 is an expense account, not one for money in" in str(output.review_reason)
    assert "to a person" in results["direction_fits"].detail


def test_money_out_to_an_income_account_is_left_to_a_person() -> None:
    output, _ = checked("r-vendor-costco", choice("4000", 0.9))
    assert output.status == "needs_review"
    assert output.account_code is None


def test_a_low_confidence_is_left_to_a_person_naming_the_suggestion() -> None:
    output, results = checked("r-names-staples", choice("6400", THRESHOLD - 0.15))
    assert output.status == "needs_review"
    assert output.account_code is None
    assert "6400 (Office supplies)" in str(output.review_reason)
    assert "to a person" in results["confident_enough"].detail
    # an account from names alone is only ever a suggestion (capped below the threshold)
    sure, _ = checked("r-names-staples", choice("6400", 1.0))
    assert (sure.status, sure.account_code) == ("needs_review", None)
    assert UNSUPPORTED_CAP < THRESHOLD
    # one a cited record books, at the threshold, is posted
    booked, _ = checked("r-vendor-costco", choice("6400", THRESHOLD, ("v-r-04",)))
    assert (booked.status, booked.account_code) == ("categorized", "6400")


def test_the_checks_never_change_their_input() -> None:
    event = CASES["r-review-supplier-refund"]["event"]
    evidence = evidence_for(event)
    given = resolve(choice("5100", 0.95, ("v-r-02",)), evidence, event)
    before = given.model_dump()
    result = checks(given, evidence, event)
    assert given.model_dump() == before
    assert result.output.status == "needs_review"


def test_the_output_names_each_cited_records_tool() -> None:
    event = CASES["r-vendor-uline"]["event"]
    evidence = evidence_for(event)
    output = checks(resolve(choice("5100", 0.9, ("v-r-02", "tx-r-002")), evidence, event),
                    evidence, event).output  # fmt: skip
    datum = to_output(event, output, evidence)
    assert datum["evidence"] == ["listVendors:v-r-02", "listTransactions:tx-r-002"]
    assert datum["account_name"] == "COGS - packaging"


# --- the scorer ------------------------------------------------------------------------------


def datum(code: str | None, status: str, evidence: list[str] | None = None) -> dict[str, Any]:
    return {"status": status, "account_code": code, "evidence": evidence or []}


def test_score_a_right_account_with_its_evidence() -> None:
    case = CASES["r-vendor-pacific-power"]
    full = EVALS.score(case, datum("6200", "categorized", ["listVendors:v-r-03"]))
    assert (full["score"], full["safe"]) == (1.0, True)
    no_evidence = EVALS.score(case, datum("6200", "categorized"))
    assert no_evidence["score"] == pytest.approx(2 / 3)
    assert no_evidence["evidence"] is False


def test_score_a_wrong_account_is_unsafe_and_a_person_is_safe() -> None:
    case = CASES["r-names-tires"]
    assert EVALS.score(case, datum("6900", "categorized"))["score"] == 1.0  # either is right
    wrong = EVALS.score(case, datum("6600", "categorized"))
    assert (wrong["score"], wrong["safe"]) == (0.0, False)
    left = EVALS.score(case, datum(None, "needs_review"))
    assert (left["score"], left["safe"]) == (0.0, True)


def test_score_a_case_for_a_person() -> None:
    case = CASES["q-not-in-chart-fuel"]
    assert EVALS.score(case, datum(None, "needs_review"))["score"] == 1.0
    posted = EVALS.score(case, datum("6900", "categorized"))
    assert (posted["score"], posted["safe"]) == (0.0, False)
    withheld = EVALS.score(case, None)
    assert (withheld["score"], withheld["produced"], withheld["safe"]) == (0.0, False, True)


# --- the eval set's labels, against the reference data ---------------------------------------

FITS = {"debit": {"expense", "asset"}, "credit": {"income", "liability", "equity"}}


def test_the_eval_set_covers_both_tenants_and_every_kind_of_case() -> None:
    cases = list(CASES.values())
    assert len(cases) >= 15
    tenants = {c["event"]["tenant_id"] for c in cases}
    assert tenants == {"t-ridgeline", "t-quillstack"}
    kinds = {c["id"].split("-")[1] for c in cases}
    assert {"vendor", "credit", "names", "review", "not"} <= kinds
    assert sum(c["expected"]["status"] == "needs_review" for c in cases) >= 5


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_each_label_follows_from_the_reference_data(case_id: str) -> None:
    case = CASES[case_id]
    event, expected = case["event"], case["expected"]
    tenant = event["tenant_id"]
    assert PRINCIPALS[event["principal_id"]][0] == tenant
    chart = {a.code: a.type for a in data.accounts(tenant)}
    known = {t.transaction_id: t for t in data.transactions()}
    if event["transaction_id"] in known:  # an uncategorized transaction of the ledger itself
        tx = known[event["transaction_id"]]
        assert (tx.tenant_id, tx.category, tx.descriptor, tx.direction) == (
            tenant, None, event["descriptor"], event["direction"])  # fmt: skip
        assert int(tx.amount * 100) == event["amount_minor"]
    if expected["status"] == "needs_review":
        assert not accepted(expected)
        return
    codes = accepted(expected)
    assert codes and all(FITS[event["direction"]] >= {chart[c]} for c in codes)
    vendors = {v.vendor_id: v for v in data.vendors()}
    for record_id in expected.get("evidence", []):
        record = vendors.get(record_id) or known[record_id]
        assert record.tenant_id == tenant
        booked = getattr(record, "default_category", None) or getattr(record, "category", None)
        assert booked in codes
    # what the daemon gathers holds every booked record the label lists
    returned = {
        str(row.get("vendor_id") or "") for e in evidence_for(event) if e.tool == "listVendors"
        for row in e.result["vendors"]
    } | {
        str(row["transaction_id"]) for e in evidence_for(event) if e.tool == "listTransactions"
        for row in e.result["transactions"]
    }  # fmt: skip
    assert set(expected.get("evidence", [])) <= returned


# --- registration ----------------------------------------------------------------------------


def test_registered_by_entry_point_with_its_own_topics() -> None:
    assert registry.use_case("transaction-categorization") is USE_CASE
    contracts = registry.contracts(Settings())
    for topic in ("transactions.uncategorized", "transactions.categorized",
                  "transaction-categorization.dlq"):  # fmt: skip
        assert contracts.catalog.get(topic).name == topic


# --- end to end: the real broker, the reference API over HTTP, a scripted model --------------

_VENDOR_ROW = re.compile(r"^(v-[a-z]-\d+) \| ([^|\n]+?) \| (\d{4})$", re.MULTILINE)
_TX_ROW = re.compile(r"^(tx-[a-z]-\d+) \| ([^|\n]+?) \| (debit|credit) \| (\d{4})", re.MULTILINE)


def prompt_text(request: ModelRequest) -> str:
    return "\n".join(str(m.content) for m in request.messages if getattr(m, "content", None))


def diligent(request: ModelRequest) -> AssistantMessage:
    """A model that reads what the daemon gathered: the vendor whose name's first word is in
    the descriptor, else an earlier transaction of the same merchant; else no account. It
    names no account it was not shown — so an output with one proves the reads reached it."""
    text = prompt_text(request)
    match = re.search(r"^Descriptor: (.+)$", text, re.MULTILINE)
    descriptor = match.group(1).casefold() if match else ""
    for vendor_id, name, category in _VENDOR_ROW.findall(text):
        if name.split()[0].casefold() in descriptor:
            return reply({"account_code": category, "confidence": 0.95,
                          "evidence": [vendor_id], "reason": f"vendor {name}"})  # fmt: skip
    for tx_id, _descriptor, _direction, category in _TX_ROW.findall(text):
        return reply({"account_code": category, "confidence": 0.9, "evidence": [tx_id],
                      "reason": "booked before"})  # fmt: skip
    return reply({"account_code": None, "confidence": 0.0, "evidence": [], "reason": "none"})


def inventing(code: str) -> FunctionModel:
    def answer(request: ModelRequest) -> AssistantMessage:
        return reply({"account_code": code, "confidence": 0.9, "evidence": [], "reason": "x"})

    return FunctionModel(answer)


@pytest.mark.kafka
def test_a_categorization_is_published_with_its_account_and_evidence(kafka: Settings) -> None:
    case = CASES["r-vendor-pacific-power"]
    event: dict[str, Any] = case["event"]
    with reference_api() as api:
        published = run_events(USE_CASE, [event], FunctionModel(diligent), settings=kafka,
                               api=api)  # fmt: skip
    assert published.verdicts() == {event["event_id"]: "pass"}
    (output,) = published.outputs
    assert (output["status"], output["account_code"]) == ("categorized", "6200")
    assert (output["account_name"], output["account_type"]) == ("Utilities", "expense")
    assert output["evidence"] == ["listVendors:v-r-03"]
    assert output["confidence"] == 0.95  # the cited vendor books 6200: not capped
    assert output["transaction_id"] == event["transaction_id"]
    assert EVALS.score(case, output)["score"] == 1.0
    (run,) = published.runs
    assert run["daemon"] == "transaction-categorization"


@pytest.mark.kafka
def test_an_invented_account_is_withheld(kafka: Settings) -> None:
    event: dict[str, Any] = CASES["q-not-in-chart-fuel"]["event"]
    with reference_api() as api:  # Ridgeline's vehicle account, for a Quillstack transaction
        published = run_events(USE_CASE, [event], inventing("6300"), settings=kafka, api=api)
    assert published.verdicts() == {event["event_id"]: "fail"}
    assert published.outputs == []
    (outcome,) = published.outcomes
    failed = {c["name"] for c in outcome["checks"] if not c["passed"]}
    assert failed == {"account_in_chart"}


@pytest.mark.kafka
def test_a_supplier_refund_is_published_for_a_person(kafka: Settings) -> None:
    case = CASES["r-review-supplier-refund"]
    event: dict[str, Any] = case["event"]
    with reference_api() as api:
        published = run_events(USE_CASE, [event], FunctionModel(diligent), settings=kafka,
                               api=api)  # fmt: skip
    assert published.verdicts() == {event["event_id"]: "pass"}
    (output,) = published.outputs
    # the model took the vendor's expense account for money in: demoted, not posted
    assert (output["status"], output["account_code"], output["confidence"]) == (
        "needs_review", None, 0.0)  # fmt: skip
    assert "5100 is an expense account" in output["review_reason"]
    assert output["evidence"] == ["listVendors:v-r-02"]
    assert EVALS.score(case, output)["score"] == 1.0
