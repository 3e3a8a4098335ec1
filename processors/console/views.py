"""How values read on a page: dates, amounts, scores, and a held result's one-line subject."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from processors.console.forms import format_money
from processors.guardrails.review import PAST, Held

# the fields that say what a result is about, first found wins (a user's daemon may have none)
SUBJECT_FIELDS = ("raw_descriptor", "question", "answer", "client_id", "transaction_id")
# the fields of an output that cite where its values came from
EVIDENCE_FIELDS = ("sources", "record_ids", "evidence")


def when(value: Any) -> str:
    """``5 Oct 2026, 09:00 UTC`` from a datetime or ISO text; dates as ``5 Oct 2026``."""
    if isinstance(value, str):
        try:
            value = (
                dt.date.fromisoformat(value)
                if len(value) == 10
                else dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            )
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC) if value.tzinfo else value
        return f"{value.day} {value:%b %Y, %H:%M} UTC"
    if isinstance(value, dt.date):
        return f"{value.day} {value:%b %Y}"
    return "" if value is None else str(value)


def money(minor: Any, currency: Any) -> str:
    """``USD 5,605.50`` from minor units; negative amounts with a minus sign."""
    return format_money(minor, currency)


def percent(score: Any) -> str:
    return f"{float(score) * 100:.0f}%" if isinstance(score, int | float) else ""


def status(held: Held) -> str:
    return PAST[held.decision["decision"]] if held.decision else "pending"


def subject(held: Held) -> str:
    output = held.output
    for name in SUBJECT_FIELDS:
        value = output.get(name)
        if isinstance(value, str) and value:
            return value
    return str(held.record["event_id"])


def pretty(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def input_rows(event: Mapping[str, Any] | None) -> list[tuple[str, str, bool]]:
    """(label, shown value, is amount) for each field of an input event but its envelope,
    amounts with their currency, dates as dates."""
    if not event:
        return []
    rows: list[tuple[str, str, bool]] = []
    skip = {"event_id", "tenant_id", "principal_id", "occurred_at", "currency"}
    for name, value in event.items():
        if name in skip:
            continue
        label = name.removesuffix("_minor").replace("_", " ")
        if name.endswith("_minor") and "currency" in event:
            rows.append((label, money(value, event["currency"]), True))
        elif name.endswith("_date") or name.endswith("_at"):
            rows.append((label, when(value), False))
        elif isinstance(value, dict | list):
            rows.append((label, pretty(value), False))
        else:
            rows.append((label, "" if value is None else str(value), False))
    return rows


def cited(output: Any) -> list[str]:
    """Every record id and tool call the output cites as its evidence, in order, once."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key in EVIDENCE_FIELDS and isinstance(item, list):
                    found.extend(str(i) for i in item if str(i) not in found)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(output)
    return found
