"""Make a cluster's topics match the catalog: create, grow partitions, update configs.

Idempotent: a second ``apply`` with nothing to do reports no changes. Partitions are only
ever raised (Kafka cannot shrink them, and doing so would break key → partition mapping).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.cimpl import NewPartitions, NewTopic

from processors.catalog import Catalog
from processors.errors import BrokerError


@dataclass(frozen=True)
class Change:
    topic: str
    action: str  # "create" | "partitions" | "config" | "note"
    detail: str

    def __str__(self) -> str:
        return f"{self.action:<10} {self.topic}: {self.detail}"


def apply_topics(admin: AdminClient, catalog: Catalog, timeout: float = 30.0) -> list[Change]:
    metadata = admin.list_topics(timeout=timeout)
    brokers = max(1, len(metadata.brokers))
    changes: list[Change] = []
    to_create: list[NewTopic] = []
    to_grow: list[NewPartitions] = []
    existing: list[str] = []
    for spec in catalog:
        name = catalog.physical(spec.name)
        current = metadata.topics.get(name)
        if current is None or current.error is not None:
            replication = min(spec.replication_factor, brokers)
            if replication < spec.replication_factor:
                changes.append(
                    Change(name, "note", f"replication {replication} ({brokers} broker(s)), "
                           f"production value {spec.replication_factor}")
                )  # fmt: skip
            to_create.append(NewTopic(name, spec.partitions, replication, config=spec.configs()))
            changes.append(Change(name, "create", f"{spec.partitions} partitions"))
            continue
        existing.append(name)
        have = len(current.partitions)
        if have < spec.partitions:
            to_grow.append(NewPartitions(name, spec.partitions))
            changes.append(Change(name, "partitions", f"{have} -> {spec.partitions}"))
    if to_create:
        _wait(admin.create_topics(to_create, request_timeout=timeout), "create topic")
        _until_visible(admin, {t.topic: t.num_partitions for t in to_create}, timeout)
    if to_grow:
        _wait(admin.create_partitions(to_grow, request_timeout=timeout), "add partitions")
        _until_visible(admin, {p.topic: p.new_total_count for p in to_grow}, timeout)
    changes.extend(_update_configs(admin, catalog, existing, timeout))
    return changes


def _update_configs(
    admin: AdminClient, catalog: Catalog, names: list[str], timeout: float
) -> list[Change]:
    if not names:
        return []
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    described = admin.describe_configs(resources, request_timeout=timeout)
    changes: list[Change] = []
    alters: list[ConfigResource] = []
    for resource, future in described.items():
        try:
            current = future.result()
        except KafkaException as exc:
            raise BrokerError(f"describe configs of {resource.name}: {exc}") from exc
        wanted = catalog.get(resource.name).configs()
        entries = []
        for key, value in wanted.items():
            have = current[key].value if key in current else None
            if have != value:
                entries.append(ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET))
                changes.append(Change(resource.name, "config", f"{key}: {have} -> {value}"))
        if entries:
            alters.append(
                ConfigResource(
                    ConfigResource.Type.TOPIC, resource.name, incremental_configs=entries
                )
            )
    if alters:
        _wait(admin.incremental_alter_configs(alters, request_timeout=timeout), "alter configs")
    return changes


def _until_visible(admin: AdminClient, wanted: dict[str, int], timeout: float) -> None:
    """Topics are usable once metadata shows all their partitions with leaders (the broker's
    metadata cache lags the controller for a moment after create/grow)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=timeout).topics
        if all(
            name in topics
            and topics[name].error is None
            and len(topics[name].partitions) == count
            and all(p.leader >= 0 for p in topics[name].partitions.values())
            for name, count in wanted.items()
        ):
            return
        time.sleep(0.2)
    raise BrokerError(f"topics did not reach their partition counts within {timeout:.0f}s")


def _wait(futures: Mapping[Any, Future[Any]], what: str) -> None:
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            raise BrokerError(f"{what} {getattr(name, 'name', name)}: {exc}") from exc
