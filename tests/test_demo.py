"""The demo's pure parts: model choice, event bookkeeping, trace tree, tables (no Kafka)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from examples import demo
from examples.demo import EventRow


def _run_record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": "evt-qa-0001",
        "tenant_id": "t-quillstack",
        "run_id": "r1",
        "daemon": "question-answering",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "model": "local:qwen2.5-coder-1.5b",
        "outcome": "completed",
        "error_type": None,
        "plan_json": None,
        "model_calls": [
            {
                "model": "local:qwen2.5-coder-1.5b",
                "parameters_json": '{"purpose": "execute"}',
                "input_tokens": 900,
                "output_tokens": 40,
                "latency_ms": 2100.0,
            },
            {
                "model": "local:qwen2.5-coder-1.5b",
                "parameters_json": "{}",
                "input_tokens": 1200,
                "output_tokens": 80,
                "latency_ms": 3400.0,
            },
        ],
        "tool_calls": [
            {
                "call_id": "c1",
                "name": "aggregateSpend",
                "arguments_json": '{"category": "6500"}',
                "latency_ms": 35.0,
                "error": None,
            },
            {
                "call_id": "c2",
                "name": "listVendors",
                "arguments_json": "{}",
                "latency_ms": 12.0,
                "error": "forbidden: 403",
            },
        ],
        "input_tokens": 2100,
        "output_tokens": 120,
        "latency_ms": 12300.0,
    }
    record.update(overrides)
    return record


def _outcome(verdict: str = "pass", reasons: list[str] | None = None) -> dict[str, Any]:
    return {
        "event_id": "evt-qa-0001",
        "verdict": verdict,
        "reasons": reasons or [],
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
    }


def _finished_row(verdict: str = "pass") -> EventRow:
    row = EventRow("question-answering", "evt-qa-0001", "t-quillstack", "How much…?")
    row.sent(100.0)
    if verdict == "pass":  # only a passing result is published
        row.absorb("output", {"event_id": "evt-qa-0001", "answer": "42"}, 105.0)
    reasons = [] if verdict == "pass" else ["numeric_grounding: 7 not in tools"]
    row.absorb("outcome", _outcome(verdict, reasons), 110.0)
    assert row.state == "waiting"  # no run record yet
    row.absorb("run", _run_record(), 112.5)
    return row


def test_trace_tree_shows_spans_with_timings_and_verdict() -> None:
    lines = demo.render_trace(_finished_row(), "questions.asked")
    text = "\n".join(lines)
    assert lines[0] == "process questions.asked [evt-qa-0001, t-quillstack] 12.5s"
    assert "invoke_agent question-answering 12.3s (completed)" in lines[1]
    assert "chat local:qwen2.5-coder-1.5b execute 2.1s (900 in / 40 out tokens)" in text
    assert "chat local:qwen2.5-coder-1.5b 3.4s" in text
    assert 'execute_tool aggregateSpend 35ms {"category": "6500"}' in text
    assert "execute_tool listVendors 12ms {} ERROR forbidden: 403" in text
    assert lines[-2].strip() == "└─ guardrails: pass"
    assert "0af7651916cd43dd8448eb211c80319c" in lines[-1]
    assert "reconstructed from the decision record" in lines[-1]


def test_trace_tree_of_a_failed_run_names_the_error_and_missing_guardrails() -> None:
    row = EventRow("vendor-enrichment", "evt-vd-0002", "t-quillstack", "PADDLE.NET*")
    row.sent(0.0)
    letter = {
        "event_id": "evt-vd-0002",
        "attempts": 3,
        "error_type": "RunTimedOut",
        "error_message": "run passed its 120.0s wall-clock limit",
    }
    row.absorb("dlq", letter, 30.0)
    assert row.state == "dead letter" and not row.ready(31.0) and row.ready(36.0)
    row.absorb("run", _run_record(outcome="failed", error_type="RunTimedOut", tool_calls=[]), 31.0)
    assert row.ready(31.0) and row.state == "dead letter" and row.done_at == 30.0
    text = "\n".join(demo.render_trace(row, "vendors.discovered"))
    assert "(failed, RunTimedOut)" in text
    row.run["input_tokens"] = row.run["output_tokens"] = 0  # type: ignore[index]
    assert row.tokens == (2100, 120)  # summed from its model calls
    assert "guardrails: not reached" in text
    assert demo.render_result(row).startswith("dead letter after 3 attempt(s): RunTimedOut")


def test_trace_tree_lists_plan_steps() -> None:
    row = _finished_row()
    row.run = _run_record(plan_json=json.dumps([{"steps": [{"a": 1}, {"b": 2}]}]))
    assert any("plan: 1 plan(s), 2 step(s)" in line for line in demo.render_trace(row, "q"))


def test_guardrail_fail_is_withheld_and_reported() -> None:
    row = _finished_row("fail")
    assert row.state == "failed"
    assert "guardrails: fail (numeric_grounding: 7 not in tools)" in "\n".join(
        demo.render_trace(row, "questions.asked")
    )


def test_withheld_reasons_are_shown_short() -> None:
    row = _finished_row("fail")
    assert demo.render_result(row) == (
        "withheld by the guardrails: numeric_grounding: 7 not in tools"
    )
    row.outcome = _outcome("fail", ["the books hold no revenue forecast"] * 30)
    shown = demo.render_result(row)
    assert shown.startswith("withheld by the guardrails: the books hold no revenue forecast;")
    assert len(shown) <= len("withheld by the guardrails: ") + 400


def test_a_passing_event_is_done_only_once_its_result_is_read() -> None:
    row = EventRow("vendor-enrichment", "evt-vd-0001", "t-ridgeline", "SQ *BLUE")
    row.sent(0.0)
    row.absorb("outcome", _outcome("pass", ["judge: grounded"]), 1.0)
    row.absorb("run", _run_record(), 1.5)
    assert row.state == "waiting" and row.done_at is None  # the result is still on its way
    row.absorb("output", {"event_id": "evt-vd-0001", "name": "Blue Bottle"}, 2.0)
    assert row.state == "result" and demo.render_result(row).startswith("result: ")


def test_result_drops_envelope_fields() -> None:
    assert demo.render_result(_finished_row()) == 'result: {"answer": "42"}'


def test_summary_table_counts_per_daemon_and_total() -> None:
    passed, failed, held = (
        _finished_row("pass"),
        _finished_row("fail"),
        _finished_row("needs_review"),
    )
    dead = EventRow("vendor-enrichment", "evt-vd-0001", "t-ridgeline", "SQ *BLUE")
    dead.sent(0.0)
    dead.absorb("dlq", {"event_id": "evt-vd-0001"}, 1.0)
    queued = EventRow("client-onboarding", "evt-cc-0001", "t-quillstack", "Quillstack")
    skipped = EventRow("client-onboarding", "evt-cc-0002", "t-quillstack", "Other")
    skipped.state = "skipped"
    rows = [passed, failed, held, dead, queued, skipped]
    lines = demo.render_summary(rows, 123.4, "local:x")
    by_name = {line.split()[0]: line.split()[1:] for line in lines[2:] if line[:1].isalpha()}
    # events results pass fail review dlq pending skipped tokens-in tokens-out
    assert by_name["question-answering"] == ["3", "1", "1", "1", "1", "0", "0", "0", "6300", "360"]
    assert by_name["vendor-enrichment"] == ["1", "0", "0", "0", "0", "1", "0", "0", "0", "0"]
    assert by_name["client-onboarding"] == ["2", "0", "0", "0", "0", "0", "1", "1", "0", "0"]
    assert by_name["total"] == ["6", "1", "1", "1", "1", "1", "1", "1", "6300", "360"]
    assert held.state == "held" and "held for review" in demo.render_result(held)
    assert lines[-1] == "model local:x; wall time 123.4s"


def test_progress_table_has_one_row_per_event() -> None:
    queued = EventRow("client-onboarding", "evt-cc-0001", "t-quillstack", "Quillstack")
    lines = demo.render_table([_finished_row(), queued], now=200.0)
    assert len(lines) == 3
    assert lines[1].split()[:2] == ["question-answering", "evt-qa-0001"]
    assert "result" in lines[1] and "2100/120" in lines[1] and lines[1].endswith("12.5")
    assert "queued" in lines[2] and lines[2].endswith("0.0")


@pytest.mark.parametrize(
    ("override", "env", "big", "expected"),
    [
        (None, {}, True, "local:qwen2.5-coder-1.5b"),
        (None, {}, False, "local:qwen2.5-coder-0.5b"),
        ("qwen2.5-coder-0.5b", {"OPENAI_API_KEY": "k"}, True, "local:qwen2.5-coder-0.5b"),
        (None, {"DAEMONS_MODEL": "openai:gpt-4.1"}, True, "openai:gpt-4.1"),
        (None, {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}, True, "openai:gpt-4.1-mini"),
        (None, {"ANTHROPIC_API_KEY": "k"}, True, "anthropic:claude-sonnet-4-5"),
        (
            None,
            {"OPENAI_BASE_URL": "http://h:8000/v1/", "OPENAI_MODEL": "m"},
            True,
            "openai-compatible:http://h:8000/v1#m",
        ),
    ],
)
def test_model_choice(override: str | None, env: dict[str, str], big: bool, expected: str) -> None:
    assert demo.choose_model(override, env, big) == expected


def test_interleave_round_robins_daemons() -> None:
    a = [{"event_id": "a1"}, {"event_id": "a2"}, {"event_id": "a3"}]
    b = [{"event_id": "b1"}]
    assert [e["event_id"] for e in demo.interleave([a, b])] == ["a1", "b1", "a2", "a3"]


def test_sample_events_cover_two_tenants_and_the_hard_cases() -> None:
    events = [e for topic, _out in demo.DAEMONS.values() for e in demo.load_events(topic)]
    assert 6 <= len(events) <= 8
    assert {e["tenant_id"] for e in events} == {"t-ridgeline", "t-quillstack"}
    assert any("PADDLE.NET" in e.get("raw_descriptor", "") for e in events)  # unknown vendor
    assert any("next quarter" in e.get("question", "") for e in events)  # a forecast
    assert len({e["event_id"] for e in events}) == len(events)


def test_enough_time_uses_the_average_finished_event() -> None:
    row = _finished_row()  # sent at 100, done at 112.5: took 12.5 s
    slow = _finished_row()
    slow.done_at = 137.5  # took 37.5 s: 25 s on average
    assert demo.enough_time({}, now=0.0, deadline=1.0)  # nothing measured yet: try one
    assert demo.enough_time({"a": row}, now=200.0, deadline=218.0)
    assert not demo.enough_time({"a": row}, now=200.0, deadline=217.0)
    assert demo.enough_time({"a": row, "b": slow}, now=200.0, deadline=230.5)
    assert not demo.enough_time({"a": row, "b": slow}, now=200.0, deadline=229.5)


def test_live_display_clears_the_table_before_printing_lines() -> None:
    stream = io.StringIO()
    display = demo.Display(stream, live=True)
    display.table([_finished_row()], now=200.0)  # header + one row = 2 lines
    display.say("■ done")
    out = stream.getvalue()
    assert out.index("evt-qa-0001") < out.index("\x1b[2F\x1b[J") < out.index("■ done")
    quiet = io.StringIO()
    demo.Display(quiet, live=False).table([_finished_row()], now=200.0)
    assert quiet.getvalue() == ""
