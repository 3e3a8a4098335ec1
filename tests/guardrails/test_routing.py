"""Routing by verdict through the real broker, with scripted primary and judge models and the
reference API over real HTTP: pass → the output topic, fail → withheld, needs_review → the
review topic; every verdict on guardrails.outcomes; notifications reach a real loopback
webhook; a dead webhook changes nothing for the daemon."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from processors.agent import Limits
from processors.daemons import registry
from processors.daemons.base import Environment, build_daemon
from processors.daemons.environment import ApiTenantDirectory
from processors.daemons.question_answering.criteria import NOT_HELD
from processors.daemons.review import decide
from processors.errors import ProviderError
from processors.guardrails.judge import CRITERION_TOOL, Judge
from processors.guardrails.review import pending
from processors.guardrails.routing import output_id
from processors.kafka.clients import Contracts
from processors.llm.fakes import FunctionModel, call, reply, tool_calls
from processors.llm.model import AssistantMessage, ModelRequest, ToolResultMessage
from processors.notify import WebhookNotifier
from processors.reference import sample_app, serve_in_thread
from processors.runtime.runner import Runner
from processors.serde.json_codec import from_json
from processors.settings import Settings
from processors.testing.runtime import RunnerThread, drain_topic, produce_events, read_topic
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.openapi import OpenAPISource, load_document
from tests.guardrails.webhook import webhook

pytestmark = pytest.mark.kafka
KEY = "routing-signing-key"
# The question-answering daemon with a model that writes its answer itself (its shipped model
# only fills a query and code writes the answer, which leaves no invented figure for a check
# to catch): so one event fails a deterministic check and the judge is skipped.
USE_CASE = dataclasses.replace(
    registry.use_case("question-answering"), answer_type=None, resolve=None,
    answer_schema=None, task_notes=None, follow_up=None, limits=Limits(max_turns=4),
)  # fmt: skip
CANNOT = {
    "can_answer": False,
    "answer": "The books do not show that.",
    "reason": "No figures in the ledger answer this question.",
}
INVENTED = {
    "can_answer": True,
    "answer": "You spent 999.00 on that.",
    "figures": [{"label": "Made up", "amount": "999.00", "record_ids": []}],
}
# question → what the judge says ("raise": the judge model fails)
JUDGE_SAYS = {
    "Will revenue grow in 2031?": "pass",
    "Will revenue grow in 2032?": "fail",
    "Will revenue grow in 2033?": "needs_review",
    "Will revenue grow in 2034?": "raise",
}


def primary(request: ModelRequest) -> AssistantMessage:
    if not any(isinstance(m, ToolResultMessage) for m in request.messages):
        return tool_calls(call("listAccounts", {"tenant_id": "t-ridgeline"}))
    invented = "How much did we spend on nothing?" in request.messages[request.cache_prefix].content
    return reply(INVENTED if invented else CANNOT)


def judge_model(request: ModelRequest) -> AssistantMessage:
    """The judge's read of what a refused question asks about (the one criterion a refusal
    gets): something the books do not hold (pass), an account (fail), or unsure."""
    user = request.messages[-1].content
    (verdict,) = [v for q, v in JUDGE_SAYS.items() if q in user]
    if verdict == "raise":
        raise ProviderError("judge server answered HTTP 400", status=400, provider="local")
    enum = request.response_schema["properties"]["answer"]["enum"]
    read = {"pass": NOT_HELD, "fail": enum[0], "needs_review": "unsure"}[verdict]
    return tool_calls(call(CRITERION_TOOL, {"reason": f"judged {verdict}", "answer": read}))


# how the outcome's reasons start for each judge's verdict
REASONS = {
    "pass": "cannot_answer_justified: yes",
    "fail": "cannot_answer_justified: no — read 'account: Operating checking' where the output",
    "needs_review": "cannot_answer_justified: unsure — judged needs_review",
}


def _event(event_id: str, question: str, tenant: str = "t-ridgeline") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "tenant_id": tenant,
        "principal_id": "u-ridgeline-owner",
        "occurred_at": "2026-10-05T09:00:00Z",
        "question_id": f"q-{event_id}",
        "question": question,
        "conversation_id": None,
    }


@pytest.fixture
def api() -> Iterator[str]:
    with serve_in_thread(sample_app(KEY.encode())) as url:
        yield url


def _environment(url: str, judge: FunctionModel, notifier: WebhookNotifier) -> Environment:
    credentials = HmacCredentialProvider(HmacCredentialSettings(key=KEY))  # type: ignore[arg-type]
    source = OpenAPISource(
        load_document(f"{url}/openapi.json"),
        base_url=url,
        client=httpx.AsyncClient(),
        credentials=credentials,
    )
    return Environment(
        model=FunctionModel(primary, name="local:qwen2.5-coder-1.5b"),
        tool_sources=[source],
        tenants=ApiTenantDirectory(source["getClient"]),
        judge=Judge(judge, primary="local:qwen2.5-coder-1.5b"),
        notifier=notifier,
    )


def _produce(settings: Settings, contracts: Contracts, events: list[dict[str, Any]]) -> None:
    spec = contracts.catalog.get(USE_CASE.input_topic)
    schema = contracts.schemas.get(spec.value_schema).parsed
    produce_events(
        settings, contracts, USE_CASE.input_topic, [from_json(schema, e) for e in events]
    )


def _runner(env: Environment, settings: Settings, contracts: Contracts) -> Runner:
    daemon = build_daemon(USE_CASE, env)
    daemon = dataclasses.replace(daemon, group_id=f"qa-{uuid.uuid4().hex[:8]}")
    return Runner(daemon, settings, contracts)


def test_verdicts_route_results_and_reach_the_team(
    api: str, isolated: Settings, topics: Contracts
) -> None:
    events = [
        _event("e-pass", "Will revenue grow in 2031?"),
        _event("e-fail", "Will revenue grow in 2032?"),
        _event("e-review", "Will revenue grow in 2033?"),
        _event("e-judge-error", "Will revenue grow in 2034?"),
        _event("e-check-fail", "How much did we spend on nothing?"),
        _event("e-unknown", "Will revenue grow in 2031?", tenant="t-nobody"),
    ]
    _produce(isolated, topics, events)
    judge = FunctionModel(judge_model, name="local:qwen2.5-coder-0.5b")
    with webhook() as hook:
        notifier = WebhookNotifier(hook.url)
        with RunnerThread(_runner(_environment(api, judge, notifier), isolated, topics)):
            outcomes = read_topic(isolated, topics, "guardrails.outcomes", expected=5)
            (result,) = read_topic(isolated, topics, USE_CASE.output_topic, expected=1)
            held = read_topic(isolated, topics, "guardrails.review", expected=2)
            (letter,) = read_topic(isolated, topics, "question-answering.dlq", expected=1)
            posts = hook.wait_for(4)

    by_event = {o["value"]["event_id"]: o["value"] for o in outcomes}
    assert {e: o["verdict"] for e, o in by_event.items()} == {
        "e-pass": "pass",
        "e-fail": "fail",
        "e-review": "needs_review",
        "e-judge-error": "needs_review",
        "e-check-fail": "fail",
    }
    for event_id in ("e-pass", "e-fail", "e-review"):
        outcome = by_event[event_id]
        assert outcome["judge_model"] == "local:qwen2.5-coder-0.5b"
        assert set(outcome["scores"]) == {"cannot_answer_justified"}
        (reason,) = outcome["reasons"]
        assert reason.startswith(REASONS[outcome["verdict"]]), reason
        assert len(outcome["trace_id"]) == 32 and outcome["run_id"]
    assert by_event["e-judge-error"]["reasons"][0].startswith(
        "judge error: criterion cannot_answer_justified: ProviderError"
    )
    check_fail = by_event["e-check-fail"]
    assert check_fail["judge_model"] is None and check_fail["scores"] == {}  # judge skipped
    assert any(r.startswith("numeric_grounding") for r in check_fail["reasons"])
    assert len(judge.requests) == 4  # never asked about the check failure or the dead letter

    assert result["value"]["event_id"] == "e-pass"
    assert result["value"]["run_id"] == by_event["e-pass"]["run_id"]
    assert result["value"]["output_id"] == output_id("e-pass", USE_CASE.output_topic)

    held_by_event = {h["value"]["event_id"]: h["value"] for h in held}
    assert set(held_by_event) == {"e-review", "e-judge-error"}
    review = held_by_event["e-review"]
    assert review["run_id"] == by_event["e-review"]["run_id"]
    assert review["trace_id"] == by_event["e-review"]["trace_id"]
    assert review["target_topic"] == USE_CASE.output_topic and review["daemon"] == USE_CASE.name
    assert review["output_id"] == output_id("e-review", USE_CASE.output_topic)
    assert json.loads(review["output_json"])["question_id"] == "q-e-review"
    assert review["reasons"] == [REASONS["needs_review"]]
    assert letter["value"]["event_id"] == "e-unknown"

    kinds = sorted(p["text"].split(" (")[0] for p in posts)
    assert kinds == sorted(
        [
            "Guardrail blocked a result",
            "Guardrail blocked a result",
            "Judge failed: result held for review",
            "Event dead-lettered",
        ]
    ), [p["text"] for p in posts]
    fail_post = next(p for p in posts if by_event["e-fail"]["run_id"] in p["text"])
    assert (
        "t-ridgeline" in fail_post["text"] and by_event["e-fail"]["trace_id"] in fail_post["text"]
    )
    dead = next(p for p in posts if p["text"].startswith("Event dead-lettered"))
    assert "t-nobody" in dead["text"] and "UnknownTenant" in dead["text"]

    # A person approves the held result: published once, however often approved.
    assert {h.run_id for h in pending(isolated, topics)} == {
        review["run_id"],
        held_by_event["e-judge-error"]["run_id"],
    }
    first = decide(isolated, topics, review["run_id"], "approve", reviewer="u-reviewer")
    second = decide(isolated, topics, review["run_id"], "approve", reviewer="u-reviewer")
    assert (first.published, second.published) == (True, False)
    answered = drain_topic(isolated, topics, USE_CASE.output_topic, idle=2.0)
    approved = [a["value"] for a in answered if a["value"]["event_id"] == "e-review"]
    assert len(approved) == 1 and len(answered) == 2
    assert approved[0]["output_id"] == review["output_id"]
    assert approved[0]["run_id"] == review["run_id"]
    assert [h.run_id for h in pending(isolated, topics)] == [
        held_by_event["e-judge-error"]["run_id"]
    ]


def test_a_dead_webhook_does_not_stop_the_daemon(
    api: str, isolated: Settings, topics: Contracts
) -> None:
    _produce(
        isolated,
        topics,
        [
            _event("e-fail", "Will revenue grow in 2032?"),
            _event("e-unknown", "Will revenue grow in 2031?", tenant="t-nobody"),
            _event("e-pass", "Will revenue grow in 2031?"),
        ],
    )
    notifier = WebhookNotifier("http://127.0.0.1:9/hooks/secret", timeout=0.5)
    judge = FunctionModel(judge_model, name="local:qwen2.5-coder-0.5b")
    with RunnerThread(_runner(_environment(api, judge, notifier), isolated, topics)):
        outcomes = read_topic(isolated, topics, "guardrails.outcomes", expected=2)
        (result,) = read_topic(isolated, topics, USE_CASE.output_topic, expected=1)
        read_topic(isolated, topics, "question-answering.dlq", expected=1)
    assert sorted(o["value"]["verdict"] for o in outcomes) == ["fail", "pass"]
    assert result["value"]["event_id"] == "e-pass"
    assert notifier.counts["failed"] >= 1 and notifier.counts["sent"] == 0
