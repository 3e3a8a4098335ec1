"""librdkafka configurations and the schema/topic bundle every command and daemon uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from processors.catalog import Catalog
from processors.serde import AvroCodec, SchemaSet
from processors.serde.registry import RegistryClient
from processors.settings import KafkaConfig, Settings


def producer_config(settings: Settings, **overrides: str | int | float | bool) -> KafkaConfig:
    """Idempotent producer, always: no duplicates or reordering from librdkafka retries."""
    config: KafkaConfig = {
        **settings.kafka.client_config(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
    }
    config.update(overrides)
    return config


def consumer_config(
    settings: Settings, group_id: str, **overrides: str | int | float | bool
) -> KafkaConfig:
    """Offsets are stored and committed by us, never automatically."""
    config: KafkaConfig = {
        **settings.kafka.client_config(),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
    }
    config.update(overrides)
    return config


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka.client_config())


def ephemeral_group(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Contracts:
    """Schemas, topics and the codec, loaded once from ``schemas/`` and ``topics/``."""

    schemas: SchemaSet
    catalog: Catalog
    codec: AvroCodec

    @classmethod
    def load(cls, settings: Settings) -> Contracts:
        schemas = SchemaSet.load(settings.schemas_dir)
        catalog = Catalog.load(settings.topics_dir, schemas, prefix=settings.topic_prefix)
        registry = None
        if settings.schema_registry_url:
            registry = RegistryClient(
                settings.schema_registry_url, basic_auth=settings.schema_registry_auth
            )
        return cls(schemas, catalog, AvroCodec(schemas, registry))
