"""The progress span processor: stages from the open spans, bounded memory, the real agent
loop's span names and attributes, and ``GET /progress`` over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from pydantic import BaseModel

from processors import telemetry
from processors.agent import Agent, Prompt
from processors.agent.fakes import FunctionTool
from processors.llm.fakes import FunctionModel, call, reply, tool_calls
from processors.llm.model import ModelRequest
from processors.runtime.health import HealthServer
from processors.runtime.metrics import RuntimeMetrics
from processors.telemetry.progress import ProgressTracker
from processors.tools.base import CallContext

S = 1_000_000_000  # nanoseconds per second: span times are given explicitly below
T0 = 1_700_000_000


class Tracked:
    """A tracer whose spans go to a tracker (and to memory, like an exporter would)."""

    def __init__(self, **limits: int) -> None:
        self.progress = ProgressTracker(clock=lambda: T0 + 1000.0, **limits)
        self.exported = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(self.progress)
        provider.add_span_processor(SimpleSpanProcessor(self.exported))
        self.tracer = provider.get_tracer("test")

    def events(self) -> list[dict[str, Any]]:
        return list(self.progress.snapshot()["events"])

    def only(self) -> dict[str, Any]:
        (event,) = self.events()
        return event

    def stage(self) -> tuple[str, str | None, int | None]:
        event = self.only()
        return event["stage"], event["detail"], event["call"]

    def consumer(self, at: float, parent: trace.Span | None = None) -> trace.Span:
        """The runtime's CONSUMER span, its parent the (remote) upstream producer's."""
        upstream = parent or NonRecordingSpan(
            SpanContext(0xA1, 0xB2, is_remote=True, trace_flags=trace.TraceFlags(1))
        )
        return self.tracer.start_span(
            "process vendors.discovered", context=trace.set_span_in_context(upstream),
            kind=SpanKind.CONSUMER, start_time=int(at * S),
        )  # fmt: skip

    def child(self, parent: trace.Span, name: str, at: float, **kw: Any) -> trace.Span:
        return self.tracer.start_span(
            name, context=trace.set_span_in_context(parent), start_time=int(at * S), **kw
        )


def _end(span: trace.Span, at: float, **attributes: Any) -> None:
    span.set_attributes(attributes)
    span.end(end_time=int(at * S))


def test_one_event_goes_through_every_stage_and_is_forgotten_when_its_root_ends() -> None:
    t = Tracked()
    root = t.consumer(T0 + 0)
    assert t.only()["event_id"] is None and t.stage() == ("received", None, None)
    assert t.only()["topic"] == "vendors.discovered"
    assert t.only()["trace_id"] == f"{0xA1:032x}"  # the upstream's trace goes on
    check = t.child(root, "GET /tenants/{tenant_id}/client", T0 + 1, kind=SpanKind.CLIENT)
    assert t.stage() == ("received", None, None)  # a span that tells no stage
    _end(check, T0 + 2)

    agent = t.child(
        root, "invoke_agent vendor-enrichment", T0 + 2, attributes={"daemons.event_id": "ev-1"}
    )
    event = t.only()
    assert event["event_id"] == "ev-1" and event["attempt"] == 1
    assert t.stage() == ("gathering", None, None) and event["stage_started"] == T0 + 2
    tool = t.child(agent, "execute_tool searchDirectory", T0 + 3)
    assert t.stage() == ("gathering", "searchDirectory", None)
    http = t.child(tool, "GET /directory/search", T0 + 3.5, kind=SpanKind.CLIENT)
    assert t.stage() == ("gathering", "searchDirectory", None)  # the tool's HTTP call
    _end(http, T0 + 4)
    _end(tool, T0 + 4)

    chat = t.child(agent, "chat qwen2.5-coder-1.5b", T0 + 5, kind=SpanKind.CLIENT)
    assert t.stage() == ("model call", "qwen2.5-coder-1.5b", 1)
    assert t.only()["stage_started"] == T0 + 5
    _end(chat, T0 + 40, **{"gen_ai.usage.input_tokens": 1653, "gen_ai.usage.output_tokens": 90,
                           "gen_ai.usage.cache_read.input_tokens": 1200})  # fmt: skip
    event = t.only()
    assert t.stage() == ("tools", None, None) and event["last_activity"] == T0 + 40
    assert (event["model_calls"], event["input_tokens"], event["output_tokens"]) == (1, 1653, 90)
    assert event["calls"] == [{
        "model": "qwen2.5-coder-1.5b", "judge": False, "input_tokens": 1653,
        "cached_input_tokens": 1200, "output_tokens": 90, "seconds": 35.0, "failed": False,
    }]  # fmt: skip
    chat = t.child(agent, "chat qwen2.5-coder-1.5b", T0 + 41, kind=SpanKind.CLIENT)
    assert t.stage() == ("model call", "qwen2.5-coder-1.5b", 2)
    _end(chat, T0 + 50, **{"gen_ai.usage.input_tokens": 1800, "gen_ai.usage.output_tokens": 60})
    _end(agent, T0 + 50)
    assert t.stage() == ("publish", None, None)  # the agent is done, the guardrails not begun

    guard = t.child(root, "guardrails vendor-enrichment", T0 + 51)
    assert t.stage() == ("judge", None, None)
    judge = t.child(guard, "chat qwen2.5-coder-0.5b", T0 + 52, kind=SpanKind.CLIENT)
    assert t.stage() == ("judge", "qwen2.5-coder-0.5b", 1)
    _end(judge, T0 + 60, **{"gen_ai.usage.input_tokens": 900, "gen_ai.usage.output_tokens": 30})
    _end(guard, T0 + 60)
    assert t.only()["calls"][-1]["judge"] is True
    write = t.child(root, "execute_tool upsertVendor", T0 + 61)
    assert t.stage() == ("write back", "upsertVendor", None)
    _end(write, T0 + 62)
    send = t.child(root, "send demo.vendors.enriched", T0 + 63, kind=SpanKind.PRODUCER)
    assert t.stage() == ("publish", None, None) and t.only()["stage_started"] == T0 + 62
    _end(send, T0 + 63)
    event = t.only()
    assert (event["model_calls"], event["input_tokens"], event["output_tokens"]) == (3, 4353, 180)
    _end(root, T0 + 64)
    assert t.events() == []
    assert t.progress.snapshot()["now"] == T0 + 1000.0


def test_a_failed_agent_run_waits_for_its_retry_which_counts_as_a_new_attempt() -> None:
    t = Tracked()
    root = t.consumer(T0)
    agent = t.child(root, "invoke_agent qa", T0 + 1, attributes={"daemons.event_id": "ev-2"})
    chat = t.child(agent, "chat m", T0 + 2, kind=SpanKind.CLIENT)
    chat.set_status(Status(StatusCode.ERROR))
    _end(chat, T0 + 3)
    agent.set_status(Status(StatusCode.ERROR))
    _end(agent, T0 + 3)
    assert t.stage() == ("retry wait", None, None)
    assert t.only()["calls"][0]["failed"] is True
    again = t.child(root, "invoke_agent qa", T0 + 10, attributes={"daemons.event_id": "ev-2"})
    assert t.stage() == ("gathering", None, None) and t.only()["attempt"] == 2
    t.child(again, "chat m", T0 + 11, kind=SpanKind.CLIENT)
    assert t.stage() == ("model call", "m", 1)  # numbered within the attempt
    assert t.only()["model_calls"] == 1  # the failed call is still counted as finished


def test_spans_outside_an_event_are_not_tracked() -> None:
    t = Tracked()
    served = t.tracer.start_span("GET /openapi.json", kind=SpanKind.SERVER)
    t.child(served, "execute_tool x", T0)
    t.tracer.start_span("send demo.x", kind=SpanKind.PRODUCER)  # a producer's own root
    assert t.events() == []
    _end(served, T0 + 1)
    assert t.events() == []


def test_an_agent_run_outside_the_runtime_is_its_own_event() -> None:
    t = Tracked()
    agent = t.tracer.start_span(
        "invoke_agent qa", attributes={"daemons.event_id": "ev-3"}, start_time=T0 * S
    )
    assert t.only()["event_id"] == "ev-3" and t.only()["topic"] is None
    assert t.stage() == ("gathering", None, None)
    _end(agent, T0 + 1)
    assert t.events() == []


def test_events_sharing_an_upstream_trace_are_kept_apart() -> None:
    t = Tracked()
    first, second = t.consumer(T0), t.consumer(T0 + 1)
    t.child(first, "invoke_agent a", T0 + 2, attributes={"daemons.event_id": "ev-a"})
    t.child(second, "invoke_agent a", T0 + 3, attributes={"daemons.event_id": "ev-b"})
    events = t.events()
    assert [e["event_id"] for e in events] == ["ev-a", "ev-b"]
    assert events[0]["trace_id"] == events[1]["trace_id"]
    _end(first, T0 + 4)
    assert [e["event_id"] for e in t.events()] == ["ev-b"]


def test_memory_is_bounded_in_events_calls_and_open_spans() -> None:
    t = Tracked(max_events=2, max_calls=2, max_open=3)
    roots = [t.consumer(T0 + i) for i in range(3)]
    assert [e["started"] for e in t.events()] == [T0 + 1, T0 + 2]  # the oldest dropped
    late = t.child(roots[0], "invoke_agent x", T0 + 5)  # under a forgotten event: ignored
    _end(late, T0 + 6)
    _end(roots[0], T0 + 7)
    assert len(t.events()) == 2
    agent = t.child(roots[2], "invoke_agent x", T0 + 8, attributes={"daemons.event_id": "e"})
    for i in range(3):
        chat = t.child(agent, "chat m", T0 + 9 + i, kind=SpanKind.CLIENT)
        _end(chat, T0 + 9.5 + i, **{"gen_ai.usage.input_tokens": 10})
    event = t.events()[-1]
    assert event["model_calls"] == 3 and event["input_tokens"] == 30  # every call counted
    assert len(event["calls"]) == 2  # only the last two kept
    tool = t.child(agent, "execute_tool a", T0 + 20)  # open: root, agent, tool = max_open
    t.child(tool, "chat deep", T0 + 21, kind=SpanKind.CLIENT)  # beyond it: not tracked
    assert t.events()[-1]["stage"] == "tools" and t.events()[-1]["detail"] == "a"
    for root in roots[1:]:
        _end(root, T0 + 30)
    assert t.events() == [] and t.progress._owner == {}


class _Profile(BaseModel):
    name: str


def test_the_real_agent_loop_names_its_stages_and_event() -> None:
    """Stages seen from inside the model and the tool of a real agent run."""
    t = Tracked()
    seen: list[tuple[str, str | None, int | None, str | None]] = []

    def look() -> None:
        event = t.only()
        seen.append((event["stage"], event["detail"], event["call"], event["event_id"]))

    def model(request: ModelRequest) -> Any:
        look()
        if len(seen) == 1:
            return tool_calls(call("search_directory", {"query": "ACME"}))
        return reply({"name": "Acme Corp"})

    def search(arguments: dict[str, Any], ctx: CallContext) -> Any:
        look()
        return {"matches": [{"name": "Acme Corp"}]}

    agent = Agent(
        daemon="vendor-enrichment", model=FunctionModel(model, name="local:tiny-model"),
        instructions=Prompt.from_text("Enrich vendors.", name="sys"),
        task=Prompt.from_text("Enrich {vendor}", name="task"), output_type=_Profile,
        tools=[FunctionTool("search_directory", search, input_schema={
            "type": "object", "properties": {"query": {"type": "string"}},
        })], tracer=t.tracer,
    )  # fmt: skip
    ctx = CallContext(tenant_id="t-1", principal_id="u-1", event_id="ev-real", run_id="r-1")
    asyncio.run(agent.run({"vendor": "ACME"}, ctx))
    assert seen == [
        ("model call", "tiny-model", 1, "ev-real"),
        ("tools", "search_directory", None, "ev-real"),
        ("model call", "tiny-model", 2, "ev-real"),
    ]
    assert t.events() == []  # the agent span was the root here: forgotten when it ended
    names = [s.name for s in t.exported.get_finished_spans()]
    assert names[-1] == "invoke_agent vendor-enrichment"


@pytest.fixture
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                 "OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_SDK_DISABLED"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_otel_env")
def test_configured_telemetry_tracks_progress_with_no_exporter() -> None:
    otel = telemetry.configure("vendor-enrichment", "g", install=False)
    try:
        assert otel.exporters == ()
        tracer = otel.tracer_provider.get_tracer("runtime")
        root = tracer.start_span("process vendors.discovered", kind=SpanKind.CONSUMER)
        assert [e["stage"] for e in otel.progress.snapshot()["events"]] == ["received"]
        root.end()
        assert otel.progress.snapshot()["events"] == []
    finally:
        otel.shutdown()


def test_progress_is_served_as_json_over_http() -> None:
    t = Tracked()
    root = t.consumer(T0)
    t.child(root, "invoke_agent vendor-enrichment", T0 + 1, attributes={"daemons.event_id": "e"})
    metrics = RuntimeMetrics("vendor-enrichment", "g")
    with HealthServer(metrics, port=0, progress=t.progress.snapshot) as health:
        response = httpx.get(f"{health.url}/progress", timeout=5)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["daemon"] == "vendor-enrichment" and body["now"] == T0 + 1000.0
        assert [(e["event_id"], e["stage"]) for e in body["events"]] == [("e", "gathering")]
        _end(root, T0 + 2)
        assert httpx.get(f"{health.url}/progress", timeout=5).json()["events"] == []
    with HealthServer(metrics, port=0) as bare:
        assert httpx.get(f"{bare.url}/progress", timeout=5).status_code == 404


def test_daemons_run_serves_its_tracked_progress_on_the_health_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``daemons run --health-port``: the process's own tracker answers ``/progress`` while
    the runner runs (the runner is a stand-in that asks over HTTP from inside its run)."""
    import argparse
    import types

    from processors.cli import run as cli_run
    from processors.settings import Settings

    t = Tracked()
    answers: list[dict[str, Any]] = []

    class Runner:
        def __init__(self, daemon: Any, *args: Any, heartbeat: Any, **kwargs: Any) -> None:
            self.daemon, self.mode, self.health = daemon, "alo", heartbeat.__self__

        def stalled(self) -> str | None:
            return None

        async def run(self, stop: asyncio.Event) -> None:
            root = t.consumer(T0)
            t.child(root, "invoke_agent d", T0 + 1, attributes={"daemons.event_id": "ev-run"})
            url = f"http://127.0.0.1:{self.health.port}/progress"
            answers.append(await asyncio.to_thread(lambda: httpx.get(url, timeout=5).json()))

    monkeypatch.setattr(cli_run, "Runner", Runner)
    args = argparse.Namespace(
        health_port=0, concurrency=1, mode="alo", grace=1.0, stall_after=600.0, instance=None
    )
    daemon = types.SimpleNamespace(name="d", group_id="g")
    metrics = RuntimeMetrics("d", "g")
    code = cli_run._run_daemon(args, Settings.from_env(), daemon, metrics, t.progress)
    assert code == 0
    (body,) = answers
    assert body["daemon"] == "d"
    assert [(e["event_id"], e["stage"]) for e in body["events"]] == [("ev-run", "gathering")]
