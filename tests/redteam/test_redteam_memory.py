"""Memory poisoning: no red-team payload becomes memory, even when every guardrail of the run
missed it (the worst case: a verdict of pass with nothing flagged). The memory writer screens
each value again, because a memory is replayed into every later prompt of its tenant."""

from __future__ import annotations

from typing import Any

import pytest

from processors.daemons.vendor_enrichment.remember import vendor_memories
from processors.errors import MemoryWriteRefused
from processors.testing.redteam import load_cases

CASES = load_cases()


def _result(descriptor: str, **fields: str) -> dict[str, Any]:
    def field(value: str | None) -> dict[str, Any]:
        status = "known" if value else "unknown"
        return {"value": value, "status": status, "confidence": 0.9 if value else 0.0}

    names = ("name", "website", "phone", "address", "opening_hours", "merchant_category_code",
             "account_category")  # fmt: skip
    return {
        "event_id": "ev-1", "tenant_id": "t1", "principal_id": "svc", "run_id": "r-1",
        "occurred_at": 1_790_000_000_000, "trace_id": "", "raw_descriptor": descriptor,
        "vendor_id": "V-1", **{n: field(fields.get(n, "Acme" if n == "name" else None))
                               for n in names},
    }  # fmt: skip


MISSED = {"run_id": "r-1", "tenant_id": "t1", "verdict": "pass",
          "checks": [{"name": "prompt_injection", "passed": True}]}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_payload_the_run_missed_never_becomes_memory(case: Any) -> None:
    places = [
        _result(case.payload),
        _result("ACME 123", opening_hours=case.payload),
        _result("ACME 123", address=case.payload),
        _result("ACME 123", name=case.payload),
    ]
    for result in places:
        with pytest.raises(MemoryWriteRefused) as refused:
            vendor_memories(result, MISSED, partition=0, offset=0)
        assert refused.value.reason == "flagged"


def test_a_clean_result_does_become_memory() -> None:
    records = vendor_memories(
        _result("ACME 123", website="https://acme.test"), MISSED, partition=0, offset=0
    )
    assert {r.attribute for r in records if r.kind == "fact"} == {"name", "website"}
