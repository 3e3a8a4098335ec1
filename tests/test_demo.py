"""The demo's pure parts: model choice, event bookkeeping, trace tree, tables (no Kafka)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from examples import demo, demo_progress
from examples.demo_progress import Call, EventRow, Rates, Stage
from processors.runtime.health import HealthServer
from processors.runtime.metrics import RuntimeMetrics
from processors.telemetry.progress import ProgressTracker


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


def _stage(
    name: str, *, call: int | None = None, detail: str | None = None, since: float = 0.0,
    tokens: tuple[int, int] = (0, 0), calls: tuple[Call, ...] = (), activity: float = 1.0,
    attempt: int = 1,
) -> Stage:  # fmt: skip
    return Stage(name, detail, call, since, since, attempt, len(calls), *tokens, calls, activity)


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


def test_a_run_answered_from_memory_says_so_and_one_with_a_model_call_does_not() -> None:
    identify = {"call_id": "m1", "name": "identify", "arguments_json": '{"entity_kind": "vendor"}',
                "latency_ms": 4.0, "error": None}  # fmt: skip
    row = _finished_row()
    row.absorb("run", _run_record(model_calls=[], tool_calls=[identify]), 113.0)
    text = "\n".join(demo.render_trace(row, "vendors.discovered"))
    assert "answered from memory: no model call" in text
    assert "execute_tool identify 4ms" in text
    asked = _finished_row()
    asked.absorb("run", _run_record(tool_calls=[identify]), 113.0)
    assert "answered from memory" not in "\n".join(demo.render_trace(asked, "vendors.discovered"))
    assert demo.summarize_input({"event_id": "evt-1" + demo.AGAIN, "raw_descriptor": "SQ *X"}) == (
        "SQ *X (seen before)"
    )


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
    assert row.state == "withheld" and row.label == "withheld" and not row.in_flight
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
    running = EventRow("client-onboarding", "evt-cc-0002", "t-quillstack", "Other")
    running.sent(0.0)
    running.observe(_stage("model call", call=1, tokens=(500, 20)), 1.0)
    rows = [passed, failed, held, dead, queued, running]
    lines = demo.render_summary(rows, 123.4, "local:x")
    by_name = {line.split()[0]: line.split()[1:] for line in lines[2:] if line[:1].isalpha()}
    # events results pass fail review dlq pending tokens-in tokens-out
    assert by_name["question-answering"] == ["3", "1", "1", "1", "1", "0", "0", "6300", "360"]
    assert by_name["vendor-enrichment"] == ["1", "0", "0", "0", "0", "1", "0", "0", "0"]
    assert by_name["client-onboarding"] == ["2", "0", "0", "0", "0", "0", "2", "500", "20"]
    assert by_name["total"] == ["6", "1", "1", "1", "1", "1", "2", "6800", "380"]
    assert held.state == "review" and "held for review" in demo.render_result(held)
    assert lines[-1] == "model local:x; wall time 123.4s"


def test_progress_table_has_one_row_per_event_with_the_stage_of_those_in_flight() -> None:
    queued = EventRow("client-onboarding", "evt-cc-0001", "t-quillstack", "Quillstack")
    running = EventRow("vendor-enrichment", "evt-vd-0002", "t-quillstack", "PADDLE.NET* ZVKRT")
    running.sent(150.0)
    running.observe(_stage("model call", call=1, since=160.0), 161.0)
    lines = demo.render_table([_finished_row(), queued, running], now=200.0)
    assert len(lines) == 4
    assert lines[1].split()[:2] == ["question-answering", "evt-qa-0001"]
    assert "result" in lines[1] and "2100/120" in lines[1] and lines[1].endswith("12.5")
    assert "queued" in lines[2] and lines[2].endswith("0.0")
    assert "model call 1" in lines[3] and lines[3].endswith("50.0  40 s")


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
    events = [e for daemon in demo.DAEMONS for e in demo.load_events(daemon)]
    assert 6 <= len(events) <= 8
    assert {e["tenant_id"] for e in events} == {"t-ridgeline", "t-quillstack"}
    assert any("PADDLE.NET" in e.get("raw_descriptor", "") for e in events)  # unknown vendor
    assert any("next quarter" in e.get("question", "") for e in events)  # a forecast
    assert len({e["event_id"] for e in events}) == len(events)


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


# ---- in flight: progress, estimates, stuck events --------------------------------------------


def _progress_body(**event: Any) -> dict[str, Any]:
    entry = {
        "event_id": "evt-vd-0002", "trace_id": "ab" * 16, "topic": "vendors.discovered",
        "stage": "model call", "detail": "qwen2.5-coder-1.5b", "call": 2,
        "stage_started": 1000.0, "started": 960.0, "last_activity": 1000.0, "attempt": 1,
        "model_calls": 1, "input_tokens": 1500, "output_tokens": 150,
        "calls": [{"model": "qwen2.5-coder-1.5b", "judge": False, "input_tokens": 1500,
                   "output_tokens": 150, "seconds": 30.0, "failed": False}],
    }  # fmt: skip
    entry.update(event)
    anonymous = {**entry, "event_id": None}  # taken, but its agent has not started yet
    return {"daemon": "vendor-enrichment", "now": 1034.0, "events": [entry, anonymous]}


def test_progress_is_read_onto_this_clock_and_unidentified_events_are_left_out() -> None:
    stages = demo_progress.parse_progress(_progress_body(), polled_at=500.0)
    assert list(stages) == ["evt-vd-0002"]
    stage = stages["evt-vd-0002"]
    assert (stage.name, stage.detail, stage.call, stage.attempt) == (
        "model call", "qwen2.5-coder-1.5b", 2, 1,
    )  # fmt: skip
    assert stage.since == 466.0 and stage.started == 426.0  # 34 s and 74 s before the poll
    assert stage.calls == (Call("qwen2.5-coder-1.5b", False, 1500, 150, 30.0),)
    assert demo_progress.parse_progress({"now": 1.0, "events": []}, 0.0) == {}


def test_an_event_changes_only_when_its_stage_or_spans_do() -> None:
    row = EventRow("vendor-enrichment", "evt-vd-0002", "t-quillstack", "PADDLE.NET*")
    row.sent(10.0)
    assert row.label == "sent" and row.last_change == 10.0
    row.observe(None, 20.0)  # not taken yet
    assert row.last_change == 10.0 and not row.left_daemon
    gathering = _stage("gathering", detail="searchDirectory", since=21.0, activity=100.0)
    row.observe(gathering, 22.0)
    assert row.label == "gathering" and row.last_change == 22.0
    row.observe(_stage("gathering", detail="searchDirectory", since=21.2, activity=100.0), 30.0)
    assert row.last_change == 22.0  # the same report again (the clocks jitter a little)
    row.observe(_stage("judge", since=40.0, activity=101.0), 41.0)
    assert row.label == "judge" and row.last_change == 41.0 and row.judge_seconds is None
    row.observe(_stage("publish", since=52.5, activity=102.0), 53.0)
    assert row.judge_seconds == 12.5
    row.observe(None, 54.0)  # its root span ended: its records are on the way
    assert row.label == "published" and row.left_daemon and row.last_change == 54.0
    row.absorb("dlq", {"event_id": "evt-vd-0002"}, 55.0)
    assert row.label == "dead letter" and not row.in_flight and row.last_change == 55.0


def test_rates_come_from_the_local_servers_health_when_it_measured_them() -> None:
    body = {"status": "ok", "rates": {"prompt_tokens_per_s": 50.0,
                                      "generated_tokens_per_s": 5, "completions": 3}}  # fmt: skip
    assert demo_progress.parse_rates(body) == Rates(50.0, 5.0)
    unmeasured = {"prompt_tokens_per_s": None, "generated_tokens_per_s": None, "completions": 0}
    assert demo_progress.parse_rates({"status": "ok", "rates": unmeasured}) is None
    assert demo_progress.parse_rates({"status": "ok"}) is None  # an older server
    assert demo_progress.parse_rates(["not", "a", "map"]) is None


MODEL = "qwen2.5-coder-1.5b"


def test_a_later_turn_is_estimated_from_the_conversation_so_far_and_the_servers_rates() -> None:
    turn_one = Call(MODEL, False, 1500, 150, 30.0)
    stage = _stage("model call", call=2, detail=MODEL, calls=(turn_one,))
    estimate = demo_progress.estimate_call(stage, "vendor-enrichment", [], Rates(50.0, 5.0))
    assert estimate == demo_progress.Estimate(1650, 1650 / 50 + 150 / 5)  # 33 s + 30 s
    # without rates: seconds per prompt token of the finished calls, answers included
    estimate = demo_progress.estimate_call(stage, "vendor-enrichment", [], None)
    assert estimate == demo_progress.Estimate(1650, 1650 * 30.0 / 1500)


def test_a_first_turn_costs_only_what_the_servers_cache_did_not_hold() -> None:
    stage = _stage("model call", call=1, detail=MODEL)
    # the daemon's earlier event: 1,100 of its 1,400 prompt tokens came from the cache
    others = [("vendor-enrichment", [Call(MODEL, False, 1400, 40, 9.0, cached_tokens=1100)])]
    estimate = demo_progress.estimate_call(stage, "vendor-enrichment", others, Rates(40.0, 4.0))
    assert estimate == demo_progress.Estimate(1400, 300 / 40 + 40 / 4)  # 7.5 s + 10 s


def test_a_first_turn_is_estimated_from_other_events_first_turns_this_daemons_first() -> None:
    stage = _stage("model call", call=1, detail=MODEL)
    vendor = [Call(MODEL, False, 1600, 100, 30.0), Call(MODEL, False, 2400, 60, 20.0)]
    client = [Call(MODEL, False, 2800, 200, 60.0)]
    others = [("vendor-enrichment", vendor), ("client-onboarding", client)]
    mine = demo_progress.estimate_call(stage, "vendor-enrichment", others, Rates(40.0, 4.0))
    assert mine is not None and mine.prompt_tokens == 1600  # its own daemon's first turn
    assert mine.seconds == 1600 / 40 + 100 / 4  # the median answer of the three: 100 tokens
    new = demo_progress.estimate_call(stage, "question-answering", others, Rates(40.0, 4.0))
    assert new is not None and new.prompt_tokens == 2200  # the median of all first turns
    judged = [("x", [Call(MODEL, True, 900, 30, 8.0)])]  # a judge call does not count
    assert demo_progress.estimate_call(stage, "vendor-enrichment", judged, None) == (
        demo_progress.Estimate(None, None)
    )
    nothing = demo_progress.estimate_call(stage, "vendor-enrichment", [], Rates(40.0, 4.0))
    assert nothing == demo_progress.Estimate(None, None)  # the run's very first call
    assert demo_progress.estimate_call(_stage("gathering"), "v", others, None) is None


def test_a_judge_stage_is_estimated_from_the_earlier_judge_stages() -> None:
    done = [EventRow("vendor-enrichment", f"e{i}", "t", "") for i in range(3)]
    for row, took in zip(done, (10.0, 30.0, 14.0), strict=True):
        row.judge_seconds = took
    judging = EventRow("client-onboarding", "e9", "t", "")
    judging.sent(0.0)
    judging.observe(_stage("judge", since=5.0), 6.0)
    estimate = demo_progress.estimate_for(judging, [*done, judging], {})
    assert estimate == demo_progress.Estimate(None, 14.0)
    assert demo_progress.progress_note(judging, 9.0, estimate) == "4 s, est. ~10 s left"
    assert demo_progress.progress_note(judging, 30.0, estimate) == "25 s, over its ~14 s estimate"


def test_progress_lines_say_which_event_which_stage_how_long_and_what_is_left() -> None:
    row = EventRow("vendor-enrichment", "evt-vd-0002", "t-quillstack", "PADDLE.NET*")
    row.sent(426.0)
    row.observe(demo_progress.parse_progress(_progress_body(), 500.0)["evt-vd-0002"], 500.0)
    rates = {MODEL: Rates(50.0, 5.0)}
    estimate = demo_progress.estimate_for(row, [row], rates)
    assert estimate is not None and estimate.prompt_tokens == 1650
    assert demo_progress.progress_line(row, 500.0, estimate) == (
        "vendor-enrichment evt-vd-0002: model call 2 (≈1650 prompt tokens, 34 s, est. ~"
        "29 s left); 74 s since sent, 1 model call done, 1500/150 tokens"
    )  # 1650/50 + 150/5 = 63 s in all, 34 s gone
    gathering = _stage("gathering", detail="searchDirectory", since=490.0, attempt=2)
    row.observe(gathering, 501.0)
    assert demo_progress.progress_line(row, 500.0, None) == (
        "vendor-enrichment evt-vd-0002: gathering (searchDirectory, attempt 2, 10 s); 74 s since"
        " sent"
    )
    waiting = EventRow("client-onboarding", "evt-cc-0001", "t-quillstack", "Quillstack")
    waiting.sent(0.0)
    assert demo_progress.progress_line(waiting, 130.0, None) == (
        "client-onboarding evt-cc-0001: sent (waiting for the daemon to take it, 2m 10s);"
        " 2m 10s since sent"
    )


def test_progress_lines_are_due_on_a_stage_change_and_every_so_often() -> None:
    row = EventRow("vendor-enrichment", "evt-vd-0002", "t", "")
    queued = EventRow("vendor-enrichment", "evt-vd-0003", "t", "")
    row.sent(0.0)
    assert demo_progress.due_lines([row, queued], 1.0, every=15.0) == [row]  # first sight
    assert demo_progress.due_lines([row, queued], 2.0, every=15.0) == []
    row.observe(_stage("model call", call=1, detail=MODEL), 3.0)
    assert demo_progress.due_lines([row], 3.0, every=15.0) == [row]  # a new stage
    assert demo_progress.due_lines([row], 17.9, every=15.0) == []
    assert demo_progress.due_lines([row], 18.0, every=15.0) == [row]  # 15 s later
    row.absorb("dlq", {}, 19.0)
    assert demo_progress.due_lines([row], 40.0, every=15.0) == []  # done: its block says it


def test_only_an_event_with_nothing_new_for_too_long_is_stuck() -> None:
    slow = EventRow("vendor-enrichment", "evt-vd-0002", "t-quillstack", "PADDLE.NET* ZVKRT")
    slow.sent(0.0)
    slow.observe(_stage("model call", call=2, detail=MODEL, since=100.0, tokens=(1653, 90),
                        calls=(Call(MODEL, False, 1653, 90, 35.0),)), 100.0)  # fmt: skip
    done = _finished_row()
    done.done_at, done.last_change = 1.0, 1.0
    queued = EventRow("client-onboarding", "evt-cc-0001", "t-quillstack", "Quillstack")
    assert demo_progress.stuck([slow, done, queued], now=1000.0, after=900.0) == []
    assert demo_progress.stuck([slow, done, queued], now=1000.5, after=900.0) == [slow]
    lines = demo_progress.render_stuck(slow, 1000.5, ["vendor-enrichment /healthz: 200 ok"])
    assert lines == [
        "   vendor-enrichment evt-vd-0002 (PADDLE.NET* ZVKRT): in model call 2"
        " (qwen2.5-coder-1.5b) for 15m 00s; nothing new for 15m 00s; sent 16m 40s ago",
        "      attempt 1, 1 model call(s) finished, 1653/90 tokens",
        "      vendor-enrichment /healthz: 200 ok",
    ]
    never = EventRow("client-onboarding", "evt-cc-0001", "t", "Quillstack")
    never.sent(0.0)
    assert "not taken by its daemon" in demo_progress.render_stuck(never, 901.0, [])[0]


def _args(**overrides: Any) -> Any:
    args = demo._parse([])
    for name, value in overrides.items():
        setattr(args, name, value)
    return args


def test_a_stuck_event_fails_the_demo_and_says_what_was_found(tmp_path: Any) -> None:
    stack = demo.Stack(tmp_path, {})
    (tmp_path / "vendor-enrichment.log").write_text("".join(f"line {i}\n" for i in range(30)))
    slow = EventRow("vendor-enrichment", "evt-vd-0002", "t", "PADDLE.NET*")
    slow.sent(0.0)
    rows = {slow.event_id: slow}
    queue = [{"event_id": "evt-qa-0002"}]
    out = io.StringIO()
    display = demo.Display(out, live=False)
    probe = demo.Probe({})  # no daemon to ask: the checks say what they can
    assert demo._give_up(rows, queue, 899.0, 0.0, _args(), probe, stack, display, set()) is None
    code = demo._give_up(rows, queue, 901.0, 0.0, _args(), probe, stack, display, set())
    text = out.getvalue()
    assert code == 1 and "== stuck: nothing new for more than 15m 00s (--stuck-after 900)" in text
    assert "vendor-enrichment process: not started by the demo" in text
    assert "line 29" in text and "line 17" not in text  # the last 12 lines of its log
    assert "not fed yet: evt-qa-0002" in text
    reported: set[str] = set()
    follow = _args(follow=True)
    assert demo._give_up(rows, [], 901.0, 0.0, follow, probe, stack, display, reported) is None
    assert reported == {"evt-vd-0002"}  # said once; --follow goes on


def test_the_safety_limit_stops_a_run_that_still_moves_but_not_a_finished_one(
    tmp_path: Any,
) -> None:
    stack, probe = demo.Stack(tmp_path, {}), demo.Probe({})
    moving = EventRow("vendor-enrichment", "evt-vd-0002", "t", "PADDLE.NET*")
    moving.sent(2690.0)
    out = io.StringIO()
    display = demo.Display(out, live=False)
    rows = {moving.event_id: moving}
    assert demo._give_up(rows, [], 2700.0, 0.0, _args(), probe, stack, display, set()) is None
    assert demo._give_up(rows, [], 2701.0, 0.0, _args(), probe, stack, display, set()) == 1
    assert "== safety limit: the demo has run 45m 01s (--safety-limit 2700)" in out.getvalue()
    unlimited = _args(safety_limit=0)
    assert demo._give_up(rows, [], 2701.0, 0.0, unlimited, probe, stack, display, set()) is None
    moving.absorb("dlq", {}, 2701.0)  # a dead letter is a final state: nothing in flight
    assert demo._give_up(rows, [], 9999.0, 0.0, _args(), probe, stack, display, set()) is None


def test_the_probe_reads_a_real_daemon_progress_endpoint(tmp_path: Any) -> None:
    """A ProgressTracker fed spans, served by the daemon's health server over loopback HTTP,
    read by the demo's probe onto the event's row; then its checks when the event is stuck."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import SpanKind

    tracker = ProgressTracker()
    provider = TracerProvider()
    provider.add_span_processor(tracker)
    tracer = provider.get_tracer("test")
    root = tracer.start_span("process vendors.discovered", kind=SpanKind.CONSUMER)
    agent = tracer.start_span(
        "invoke_agent vendor-enrichment", context=trace.set_span_in_context(root),
        attributes={"daemons.event_id": "evt-vd-0002"},
    )  # fmt: skip
    tracer.start_span(f"chat {MODEL}", context=trace.set_span_in_context(agent))
    row = EventRow("vendor-enrichment", "evt-vd-0002", "t", "PADDLE.NET*")
    other = EventRow("question-answering", "evt-qa-0002", "t", "?")  # not sent: not asked
    row.sent(0.0)
    metrics = RuntimeMetrics("vendor-enrichment", "g")
    with HealthServer(metrics, port=0, progress=tracker.snapshot) as health:
        probe = demo.Probe({"vendor-enrichment": health.url, "question-answering": "http://x:1"})
        probe.poll([row, other], now=5.0)
        assert row.stage is not None and row.label == "model call 1"
        assert row.stage.detail == MODEL and row.last_change == 5.0
        assert probe.errors == {}
        checks = probe.checks(row, demo.Stack(tmp_path, {}))
        assert checks[1] == "vendor-enrichment /healthz: 200 ok"
        assert checks[2].startswith('vendor-enrichment /progress: 200 {"daemon": "vendor-enr')
        root.end()
        probe.poll([row], now=6.0)
        assert row.label == "published" and row.last_change == 6.0
    probe.poll([row], now=7.0)  # the daemon is gone: nothing changes, the error is kept
    assert row.label == "published" and row.last_change == 6.0
    assert "ConnectError" in probe.errors["vendor-enrichment"]
