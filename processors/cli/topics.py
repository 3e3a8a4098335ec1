"""``daemons topics list|apply``: topics as data (``topics/topics.toml``)."""

from __future__ import annotations

import argparse

from processors.daemons import registry
from processors.kafka.admin import apply_topics
from processors.kafka.clients import admin_client
from processors.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("topics", help="list the topic catalog or apply it to the cluster")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="print every topic with its settings").set_defaults(
        handler=_list
    )
    actions.add_parser(
        "apply", help="create missing topics, raise partitions, update configs (idempotent)"
    ).set_defaults(handler=_apply)


def _list(args: argparse.Namespace) -> int:
    catalog = registry.contracts(Settings.from_env()).catalog
    rows = [
        (
            "TOPIC",
            "PART",
            "RF",
            "RETENTION",
            "CLEANUP",
            "KEY",
            "VALUE SCHEMA",
            "PRODUCERS → CONSUMERS",
        )
    ]
    for t in catalog:
        retention = "forever" if t.retention_ms < 0 else f"{t.retention_ms // 86_400_000}d"
        rows.append((
            catalog.physical(t.name), str(t.partitions), str(t.replication_factor), retention,
            t.cleanup_policy, "+".join(t.key), t.value_schema.rsplit(".", 1)[-1],
            f"{', '.join(t.producers)} → {', '.join(t.consumers)}",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def _apply(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    changes = apply_topics(admin_client(settings), registry.contracts(settings).catalog)
    for change in changes:
        print(change)
    if not any(c.action != "note" for c in changes):
        print("no changes: topics match topics/topics.toml")
    return 0
