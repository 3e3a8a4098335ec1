"""A real Kafka for the session: KAFKA_BOOTSTRAP_SERVERS if set, else one started for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from processors.settings import Settings
from processors.testing.broker import session_broker


@pytest.fixture(scope="session")
def kafka() -> Iterator[Settings]:
    with session_broker() as settings:
        yield settings
