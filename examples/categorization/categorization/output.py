"""The ``transactions.categorized`` record's own fields (the runtime adds event_id, tenant_id,
principal_id, occurred_at, output_id, run_id and trace_id).

``evidence`` are the ids of the records the decision rests on, each written ``tool:id``
(``listVendors:v-r-01``, ``listTransactions:tx-r-007``) and each returned by this run's
tenant-scoped tools (the ``evidence_returned`` check fails a result citing any other).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.tools.evidence import ToolEvidence

from categorization.models import Categorization
from categorization.resolve import records


def sources(output: Categorization, evidence: Sequence[ToolEvidence]) -> list[str]:
    """``tool:id`` for each cited record, in the order cited."""
    vendors = {str(v.get("vendor_id")) for v in records(evidence, "listVendors", "vendors")}
    found = {str(t.get("transaction_id"))
             for t in records(evidence, "listTransactions", "transactions")}  # fmt: skip

    def tool(record_id: str) -> str:
        if record_id in vendors:
            return "listVendors"
        return "listTransactions" if record_id in found else "unreturned"

    return [f"{tool(i)}:{i}" for i in output.evidence]


def to_output(
    event: Mapping[str, Any], output: Categorization, evidence: Sequence[ToolEvidence]
) -> dict[str, Any]:
    return {
        "transaction_id": event["transaction_id"],
        "descriptor": event["descriptor"],
        "direction": event["direction"],
        "status": output.status,
        "account_code": output.account_code,
        "account_name": output.account_name,
        "account_type": output.account_type,
        "confidence": output.confidence,
        "evidence": sources(output, evidence),
        "reason": output.reason,
        "review_reason": output.review_reason,
    }
