"""Smoke: one event per daemon through the real broker with the REAL embedded local model.

Small local models may well fail a check or run out of turns; what must hold is that the
event ends somewhere visible — a guardrail outcome plus run record, or a dead letter that
carries the failed run's record — and that nothing is lost.

Nothing here depends on how fast the model is: a busy or slow machine (CI beside another
CPU-heavy job) makes the run slow, not failed. The run has no wall-clock limit of its own
(only pytest's, far away), and the local provider waits for the model (it is on this
machine; a timed-out request would only be queued again behind itself)."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from processors.daemons import registry
from processors.daemons.base import Environment, build_daemon
from processors.daemons.environment import ApiTenantDirectory
from processors.kafka.clients import Contracts
from processors.llm.config import LLMSettings
from processors.llm.registry import load_model
from processors.reference import sample_app, serve_in_thread
from processors.runtime.daemon import RetryPolicy
from processors.runtime.runner import Runner
from processors.serde.json_codec import from_json
from processors.settings import Settings
from processors.testing.llm import TEST_THREADS, local_model_server, missing_extra
from processors.testing.runtime import RunnerThread, drain_topic, produce_events
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.openapi import OpenAPISource, load_document

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
KEY = "smoke-signing-key"
MODEL = "qwen2.5-coder-0.5b"  # the model CI installs (extra local-small)


@pytest.fixture(scope="module")
def local_llm() -> Iterator[str]:
    reason = missing_extra(MODEL)
    if reason:
        pytest.skip(reason)
    # a question grows past 4096 tokens; one thread: see TEST_THREADS
    with local_model_server(MODEL, ctx=8192, threads=TEST_THREADS) as base_url:
        yield base_url


RUN_SECONDS = 1500.0  # a bound for a stuck run, not a speed budget


@pytest.mark.timeout(RUN_SECONDS + 300)
@pytest.mark.parametrize("name", registry.names(of="process-daemons"))
def test_one_event_per_daemon_with_the_real_local_model(
    name: str, local_llm: str, isolated: Settings, topics: Contracts
) -> None:
    # Few turns: a smoke run on 2 CPU cores, not a quality measurement; no time budget.
    base = registry.use_case(name)
    limits = base.limits.model_copy(
        update={"max_turns": 3, "timeout_s": RUN_SECONDS, "max_corrections": 1}
    )
    use_case = dataclasses.replace(base, limits=limits)
    line = use_case.samples.read_text()  # type: ignore[union-attr]
    raw = json.loads(line.splitlines()[0])
    spec = topics.catalog.get(use_case.input_topic)
    produce_events(
        isolated, topics, use_case.input_topic,
        [from_json(topics.schemas.get(spec.value_schema).parsed, raw)],
    )  # fmt: skip
    model = load_model(f"local:{MODEL}", LLMSettings(local_base_url=local_llm))
    with serve_in_thread(sample_app(KEY.encode())) as api:
        credentials = HmacCredentialProvider(HmacCredentialSettings(key=KEY))  # type: ignore[arg-type]
        source = OpenAPISource(
            load_document(f"{api}/openapi.json"), base_url=api,
            client=httpx.AsyncClient(), credentials=credentials,
        )  # fmt: skip
        env = Environment(
            model=model, tool_sources=[source], tenants=ApiTenantDirectory(source["getClient"])
        )
        daemon = dataclasses.replace(
            build_daemon(use_case, env),
            group_id=f"{name}-{uuid.uuid4().hex[:8]}",
            retry=RetryPolicy(max_attempts=1),
        )
        with RunnerThread(Runner(daemon, isolated, topics, grace=60)):
            runs = _wait_for_run(isolated, topics, RUN_SECONDS + 120)
        outcomes = drain_topic(isolated, topics, "guardrails.outcomes", idle=1)
        letters = drain_topic(isolated, topics, f"{name}.dlq", idle=1)
        results = drain_topic(isolated, topics, use_case.output_topic, idle=1)
    (run,) = runs
    assert run["value"]["event_id"] == raw["event_id"]
    assert run["value"]["model"] == f"local:{MODEL}"
    assert run["value"]["model_calls"], "the real model was called"
    if run["value"]["outcome"] == "completed":
        (outcome,) = outcomes
        assert outcome["value"]["run_id"] == run["value"]["run_id"]
        assert len(results) == (1 if outcome["value"]["verdict"] == "pass" else 0)
        assert letters == []
    else:
        (letter,) = letters
        assert letter["value"]["error_type"] == run["value"]["error_type"]
        assert outcomes == [] and results == []


def _wait_for_run(
    settings: Settings, contracts: Contracts, seconds: float
) -> list[dict[str, object]]:
    """The run record, however long the run took (a run that ends any way writes one)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = drain_topic(settings, contracts, "daemons.runs", idle=2)
        if runs:
            return runs
    raise AssertionError(f"no run record within {seconds:.0f} s: the run is stuck")
