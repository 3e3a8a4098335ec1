"""A real Apache Kafka 4.x broker (KRaft, single node) for development and CI.

No Docker engine is needed: the jars come from Maven Central through ``deploy/kafka/pom.xml``
(``mvn dependency:copy-dependencies``) into ``<cache>/kafka-<version>/libs`` once; every later
start reuses them without network. Storage is formatted with ``kafka.tools.StorageTool``
(standalone controller) and the broker runs as ``java -cp 'libs/*' kafka.Kafka``.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from processors.errors import BrokerError, ConfigError
from processors.settings import KafkaConfig

# Newest first: the first one Maven resolves wins.
KAFKA_VERSIONS = ("4.4.0", "4.3.1", "4.2.0", "4.1.1", "4.0.0")
_COMPLETE = ".complete"

_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data_dir}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""

_LOG4J2 = """\
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName="{log}"><PatternLayout pattern="[%d] %p %m (%c)%n"/></File>
  </Appenders>
  <Loggers>
    <Logger name="kafka" level="INFO"/>
    <Logger name="org.apache.kafka" level="INFO"/>
    <Root level="WARN"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


def require_program(name: str, hint: str) -> str:
    """The path of ``name`` on PATH, or a ConfigError saying what to install."""
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"'{name}' was not found on PATH: {hint}")
    return path


def ensure_jars(cache_dir: Path, pom: Path, version: str | None = None) -> tuple[str, Path]:
    """Return ``(version, libs_dir)``, downloading the broker's jars with Maven if needed."""
    failures: list[str] = []
    for candidate in (version,) if version else KAFKA_VERSIONS:
        libs = cache_dir / f"kafka-{candidate}" / "libs"
        if (libs / _COMPLETE).exists():
            return candidate, libs
        mvn = require_program("mvn", "install Maven (Debian: apt-get install maven)")
        require_program(
            "java", "install Java 17+ (Debian: apt-get install openjdk-17-jre-headless)"
        )
        staging = libs.with_name(f"libs.partial-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [
            mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
            f"-Dkafka.version={candidate}", "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            failures.append(f"{candidate}: {' | '.join(tail)}")
            shutil.rmtree(staging, ignore_errors=True)
            continue
        (staging / _COMPLETE).write_text(candidate)
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        return candidate, libs
    raise BrokerError("could not fetch Apache Kafka jars with Maven:\n  " + "\n  ".join(failures))


@dataclass(frozen=True)
class BrokerProcess:
    """A running local broker."""

    pid: int
    bootstrap: str
    version: str
    state_dir: Path

    @property
    def log_path(self) -> Path:
        return self.state_dir / "server.log"

    def alive(self) -> bool:
        return pid_alive(self.pid)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (Kafka shuts down cleanly), then SIGKILL after ``timeout``."""
        stop_pid(self.pid, timeout)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


def stop_pid(pid: int, timeout: float) -> None:
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    while pid_alive(pid):
        time.sleep(0.1)


def start_broker(
    libs: Path,
    version: str,
    state_dir: Path,
    *,
    port: int = 9092,
    controller_port: int = 9093,
    heap: str = "768m",
    wait: float = 90.0,
) -> BrokerProcess:
    """Format storage if new and start ``kafka.Kafka`` detached; return once it answers."""
    java = require_program(
        "java", "install Java 17+ (Debian: apt-get install openjdk-17-jre-headless)"
    )
    data_dir = state_dir / "data"
    state_dir.mkdir(parents=True, exist_ok=True)
    props = state_dir / "server.properties"
    props.write_text(
        _SERVER_PROPERTIES.format(port=port, controller_port=controller_port, data_dir=data_dir)
    )
    log4j = state_dir / "log4j2.xml"
    log4j.write_text(_LOG4J2.format(log=state_dir / "server.log"))
    classpath = f"{libs}/*"
    if not (data_dir / "meta.properties").exists():
        fmt = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format", "--standalone",
             f"--cluster-id={_new_cluster_id()}", "-c", str(props)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if fmt.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed: {fmt.stderr.strip()[-500:]}")
    with (state_dir / "stdout.log").open("ab") as out:
        proc = subprocess.Popen(
            [java, f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC",
             f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath, "kafka.Kafka", str(props)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    broker = BrokerProcess(proc.pid, f"127.0.0.1:{port}", version, state_dir)
    (state_dir / "broker.pid").write_text(f"{proc.pid} {port} {version}\n")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(
                f"Kafka exited with status {proc.returncode}: {_first_error(broker.log_path)}\n"
                f"last lines of {broker.log_path}:\n"
                f"{_tail(broker.log_path)}{_tail(state_dir / 'stdout.log')}"
            )
        if answers(broker.bootstrap):
            return broker
    broker.stop()
    raise BrokerError(f"Kafka did not answer on {broker.bootstrap} within {wait:.0f}s")


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, base64url without padding (22 chars)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def answers(bootstrap: str, timeout: float = 2.0, extra: KafkaConfig | None = None) -> bool:
    """True when the cluster at ``bootstrap`` answers a metadata request."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        return False
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3, **(extra or {})})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except Exception:  # noqa: BLE001 - any failure here just means "not (yet) reachable"
        return False
    return bool(metadata.brokers)


def read_state(state_dir: Path) -> BrokerProcess | None:
    """The broker recorded in ``state_dir`` if its process is still alive."""
    pid_file = state_dir / "broker.pid"
    if not pid_file.exists():
        return None
    pid, port, version = pid_file.read_text().split()
    broker = BrokerProcess(int(pid), f"127.0.0.1:{port}", version, state_dir)
    if not broker.alive():
        pid_file.unlink()
        return None
    return broker


def _first_error(log: Path) -> str:
    """The first ERROR/FATAL entry of a Kafka log with its ``Caused by`` lines (the root cause;
    the shutdown that follows it can push it far above the log's last lines)."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for i, line in enumerate(lines):
        if "] ERROR " in line or "] FATAL " in line:
            causes = []
            for follow in lines[i + 1 :]:
                if follow.startswith("["):
                    break
                if follow.startswith("Caused by:"):
                    causes.append(follow)
            return "\n  ".join([line, *causes])
    return "no ERROR in its log"


def _tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
