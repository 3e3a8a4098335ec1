"""The comparison's pure parts: configuration files, scripted models, topic ranges, the field
diff, per-case states and totals (judge scores shown only where a judge scored)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from processors.compare.config import CompareConfig, Tuned, load_config, load_config_model
from processors.compare.html import render_html
from processors.compare.replay import Case, Collected, SideResult, TopicRange
from processors.compare.report import compare_sides, field_diff, format_comparison, side_case
from processors.daemons import registry
from processors.errors import ConfigError
from processors.llm.config import LLMSettings
from processors.llm.fakes import ScriptedModel, UnexpectedModelCall, reply
from processors.llm.model import (
    AssistantMessage,
    ModelRequest,
    SystemMessage,
    ToolCall,
    UserMessage,
)

DATA = Path(__file__).parent / "data"


def test_topic_ranges_parse_and_reject_what_is_not_topic_partition_start_end() -> None:
    assert TopicRange.parse("questions.asked:2:10-20") == TopicRange("questions.asked", 2, 10, 20)
    for bad in (
        "questions.asked:2:20-10",
        "questions.asked:10-20",
        "q:x:1-2",
        "q:0:-1-3",
        ":0:1-2",
    ):
        with pytest.raises(ConfigError, match="TOPIC:PARTITION:START-END"):
            TopicRange.parse(bad)


def test_a_config_file_applies_prompts_limits_and_names_itself(tmp_path: Path) -> None:
    config = load_config(DATA / "candidate.toml")
    assert config.name == "candidate"  # the file's stem
    use_case = config.use_case(registry.use_case("question-answering"))
    assert use_case.prompts == DATA / "prompts-v2"
    assert use_case.limits.max_turns == 4
    assert use_case.limits.max_tokens == registry.use_case("question-answering").limits.max_tokens

    bad = tmp_path / "bad.toml"
    bad.write_text('name = "has space"\nmodel = "openai:x"\n')
    with pytest.raises(ConfigError, match="name 'has space'"):
        load_config(bad)
    bad.write_text('model = "openai:x"\ncolour = "red"\n')
    with pytest.raises(ConfigError, match="colour"):
        load_config(bad)
    bad.write_text('model = "openai:x"\nprompts = "nowhere"\n')
    with pytest.raises(ConfigError, match=r"instructions\.md is missing"):
        load_config(bad).use_case(registry.use_case("question-answering"))
    bad.write_text('model = "openai:x"\n[limits]\nmax_turns = 0\n')
    with pytest.raises(ConfigError, match="limits"):
        load_config(bad).use_case(registry.use_case("question-answering"))


def _request(task: str, turns: int = 0) -> ModelRequest:
    done = [AssistantMessage(content="x")] * turns
    return ModelRequest(messages=(SystemMessage(content="s"), UserMessage(content=task), *done))


def test_a_scripted_model_answers_by_event_and_fails_loudly_otherwise(tmp_path: Path) -> None:
    script = {"rules": [{"match": "green coffee", "steps": [
        {"tool_calls": [{"name": "aggregateSpend", "arguments": {"category": "5000"}}]},
        {"reply": {"can_answer": True}},
    ]}]}  # fmt: skip
    (tmp_path / "two.json").write_text(json.dumps(script))
    (tmp_path / "two.toml").write_text('model = "scripted:two.json"\n')
    config = load_config(tmp_path / "two.toml")
    model = load_config_model(config.model, config, LLMSettings())
    first = asyncio.run(model.complete(_request("How much on green coffee in Q2?")))
    assert [c.name for c in first.message.tool_calls] == ["aggregateSpend"]
    second = asyncio.run(model.complete(_request("How much on green coffee in Q2?", turns=1)))
    assert '"can_answer": true' in (second.message.content or "")
    gathered = AssistantMessage(
        tool_calls=(ToolCall(id="gather-1", name="listAccounts", arguments={}),)
    )
    request = _request("green coffee")
    request = request.model_copy(update={"messages": (*request.messages, gathered)})
    again = asyncio.run(model.complete(request))  # the daemon's gathered reads are not a turn
    assert [c.name for c in again.message.tool_calls] == ["aggregateSpend"]
    with pytest.raises(UnexpectedModelCall, match="no rule matches"):
        asyncio.run(model.complete(_request("What is the weather?")))
    with pytest.raises(UnexpectedModelCall, match="turn 3"):
        asyncio.run(model.complete(_request("green coffee", turns=2)))


def test_the_config_temperature_reaches_every_request() -> None:
    inner = ScriptedModel([reply("ok")])
    config = CompareConfig(name="t", model="scripted:x", temperature=0.7)
    tuned = Tuned(inner, 0.7)
    asyncio.run(tuned.complete(_request("q")))
    assert inner.requests[0].settings.temperature == 0.7
    assert config.temperature == 0.7 and tuned.name == inner.name


def test_field_diff_names_leaf_paths_and_ignores_what_every_replay_changes() -> None:
    left = {"run_id": "a", "can_answer": True, "figures": [{"amount_minor": 5, "ids": ["x"]}]}
    right = {"run_id": "b", "can_answer": True, "figures": [{"amount_minor": 6, "ids": ["x", "y"]}]}
    assert [(d.path, d.baseline, d.candidate) for d in field_diff(left, right)] == [
        ("figures[0].amount_minor", 5, 6),
        ("figures[0].ids[1]", "(absent)", "y"),
    ]
    assert field_diff(left, dict(left)) == []
    assert [(d.path, d.candidate) for d in field_diff(left, None)] == [("(output)", "(no output)")]


def _side(name: str, by_event: dict[str, Collected]) -> SideResult:
    config = CompareConfig(name=name, model=f"scripted:{name}")
    return SideResult(config, config.model, f"shadow.{name}.r.", {}, {}, by_event, 1.0, False)


def _run(event_id: str, tokens: int, latency_ms: float) -> dict[str, object]:
    return {"event_id": event_id, "model": "m", "input_tokens": tokens, "output_tokens": 1,
            "cost_usd": 0.01, "latency_ms": latency_ms}  # fmt: skip


def test_states_judge_scores_and_totals_per_side() -> None:
    cases = [
        Case("a", {"event_id": "e1"}),
        Case("b", {"event_id": "e2"}),
        Case("c", {"event_id": "e3"}),
    ]
    held = {"event_id": "e1", "verdict": "needs_review", "scores": {"grounded": 0.4},
            "reasons": ["judge: unsure"]}  # fmt: skip
    candidate = _side("cand", {
        "e1": Collected(outcome=held, runs=[_run("e1", 10, 100.0)]),
        "e2": Collected(dead_letter={"event_id": "e2", "error_type": "TurnLimitExceeded"},
                        runs=[_run("e2", 20, 300.0)]),
    })  # fmt: skip
    passed = {"verdict": "pass", "scores": {}, "reasons": []}
    baseline = _side("base", {
        e: Collected(result={"event_id": e, "answer": "x"}, outcome={"event_id": e, **passed},
                     runs=[_run(e, 5, 50.0)]) for e in ("e1", "e2", "e3")
    })  # fmt: skip
    comparison = compare_sides("question-answering", "test", cases, baseline, candidate, None)

    states = [(r.baseline.state, r.candidate.state) for r in comparison.cases]
    assert states == [("published", "needs_review"), ("published", "dead-letter"),
                      ("published", "missing")]  # fmt: skip
    c = comparison.candidate
    assert c.pass_rate == 0.0 and c.errors == {"TurnLimitExceeded": 1}
    assert c.judge == {"grounded": 0.4} and c.judged == 1
    assert c.input_tokens == 30 and c.latency_ms_median == 200.0
    assert comparison.baseline.accuracy is None  # nothing labeled
    assert comparison.baseline.judge == {}
    table = format_comparison(comparison)
    assert "judge grounded" in table and "—" in table.split("judge grounded")[1].splitlines()[0]
    assert "3 of 3 cases differ" in table
    html = render_html(comparison)
    assert html.count('<tr class="case') == 3 and "needs_review" in html


def test_an_unlabeled_side_case_has_no_score_and_a_labeled_one_is_scored() -> None:
    labeled = {"id": "x", "event": {}, "expected": {"can_answer": False}}
    case = Case("x", {"event_id": "e"}, labeled)
    got = Collected(result={"event_id": "e", "can_answer": False, "reason": "no data"},
                    outcome={"verdict": "pass", "scores": {}, "reasons": []})  # fmt: skip
    from processors.daemons.question_answering.evals import score

    assert side_case(case, got, score).score == 1.0
    assert side_case(case, None, score).score == 0.0
    assert side_case(Case("x", {"event_id": "e"}), got, score).score is None
