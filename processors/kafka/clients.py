"""librdkafka configurations and the schema/topic bundle every command and daemon uses.

Every client's log lines go through Python logging, each repeating one bounded
(:func:`processors.kafka.logs.client_logger`): a broker outage must not flood stderr.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from processors.catalog import Catalog
from processors.kafka.logs import client_logger
from processors.serde import AvroCodec, SchemaSet
from processors.serde.registry import RegistryClient
from processors.settings import Settings

log = logging.getLogger(__name__)

ClientConfig = dict[str, Any]
"""A librdkafka configuration as confluent-kafka takes it: the settings' values plus the
``logger`` (and, for a consumer, callbacks a caller adds)."""


def _common(settings: Settings) -> ClientConfig:
    return {**settings.kafka.client_config(), "logger": client_logger()}


def producer_config(settings: Settings, **overrides: str | int | float | bool) -> ClientConfig:
    """Idempotent producer, always: no duplicates or reordering from librdkafka retries."""
    config: ClientConfig = {
        **_common(settings),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
    }
    config.update(overrides)
    return config


def consumer_config(
    settings: Settings, group_id: str, **overrides: str | int | float | bool
) -> ClientConfig:
    """Offsets are stored and committed by us, never automatically.

    The group protocol is ``settings.kafka.group_protocol``: ``classic`` with the
    cooperative-sticky assignor (a rebalance moves only the partitions that change owner;
    ``KAFKA_PARTITION_ASSIGNMENT_STRATEGY`` sets another, e.g. ``range`` to join a group of
    eager members), or
    ``consumer`` (KIP-848: the broker assigns, members heartbeat on their own; librdkafka
    refuses the classic group settings there, so those overrides are dropped with a warning).
    """
    config: ClientConfig = {
        **_common(settings),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    }
    protocol = settings.kafka.group_protocol
    if protocol == "consumer":
        config["group.protocol"] = "consumer"
    else:  # unless KAFKA_PARTITION_ASSIGNMENT_STRATEGY chose another for the whole group
        config.setdefault("partition.assignment.strategy", "cooperative-sticky")
    config.update(overrides)
    if protocol == "consumer":
        for key in CLASSIC_ONLY & config.keys():
            log.warning("%s is a classic-protocol setting; the consumer protocol ignores it", key)
            del config[key]
    return config


# what librdkafka refuses with group.protocol=consumer (KIP-848): the broker owns them there
# (group.consumer.session.timeout.ms, group.consumer.heartbeat.interval.ms, its assignors)
CLASSIC_ONLY = frozenset(
    {
        "partition.assignment.strategy",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "group.protocol.type",
    }
)


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(_common(settings))


def ephemeral_group(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Contracts:
    """Schemas, topics and the codec, loaded once from ``schemas/`` and ``topics/``."""

    schemas: SchemaSet
    catalog: Catalog
    codec: AvroCodec

    @classmethod
    def load(cls, settings: Settings, extra: Sequence[Path] = ()) -> Contracts:
        """The built-in schemas and topics, merged with those of each ``extra`` folder (a
        daemon's own: ``topics.toml`` and ``schemas/*.avsc``)."""
        schemas = SchemaSet.load(settings.schemas_dir)
        for folder in extra:
            if (folder / "schemas").is_dir():  # a daemon may use built-in schemas only
                schemas = schemas.merged(SchemaSet.load(folder / "schemas"))
        catalog = Catalog.load(settings.topics_dir, schemas, prefix=settings.topic_prefix)
        for folder in extra:
            catalog = catalog.merged(Catalog.load(folder, schemas, prefix=settings.topic_prefix))
        registry = None
        if settings.schema_registry_url:
            registry = RegistryClient(
                settings.schema_registry_url, basic_auth=settings.schema_registry_auth
            )
        return cls(schemas, catalog, AvroCodec(schemas, registry))
