"""Replay the same events through a daemon under one configuration, into shadow topics.

    cases_from_eval_set(path, ...) / cases_from_topic_ranges(ranges, ...) -> [Case]
    replay(use_case, config, cases, settings, ...)                        -> SideResult

For each side, every topic the daemon touches is created under its own prefix
``<settings prefix>shadow.<config>.<run>.`` (``shadow.candidate.1a2b3c.questions.answered``):
the events are produced to the shadow input topic, the daemon runs through the real runtime
(:class:`~processors.runtime.runner.Runner`) in a consumer group of its own, and its shadow
result, guardrail outcome, run record and dead-letter topics are read
back until every event reached a final state. Production topics are only ever read (for
``--topic-range``), never written. By default tools are served by a fresh in-process reference
ledger API per side, so one side's write-backs cannot change what the other sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from pydantic import SecretStr

from processors.catalog import Catalog
from processors.compare.config import CompareConfig, load_config_model
from processors.daemons.base import Environment, UseCase, build_daemon
from processors.daemons.environment import ApiTenantDirectory
from processors.errors import BrokerError, ConfigError
from processors.guardrails.judge import Judge, ensure_independent
from processors.kafka.admin import apply_topics
from processors.kafka.clients import (
    Contracts,
    admin_client,
    consumer_config,
    ephemeral_group,
    producer_config,
)
from processors.runtime.daemon import Daemon
from processors.runtime.runner import Runner
from processors.serde.json_codec import from_json
from processors.settings import Settings
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.openapi import OpenAPISource, load_document
from processors.tracing import inject_headers

log = logging.getLogger("processors.compare")


@dataclass(frozen=True)
class Case:
    """One event to replay; ``labeled`` is its eval case (``id``, ``event``, ``expected``)."""

    case_id: str
    event: dict[str, Any]  # the Avro datum
    labeled: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class TopicRange:
    topic: str
    partition: int
    start: int
    end: int  # inclusive

    @classmethod
    def parse(cls, text: str) -> TopicRange:
        """``TOPIC:PARTITION:START-END`` (offsets inclusive)."""
        topic, _, rest = text.rpartition(":")
        topic, _, partition = topic.rpartition(":")
        start, dash, end = rest.partition("-")
        try:
            parsed = cls(topic, int(partition), int(start), int(end))
        except ValueError:
            parsed = None
        if (
            not topic
            or not dash
            or parsed is None
            or min(parsed.partition, parsed.start) < 0
            or parsed.start > parsed.end
        ):
            raise ConfigError(f"topic range {text!r} must look like TOPIC:PARTITION:START-END")
        return parsed


@dataclass
class Collected:
    """What one event produced in a side's shadow topics."""

    result: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    dead_letter: dict[str, Any] | None = None

    @property
    def final(self) -> bool:
        if self.dead_letter is not None:
            return True
        if self.outcome is None or not self.runs:
            return False
        return self.outcome["verdict"] != "pass" or self.result is not None


@dataclass(frozen=True)
class SideResult:
    """One configuration's replay: its shadow topics and what each event produced."""

    config: CompareConfig
    model: str
    prefix: str
    topics: dict[str, str]  # logical -> physical shadow topic
    records_read: dict[str, int]  # logical -> records read back
    by_event: dict[str, Collected]
    wall_s: float
    timed_out: bool


def cases_from_eval_set(path: Path, use_case: UseCase[Any], contracts: Contracts) -> list[Case]:
    """Labeled cases (JSON lines ``{"id", "event", "expected"}``) as Avro events."""
    schema = contracts.schemas.get(contracts.catalog.get(use_case.input_topic).value_schema)
    cases = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read eval set {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            labeled = json.loads(line)
            event = from_json(schema.parsed, labeled["event"])
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"{path}:{number}: not an eval case: {exc}") from exc
        cases.append(Case(str(labeled.get("id", event["event_id"])), event, labeled))
    return _unique(cases)


def cases_from_topic_ranges(
    ranges: Sequence[TopicRange],
    use_case: UseCase[Any],
    settings: Settings,
    contracts: Contracts,
    timeout: float = 30.0,
) -> list[Case]:
    """The events at the given offsets of production topics (read-only: assigned, never
    committed). Every range must be of the daemon's input topic."""
    cases: list[Case] = []
    for r in ranges:
        if contracts.catalog.get(r.topic).name != use_case.input_topic:
            raise ConfigError(f"{r.topic} is not {use_case.name}'s input ({use_case.input_topic})")
        physical = contracts.catalog.physical(r.topic)
        consumer = Consumer(
            consumer_config(
                settings, ephemeral_group("compare-read"), **{"enable.partition.eof": True}
            )
        )
        consumer.assign([TopicPartition(physical, r.partition, r.start)])
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        break
                    raise BrokerError(f"reading {physical}[{r.partition}]: {error}")
                offset = msg.offset() or 0
                if offset > r.end:
                    break
                event = contracts.codec.decode(msg.value())
                cases.append(Case(f"{r.topic}:{r.partition}:{offset}", event))
                if offset == r.end:
                    break
        finally:
            consumer.close()
    return _unique(cases)


def _unique(cases: list[Case]) -> list[Case]:
    """One case per event id (outputs are matched by it); later duplicates are dropped."""
    seen: dict[str, Case] = {}
    for case in cases:
        if case.event["event_id"] in seen:
            log.warning("case %s repeats event %s; skipped", case.case_id, case.event["event_id"])
            continue
        seen[case.event["event_id"]] = case
    return list(seen.values())


def shadow_prefix(settings: Settings, config: CompareConfig, run: str) -> str:
    """Where one side's topics live; never a production topic (no catalog name starts so)."""
    return f"{settings.topic_prefix}shadow.{config.name}.{run}."


@dataclass(frozen=True)
class Tools:
    """Where tools come from: ``url`` None = a fresh in-process reference ledger API."""

    url: str | None = None
    signing_key: SecretStr | None = None


def replay(
    use_case: UseCase[Any],
    config: CompareConfig,
    cases: Sequence[Case],
    settings: Settings,
    *,
    tools: Tools | None = None,
    run: str | None = None,
    timeout: float = 600.0,
    concurrency: int = 8,
    keep_shadow: bool = False,
) -> SideResult:
    """Replay ``cases`` through ``use_case`` under ``config`` into shadow topics."""
    run = run or uuid.uuid4().hex[:6]
    shadow = settings.model_copy(update={"topic_prefix": shadow_prefix(settings, config, run)})
    contracts = Contracts.load(shadow)
    started = time.monotonic()
    side = asyncio.run(
        _run_side(config.use_case(use_case), config, shadow, contracts, cases, tools or Tools(),
                  timeout, concurrency, run, keep_shadow)
    )  # fmt: skip
    return dataclasses.replace(side, wall_s=time.monotonic() - started)


def _produce(
    settings: Settings, contracts: Contracts, topic: str, events: list[dict[str, Any]], run: str
) -> None:
    spec = contracts.catalog.get(topic)
    physical = contracts.catalog.physical(topic)
    producer = Producer(producer_config(settings))
    errors: list[str] = []
    for event in events:
        producer.produce(
            physical,
            key=spec.key_for(event),
            value=contracts.codec.encode(spec.value_schema, event, topic=physical),
            headers=inject_headers([("compare.run", run.encode())]),
            on_delivery=lambda err, _msg: errors.append(str(err)) if err else None,
        )
        producer.poll(0)
    if producer.flush(30) != 0 or errors:
        raise BrokerError(f"could not produce the events to {physical}: {errors or 'timeout'}")


async def _run_side(
    use_case: UseCase[Any],
    config: CompareConfig,
    settings: Settings,
    contracts: Contracts,
    cases: Sequence[Case],
    tools: Tools,
    timeout: float,
    concurrency: int,
    run: str,
    keep_shadow: bool,
) -> SideResult:
    async with _environment(config, settings, tools) as env:
        daemon = build_daemon(use_case, env)
        daemon = dataclasses.replace(
            daemon, group_id=f"compare.{use_case.name}.{config.name}.{run}"
        )
        logical = [*daemon.inputs, *daemon.outputs, daemon.dead_letter_topic]
        catalog = Catalog([contracts.catalog.get(t) for t in logical], prefix=settings.topic_prefix)
        topics = {t: catalog.physical(t) for t in logical}
        admin = admin_client(settings)
        await asyncio.to_thread(apply_topics, admin, catalog)
        try:
            events = [c.event for c in cases]
            await asyncio.to_thread(
                _produce, settings, contracts, use_case.input_topic, events, run
            )
            collected, counts, timed_out = await _run_and_collect(
                daemon, settings, contracts, topics, use_case, cases, timeout, concurrency
            )
        finally:
            if not keep_shadow:
                await asyncio.to_thread(
                    _delete, admin, list(topics.values()), settings.topic_prefix
                )
    model = next((c.runs[0]["model"] for c in collected.values() if c.runs), config.model)
    return SideResult(config, str(model), settings.topic_prefix, topics, counts, collected, 0.0,
                      timed_out)  # fmt: skip


async def _run_and_collect(
    daemon: Daemon,
    settings: Settings,
    contracts: Contracts,
    topics: Mapping[str, str],
    use_case: UseCase[Any],
    cases: Sequence[Case],
    timeout: float,
    concurrency: int,
) -> tuple[dict[str, Collected], dict[str, int], bool]:
    runner = Runner(daemon, settings, contracts, concurrency=concurrency, grace=10.0)
    stop = asyncio.Event()
    abort = threading.Event()
    task = asyncio.create_task(runner.run(stop))
    task.add_done_callback(lambda _t: abort.set())
    wanted = {c.event["event_id"] for c in cases}
    outputs = {k: v for k, v in topics.items() if k not in daemon.inputs}
    try:
        return await asyncio.to_thread(
            _collect, settings, contracts, outputs, use_case, wanted, timeout, abort
        )
    finally:
        stop.set()
        await task  # a crashed runner raises here, with its own error


@contextlib.asynccontextmanager
async def _environment(
    config: CompareConfig, settings: Settings, tools: Tools
) -> AsyncIterator[Environment]:
    model = load_config_model(config.model, config, settings.llm)
    planner = (
        load_config_model(config.planner_model, config, settings.llm)
        if config.planner_model
        else None
    )
    judge = _judge(config, settings)
    with _tools_api(tools) as (url, key):
        async with httpx.AsyncClient() as client:
            document = await asyncio.to_thread(load_document, f"{url}/openapi.json")
            credentials = HmacCredentialProvider(HmacCredentialSettings(key=key))
            source = OpenAPISource(document, base_url=url, client=client, credentials=credentials)
            yield Environment(
                model=model,
                tool_sources=[source],
                tenants=ApiTenantDirectory(source["getClient"]),
                planner_model=planner,
                judge=judge,
            )


def _judge(config: CompareConfig, settings: Settings) -> Judge | None:
    """The side's judge: the config's ``judge_model`` ("none": no judge), or unset, the one
    the daemons would get for this model (:meth:`Settings.judge_model_name`)."""
    if config.judge_model is None:
        name = settings.model_copy(update={"model": config.model}).judge_model_name()
    else:
        name = None if config.judge_model.lower() == "none" else config.judge_model
    if name is None:
        return None
    ensure_independent(name, config.model)
    llm = settings.llm
    if name.startswith("local:"):  # one local server per model: the judge's runs beside
        llm = llm.model_copy(update={"local_base_url": settings.judge_local_url})
    return Judge(load_config_model(name, config, llm, tuned=False), primary=config.model)


@contextlib.contextmanager
def _tools_api(tools: Tools) -> Iterator[tuple[str, SecretStr]]:
    if tools.url is not None:
        if tools.signing_key is None:
            raise ConfigError("DAEMONS_TOOLS_SIGNING_KEY is not set: tools cannot mint credentials")
        yield tools.url.rstrip("/"), tools.signing_key
        return
    from processors.reference import sample_app, serve_in_thread

    key = secrets.token_urlsafe(24)
    with serve_in_thread(sample_app(key.encode())) as url:
        yield url, SecretStr(key)


def _collect(
    settings: Settings,
    contracts: Contracts,
    topics: Mapping[str, str],
    use_case: UseCase[Any],
    wanted: set[str],
    timeout: float,
    abort: threading.Event,
) -> tuple[dict[str, Collected], dict[str, int], bool]:
    """Read the side's shadow outputs until every wanted event is final (or time runs out)."""
    slot = {use_case.output_topic: "result", "guardrails.outcomes": "outcome",
            "daemons.runs": "runs", f"{use_case.name}.dlq": "dead_letter"}  # fmt: skip
    by_physical = {physical: slot.get(logical) for logical, physical in topics.items()}
    counts = dict.fromkeys(topics, 0)
    logical_of = {physical: logical for logical, physical in topics.items()}
    found: dict[str, Collected] = {}
    consumer = Consumer(consumer_config(settings, ephemeral_group("compare-collect")))
    consumer.subscribe(list(by_physical))
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline and not abort.is_set():
            done = all(e in found and found[e].final for e in wanted)
            if done and settle_until is None:
                settle_until = time.monotonic() + 0.5  # late duplicates / a failed run's record
            if settle_until is not None and time.monotonic() > settle_until:
                break
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise BrokerError(f"reading shadow topics: {error}")
            value = contracts.codec.decode(msg.value())
            topic = str(msg.topic())
            counts[logical_of[topic]] += 1
            kind = by_physical[topic]
            if kind is None:  # e.g. results held for review: the outcome says so
                continue
            entry = found.setdefault(value["event_id"], Collected())
            if kind == "runs":
                entry.runs.append(value)
            elif getattr(entry, kind) is None:  # at-least-once: keep the first copy
                setattr(entry, kind, value)
    finally:
        consumer.close()
    timed_out = not all(e in found and found[e].final for e in wanted)
    return found, counts, timed_out


def _delete(admin: Any, names: list[str], prefix: str) -> None:
    if "shadow." not in prefix or not all(n.startswith(prefix) for n in names):
        raise ConfigError(f"refusing to delete {names}: not shadow topics")  # a bug, loudly
    for name, future in admin.delete_topics(names, operation_timeout=30).items():
        try:
            future.result()
        except KafkaException as exc:  # logged; the report is still good
            log.warning("could not delete shadow topic %s: %s", name, exc)
