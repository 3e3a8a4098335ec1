"""How a vendor this tenant already has is answered from memory (what a passed enrichment
teaches is :mod:`.remember`).

Memory is read first (``identify``: the vendor learned under exactly this descriptor, each
descriptor variant being a fact of its own, :mod:`processors.memory.aliases`). When it names
one vendor and this run's directory search and vendor list return its entry and record
again, code answers with them and no model call is made; the answer is resolved and checked
like the model's, and the fields it shares with memory cite the memory records. Otherwise
the model is asked as always.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.daemons.usecase import Recall
from processors.daemons.vendor_enrichment.checks import read_leaves
from processors.daemons.vendor_enrichment.models import VendorChoice
from processors.llm.model import ToolCall
from processors.tools.evidence import ToolEvidence


def identify_descriptor(event: Mapping[str, Any]) -> list[ToolCall]:
    """The memory read made first: the vendor learned under exactly this descriptor."""
    alias = str(event["raw_descriptor"])
    arguments = {"entity_kind": "vendor", "alias": alias}
    return [ToolCall(id="recall-vendor", name="identify", arguments=arguments)]


def identified(evidence: Sequence[ToolEvidence]) -> Mapping[str, Any] | None:
    """What ``identify`` returned of the one entity it found, else None."""
    for item in evidence:
        result = item.result
        if item.tool == "identify" and item.error is None and isinstance(result, Mapping):
            return result if result.get("entity_id") is not None else None
    return None


def settle(event: Mapping[str, Any], evidence: Sequence[ToolEvidence]) -> VendorChoice | None:
    """A vendor remembered under this very descriptor, answered without the model — once
    this run's directory search and vendor list return its entry and record again (memory
    proposes, the ledger confirms; otherwise the model is asked, with the memory shown)."""
    found = identified(evidence)
    if found is None:
        return None
    current: Mapping[str, str] = found.get("current") or {}
    business, vendor = current.get("business_id"), current.get("vendor_id")
    if business is None and vendor is None:
        return None
    confirmed = set(read_leaves(evidence))  # the ledger's reads of this run, not memory's
    if business is not None and ("business_id", business) not in confirmed:
        return None
    if vendor is not None and ("vendor_id", vendor) not in confirmed:
        return None
    return VendorChoice(
        business_id=business, existing_vendor_id=vendor, name=current.get("name"),
        account_category=current.get("account_category"),
    )  # fmt: skip


def memory_sources(evidence: Sequence[ToolEvidence]) -> dict[str, tuple[str, str]]:
    """The identified vendor's facts, attribute -> (value, memory id): the citations of a
    field answered from memory."""
    found = identified(evidence)
    if found is None:
        return {}
    return {
        m["attribute"]: (str(m["value"]), str(m["memory_id"]))
        for m in found.get("memories") or ()
        if isinstance(m, Mapping) and m.get("kind") == "fact" and m.get("value") is not None
    }


RECALL = Recall(tools=("identify",), gather=identify_descriptor, settle=settle)
