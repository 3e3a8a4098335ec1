"""``daemons dlq list|replay NAME``: read a daemon's dead letters, and feed them back after a fix.

Both commands read the dead-letter topic ``<NAME>.dlq`` from its first record up to the end it
had when the command started (all partitions, stopping at the high watermarks), so they finish
even while the daemon keeps writing. ``replay`` produces each matching letter's original key,
value and headers, byte for byte, to the partition it was consumed from, adding a
``dlq.replayed_from: <dlq topic>/<partition>/<offset>`` header, with the idempotent producer;
it waits for every delivery and fails if one is missing. Replaying twice delivers twice: the
daemons deduplicate on ``event_id`` downstream, the CLI does not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    KafkaError,
    Message,
    Producer,
)

from processors.catalog import Catalog
from processors.daemons import registry
from processors.errors import CatalogError, DaemonsError, SerdeError
from processors.kafka.clients import Contracts, producer_config
from processors.kafka.snapshot import read_to_end
from processors.serde.json_codec import to_json
from processors.settings import Settings

DEAD_LETTER_SCHEMA = "processdaemons.system.DeadLetter"
REPLAYED_FROM = "dlq.replayed_from"
WHERE_FIELDS = ("error_type", "tenant_id", "event_id", "source_topic", "principal_id", "daemon")
Where = dict[str, set[str]]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = sub.add_parser("dlq", help="inspect and replay a daemon's dead letters")
    commands = dlq.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="print the dead letters of daemon NAME")
    listing.add_argument("name", help="daemon name (its dead-letter topic is NAME.dlq)")
    listing.add_argument("--max", type=int, default=None, help="show at most N, oldest first")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(handler=_list)
    replay = commands.add_parser("replay", help="send dead letters back to their source topic")
    replay.add_argument("name", help="daemon name (its dead-letter topic is NAME.dlq)")
    replay.add_argument(
        "--where",
        action="append",
        default=[],
        type=_where_item,
        metavar="FIELD=VALUE",
        help=f"only letters whose FIELD equals VALUE; FIELD in {', '.join(WHERE_FIELDS)}. "
        "Repeat: different fields must all match, values of one field are alternatives",
    )
    replay.add_argument("--dry-run", action="store_true", help="print what would be replayed")
    replay.set_defaults(handler=_replay)


@dataclass(frozen=True)
class DeadLetter:
    """One decoded ``DeadLetter`` envelope and where it sits in the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    envelope: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    def matches(self, where: Where) -> bool:
        return all(str(self.envelope.get(field)) in values for field, values in where.items())

    def replay_headers(self) -> list[tuple[str, str | bytes | None]]:
        """The original headers (minus an earlier replay mark) plus ``dlq.replayed_from``."""
        original: list[tuple[str, str | bytes | None]] = [
            (h["key"], h["value"]) for h in self.envelope["original_headers"]
        ]
        kept = [(k, v) for k, v in original if k != REPLAYED_FROM]
        return [*kept, (REPLAYED_FROM, self.ref.encode())]


@dataclass(frozen=True)
class Replayed:
    letter: DeadLetter
    topic: str
    partition: int
    offset: int


def dead_letter_topic(catalog: Catalog, name: str) -> str:
    """The physical dead-letter topic of daemon ``name`` (``NAME.dlq`` also accepted)."""
    logical = name if name.endswith(".dlq") else f"{name}.dlq"
    try:
        spec = catalog.get(logical)
    except CatalogError:
        known = sorted(t.name.removesuffix(".dlq") for t in catalog if t.name.endswith(".dlq"))
        raise CatalogError(
            f"no dead-letter topic {logical!r} in the topic catalog; "
            f"daemons with one: {', '.join(known) or 'none'}"
        ) from None
    if spec.value_schema != DEAD_LETTER_SCHEMA:
        raise CatalogError(f"topic {logical!r} does not carry {DEAD_LETTER_SCHEMA} records")
    return catalog.physical(logical)


def read_dead_letters(
    settings: Settings,
    contracts: Contracts,
    topic: str,
    *,
    limit: int | None = None,
    timeout: float = 60.0,
) -> tuple[list[DeadLetter], list[str]]:
    """Letters from the start of ``topic`` to its current end (the first ``limit`` decodable
    ones, in partition and offset order), and a note per undecodable one."""
    letters: list[DeadLetter] = []
    problems: list[str] = []
    for msg in read_to_end(settings, [topic], purpose="dlq", timeout=timeout):
        if limit is not None and len(letters) >= limit:
            break
        partition, offset = msg.partition() or 0, msg.offset() or 0
        try:
            envelope = contracts.codec.decode(msg.value(), DEAD_LETTER_SCHEMA)
        except SerdeError as exc:
            problems.append(f"{topic}/{partition}/{offset}: cannot decode: {exc}")
            continue
        letters.append(DeadLetter(topic, partition, offset, envelope))
    return letters, problems


def replay(
    settings: Settings, letters: Sequence[DeadLetter], timeout: float = 30.0
) -> list[Replayed]:
    """Produce each letter's original record to its source partition; all or an error."""
    producer = Producer(producer_config(settings))
    delivered: dict[int, Replayed] = {}
    failures: list[str] = []
    for index, letter in enumerate(letters):
        env = letter.envelope

        def on_delivery(
            err: KafkaError | None, msg: Message, index: int = index, letter: DeadLetter = letter
        ) -> None:
            if err is not None:
                failures.append(f"{letter.ref}: delivery failed: {err}")
            else:
                delivered[index] = Replayed(
                    letter, msg.topic() or "", msg.partition() or 0, msg.offset() or 0
                )

        producer.produce(
            env["source_topic"],
            key=env["original_key"],
            value=env["original_value"],
            partition=env["source_partition"],
            headers=letter.replay_headers(),
            on_delivery=on_delivery,
        )
        producer.poll(0)
    remaining = producer.flush(timeout)
    missing = len(letters) - len(delivered) - len(failures)
    if failures or remaining or missing:
        detail = "; ".join(failures[:5])
        raise DaemonsError(
            f"replayed {len(delivered)} of {len(letters)} dead letter(s); "
            f"{len(failures)} failed, {max(remaining, missing)} unconfirmed. {detail}".strip()
        )
    return [delivered[i] for i in range(len(letters))]


def _where_item(text: str) -> tuple[str, str]:
    field, sep, value = text.partition("=")
    if not sep or field not in WHERE_FIELDS:
        raise argparse.ArgumentTypeError(
            f"expected FIELD=VALUE with FIELD one of {', '.join(WHERE_FIELDS)}, got {text!r}"
        )
    return field, value


def _where(items: Sequence[tuple[str, str]], catalog: Catalog) -> Where:
    where: Where = {}
    for field, value in items:
        values = where.setdefault(field, set())
        values.add(value)
        if field == "source_topic" and catalog.prefix:
            # A logical name (as in topics.toml) matches its physical, prefixed name too.
            values.add(catalog.prefix + value)
    return where


def _load(name: str) -> tuple[Settings, Contracts, str]:
    settings = Settings.from_env()
    contracts = registry.contracts(settings)
    return settings, contracts, dead_letter_topic(contracts.catalog, name)


def _list(args: argparse.Namespace) -> int:
    settings, contracts, topic = _load(args.name)
    letters, problems = read_dead_letters(settings, contracts, topic, limit=args.max)
    for problem in problems:
        print(problem, file=sys.stderr)
    if args.json:
        for letter in letters:
            row = {"dlq_topic": topic, "partition": letter.partition, "offset": letter.offset}
            print(json.dumps({**row, **to_json(letter.envelope)}))
    else:
        print(_table(letters))
        print(f"{len(letters)} dead letter(s) in {topic}", file=sys.stderr)
    return 1 if problems else 0


def _replay(args: argparse.Namespace) -> int:
    settings, contracts, topic = _load(args.name)
    where = _where(args.where, contracts.catalog)
    letters, problems = read_dead_letters(settings, contracts, topic)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    chosen = [letter for letter in letters if letter.matches(where)]
    if args.dry_run:
        for letter in chosen:
            print(f"would replay {_describe(letter)}")
        print(f"{len(chosen)} of {len(letters)} dead letter(s) match (dry run)", file=sys.stderr)
        return 0
    for done in replay(settings, chosen):
        print(f"replayed {_describe(done.letter)} -> {done.topic}/{done.partition}/{done.offset}")
    print(f"replayed {len(chosen)} of {len(letters)} dead letter(s)", file=sys.stderr)
    return 1 if problems else 0


def _describe(letter: DeadLetter) -> str:
    env = letter.envelope
    return (
        f"{letter.ref} event {env['event_id']} ({env['error_type']}) "
        f"from {env['source_topic']}/{env['source_partition']}/{env['source_offset']}"
    )


_COLUMNS = (
    "OFFSET",
    "EVENT ID",
    "TENANT",
    "ERROR",
    "MESSAGE",
    "ATTEMPTS",
    "SOURCE",
    "LAST FAILURE",
)
_WIDTHS = (10, 36, 20, 28, 60, 8, 60, 20)


def _table(letters: Sequence[DeadLetter]) -> str:
    rows = [_COLUMNS, *(_row(letter) for letter in letters)]
    widths = [min(cap, max(len(row[i]) for row in rows)) for i, cap in enumerate(_WIDTHS)]
    return "\n".join(
        "  ".join(_cell(value, width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _row(letter: DeadLetter) -> tuple[str, ...]:
    env: Mapping[str, Any] = letter.envelope
    return (
        f"{letter.partition}/{letter.offset}",
        str(env["event_id"]),
        str(env["tenant_id"]),
        str(env["error_type"]),
        " ".join(str(env["error_message"]).split()),
        str(env["attempts"]),
        f"{env['source_topic']}/{env['source_partition']}/{env['source_offset']}",
        _timestamp(env["last_failure_at"]),
    )


def _cell(value: str, width: int) -> str:
    return value.ljust(width) if len(value) <= width else value[: width - 1] + "…"


def _timestamp(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value)
