"""Tool results as a model reads them: JSON, except that lists of like records become tables.

A list of 22 transactions as JSON repeats every key 22 times (and the tenant id and currency
with them); as a table each key is written once and a column that is the same on every row is
written once above it. That is far fewer tokens, and on a CPU-served model prompt tokens are
most of an agent run's time. The data is unchanged — the run record keeps the exact JSON;
this is only the text the model (and the judge) reads.

    total_matching: 22
    transactions: 22 rows; on every row: currency=USD, tenant_id=t-quillstack
    transaction_id | posted_on | direction | amount | descriptor
    tx-q-001 | 2026-04-01 | debit | 3200.00 | WEWORK 1 SANSOME ST SAN FRANCISCO CA
"""

from __future__ import annotations

import json
from typing import Any

from processors.agent.record import canonical_json

_MIN_ROWS = 2


def for_model(value: Any) -> str:
    """``value`` as text for a model: tables for lists of like records, else canonical JSON."""
    if _is_table(value):
        return _table(value)
    if isinstance(value, dict) and any(_is_table(item) for item in value.values()):
        return "\n".join(f"{key}: {_one_level(value[key])}" for key in sorted(value))
    return canonical_json(value)


def _one_level(value: Any) -> str:
    """A top-level field: a table, or JSON (nested tables stay JSON, so nothing is ambiguous)."""
    return _table(value) if _is_table(value) else canonical_json(value)


def _is_table(value: Any) -> bool:
    if not isinstance(value, list) or len(value) < _MIN_ROWS:
        return False
    if not all(isinstance(row, dict) and row for row in value):
        return False
    keys = value[0].keys()
    return all(
        row.keys() == keys and all(_is_scalar(cell) for cell in row.values()) for row in value
    )


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    constant = [k for k in keys if all(row[k] == rows[0][k] for row in rows)]
    if len(constant) == len(keys):  # every row alike: keep them all as columns
        constant = []
    columns = [k for k in keys if k not in constant]
    head = f"{len(rows)} rows"
    if constant:
        head += "; on every row: " + ", ".join(f"{k}={_cell(rows[0][k])}" for k in constant)
    lines = [head, " | ".join(columns)]
    lines.extend(" | ".join(_cell(row[k]) for k in columns) for row in rows)
    return "\n".join(lines)


def _cell(value: Any) -> str:
    plain = isinstance(value, str) and value and value.strip() == value
    if plain and not any(c in value for c in "|\n\r") and value not in ("null", "true", "false"):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
