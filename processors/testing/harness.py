"""Run a use case end to end in a test: the real broker, the reference ledger API over real
HTTP, the daemon's real runtime — and the model you give (a scripted one, or a real one).

    with reference_api() as api:
        published = run_events(use_case, events, model, settings=kafka, api=api)
    assert published.outputs[0]["account_code"] == "6500"

Every event ends as an output, a withheld or held result (its guardrail outcome says which),
or a dead letter; :func:`run_events` returns when each event has an outcome or a dead letter
(or fails after ``timeout`` seconds, naming the events still unaccounted for). Topics are
created under a prefix unique to the call and deleted afterwards. The use case's own topics
and schemas (``UseCase.contracts``) are merged with the built-in ones, as ``daemons run``
merges them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from processors.daemons import registry
from processors.daemons.base import Environment, UseCase, build_daemon
from processors.daemons.environment import ApiTenantDirectory
from processors.guardrails.judge import Judge
from processors.kafka.admin import apply_topics
from processors.kafka.clients import Contracts, admin_client
from processors.llm.model import Model
from processors.memory import MemoryStore
from processors.memory.records import TOPIC as MEMORY_TOPIC
from processors.reference import sample_app, serve_in_thread
from processors.runtime.runner import Runner
from processors.serde.json_codec import from_json
from processors.settings import Settings
from processors.testing.runtime import RunnerThread, drain_topic, produce_events
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.openapi import OpenAPISource, load_document


@dataclass(frozen=True)
class ReferenceApi:
    """The reference ledger API serving at ``url``, trusting tokens signed with ``key``."""

    url: str
    key: str


@contextlib.contextmanager
def reference_api() -> Iterator[ReferenceApi]:
    """The reference ledger API over fresh sample data, on a free loopback port."""
    key = secrets.token_urlsafe(24)
    with serve_in_thread(sample_app(key.encode())) as url:
        yield ReferenceApi(url, key)


@dataclass
class Published:
    """What the daemon wrote for the events, each list in the order read (values as JSON-like
    dicts: the Avro datums)."""

    outputs: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    memories: list[dict[str, Any]] = field(default_factory=list)  # memory.facts, if written

    def verdicts(self) -> dict[str, str]:
        """Event id -> the guardrail verdict (pass, fail, needs_review)."""
        return {o["event_id"]: o["verdict"] for o in self.outcomes}


def contracts_for(use_case: UseCase[Any], settings: Settings) -> Contracts:
    """The built-in contracts, every registered daemon's, and this use case's own."""
    folders = registry.contract_dirs()
    if use_case.contracts is not None and use_case.contracts not in folders:
        folders.append(use_case.contracts)
    return Contracts.load(settings, folders)


def environment(
    api: ReferenceApi,
    model: Model,
    client: httpx.AsyncClient,
    memory: MemoryStore | None = None,
    judge: Judge | None = None,
) -> Environment:
    """The daemon's environment against the reference API: tools from its OpenAPI document,
    credentials minted per call, the tenant check by ``getClient``; ``memory``: a store the
    use case's memory reads go to (None: none)."""
    credentials = HmacCredentialProvider(HmacCredentialSettings(key=SecretStr(api.key)))
    document = load_document(f"{api.url}/openapi.json")
    source = OpenAPISource(document, base_url=api.url, client=client, credentials=credentials)
    return Environment(
        model=model, tool_sources=[source], tenants=ApiTenantDirectory(source["getClient"]),
        memory=memory, judge=judge,
    )  # fmt: skip


def run_events(
    use_case: UseCase[Any],
    events: Sequence[Mapping[str, Any]],
    model: Model,
    *,
    settings: Settings,
    api: ReferenceApi,
    timeout: float = 180.0,
    memory: MemoryStore | None = None,
    judge: Judge | None = None,
) -> Published:
    """Produce ``events`` (JSON form) to the use case's input topic, run its daemon until each
    has an outcome or a dead letter, and return everything it published. ``memory``: the
    store the daemon reads memory from (it is not materialized here: fill it first)."""
    scoped = settings.model_copy(update={"topic_prefix": f"h{uuid.uuid4().hex[:10]}."})
    contracts = contracts_for(use_case, scoped)
    admin = admin_client(scoped)
    apply_topics(admin, contracts.catalog)
    try:
        return _run(use_case, events, model, scoped, contracts, api, timeout, memory, judge)
    finally:
        names = [contracts.catalog.physical(spec.name) for spec in contracts.catalog]
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result()


def _run(
    use_case: UseCase[Any], events: Sequence[Mapping[str, Any]], model: Model,
    settings: Settings, contracts: Contracts, api: ReferenceApi, timeout: float,
    memory: MemoryStore | None = None, judge: Judge | None = None,
) -> Published:  # fmt: skip
    spec = contracts.catalog.get(use_case.input_topic)
    schema = contracts.schemas.get(spec.value_schema).parsed
    datums = [from_json(schema, dict(raw)) for raw in events]
    wanted = {str(raw["event_id"]) for raw in events}
    client = httpx.AsyncClient()
    daemon = build_daemon(use_case, environment(api, model, client, memory, judge))
    runner = Runner(daemon, settings, contracts, concurrency=4, grace=10.0)
    published = Published()
    try:
        with RunnerThread(runner):
            produce_events(settings, contracts, use_case.input_topic, datums)
            deadline = time.monotonic() + timeout
            while True:
                published = _read(settings, contracts, use_case)
                done = {o["event_id"] for o in published.outcomes}
                done |= {d["event_id"] for d in published.dead_letters}
                missing = wanted - done
                if not missing:
                    return published
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{use_case.name}: no outcome or dead letter within {timeout:.0f} s for "
                        f"{sorted(missing)}"
                    )
    finally:
        asyncio.run(client.aclose())


def _read(settings: Settings, contracts: Contracts, use_case: UseCase[Any]) -> Published:
    def values(topic: str) -> list[dict[str, Any]]:
        return [r["value"] for r in drain_topic(settings, contracts, topic, idle=1.5)]

    return Published(
        outputs=values(use_case.output_topic),
        outcomes=[o for o in values("guardrails.outcomes") if o.get("daemon") == use_case.name],
        dead_letters=values(f"{use_case.name}.dlq"),
        runs=[r for r in values("daemons.runs") if r.get("daemon") == use_case.name],
        memories=values(MEMORY_TOPIC) if use_case.remember is not None else [],
    )
