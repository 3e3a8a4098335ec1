"""Offline evaluation: a scripted perfect answer scores 1.0 against the real reference API over
HTTP, a wrong one scores lower, a failed run counts as wrong with its error type; the CLI
prints a table or JSON; and the eval sets are grounded in the reference API's sample data."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from processors.cli import main
from processors.daemons import registry
from processors.daemons.evaluation import CaseResult, load_cases, run_eval, summarize
from processors.guardrails.judge import CRITERION_TOOL, Judge
from processors.llm.fakes import FunctionModel, call, reply, tool_calls
from processors.llm.model import AssistantMessage, ModelRequest, ToolResultMessage, UserMessage
from processors.reference.data import accounts, directory, transactions
from processors.testing.llm import openai_compatible_stub

PACIFIC_Q3 = {"tenant_id": "t-ridgeline", "group_by": "vendor", "vendor_id": "v-r-03",
              "date_from": "2026-07-01", "date_to": "2026-09-30"}  # fmt: skip


def _case(name: str, case_id: str) -> dict[str, Any]:
    return next(c for c in load_cases(name) if c["id"] == case_id)


def _played(first: Any, final: dict[str, Any]) -> FunctionModel:
    """Calls ``first`` (unless the daemon already gathered that tool's result, in a tool
    message or in the task's message), then answers."""

    def respond(request: ModelRequest) -> AssistantMessage:
        fence = f'<untrusted source="tool:{first.name}"'
        gathered = f'<untrusted source="tools">\n{first.name}: '
        if not any(
            isinstance(m, ToolResultMessage | UserMessage)
            and (fence in str(m.content) or gathered in str(m.content))
            for m in request.messages
        ):
            return tool_calls(first)
        return reply(final)

    return FunctionModel(respond)


def _query(vendor: str) -> FunctionModel:
    """The question-answering model: it fills the query (code reads and answers)."""
    query = {"missing": "none", "metric": "money_paid", "account": "none", "vendor": vendor,
             "periods": ["2026-Q3"], "by_vendor": False}  # fmt: skip
    return FunctionModel(lambda request: reply(query))


def test_a_perfect_scripted_answer_scores_one() -> None:
    model = _query("Pacific Power")
    case = _case("question-answering", "pacific-power-q3")
    report = run_eval("question-answering", model, cases=[case])
    (result,) = report.cases
    assert result.verdict == "pass", result.failed_checks
    assert result.score == 1.0
    assert report.parts == {"can_answer_correct": 1.0, "figure_amount_recall": 1.0,
                            "figure_ids_recall": 1.0}  # fmt: skip
    assert report.pass_rate == 1.0 and report.errors == {}
    assert report.input_tokens > 0 and report.output_tokens > 0


def test_a_wrong_query_scores_lower() -> None:
    # the wrong vendor: code answers it truly from the records, but not the question asked
    model = _query("Uline")
    case = _case("question-answering", "pacific-power-q3")
    (result,) = run_eval("question-answering", model, cases=[case]).cases
    assert result.verdict == "pass"
    assert result.score < 1.0
    assert result.parts["figure_amount_recall"] == 0.0


def _judge_reading(period: str) -> Judge:
    """A judge that reads the question's period as ``period`` (an option's start), its
    subject as Pacific Power, and confirms every other claim."""

    def respond(request: ModelRequest) -> AssistantMessage:
        enum = request.response_schema["properties"]["answer"]["enum"]
        read = period if "Which period" in request.messages[-1].content else "vendor: Pacific"
        answer = "yes" if "yes" in enum else next(o for o in enum if o.startswith(read))
        return tool_calls(call(CRITERION_TOOL, {"reason": "read", "answer": answer}))

    return Judge(FunctionModel(respond, name="local:judge"), primary="function:model")


@pytest.mark.parametrize(
    ("period", "decision", "published"), [("2026-Q3", "pass", True), ("2026-Q2", "fail", False)]
)
def test_with_a_judge_a_result_it_fails_counts_as_not_published(
    period: str, decision: str, published: bool
) -> None:
    model = _query("Pacific Power")
    case = _case("question-answering", "pacific-power-q3")
    judge = _judge_reading(period)
    (result,) = run_eval("question-answering", model, cases=[case], judge=judge).cases
    assert result.decision == decision and (result.verdict == "pass") is published
    assert result.score == (1.0 if published else 0.0)
    if not published:
        assert result.decision_reasons[0].startswith("period_matches: no — read '2026-Q2")


def test_an_honest_unknown_vendor_scores_one_per_field() -> None:
    nothing = {f: None for f in ("business_id", "existing_vendor_id", "name",
                                 "account_category")}  # fmt: skip
    case = _case("vendor-enrichment", "ve-22")  # a vendor the directory does not know
    model = _played(call("searchDirectory", {"query": "ACME WIDGETS"}), nothing)
    report = run_eval("vendor-enrichment", model, cases=[case])
    assert report.cases[0].score == 1.0
    assert set(report.parts) == {"website", "phone", "address", "opening_hours",
                                 "merchant_category_code"}  # fmt: skip


def test_a_failed_run_counts_as_wrong_with_its_error_type() -> None:
    def forever(request: ModelRequest) -> AssistantMessage:
        return tool_calls(call("listAccounts", {"tenant_id": "t-quillstack"}))

    cases = [_case("question-answering", "revenue-forecast")]
    report = run_eval("question-answering", FunctionModel(forever), cases=cases)
    (result,) = report.cases
    # offered no tools, it keeps calling: corrections run out
    assert result.verdict == "error" and result.error_type == "InvalidAgentOutput"
    assert result.score == 0.0
    assert result.parts == {"can_answer_correct": 0.0, "reason_given": 0.0}
    assert report.errors == {"InvalidAgentOutput": 1} and report.pass_rate == 0.0
    assert result.input_tokens > 0  # the failed run's record still counts its tokens


def test_summarize_averages_each_part_over_the_cases_that_score_it() -> None:
    results = [
        CaseResult("a", "pass", 1.0, {"x": 1.0, "y": 1.0}, 10, 2, 1.0),
        CaseResult("b", "error", 0.0, {"x": 0.0}, 4, 0, 3.0, error_type="RunTimedOut"),
        CaseResult("c", "fail", 0.5, {"x": 1.0, "y": 0.0}, 6, 1, 2.0),
    ]
    report = summarize("vendor-enrichment", "m", results)
    assert report.parts == {"x": 2 / 3, "y": 0.5}
    assert report.part_counts == {"x": 3, "y": 2}
    assert report.score == 0.5 and report.pass_rate == 1 / 3
    assert (report.input_tokens, report.output_tokens) == (20, 3)
    assert report.median_latency_s == 2.0 and report.errors == {"RunTimedOut": 1}


def _stub_reply(messages: list[dict[str, Any]]) -> dict[str, Any]:
    final = {"missing": "other", "metric": "money_paid", "account": "none", "vendor": "none",
             "periods": [], "by_vendor": False}  # fmt: skip
    return {"role": "assistant", "content": json.dumps(final)}


def test_the_cli_prints_a_table_and_totals(capsys: pytest.CaptureFixture[str]) -> None:
    with openai_compatible_stub(_stub_reply) as url:
        code = main(["eval", "question-answering", "--model",
                     f"openai-compatible:{url}#stub", "--limit", "2"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "software-q3-vs-q2" in out and "green-coffee-q2" in out
    assert "accuracy per aspect" in out and "can_answer_correct" in out
    # one model call per question: 10 prompt tokens each, as the stub reports
    assert "pass rate" in out and "median latency" in out and "tokens in 20" in out


def test_the_cli_json_parses(capsys: pytest.CaptureFixture[str]) -> None:
    cases = load_cases("question-answering")
    forecast = next(i for i, c in enumerate(cases) if c["id"] == "revenue-forecast")
    with openai_compatible_stub(_stub_reply) as url:
        main(["eval", "question-answering", "--model", f"openai-compatible:{url}#stub",
              "--limit", str(forecast + 1), "--json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["daemon"] == "question-answering" and report["part_kind"] == "aspect"
    assert len(report["cases"]) == forecast + 1
    by_id = {c["case_id"]: c for c in report["cases"]}
    assert by_id["revenue-forecast"]["score"] == 1.0  # the stub's honest "cannot answer"
    assert by_id["software-q3-vs-q2"]["score"] < 1.0


# --- the eval sets -------------------------------------------------------------------------


@pytest.mark.parametrize("name", registry.names(of="process-daemons"))
def test_each_eval_set_has_twenty_uniquely_named_cases(name: str) -> None:
    cases = load_cases(name)
    assert len(cases) >= 20
    assert len({c["id"] for c in cases}) == len(cases)
    assert len({c["event"]["event_id"] for c in cases}) == len(cases)


def test_question_figures_add_up_to_the_sample_ledger() -> None:
    amounts = {t.transaction_id: (t.tenant_id, t.amount) for t in transactions()}
    for case in load_cases("question-answering"):
        expected = case["expected"]
        for figure in expected["figures"]:
            total = sum((amounts[i][1] for i in figure["record_ids"]), Decimal(0))
            assert all(amounts[i][0] == case["event"]["tenant_id"] for i in figure["record_ids"])
            assert int(total * 100) == figure["amount_minor"], case["id"]
        if expected["difference_minor"] is not None:
            first, second = expected["figures"]
            difference = first["amount_minor"] - second["amount_minor"]
            assert difference == expected["difference_minor"], case["id"]
    assert sum(not c["expected"]["can_answer"] for c in load_cases("question-answering")) >= 3


def test_vendor_values_come_from_the_directory_and_the_tenant_chart() -> None:
    entries = [b.model_dump(mode="json") for b in directory()]
    column = {"website": "website", "phone": "phone", "address": "address",
              "opening_hours": "hours", "merchant_category_code": "mcc"}  # fmt: skip
    for case in load_cases("vendor-enrichment"):
        expected = case["expected"]
        codes = {a.code for a in accounts(case["event"]["tenant_id"])}
        for field, key in column.items():
            value = expected.get(field)
            if value is not None and value != "unknown":
                assert any(e[key] == value for e in entries), (case["id"], field)
        categories = expected.get("account_category", [])
        for code in categories if isinstance(categories, list) else [categories]:
            assert code == "unknown" or code in codes, case["id"]
