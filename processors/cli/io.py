"""``daemons produce`` and ``daemons tail``: feed JSON lines into a topic, read a topic back."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from confluent_kafka import Consumer, KafkaError, Producer
from opentelemetry.trace import SpanKind

from processors import telemetry
from processors.daemons import registry
from processors.errors import DaemonsError, SerdeError
from processors.kafka.clients import Contracts, consumer_config, ephemeral_group, producer_config
from processors.serde.json_codec import from_json, to_json
from processors.settings import Settings
from processors.tracing import inject_headers


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    produce = sub.add_parser("produce", help="send JSON lines to a topic (validated, Avro-encoded)")
    produce.add_argument("topic", help="logical topic name from topics/topics.toml")
    produce.add_argument("--file", required=True, help="JSON lines file, or - for stdin")
    produce.set_defaults(handler=_produce)
    tail = sub.add_parser("tail", help="print a topic's records and headers as JSON lines")
    tail.add_argument("topic")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    tail.add_argument("--max", type=int, default=None, help="stop after N records")
    tail.add_argument(
        "--idle-timeout", type=float, default=None, help="stop after this many idle seconds"
    )
    tail.set_defaults(handler=_tail)


def _produce(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    contracts = registry.contracts(settings)
    topic = contracts.catalog.get(args.topic)
    physical = contracts.catalog.physical(args.topic)
    schema = contracts.schemas.get(topic.value_schema)
    tracer = telemetry.tracer("processors.cli")
    producer = Producer(producer_config(settings))
    failures = 0
    delivery_errors: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            delivery_errors.append(str(err))

    name = "<stdin>" if args.file == "-" else args.file
    try:
        stream: TextIO = sys.stdin if args.file == "-" else Path(args.file).open()  # noqa: SIM115
    except OSError as exc:
        raise DaemonsError(f"{name}: cannot read: {exc.strerror}") from exc
    sent = 0
    with stream:
        for line_no, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                datum = from_json(schema.parsed, raw)
                key = topic.key_for(raw)
                value = contracts.codec.encode(topic.value_schema, datum, topic=physical)
            except json.JSONDecodeError as exc:
                failures += 1
                print(
                    f"{name}:{line_no}: invalid JSON: {exc.msg} (column {exc.colno})",
                    file=sys.stderr,
                )
                continue
            except DaemonsError as exc:
                failures += 1
                field = getattr(exc, "field", None)
                where = f" field {field}:" if field else ""
                print(f"{name}:{line_no}:{where} {exc}", file=sys.stderr)
                continue
            with tracer.start_as_current_span(f"send {physical}", kind=SpanKind.PRODUCER) as span:
                span.set_attribute("messaging.system", "kafka")
                span.set_attribute("messaging.destination.name", physical)
                headers = inject_headers([("event_id", str(raw.get("event_id", "")).encode())])
                producer.produce(
                    physical, value=value, key=key, headers=headers, on_delivery=on_delivery
                )
            sent += 1
            producer.poll(0)
    remaining = producer.flush(30)
    if remaining or delivery_errors:
        for err in delivery_errors:
            print(f"{physical}: delivery failed: {err}", file=sys.stderr)
        raise DaemonsError(f"{remaining + len(delivery_errors)} record(s) were not delivered")
    print(f"sent {sent} record(s) to {physical}; {failures} line(s) rejected", file=sys.stderr)
    return 1 if failures else 0


def _tail(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    contracts = registry.contracts(settings)
    physical = contracts.catalog.physical(args.topic)
    consumer = Consumer(
        consumer_config(
            settings,
            ephemeral_group("daemons-tail"),
            **{"auto.offset.reset": "earliest" if args.from_beginning else "latest"},
        )
    )
    consumer.subscribe([physical])
    seen = 0
    last = time.monotonic()
    try:
        while args.max is None or seen < args.max:
            msg = consumer.poll(0.5)
            if msg is None:
                if args.idle_timeout is not None and time.monotonic() - last > args.idle_timeout:
                    break
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise DaemonsError(f"consuming {physical}: {error}")
            last = time.monotonic()
            seen += 1
            print(json.dumps(_render(contracts, msg)), flush=True)
    finally:
        consumer.close()
    return 0


def _render(contracts: Contracts, msg: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "topic": msg.topic(),
        "partition": msg.partition(),
        "offset": msg.offset(),
        "key": msg.key().decode(errors="replace") if msg.key() is not None else None,
        "headers": {
            k: (v.decode(errors="replace") if v is not None else None)
            for k, v in (msg.headers() or [])
        },
    }
    try:
        value = contracts.codec.decode(msg.value())
        record["schema"] = contracts.codec.writer_schema_name(msg.value())
        record["value"] = to_json(value)
    except SerdeError as exc:
        record["error"] = str(exc)
    return record
