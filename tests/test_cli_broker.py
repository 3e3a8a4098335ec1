"""`daemons broker up|status|down` start and stop a real local broker and leave nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from processors.kafka.broker import pid_alive, read_state
from processors.settings import Settings
from processors.testing.broker import free_port

pytestmark = pytest.mark.kafka


def _daemons(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processors", *args],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _own_broker_env(cache: Path, port: int) -> dict[str, str]:
    """Environment for a broker of its own in ``cache`` on ``port`` (controller: ``port + 1``)."""
    cache.mkdir()
    # Reuse the jars the session broker fetched: the second start needs no network.
    for libs in Settings().cache_dir.glob("kafka-*"):
        (cache / libs.name).symlink_to(libs)
    env = {**os.environ, "DAEMONS_CACHE_DIR": str(cache), "DAEMONS_BROKER_PORT": str(port)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return env


@pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")), reason="external cluster")
def test_broker_up_status_down(tmp_path: Path, kafka: Settings) -> None:
    cache = tmp_path / "cache"
    env = _own_broker_env(cache, free_port(adjacent=2))
    up = _daemons(env, "broker", "up")
    assert up.returncode == 0, up.stderr
    state = read_state(cache / "broker")
    assert state is not None
    try:
        status = _daemons(env, "broker", "status")
        assert status.returncode == 0
        assert f"bootstrap: 127.0.0.1:{env['DAEMONS_BROKER_PORT']}" in status.stdout
        assert "version:   4." in status.stdout
        assert "topics:    0" in status.stdout
        again = _daemons(env, "broker", "up")
        assert "already running" in again.stdout
    finally:
        down = _daemons(env, "broker", "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not pid_alive(state.pid)
    leftover = subprocess.run(["pgrep", "-f", str(cache)], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
    assert _daemons(env, "broker", "status").returncode == 1


@pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")), reason="external cluster")
def test_broker_up_names_a_taken_port(tmp_path: Path, kafka: Settings) -> None:
    """The controller port (broker port + 1) is taken: the error names the bind failure, which
    Kafka logs long before its last lines, and no Kafka is left running."""
    cache = tmp_path / "cache"
    port = free_port(adjacent=2)
    env = _own_broker_env(cache, port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        up = _daemons(env, "broker", "up")
    assert up.returncode == 2
    first_line = up.stderr.splitlines()[0]
    assert "Kafka exited with status 1:" in first_line and "ERROR" in first_line
    assert "Caused by: java.net.BindException: Address already in use" in up.stderr
    assert _daemons(env, "broker", "status").returncode == 1
    leftover = subprocess.run(["pgrep", "-f", str(cache)], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
