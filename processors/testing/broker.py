"""A real Kafka for a test session, by the same code as ``daemons broker up``.

Order of preference: ``KAFKA_BOOTSTRAP_SERVERS`` (nothing started); a Docker engine if one
answers (testcontainers' Kafka module, KRaft); else the local Apache Kafka from Maven jars on
free ports in a temporary directory, so a developer's own broker is never touched.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from processors.kafka import broker as local
from processors.settings import KafkaSettings, Settings


def free_port(adjacent: int = 1) -> int:
    """A loopback port nothing holds (the first of ``adjacent`` free ones in a row).

    Chosen below the kernel's ephemeral range: a port the kernel hands out (``bind`` to 0)
    can become the local end of any outgoing connection before a slow server such as Kafka
    binds it — a local broker then exits with ``Address already in use``.
    """
    low = _ephemeral_low()
    for _ in range(500):
        first = random.randrange(max(1024, low - 16384), low - adjacent)
        if all(_bindable(port) for port in range(first, first + adjacent)):
            return first
    raise RuntimeError(f"no {adjacent} free adjacent loopback port(s) below {low}")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default when /proc is not there


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


@contextlib.contextmanager
def session_broker(base: Settings | None = None) -> Iterator[Settings]:
    """Yield settings that point at a running broker; stop it afterwards if we started it."""
    base = base or Settings.from_env()
    if base.kafka.external:
        yield base
        return
    if docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield _pointing_at(base, container.get_bootstrap_server())
        return
    version, libs = local.ensure_jars(
        base.cache_dir, base.deploy_dir / "kafka" / "pom.xml", base.kafka_version
    )
    state = Path(tempfile.mkdtemp(prefix="daemons-test-kafka-"))
    port = free_port()
    broker = local.start_broker(libs, version, state, port=port, controller_port=free_port())
    try:
        yield _pointing_at(base, broker.bootstrap)
    finally:
        broker.stop()
        shutil.rmtree(state, ignore_errors=True)


def _pointing_at(base: Settings, bootstrap: str) -> Settings:
    kafka = KafkaSettings(bootstrap_servers=bootstrap, external=True)
    return base.model_copy(update={"kafka": kafka})
