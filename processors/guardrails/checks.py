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

# A bearer/JWT token, a provider key, a private key block, or a password assignment.
_SECRET = re.compile(
    r"(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|\bBearer\s+[A-Za-z0-9._~+/-]{16,}"
    r"|\bsk-[A-Za-z0-9_-]{16,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\b(?:password|passwd|secret|api[_-]?key)\s*[:=]\s*\S{6,})",
    re.IGNORECASE,
)
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


@dataclass(frozen=True)
class ToolEvidence:
    """One tool call of the run as the runtime saw it (not as the model described it)."""

    tool: str
    arguments: dict[str, Any]
    result: Any
    error: str | None = None
    flags: tuple[str, ...] = ()  # where the screen found instruction-like content in it


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
    """Nothing that looks like a credential leaves in an output."""
    found = _SECRET.search(json.dumps(output, default=str))
    if found:
        return CheckResult("no_secrets", False, f"secret-like text at char {found.start()}")
    return CheckResult("no_secrets", True, "no secret-like text")


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

# 13-19 digits in one run, in groups of four (Visa, Mastercard, …) or 4-6-5 (Amex)
_CARD = re.compile(
    r"(?<![\d-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{5})(?![\d-])"
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _iban_valid(text: str) -> bool:
    iban = text.replace(" ", "")
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def mask_pii(text: str) -> str:
    """``text`` with card numbers (Luhn-valid) and SSN-like numbers masked, for records."""
    text = _CARD.sub(
        lambda m: "[CARD]" if _luhn(re.sub(r"\D", "", m.group(0))) else m.group(0), text
    )
    return _SSN.sub("[SSN]", text)


def pii_found(text: str, known: str = "") -> list[str]:
    """The kinds of personal data in ``text``: card numbers (Luhn-valid) and SSN-like numbers
    always; IBANs (mod-97 valid) and email addresses unless ``known`` (the evidence and the
    event, where the person gave them) already holds them."""
    kinds = []
    if any(_luhn(re.sub(r"\D", "", m.group(0))) for m in _CARD.finditer(text)):
        kinds.append("card_number")
    if _SSN.search(text):
        kinds.append("ssn")
    if any(_iban_valid(m.group(0)) and m.group(0) not in known for m in _IBAN.finditer(text)):
        kinds.append("iban")
    lowered = known.casefold()
    if any(m.group(0).casefold() not in lowered for m in _EMAIL.finditer(text)):
        kinds.append("email")
    return kinds


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
