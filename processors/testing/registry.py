"""A real Schema Registry for a test session: Apicurio Registry from Maven Central.

The documented API is the Confluent Schema Registry's; Apicurio serves it as its
Confluent-compatible API (``/apis/ccompat/v7``), so the client and the wire format are tested
against a real, independent implementation instead of a stub. Like the broker it needs no Docker
engine: ``mvn dependency:unpack`` fetches Apicurio's Quarkus distribution (the ``all`` tar.gz
of ``io.apicurio:apicurio-registry-app``) into the cache once, and Java 17 runs it with its
in-memory storage on a free loopback port.

Order of preference: ``SCHEMA_REGISTRY_URL`` (nothing started; the registry named there is
used as it is), else the local Apicurio.

Version 2.6.13.Final is the newest that runs on Java 17: Apicurio 3.x is built for Java 21
(tried: 3.3.3 fails at start with ``UnsupportedClassVersionError ... class file version 65.0``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from processors.errors import ConfigError
from processors.kafka.broker import require_program, stop_pid
from processors.settings import Settings
from processors.testing.broker import free_port

APICURIO_VERSION = "2.6.13.Final"
CCOMPAT = "/apis/ccompat/v7"
_COMPLETE = ".complete"


@dataclass(frozen=True)
class RegistryProcess:
    """A running local Apicurio Registry."""

    pid: int
    url: str  # the Confluent-compatible API's base URL (SCHEMA_REGISTRY_URL)
    log_path: Path

    def stop(self, timeout: float = 30.0) -> None:
        stop_pid(self.pid, timeout)


def ensure_apicurio(cache_dir: Path, version: str = APICURIO_VERSION) -> Path:
    """The runner jar of Apicurio Registry ``version``, unpacked from Maven Central once."""
    home = cache_dir / f"apicurio-registry-{version}"
    jar = home / f"apicurio-registry-app-{version}-runner.jar"
    if (home / _COMPLETE).exists() and jar.exists():
        return jar
    mvn = require_program("mvn", "install Maven (Debian: apt-get install maven)")
    require_program("java", "install Java 17+ (Debian: apt-get install openjdk-17-jre-headless)")
    staging = home.with_name(f"{home.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn, "-q", "-B", "dependency:unpack",
        f"-Dartifact=io.apicurio:apicurio-registry-app:{version}:tar.gz:all",
        f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not (staging / jar.name).exists():
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        shutil.rmtree(staging, ignore_errors=True)
        raise ConfigError(f"could not fetch Apicurio Registry {version} with Maven: {tail}")
    (staging / _COMPLETE).write_text(version)
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    return jar


def start_apicurio(
    jar: Path, state_dir: Path, port: int, timeout: float = 180.0
) -> RegistryProcess:
    """Start the registry on ``127.0.0.1:port`` and wait until its API answers."""
    java = require_program("java", "install Java 17+")
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "registry.log"
    env = {**os.environ, "QUARKUS_HTTP_HOST": "127.0.0.1", "QUARKUS_HTTP_PORT": str(port)}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [java, "-Xmx384m", "-jar", str(jar)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=state_dir,
            start_new_session=True,
        )  # fmt: skip
    registry = RegistryProcess(proc.pid, f"http://127.0.0.1:{port}{CCOMPAT}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(
                f"Apicurio Registry exited with status {proc.returncode} at start; "
                f"its log ({log_path}) ends: {_tail(log_path)}"
            )
        if _answers(registry.url):
            return registry
        time.sleep(0.5)
    registry.stop()
    raise ConfigError(
        f"Apicurio Registry did not answer on {registry.url} within {timeout:.0f} s; "
        f"its log ({log_path}) ends: {_tail(log_path)}"
    )


@contextlib.contextmanager
def session_registry(base: Settings) -> Iterator[Settings]:
    """``base`` pointing at a running registry; one started here is stopped afterwards."""
    if base.schema_registry_url:
        yield base
        return
    import tempfile

    jar = ensure_apicurio(base.cache_dir)
    state = Path(tempfile.mkdtemp(prefix="daemons-test-registry-"))
    registry = start_apicurio(jar, state, free_port())
    try:
        yield base.model_copy(update={"schema_registry_url": registry.url})
    finally:
        registry.stop()
        shutil.rmtree(state, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/subjects", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line for line in text[-lines:] if not line.startswith("\tat "))
