"""``daemons memory search|facts|forget|rebuild``: the memory store, from the command line.

Every command first brings the store up to date with ``memory.facts`` (``--offline``: read the
store as it is). Results are JSON lines on stdout; progress goes to stderr. Memory text is
data from outside (descriptors, answers): it is printed as JSON strings, never logged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any, cast

from confluent_kafka import Producer

from processors.daemons import registry
from processors.errors import ConfigError
from processors.kafka.clients import Contracts, producer_config
from processors.memory.materializer import Materializer, Progress
from processors.memory.port import MemoryStore
from processors.memory.records import ENTITY_KINDS, EntityKind, MemoryKind, MemoryRecord
from processors.memory.stores import STORES, embedder_from, fresh_store, open_store
from processors.memory.writer import MemoryWriter
from processors.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("memory", help="search, read, forget and rebuild the memory store")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    search = actions.add_parser("search", help="hybrid search of one tenant's memories")
    search.add_argument("tenant")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5, help="how many hits (default 5)")
    search.add_argument("--kind", choices=["fact", "episode"], action="append", dest="kinds")
    search.add_argument("--entity-kind", choices=ENTITY_KINDS)
    search.add_argument("--as-of", type=_moment, help="ISO time: what was valid then")
    search.set_defaults(handler=_search)

    facts = actions.add_parser("facts", help="an entity's facts (now, or --as-of a time)")
    facts.add_argument("tenant")
    facts.add_argument("entity", type=_entity, help="KIND:ID, e.g. vendor:V-100")
    facts.add_argument("--as-of", type=_moment, help="ISO time: what was valid then")
    facts.set_defaults(handler=_facts)

    forget = actions.add_parser("forget", help="write tombstones for a tenant's (or entity's) keys")
    forget.add_argument("--tenant", required=True)
    forget.add_argument("--entity", type=_entity, help="KIND:ID (default: the whole tenant)")
    forget.set_defaults(handler=_forget)

    rebuild = actions.add_parser("rebuild", help="rebuild the store from memory.facts offset 0")
    rebuild.add_argument("--store", choices=sorted(STORES), default=None)
    rebuild.set_defaults(handler=_rebuild)

    for command in (search, facts, forget):
        command.add_argument(
            "--offline", action="store_true", help="do not catch up with memory.facts first"
        )


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _entity(text: str) -> tuple[EntityKind, str]:
    kind, sep, ident = text.partition(":")
    if not sep or kind not in ENTITY_KINDS or not ident:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use KIND:ID with KIND one of {', '.join(ENTITY_KINDS)}"
        )
    return kind, ident


def _report(progress: Progress) -> None:
    elapsed = max(time.monotonic() - progress.started, 1e-6)
    done = progress.total - progress.remaining
    print(
        f"memory: {done}/{progress.total} message(s), {progress.applied} applied, "
        f"{progress.applied / elapsed:.0f}/s",
        file=sys.stderr,
        flush=True,
    )


def _opened(args: argparse.Namespace) -> tuple[Settings, Contracts, MemoryStore]:
    settings = Settings.from_env()
    contracts = registry.contracts(settings)
    store = open_store(settings, embedder_from(settings))
    if not getattr(args, "offline", False):
        Materializer(settings, contracts, store).catch_up()
    return settings, contracts, store


def _record(record: MemoryRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _search(args: argparse.Namespace) -> int:
    _, _, store = _opened(args)
    try:
        kinds = cast(list[MemoryKind] | None, args.kinds)
        hits = store.search(
            args.tenant, args.query, kinds=kinds, entity_kind=args.entity_kind, k=args.k,
            as_of=args.as_of,
        )  # fmt: skip
        for hit in hits:
            print(json.dumps({
                "key": hit.key, "score": round(hit.score, 6), "vector_rank": hit.vector_rank,
                "keyword_rank": hit.keyword_rank, "record": _record(hit.record),
            }))  # fmt: skip
    finally:
        store.close()
    return 0


def _facts(args: argparse.Namespace) -> int:
    _, _, store = _opened(args)
    kind, ident = args.entity
    try:
        for record in store.facts(args.tenant, kind, ident, as_of=args.as_of):
            print(json.dumps(_record(record)))
    finally:
        store.close()
    return 0


def _forget(args: argparse.Namespace) -> int:
    settings, contracts, store = _opened(args)
    kind, ident = args.entity if args.entity else (None, None)
    try:
        keys = store.keys(args.tenant, kind, ident)
        if not keys:
            print("memory: nothing to forget", file=sys.stderr)
            return 0
        producer = Producer(producer_config(settings))
        sent = MemoryWriter(producer, contracts).forget(keys)
        if not args.offline:
            Materializer(settings, contracts, store).catch_up()
        print(f"memory: {sent} tombstone(s) written to memory.facts", file=sys.stderr)
        print(json.dumps({"tenant": args.tenant, "forgotten_keys": sent}))
    finally:
        store.close()
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.store is not None and args.store not in STORES:
        raise ConfigError(f"unknown memory store {args.store!r}")
    contracts = registry.contracts(settings)
    store, publish = fresh_store(settings, embedder_from(settings), args.store)
    with contextlib.ExitStack() as on_failure:
        on_failure.callback(store.close)  # a failed rebuild leaves the old store in place
        progress = Materializer(settings, contracts, store).catch_up(_report)
        digest = store.digest()
        on_failure.pop_all()
    publish()
    print(json.dumps({"applied": progress.applied, "positions": progress.positions,
                      "digest": digest}))  # fmt: skip
    return 0
