"""How a vendor this tenant already has is answered from memory (what a passed enrichment
teaches is :mod:`.remember`).

Memory is read first (``identify``: the vendor learned under exactly this descriptor, each
descriptor variant being a fact of its own, :mod:`processors.memory.aliases`). When it names
one vendor and this run's directory search and vendor list return its entry and record
again, code answers with them and no model call is made; the answer is resolved and checked
like the model's, and the fields it shares with memory cite the memory records. Otherwise
the model is asked as always.

A descriptor memory never saw may still be a variant of one it did (another store number,
the name cut shorter, a payment processor's prefix): a **near match**
(:func:`near_match`, deterministic). It is offered to the model as evidence, in a form that
can help and cannot mislead it into an unconfirmed id: the remembered vendor's *name* (the
identify view shows nothing else of memory) and, when this run's directory search did not
already return the remembered entry, a directory search for that name, made by code
(:func:`near_reads`) — so whatever the model then cites is an entry a ledger read of this run
returned, and the checks fail any id none did.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from processors.daemons.usecase import Recall
from processors.daemons.vendor_enrichment.checks import read_leaves
from processors.daemons.vendor_enrichment.gather import without_processor
from processors.daemons.vendor_enrichment.models import VendorChoice
from processors.llm.model import ToolCall
from processors.memory.aliases import is_alias
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


_TOKEN = re.compile(r"[^A-Z&]")
_NOISE = frozenset({"POS"})  # a card terminal's prefix, not the merchant's


def descriptor_words(descriptor: str) -> list[str]:
    """The words a bank descriptor spells the vendor and its place with, upper case:
    no payment-processor prefix, no store or terminal numbers (a token with a digit)."""
    words: list[str] = []
    for token in without_processor(descriptor.upper().replace("'", "")).split():
        if any(c.isdigit() for c in token):
            continue
        word = _TOKEN.sub("", token)
        if word and not (not words and word in _NOISE):
            words.append(word)
    return words


def near(descriptor: str, other: str) -> bool:
    """Whether two descriptors spell the same vendor at the same place, one perhaps cut
    shorter: the same first and last word (the merchant's start, the region), and each word of
    the shorter one, in order, the start of a word of the longer (``TIRE CEN`` / ``TIRE
    CENTER``). A different city is a different word, so ``BLUE BOTTLE ... SAN FRANCISCO CA``
    is not near ``BLUE BOTTLE COFFEE OAKLAND CA`` (two directory entries)."""
    one, two = descriptor_words(descriptor), descriptor_words(other)
    return _spelled_within(one, two) or _spelled_within(two, one)


def _spelled_within(short: list[str], long: list[str]) -> bool:
    if len(short) < 2 or len(short) > len(long) or short[0] != long[0] or short[-1] != long[-1]:
        return False
    rest = iter(long)
    return all(any(word.startswith(w) for word in rest) for w in short)


def _identify_result(evidence: Sequence[ToolEvidence]) -> Mapping[str, Any] | None:
    for item in evidence:
        if item.tool == "identify" and item.error is None and isinstance(item.result, Mapping):
            return item.result
    return None


def near_match(result: Mapping[str, Any]) -> Mapping[str, str] | None:
    """The current facts of the one vendor ``identify`` found learned under a descriptor near
    the one asked about (when none was learned under that very one; any of its descriptors,
    not only those among the look-alikes), else None — also when near descriptors belong to
    vendors of different names (which one is for the model's reading of the ledger, not for
    memory's)."""
    if result.get("entity_id") is not None:
        return None
    asked, others = str(result.get("alias") or ""), result.get("others")
    found: dict[str, Mapping[str, str]] = {}
    for current in (others or {}).values() if isinstance(others, Mapping) else ():
        if not isinstance(current, Mapping) or not current.get("name"):
            continue
        if any(is_alias(str(a)) and near(asked, str(v)) for a, v in current.items()):
            found.setdefault(str(current["name"]).casefold(), current)
    return next(iter(found.values())) if len(found) == 1 else None


def near_reads(event: Mapping[str, Any], evidence: Sequence[ToolEvidence]) -> list[ToolCall]:
    """The directory searched for a near match's remembered name, unless this run's search
    already returned its entry: memory proposes a name, the ledger's read is the evidence."""
    result = _identify_result(evidence)
    match = near_match(result) if result is not None else None
    if match is None:
        return []
    business = match.get("business_id")
    if business is not None and ("business_id", business) in set(read_leaves(evidence)):
        return []
    return [ToolCall(id="recall-near", name="searchDirectory", arguments={"query": match["name"]})]


def model_view(result: Any) -> dict[str, Any]:
    """What the model reads of ``identify``: whether this very descriptor is known and, for a
    near match, the name it was confirmed as — never a memory's ids (shown look-alikes'
    vendor ids were cited by the 1.5B model as this vendor's record, which no ledger read
    returned: 5 of the first 9 events with memory failed so in benchmarks/recurrence.py)."""
    if not isinstance(result, Mapping):
        return {}
    view: dict[str, Any] = {"known": bool(result.get("entity_id"))}
    match = near_match(result)
    if match is not None:
        view["a_similar_descriptor_was"] = match["name"]
        view["note"] = (
            "memory of this tenant, not the ledger: a search of the directory for this name is "
            "among the results; use an entry only if its name and city match this descriptor"
        )
    return view


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


RECALL = Recall(tools=("identify",), gather=identify_descriptor, settle=settle, regather=near_reads)
