"""Faults an operations team meets, against a real broker this test stops and starts itself.

The session's broker is shared by every test; these tests run their own (same jars, own
state directory and ports), so they can restart it without disturbing the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from processors.kafka import broker as local
from processors.kafka.admin import apply_topics
from processors.kafka.clients import Contracts, admin_client, consumer_config, ephemeral_group
from processors.kafka.logs import LOGGER
from processors.runtime.runner import Runner
from processors.settings import KafkaSettings, Settings
from processors.testing.apps import echo
from processors.testing.broker import free_port
from processors.testing.runtime import RunnerThread, produce_events
from tests.runtime.test_runtime_processes import question

pytestmark = pytest.mark.kafka


class RestartableBroker:
    """A local Kafka broker of this test's own that can be stopped and started again with
    its data (same state directory, same ports)."""

    def __init__(self, state: Path) -> None:
        base = Settings.from_env()
        self.version, self.libs = local.ensure_jars(
            base.cache_dir, base.deploy_dir / "kafka" / "pom.xml", base.kafka_version
        )
        self.state, self.port, self.controller = state, free_port(), free_port()
        self.process: local.BrokerProcess | None = None
        kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{self.port}", external=True)
        self.settings = base.model_copy(
            update={"kafka": kafka, "topic_prefix": f"c{uuid.uuid4().hex[:8]}."}
        )

    def start(self) -> None:
        self.process = local.start_broker(
            self.libs, self.version, self.state, port=self.port, controller_port=self.controller
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RestartableBroker]:
    own = RestartableBroker(tmp_path / "kafka")
    own.start()
    try:
        yield own
    finally:
        own.stop()


def _answered(settings: Settings, contracts: Contracts, want: set[str], timeout: float) -> set[str]:
    """Event ids answered on ``questions.answered`` (read_committed), until all of ``want``
    are or ``timeout`` passed."""
    consumer = Consumer(consumer_config(settings, ephemeral_group("chaos-reader")))
    consumer.subscribe([contracts.catalog.physical("questions.answered")])
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while not want <= seen and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                seen.add(contracts.codec.decode(msg.value())["event_id"])
    finally:
        consumer.close()
    return seen


def test_the_daemon_resumes_by_itself_after_a_broker_restart_with_a_backlog_beyond_its_buffer(
    broker: RestartableBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    settings = broker.settings
    contracts = Contracts.load(settings)
    apply_topics(admin_client(settings), contracts.catalog)
    events = [question(i, "sleep:200") for i in range(400)]  # 20 s of work at concurrency 4
    produce_events(settings, contracts, "questions.asked", events)
    daemon = dataclasses.replace(echo, group_id=f"echo-{uuid.uuid4().hex[:8]}")
    # a buffer of 16 against a backlog of 400: the loop pauses fetching for backpressure,
    # and it is paused when the outage makes it lose its partitions
    runner = Runner(
        daemon, settings, contracts, concurrency=4, buffer=16, commit_interval=0.1, grace=10,
        stall_after=30.0,
    )  # fmt: skip
    ids = {e["event_id"] for e in events}
    with RunnerThread(runner):
        started = _answered(settings, contracts, ids, timeout=5.0)
        assert 0 < len(started) < len(ids), "the outage must come while the backlog is worked"
        broker.stop()
        time.sleep(15)  # past session.timeout.ms (10 s): the consumer loses its partitions
        broker.start()
        answered = _answered(settings, contracts, ids, timeout=150.0)
        stalled = runner.stalled()
    missing = ids - answered
    assert not missing, f"{len(missing)} of {len(ids)} events never answered after the restart"
    assert stalled is None
    # librdkafka's lines came through logging, each repeating one bounded
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert lines, "the outage is logged"
    assert len(lines) <= 60, f"{len(lines)} librdkafka lines in a 15 s outage"
