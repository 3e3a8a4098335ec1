"""``daemons broker up|down|status``: the local Apache Kafka (KRaft) broker."""

from __future__ import annotations

import argparse
from pathlib import Path

from processors.errors import BrokerError
from processors.kafka import broker as local
from processors.kafka.clients import admin_client
from processors.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("broker", help="start, stop or inspect the local Kafka broker")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start a local Apache Kafka 4.x broker (KRaft)")
    up.set_defaults(handler=_up)
    actions.add_parser("down", help="stop the local broker").set_defaults(handler=_down)
    actions.add_parser("status", help="bootstrap address, version, topic count").set_defaults(
        handler=_status
    )


def _state_dir(settings: Settings) -> Path:
    return settings.cache_dir / "broker"


def _up(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if settings.kafka.external:
        if not local.answers(settings.kafka.bootstrap_servers, 10, settings.kafka.client_config()):
            raise BrokerError(
                f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka.bootstrap_servers} does not answer"
            )
        print(f"using external cluster {settings.kafka.bootstrap_servers}; nothing started")
        return 0
    running = local.read_state(_state_dir(settings))
    if running is not None and local.answers(running.bootstrap):
        print(f"already running: {running.bootstrap} (Kafka {running.version}, pid {running.pid})")
        return 0
    version, libs = local.ensure_jars(
        settings.cache_dir, settings.deploy_dir / "kafka" / "pom.xml", settings.kafka_version
    )
    port = int(settings.kafka.bootstrap_servers.rsplit(":", 1)[1])
    broker = local.start_broker(
        libs, version, _state_dir(settings), port=port, controller_port=port + 1
    )
    print(
        f"started Kafka {version} at {broker.bootstrap} (pid {broker.pid}, logs {broker.log_path})"
    )
    return 0


def _down(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if settings.kafka.external:
        print("KAFKA_BOOTSTRAP_SERVERS is set: not stopping an external cluster")
        return 0
    running = local.read_state(_state_dir(settings))
    if running is None:
        print("no local broker running")
        return 0
    running.stop()
    (_state_dir(settings) / "broker.pid").unlink(missing_ok=True)
    print(f"stopped Kafka {running.version} (pid {running.pid})")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    bootstrap = settings.kafka.bootstrap_servers
    version = "unknown (external cluster)"
    if not settings.kafka.external:
        running = local.read_state(_state_dir(settings))
        if running is None:
            print(f"bootstrap: {bootstrap}\nstate:     not running")
            return 1
        version = f"{running.version} (local, pid {running.pid})"
    try:
        metadata = admin_client(settings).list_topics(timeout=10)
    except Exception as exc:  # noqa: BLE001 - report any client failure as "unreachable"
        print(f"bootstrap: {bootstrap}\nstate:     unreachable ({exc})")
        return 1
    user_topics = [t for t in metadata.topics if not t.startswith("__")]
    print(f"bootstrap: {bootstrap}")
    print(f"version:   {version}")
    print(f"brokers:   {len(metadata.brokers)}")
    print(f"topics:    {len(user_topics)}")
    return 0
