"""Tool results as the model reads them: like records become a table, nothing is lost."""

from __future__ import annotations

import json

from processors.agent.tabular import for_model

ROWS = [
    {"transaction_id": "tx-1", "amount": "3200.00", "tenant_id": "t-a", "vendor_id": None},
    {"transaction_id": "tx-2", "amount": "87.50", "tenant_id": "t-a", "vendor_id": "v-2"},
    {"transaction_id": "tx-3", "amount": "12.00", "tenant_id": "t-a", "vendor_id": "v|3"},
]


def test_like_records_become_a_table_with_constant_columns_written_once() -> None:
    text = for_model({"total_matching": 3, "transactions": ROWS})
    lines = text.splitlines()
    assert lines[0] == "total_matching: 3"
    assert lines[1] == "transactions: 3 rows; on every row: tenant_id=t-a"
    assert lines[2] == "transaction_id | amount | vendor_id"
    assert lines[3:] == ["tx-1 | 3200.00 | null", "tx-2 | 87.50 | v-2", 'tx-3 | 12.00 | "v|3"']
    assert len(text) < 0.7 * len(json.dumps({"total_matching": 3, "transactions": ROWS}))


def test_anything_else_stays_canonical_json() -> None:
    mixed = [{"a": 1}, {"b": 2}]  # different keys
    nested = [{"a": {"x": 1}}, {"a": {"x": 2}}]  # non-scalar cells
    for value in (mixed, nested, [{"a": 1}], {"k": "v"}, "text", None, []):
        assert json.loads(for_model(value)) == value
    # a string that would read as another value keeps its quotes
    assert for_model([{"a": "null"}, {"a": " x"}]).splitlines()[1:] == ["a", '"null"', '" x"']
