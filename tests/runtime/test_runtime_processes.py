"""Daemon processes: SIGKILL loses nothing, EOS shows no duplicates, groups split work."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException

from processors.kafka.clients import Contracts, admin_client
from processors.settings import Settings
from processors.testing.runtime import drain_topic, produce_events, read_topic

pytestmark = pytest.mark.kafka
APP = "processors.testing.apps:echo"


def question(i: int, text: str) -> dict[str, Any]:
    return {
        "event_id": f"e{i:05d}-{uuid.uuid4().hex[:6]}", "tenant_id": "t1",
        "principal_id": f"u{i % 20}", "occurred_at": dt.datetime.now(dt.UTC),
        "question_id": f"q{i}", "question": text, "conversation_id": None,
    }  # fmt: skip


def start(settings: Settings, group: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "DAEMONS_TOPIC_PREFIX": settings.topic_prefix,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "processors", "run", APP, "--group-id", group, "--grace", "20",
             *extra],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    return proc.wait(60)


def test_sigkill_between_handling_and_commit_loses_nothing(
    isolated: Settings, topics: Contracts, tmp_path: Path
) -> None:
    events = [question(i, "sleep:200") for i in range(120)]
    produce_events(isolated, topics, "questions.asked", events)
    group = f"echo-{uuid.uuid4().hex[:8]}"
    first = start(isolated, group, tmp_path / "a.log", "--concurrency", "16")
    read_topic(isolated, topics, "questions.answered", expected=20, timeout=60)
    first.send_signal(signal.SIGKILL)  # mid-flight: handled, maybe produced, not committed
    first.wait(30)
    second = start(isolated, group, tmp_path / "b.log", "--concurrency", "64")
    try:
        outputs = read_topic(isolated, topics, "questions.answered", expected=10_000, timeout=40)
    finally:
        assert stop(second) == 0, (tmp_path / "b.log").read_text()[-2000:]
    seen = {o["value"]["event_id"] for o in outputs}
    assert seen == {e["event_id"] for e in events}, "events lost after SIGKILL"


def test_exactly_once_mode_shows_no_duplicates_after_a_crash(
    isolated: Settings, topics: Contracts, tmp_path: Path
) -> None:
    events = [question(i, "sleep:150") for i in range(120)]
    produce_events(isolated, topics, "questions.asked", events)
    group = f"echo-{uuid.uuid4().hex[:8]}"
    # the same slot: the successor's init_transactions() fences the killed process at once
    slot = ("--mode", "eos", "--instance", "p0")
    first = start(isolated, group, tmp_path / "a.log", *slot, "--concurrency", "16")
    read_topic(isolated, topics, "questions.answered", expected=20, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    second = start(isolated, group, tmp_path / "b.log", *slot, "--concurrency", "64")
    try:
        deadline = time.monotonic() + 90
        outputs: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(outputs) < len(events):
            outputs = drain_topic(isolated, topics, "questions.answered", idle=2)
    finally:
        assert stop(second) == 0, (tmp_path / "b.log").read_text()[-2000:]
    counts = Counter(o["value"]["event_id"] for o in outputs)  # read_committed reader
    assert set(counts) == {e["event_id"] for e in events}
    assert [eid for eid, n in counts.items() if n > 1] == [], "duplicates under read_committed"


def _until_members(settings: Settings, group: str, n: int) -> None:
    """Wait until ``n`` members of ``group`` hold partitions (a rebalance settled)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.5)
        admin = admin_client(settings)  # fresh, and kept alive until its future resolves
        try:
            desc = admin.describe_consumer_groups([group], request_timeout=5)[group].result(10)
        except (KafkaException, TimeoutError):
            continue
        members = [m for m in desc.members if m.assignment.topic_partitions]
        if len(members) == n and str(desc.state).endswith("STABLE"):
            return
    raise AssertionError(f"group {group} never had {n} members with partitions")


def test_two_processes_split_partitions_and_survive_one_leaving(
    isolated: Settings, topics: Contracts, tmp_path: Path
) -> None:
    group = f"echo-{uuid.uuid4().hex[:8]}"
    a = start(isolated, group, tmp_path / "a.log")
    b = start(isolated, group, tmp_path / "b.log")
    try:
        _until_members(isolated, group, 2)
        first = [question(i, "sleep:50") for i in range(120)]
        produce_events(isolated, topics, "questions.asked", first)
        outputs = read_topic(isolated, topics, "questions.answered", expected=120, timeout=90)
        pids = Counter(o["value"]["answer"].split()[1] for o in outputs)
        assert len(pids) == 2, f"work not split across both processes: {pids}"
        assert stop(a) == 0  # one leaves gracefully; the other takes over its partitions
        second = [question(1000 + i, "x") for i in range(60)]
        produce_events(isolated, topics, "questions.asked", second)
        later = read_topic(isolated, topics, "questions.answered", expected=180, timeout=90)
        assert {e["event_id"] for e in first + second} <= {o["value"]["event_id"] for o in later}
        second_ids = {e["event_id"] for e in second}
        takers = {
            o["value"]["answer"].split()[1] for o in later if o["value"]["event_id"] in second_ids
        }
        assert takers == {str(b.pid)}
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                stop(proc)


def test_health_readiness_and_metrics_of_a_running_daemon(
    isolated: Settings, topics: Contracts, tmp_path: Path
) -> None:
    import httpx

    from processors.testing.broker import free_port

    port = free_port()
    group = f"echo-{uuid.uuid4().hex[:8]}"
    events = [question(i, "x") for i in range(30)]
    produce_events(isolated, topics, "questions.asked", events)
    proc = start(isolated, group, tmp_path / "h.log", "--health-port", str(port))
    try:
        read_topic(isolated, topics, "questions.answered", expected=30, timeout=60)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "never became ready"
            time.sleep(0.3)
        assert httpx.get(f"{base}/healthz").status_code == 200
        text = httpx.get(f"{base}/metrics").text
        consumed = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("daemons_events_consumed_total{")
        )
        assert consumed == 30
        assert "daemons_partition_lag{" in text
    finally:
        assert stop(proc) == 0
