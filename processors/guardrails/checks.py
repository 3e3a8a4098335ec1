"""Deterministic checks of an agent's output against the evidence its tools returned.

Each check returns a :class:`CheckResult`; the daemon turns a list of them into a verdict.
They look only at the output and at what the tools actually returned in *this* run (which the
API scoped to the event's tenant), so a number or id the model made up — or copied from
another tenant — has nothing to stand on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from processors.tools.evidence import ToolEvidence
from processors.untrusted.redaction import pii_found, secret_in
from processors.untrusted.text import normalize, skeleton

_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str = ""

    def as_datum(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail[:500]}


def demotion(name: str, problems: Mapping[str, str], *, to: str, ok: str) -> CheckResult:
    """The result of a check that *demotes* what it cannot stand behind (the caller nulls
    those parts of the output) instead of failing the run: it passes, and its detail says
    what went ``to`` where and why (``to a human: …``, ``to unknown: …``)."""
    if problems:
        return CheckResult(name, True, f"to {to}: {'; '.join(problems.values())}")
    return CheckResult(name, True, ok)


def evidence_text(evidence: Sequence[ToolEvidence]) -> str:
    return "\n".join(json.dumps(e.result, default=str, sort_keys=True) for e in evidence)


def evidence_numbers(evidence: Sequence[ToolEvidence]) -> set[Decimal]:
    """Every number in the tool results (strings like "18.75" included)."""
    numbers: set[Decimal] = set()
    for match in _NUMBER.findall(evidence_text(evidence)):
        try:
            numbers.add(Decimal(match.replace(",", "")))
        except InvalidOperation:
            continue
    return numbers


def numeric_grounding(
    amounts_minor: Iterable[int], evidence: Sequence[ToolEvidence]
) -> CheckResult:
    """Every amount (in minor units) in the output appears in a tool result — as cents or as
    the decimal amount — so no figure comes from the model's own arithmetic."""
    known = evidence_numbers(evidence)
    missing = [
        a for a in amounts_minor if Decimal(a) not in known and Decimal(a) / 100 not in known
    ]
    if missing:
        return CheckResult("numeric_grounding", False, f"amounts not in tool results: {missing}")
    return CheckResult("numeric_grounding", True, "every amount appears in a tool result")


def ids_grounded(ids: Iterable[str], evidence: Sequence[ToolEvidence]) -> CheckResult:
    """Every record id the output cites was returned by this run's tenant-scoped tools, so no
    id of another tenant (or an invented one) can appear."""
    text = evidence_text(evidence)
    unknown = sorted({i for i in ids if i and i not in text})
    if unknown:
        return CheckResult("tenant_scoped_ids", False, f"ids not returned by tools: {unknown}")
    return CheckResult("tenant_scoped_ids", True, "every cited id came from this tenant's data")


def no_secrets(output: Any) -> CheckResult:
    """No credential leaves in an output: none this process minted or holds (by value, in
    any spelling the screen folds) and nothing shaped like a known token format."""
    text = json.dumps(output, default=str, ensure_ascii=False)
    found = secret_in(text) or secret_in(skeleton(text))
    if found:
        return CheckResult("no_secrets", False, f"the output holds {found}")
    return CheckResult("no_secrets", True, "no secret-like text")


# --- event text ----------------------------------------------------------------------------

ENVELOPE = frozenset({"event_id", "tenant_id", "principal_id", "occurred_at"})
"""An event's fields that say who and when, not what: never untrusted prose."""
RESTATES_AT = 6  # a shorter value ("cash", "USD", "2026") is not a sentence anyone dictated
# and one word (a code, a choice of the schema's, a bank's name) says too little to be
# dictated: what is checked is text of two words or more


def _leaves(data: Any, path: str = "") -> Iterable[tuple[str, str]]:
    """``(path, text)`` of every string in ``data``; list items share their list's path
    (``answers.value``), so a use case names a field once for all its items."""
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list | tuple):
        for item in data:
            yield from _leaves(item, path)


def _squeezed(text: str) -> str:
    return " ".join(normalize(text).split())


def event_text_confirmed(
    output: Any,
    event: Mapping[str, Any],
    evidence: Sequence[ToolEvidence],
    restates: Mapping[str, str] | None = None,
) -> CheckResult:
    """Event text informs an answer only where the ledger's own data confirms it: a value of
    the output that restates the event's text (looked at as it reads: folded, look-alikes
    and case undone, spaces squeezed) must also be in what this run's tools returned —
    otherwise whoever wrote the event dictated it. The one exception is a field the use
    case declares in ``restates`` (path -> why), e.g. a vendor's name read off its bank
    descriptor. One rule for every daemon: an instruction in a signup field does not become
    the published answer, whatever the use case's own checks know about it."""
    restates = restates or {}
    said = _squeezed(
        "\n".join(text for key, text in _leaves(dict(event)) if key.split(".")[0] not in ENVELOPE)
    )
    returned = _squeezed("\n".join(text for _, text in _leaves([e.result for e in evidence])))
    dictated = sorted({
        path
        for path, text in _leaves(output)
        if path not in restates
        and len(value := _squeezed(text)) >= RESTATES_AT
        and " " in value
        and value in said
        and value not in returned
    })  # fmt: skip
    if dictated:
        why = f"{', '.join(dictated)}: restate(s) the event's text, which no tool result confirms"
        return CheckResult("event_text_confirmed", False, why)
    allowed = f" (declared: {', '.join(sorted(restates))})" if restates else ""
    return CheckResult("event_text_confirmed", True, f"nothing unconfirmed from the event{allowed}")


# --- cross-tenant references -------------------------------------------------------------


@dataclass(frozen=True)
class TenantIds:
    """How ids name their tenant in the API the tools call. The default is the reference
    ledger's scheme: tenants ``t-<name>``, clients ``c-<name>``, transactions and vendors
    ``tx-<initial>-<n>`` / ``v-<initial>-<n>``; shared directory ids (``biz-…``) name none."""

    # not inside a host name or path ("t-mobile.com", "/c-span/"): those are not tenant ids
    tenant: re.Pattern[str] = re.compile(r"(?<![\w./@-])[tc]-([a-z][a-z0-9]{3,})\b(?![./-][a-z])")
    record: re.Pattern[str] = re.compile(r"\b(?:tx|v)-([a-z])-\d{2,}\b")
    not_ids: frozenset[str] = field(
        default_factory=lambda: frozenset({"shirt", "shirts", "corp", "corporation", "suite"})
    )

    def foreign(self, text: str, tenant_id: str) -> list[str]:
        """The ids in ``text`` that belong to a tenant other than ``tenant_id``."""
        own = tenant_id.removeprefix("t-")
        found = {
            m.group(0)
            for m in self.tenant.finditer(text)
            if m.group(1) != own and m.group(1) not in self.not_ids
        }
        found |= {m.group(0) for m in self.record.finditer(text) if m.group(1) != own[:1]}
        return sorted(found)


REFERENCE_IDS = TenantIds()


def cross_tenant_refs(
    output: Any, tenant_id: str, scheme: TenantIds = REFERENCE_IDS
) -> CheckResult:
    """No id of another tenant anywhere in the output (the detail counts them, never names
    them: the outcome must not carry what the check keeps out)."""
    foreign = scheme.foreign(json.dumps(output, default=str), tenant_id)
    if foreign:
        detail = f"{len(foreign)} id(s) of another tenant in the output"
        return CheckResult("cross_tenant_refs", False, detail)
    return CheckResult("cross_tenant_refs", True, f"only ids of {tenant_id}")


# --- PII -----------------------------------------------------------------------------------


def no_pii(output: Any, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]) -> CheckResult:
    """No card number or SSN leaves in an output, nor an IBAN or email address that neither
    the event nor this run's tools supplied."""
    known = evidence_text(evidence) + json.dumps(dict(event), default=str)
    kinds = pii_found(json.dumps(output, default=str, ensure_ascii=False), known)
    if kinds:
        return CheckResult("no_pii", False, f"personal data in the output: {', '.join(kinds)}")
    return CheckResult("no_pii", True, "no card, SSN, foreign IBAN or foreign email")


# --- tool-call policy --------------------------------------------------------------------


class AttemptedCall(Protocol):
    """A tool call as the model asked for it (a run record's ``ToolCallRecord``)."""

    @property
    def name(self) -> str: ...

    @property
    def arguments(self) -> str: ...  # JSON as the model sent it


def tool_call_policy(
    allowlist: Iterable[str],
    tenant_id: str,
    evidence: Sequence[ToolEvidence],
    attempted: Sequence[AttemptedCall] = (),
    scheme: TenantIds = REFERENCE_IDS,
) -> CheckResult:
    """Only allowlisted tools ran, each for the event's tenant (``evidence``: what the runtime
    executed), and the model neither asked for a tool off the allowlist nor named another
    tenant in its arguments (``attempted``: the run record's calls, refused ones included —
    the runtime refused or overrode them; this records that it had to)."""
    allowed = set(allowlist)
    problems = []
    ran_off_list = sorted({e.tool for e in evidence} - allowed)
    if ran_off_list:
        problems.append(f"non-allowlisted tool(s) ran: {ran_off_list}")
    other = sum(1 for e in evidence if e.arguments.get("tenant_id") not in (None, tenant_id))
    if other:
        problems.append(f"{other} call(s) ran for another tenant")
    asked_off_list = sorted({c.name for c in attempted} - allowed)
    if asked_off_list:
        problems.append(f"the model asked for non-allowlisted tool(s) {asked_off_list} (refused)")
    naming = sum(1 for c in attempted if scheme.foreign(c.arguments, tenant_id))
    if naming:
        problems.append(f"{naming} call(s) named another tenant's id in their arguments")
    if problems:
        return CheckResult("tool_call_policy", False, "; ".join(problems))
    detail = f"{len(evidence)} allowlisted call(s), all for {tenant_id}"
    return CheckResult("tool_call_policy", True, detail)
