"""The Confluent wire format against a real Schema Registry (Apicurio through its Confluent
API, started by the session like the broker), cross-checked with Confluent's own serializers.

The stub in ``test_serde.py`` accepts any text; a real registry parses what we register
(every schema must stand alone, its named types inlined), assigns its own ids, keeps them across
clients and enforces compatibility rules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro.utils import generate_one

from processors.errors import SerdeError
from processors.kafka.admin import apply_topics
from processors.kafka.clients import (
    Contracts,
    admin_client,
    consumer_config,
    ephemeral_group,
    producer_config,
)
from processors.runtime.runner import Runner
from processors.serde import AvroCodec, SchemaSet
from processors.serde.registry import RegistryClient
from processors.serde.schemas import AvroSchema
from processors.settings import Settings
from processors.testing.apps import echo
from processors.testing.runtime import RunnerThread

SCHEMAS = SchemaSet.load(Settings.from_env().schemas_dir)
ASKED = "processdaemons.events.QuestionAsked"


def _subject() -> str:
    return f"t{uuid.uuid4().hex[:8]}.questions.asked"


@pytest.mark.parametrize("name", SCHEMAS.names())
def test_every_schema_registers_in_a_real_registry_and_comes_back_by_id(
    schema_registry: str, name: str
) -> None:
    """Each of our schemas is accepted on its own by a registry that parses it, and a fresh
    client reading the id gets a schema with the same canonical form."""
    topic = _subject()
    schema_id = RegistryClient(schema_registry).register(f"{topic}-value", SCHEMAS.get(name))
    again = RegistryClient(schema_registry).register(f"{topic}-value", SCHEMAS.get(name))
    assert again == schema_id  # the registry's id, not a per-client counter
    fetched = RegistryClient(schema_registry).schema_by_id(schema_id)
    assert fetched.canonical == SCHEMAS.get(name).canonical
    subjects = httpx.get(f"{schema_registry}/subjects", timeout=10).json()
    assert f"{topic}-value" in subjects


def test_our_bytes_and_confluents_are_the_same_wire_format(schema_registry: str) -> None:
    """Confluent's AvroDeserializer reads what we write, and we read what its serializer
    writes: magic byte 0, the registry's 4-byte id, the Avro body."""
    topic = _subject()
    datum = generate_one(SCHEMAS.get(ASKED).parsed)
    ours = AvroCodec(SCHEMAS, RegistryClient(schema_registry))
    data = ours.encode(ASKED, datum, topic=topic)
    assert data[0] == 0
    client = SchemaRegistryClient({"url": schema_registry})
    context = SerializationContext(topic, MessageField.VALUE)
    theirs = AvroDeserializer(client)(data, context)
    assert theirs == ours.decode(data)
    assert theirs["question"] == datum["question"]

    source = json.dumps(SCHEMAS.get(ASKED).source)
    written = AvroSerializer(client, source)(datum, context)
    assert written[:5] == data[:5]  # the same subject and schema: the same registry id
    assert AvroCodec(SCHEMAS, RegistryClient(schema_registry)).decode(written) == theirs


def test_a_schema_the_subjects_compatibility_refuses_is_a_clear_serde_error(
    schema_registry: str,
) -> None:
    topic = _subject()
    registry = RegistryClient(schema_registry)
    registry.register(f"{topic}-value", SCHEMAS.get(ASKED))
    config = httpx.put(
        f"{schema_registry}/config/{topic}-value",
        json={"compatibility": "BACKWARD"},
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        timeout=10,
    )
    assert config.status_code == 200, config.text
    source = dict(SCHEMAS.get(ASKED).source)
    # a new required field without a default: old records cannot be read with it
    source["fields"] = [*source["fields"], {"name": "required_new", "type": "string"}]
    broken = AvroSchema.from_json(source, path=SCHEMAS.get(ASKED).path)
    with pytest.raises(SerdeError, match="HTTP 409"):
        registry.register(f"{topic}-value", broken)


@pytest.mark.kafka
def test_a_daemon_reads_and_writes_confluent_framed_records_through_the_real_registry(
    isolated: Settings, schema_registry: str
) -> None:
    """Upstream writes with Confluent's serializer; the daemon (real broker, real registry)
    publishes records that Confluent's deserializer reads, framed with registered ids."""
    settings = isolated.model_copy(update={"schema_registry_url": schema_registry})
    contracts = Contracts.load(settings)
    apply_topics(admin_client(settings), contracts.catalog)
    client = SchemaRegistryClient({"url": schema_registry})
    asked = contracts.catalog.physical("questions.asked")
    serialize = AvroSerializer(client, json.dumps(SCHEMAS.get(ASKED).source))
    producer = Producer(producer_config(settings))
    events = [_question(i) for i in range(5)]
    for event in events:
        value = serialize(event, SerializationContext(asked, MessageField.VALUE))
        producer.produce(asked, key=event["principal_id"].encode(), value=value)
    assert producer.flush(30) == 0

    daemon = dataclasses.replace(echo, group_id=f"echo-{uuid.uuid4().hex[:8]}")
    answered = contracts.catalog.physical("questions.answered")
    deserialize = AvroDeserializer(client)
    with RunnerThread(Runner(daemon, settings, contracts, commit_interval=0.1, grace=20)):
        raw = _read_raw(settings, answered, expected=len(events))
    outputs = [deserialize(v, SerializationContext(answered, MessageField.VALUE)) for v in raw]
    assert all(v[0] == 0 for v in raw)  # Confluent framing, not single-object encoding
    assert sorted(o["event_id"] for o in outputs) == sorted(e["event_id"] for e in events)
    subjects = httpx.get(f"{schema_registry}/subjects", timeout=10).json()
    assert f"{answered}-value" in subjects


def _question(i: int) -> dict[str, Any]:
    return {
        "event_id": f"e{i}-{uuid.uuid4().hex[:6]}", "tenant_id": "t1", "principal_id": f"u{i}",
        "occurred_at": dt.datetime.now(dt.UTC), "question_id": f"q{i}",
        "question": "hi", "conversation_id": None,
    }  # fmt: skip


def _read_raw(settings: Settings, topic: str, expected: int, timeout: float = 90.0) -> list[bytes]:
    consumer = Consumer(consumer_config(settings, ephemeral_group("test-raw")))
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None and msg.value() is not None:
                values.append(msg.value())
    finally:
        consumer.close()
    assert len(values) == expected, f"read {len(values)} of {expected} from {topic}"
    return values
