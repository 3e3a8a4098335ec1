"""The review console's fixtures: the catalog's topics once per module (under a prefix of the
module's own), seeded with held results of two tenants, and a reviewers file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from console_support import write_reviewers

from processors.console import ConsoleConfig, KafkaReviewSource, Reviewers
from processors.kafka.admin import apply_topics
from processors.kafka.clients import Contracts, admin_client
from processors.settings import Settings


@pytest.fixture(scope="module")
def module_settings(kafka: Settings) -> Settings:
    return kafka.model_copy(update={"topic_prefix": f"c{uuid.uuid4().hex[:10]}."})


@pytest.fixture(scope="module")
def module_topics(module_settings: Settings) -> Iterator[Contracts]:
    contracts = Contracts.load(module_settings)
    admin = admin_client(module_settings)
    apply_topics(admin, contracts.catalog)
    yield contracts
    names = [contracts.catalog.physical(spec.name) for spec in contracts.catalog]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result()


@pytest.fixture(scope="module")
def console_config(tmp_path_factory: pytest.TempPathFactory) -> ConsoleConfig:
    path = write_reviewers(tmp_path_factory.mktemp("console") / "reviewers.toml")
    return ConsoleConfig(Reviewers.load(path), session_key="k" * 32)


@pytest.fixture(scope="module")
def source(module_settings: Settings, module_topics: Contracts) -> KafkaReviewSource:
    return KafkaReviewSource(module_settings, module_topics)
