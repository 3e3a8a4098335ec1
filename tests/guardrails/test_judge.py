"""The judge: what it is shown, how its verdict is read, how it fails (never by crashing), and
the rule that a model never judges its own work."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from processors.agent.prompt import Prompt
from processors.daemons import registry
from processors.daemons.environment import judge_from_settings
from processors.errors import ConfigError, ProviderError
from processors.guardrails.judge import (
    VERDICT_TOOL,
    Judge,
    JudgeAnswer,
    ensure_independent,
    load_policy,
)
from processors.llm.fakes import FunctionModel, ScriptedModel, call, reply, tool_calls
from processors.llm.model import ModelRequest
from processors.settings import Settings
from processors.tools.evidence import ToolEvidence

USE_CASE = registry.use_case("question-answering")
TASK = Prompt.load(USE_CASE.prompts / "task.md")
# the holistic judge, as a use case without criteria gets it (the built-in daemons have them)
POLICY = Prompt.from_text(
    "Question answering policy:\n- Every amount must be a figure the tools returned.",
    name="judge_policy",
)
EVENT = {
    "event_id": "evt-1",
    "tenant_id": "t-ridgeline",
    "principal_id": "u-ridgeline-owner",
    "occurred_at": "2026-10-05T09:00:00Z",
    "question_id": "q-1",
    "question": "How much did we spend on green coffee in Q2 2026?",
    "conversation_id": None,
}
EVIDENCE = [ToolEvidence("aggregateSpend", {"tenant_id": "t-ridgeline"}, {"total": "5605.50"})]
OUTPUT = {"can_answer": True, "answer": "You spent $5605.50 on green coffee in 2026-Q2."}
GOOD = {
    "verdict": "pass",
    "scores": {"grounded": 0.95, "complete": 0.9, "policy": 1.0},
    "reasons": ["the only figure is the aggregateSpend total"],
}


def _evaluate(judge: Judge) -> Any:
    return asyncio.run(
        judge.evaluate(task=TASK, event=EVENT, output=OUTPUT, evidence=EVIDENCE, policy=POLICY)
    )


def test_a_reason_the_judge_repeats_is_kept_once_in_its_order() -> None:
    reasons = ["no revenue data", "no revenue data", "figures fine", "no revenue data"]
    answer = {**GOOD, "verdict": "fail", "reasons": reasons}
    judge = Judge(
        FunctionModel(lambda _: tool_calls(call(VERDICT_TOOL, answer)), name="local:j"),
        primary="local:x",
    )
    verdict = _evaluate(judge)
    assert verdict.verdict == "fail"
    assert verdict.reasons == ["no revenue data", "figures fine"]


def test_the_judge_sees_objective_evidence_response_and_policy_and_is_forced_to_the_schema() -> (
    None
):
    seen: list[ModelRequest] = []

    def respond(request: ModelRequest) -> Any:
        seen.append(request)
        return tool_calls(call(VERDICT_TOOL, GOOD))

    judge = Judge(FunctionModel(respond, name="local:qwen2.5-coder-0.5b"), primary="local:x")
    verdict = _evaluate(judge)

    assert verdict.verdict == "pass"
    assert verdict.scores == GOOD["scores"]
    assert verdict.reasons == GOOD["reasons"]
    assert verdict.judge_model == "local:qwen2.5-coder-0.5b"
    assert verdict.policy_version == POLICY.version and verdict.error is None
    (request,) = seen
    assert request.tool_choice == VERDICT_TOOL
    assert [t.name for t in request.tools] == [VERDICT_TOOL]
    assert request.tools[0].parameters == JudgeAnswer.model_json_schema()
    assert request.response_schema == JudgeAnswer.model_json_schema()
    user = request.messages[-1].content
    assert '<untrusted source="event">' in user and f"Question: {EVENT['question']}" in user
    assert '<untrusted source="tool:aggregateSpend"' in user and "5605.50" in user
    assert '<untrusted source="response">' in user
    # the policy is the daemon's, the same for every event: with the instructions, the
    # cacheable prefix; the event's data follows it
    system = request.messages[0].content
    assert POLICY.text.strip() in system and POLICY.text.strip() not in user
    assert request.cache_prefix == 1 and EVENT["question"] not in system


def test_a_verdict_given_as_json_text_is_read_too() -> None:
    text = "```json\n" + json.dumps({**GOOD, "verdict": "fail"}) + "\n```"
    judge = Judge(ScriptedModel([reply(text)], name="openai:gpt-4.1-mini"), primary="local:x")
    assert _evaluate(judge).verdict == "fail"


@pytest.mark.parametrize(
    "answer",
    [
        tool_calls(call(VERDICT_TOOL, {**GOOD, "verdict": "maybe"})),
        tool_calls(
            call(VERDICT_TOOL, {**GOOD, "scores": {"grounded": 1.5, "complete": 1, "policy": 1}})
        ),
        tool_calls(call(VERDICT_TOOL, {**GOOD, "reasons": []})),
        tool_calls(call("listAccounts", {})),
        reply("looks fine to me"),
    ],
    ids=["unknown-verdict", "score-out-of-range", "no-reasons", "other-tool", "prose"],
)
def test_an_invalid_verdict_becomes_needs_review_with_a_judge_error(answer: Any) -> None:
    judge = Judge(ScriptedModel([answer], name="local:judge"), primary="local:primary")
    verdict = _evaluate(judge)
    assert verdict.verdict == "needs_review"
    assert verdict.error is not None
    assert verdict.reasons[0].startswith("judge error: ")
    assert verdict.scores == {}


def test_a_failing_judge_model_becomes_needs_review_not_a_crash() -> None:
    def broken(request: ModelRequest) -> Any:
        raise ProviderError("HTTP 500 from judge", status=500, provider="local")

    judge = Judge(FunctionModel(broken, name="local:judge"), primary="local:primary")
    verdict = _evaluate(judge)
    assert verdict.verdict == "needs_review"
    assert "ProviderError" in verdict.reasons[0] and "HTTP 500" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("judge", "primary"),
    [
        ("local:qwen2.5-coder-1.5b", "local:qwen2.5-coder-1.5b"),
        ("openai:gpt-4.1-mini", "OpenAI:GPT-4.1-mini"),
        ("openai-compatible:http://a:1/v1#m", "openai-compatible:http://b:2/v1#m"),
    ],
)
def test_a_judge_equal_to_the_primary_model_is_refused(judge: str, primary: str) -> None:
    with pytest.raises(ConfigError, match="must not judge its own work"):
        ensure_independent(judge, primary)
    with pytest.raises(ConfigError, match="DAEMONS_JUDGE_MODEL"):
        Judge(ScriptedModel([], name=judge), primary=primary)


def test_a_different_model_or_provider_may_judge() -> None:
    ensure_independent("local:qwen2.5-coder-0.5b", "local:qwen2.5-coder-1.5b")
    ensure_independent("openai:qwen2.5-coder-1.5b", "local:qwen2.5-coder-1.5b")


def test_settings_pair_the_local_models_and_refuse_a_self_judge() -> None:
    small, big = "local:qwen2.5-coder-0.5b", "local:qwen2.5-coder-1.5b"
    assert Settings(model=big).judge_model_name() == small
    assert Settings(model=small).judge_model_name() == big
    assert Settings(model="openai:gpt-4.1-mini").judge_model_name() is None
    assert Settings(model=big, judge_model="none").judge_model_name() is None
    env = {"DAEMONS_MODEL": "openai:gpt-4.1", "DAEMONS_JUDGE_MODEL": "anthropic:claude-haiku-4-5"}
    assert Settings.from_env(env).judge_model_name() == "anthropic:claude-haiku-4-5"
    with pytest.raises(ConfigError, match="must not judge its own work"):
        judge_from_settings(Settings(model=big, judge_model=big))


def test_a_local_judge_is_reached_on_its_own_server() -> None:
    settings = Settings.from_env(
        {
            "DAEMONS_MODEL": "local:qwen2.5-coder-1.5b",
            "DAEMONS_JUDGE_LOCAL_LLM_URL": "http://127.0.0.1:18091/v1",
        }
    )
    judge = judge_from_settings(settings)
    assert judge is not None
    assert judge.name == "local:qwen2.5-coder-0.5b"
    assert "127.0.0.1:18091" in repr(judge.model)
    assert settings.llm.local_base_url != settings.judge_local_url  # the primary is untouched


@pytest.mark.parametrize("name", registry.names(of="process-daemons"))
def test_every_daemon_has_versioned_criteria_or_a_judge_policy(name: str) -> None:
    use_case = registry.use_case(name)
    if use_case.criteria is not None:
        assert use_case.criteria.items and len(use_case.criteria.version) == 12
        return
    policy = load_policy(use_case.prompts)
    assert policy.name == "judge_policy" and len(policy.version) == 12 and policy.text.strip()


def test_a_use_case_without_criteria_needs_its_policy() -> None:
    judge = Judge(ScriptedModel([], name="local:judge"), primary="local:x")
    with pytest.raises(ConfigError, match="criteria or its judge policy"):
        asyncio.run(judge.evaluate(task=TASK, event=EVENT, output=OUTPUT, evidence=EVIDENCE))


class _ConstrainedEngine:
    """Plays llama.cpp behind the local server: checks the grammar it is given allows only the
    verdict call, and answers with a verdict inside that grammar."""

    model_id = "qwen2.5-coder-0.5b"

    def __init__(self) -> None:
        self.schemas: list[dict[str, Any]] = []

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        schema = body["response_format"]["json_schema"]["schema"]
        self.schemas.append(schema)
        content = json.dumps({"tool": VERDICT_TOOL, "arguments": GOOD})
        return {"choices": [{"message": {"content": content}, "finish_reason": "stop"}]}


def test_the_local_server_constrains_the_judge_to_the_verdict_call_only() -> None:
    from processors.llm.local.server import complete
    from processors.llm.openai import build_body, parse_response

    engine = _ConstrainedEngine()

    async def served(request: ModelRequest) -> Any:
        message, _usage, _finish = parse_response(
            complete(engine, build_body(request, engine.model_id)), "local"
        )
        return message

    judge = Judge(FunctionModel(served, name="local:qwen2.5-coder-0.5b"), primary="local:x")
    verdict = _evaluate(judge)

    assert verdict.verdict == "pass" and verdict.error is None
    (schema,) = engine.schemas
    assert "anyOf" not in schema  # one branch: the verdict call; no free-text answer allowed
    assert schema["properties"]["tool"] == {"const": VERDICT_TOOL}
    arguments = schema["properties"]["arguments"]
    assert set(arguments["required"]) == {"verdict", "scores", "reasons"}
    assert arguments["properties"]["verdict"]["enum"] == ["pass", "fail", "needs_review"]
