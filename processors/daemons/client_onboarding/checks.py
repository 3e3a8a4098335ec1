"""Deterministic checks of an onboarding answer set against what the tools really returned.

An answer's evidence items are citations of three kinds:

* ``signup:<key>`` — a signup-form answer of the event (verified against the event when the
  caller passes it; :func:`~processors.daemons.client_onboarding.output.to_output` drops
  citations of keys the event does not have in any case);
* ``getClient:<field>`` — a field of the tenant's company profile, returned by ``getClient``
  in this run;
* anything else — a record id or text a tool returned in this run (tenant-scoped by the API).

Besides traceability, a cited source must *support* the value: a profile field must agree
with it, a payroll provider must show up in a cited debit's descriptor, a payment processor
in a cited credit (payout); questions the ledger has no data for (size, bank, basis) need a
signup answer.

Two things code does rather than trust the model with (and says so in its own check): the
month arithmetic of a fiscal year end answered from the profile (``year_end_by_code``), and
citing the ledger records behind a payroll provider or payment processor the model named
(``integrations_cited_by_code``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from processors.daemons.client_onboarding.models import Answer, OnboardingAnswers
from processors.daemons.client_onboarding.questionnaire import (
    PAYMENT_MARKERS,
    PAYROLL_MARKERS,
    normalize,
    year_end_month,
)
from processors.daemons.usecase import Checked
from processors.guardrails.checks import CheckResult, demotion, evidence_text
from processors.guardrails.screen import screen_text
from processors.tools.evidence import ToolEvidence
from processors.tools.memory import TOOL_NAMES as MEMORY_TOOLS

SIGNUP = "signup:"
PROFILE = "getClient:"
MIN_CONFIDENCE = 0.5
_SIGNUP_ONLY = frozenset({"size_band", "bank", "accounting_basis"})
# question -> the profile field that can answer it
_PROFILE_FIELD = {
    "entity_type": "entity_type",
    "industry": "industry",
    "fiscal_year_end": "fiscal_year_start_month",
    "currency": "currency",
}


@dataclass
class Facts:
    """What this run's tools returned, indexed for the checks."""

    profile: dict[str, Any] | None = None
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, evidence: Sequence[ToolEvidence]) -> Facts:
        facts = cls()
        for item in evidence:
            if item.error is not None or not isinstance(item.result, dict):
                continue
            if item.tool == "getClient":
                facts.profile = item.result
            elif item.tool == "listTransactions":
                for tx in item.result.get("transactions", []):
                    if isinstance(tx, dict) and "transaction_id" in tx:
                        facts.transactions[str(tx["transaction_id"])] = tx
        return facts

    def cited_transactions(self, citations: Sequence[str]) -> list[dict[str, Any]]:
        """Transactions cited by id, or by (a long enough piece of) their descriptor."""
        found = []
        for tx_id, tx in self.transactions.items():
            descriptor = str(tx.get("descriptor", "")).upper()
            for item in citations:
                if item == tx_id or (len(item) >= 4 and item.upper() in descriptor):
                    found.append(tx)
                    break
        return found


def checks(
    output: OnboardingAnswers,
    evidence: Sequence[ToolEvidence],
    event: Mapping[str, Any] | None = None,
) -> Checked[OnboardingAnswers]:
    """The onboarding checks, on a copy of ``output`` that they return with what they could
    not stand behind demoted; ``event`` (optional) lets signup citations be verified too.

    An answer whose evidence is missing, cannot be traced or does not support its value is
    not a reason to throw the other answers away: it is *demoted* in place (value null,
    confidence 0, no evidence), so :func:`~.output.to_output` hands that question to a human,
    and the check says so in its detail — a cited id no tool of this tenant returned too (an
    invented one, a copied placeholder). What fails the whole output here: a question
    answered twice; an id of *another* tenant anywhere in the output fails it in
    ``run_checks`` (``cross_tenant_refs``, on the output as the model gave it). What memory
    recalled (past onboardings shown as examples) is no evidence of this one: left out."""
    evidence = [e for e in evidence if e.tool not in MEMORY_TOOLS]
    output = output.model_copy(deep=True)  # set by code and demoted below
    facts = Facts.of(evidence)
    by_code = [_derive_year_end(output, facts), _cite_integrations(output, facts)]
    answered = [a for a in output.answers if a.value is not None]
    demoted: dict[str, str] = {}
    results = [
        *by_code,
        _unique_questions(output),
        _allowed_values(answered),
        _demote("evidence_present", _bare(answered), demoted, "every answer cites evidence"),
        _demote(
            "citations_traceable",
            _untraceable(answered, facts, event),
            demoted,
            "cited signup keys and profile fields exist"
            if event is not None
            else "cited profile fields exist",
        ),
        _demote(
            "tenant_scoped_ids",
            _ungrounded(answered, evidence_text(evidence)),
            demoted,
            "every cited id came from this tenant's data",
        ),
        _demote(
            "sources_not_instructions",
            _instructed(answered, event),
            demoted,
            "no answer rests on a signup answer holding instruction-like text",
        ),
        _demote(
            "sources_support_values",
            {a.question: p for a in answered if (p := _support_problem(a, facts))},
            demoted,
            "every value agrees with its sources",
        ),
    ]
    for answer in output.answers:
        if answer.question in demoted:
            answer.value, answer.confidence, answer.evidence = None, 0.0, []
    return Checked(output, results)


def _derive_year_end(output: OnboardingAnswers, facts: Facts) -> CheckResult:
    """Code, not the model, does the month arithmetic: a fiscal year end answered from the
    company profile alone is set to the month before its ``fiscal_year_start_month`` and
    cites that field (a small model copies the start month, or cites a field the profile does
    not have). An answer citing a signup answer is left to the other checks."""
    start = facts.profile.get("fiscal_year_start_month") if facts.profile else None
    answer = next((a for a in output.answers if a.question == "fiscal_year_end"), None)
    if answer is None or answer.value is None or not isinstance(start, int):
        return CheckResult("year_end_by_code", True, "no fiscal year end from the profile")
    if not answer.evidence or not all(e.startswith(PROFILE) for e in answer.evidence):
        return CheckResult("year_end_by_code", True, "fiscal year end not from the profile")
    month, said = year_end_month(start), answer.value
    answer.value, answer.evidence = month, [f"{PROFILE}fiscal_year_start_month"]
    detail = f"fiscal_year_end={month!r} from getClient fiscal_year_start_month={start}"
    if normalize("fiscal_year_end", said) != month:
        detail += f" (the model said {said!r})"
    return CheckResult("year_end_by_code", True, detail)


def _cite_integrations(output: OnboardingAnswers, facts: Facts) -> CheckResult:
    """Code, not the model, cites the records behind a payroll provider or payment processor
    the model named from the ledger: the debits (payroll) or credits (payouts) whose
    descriptor names each provider. A small model copies the prompt's ``<transaction_id>``
    placeholder instead of the ids. A provider no such record names keeps the model's
    citations, and ``sources_support_values`` hands it to a human; an answer citing a signup
    answer is left as it is."""
    cited: list[str] = []
    for a in output.answers:
        if a.question not in SIDE or a.value is None:
            continue
        value = normalize(a.question, a.value)
        if value is None or value == "none" or any(e.startswith(SIGNUP) for e in a.evidence):
            continue
        found = [naming(a.question, name, facts.transactions.values()) for name in value.split(",")]
        if all(found):
            a.evidence = [str(tx["transaction_id"]) for records in found for tx in records[:3]]
            cited.append(f"{a.question}={value!r}: {', '.join(a.evidence)}")
    if cited:
        return CheckResult("integrations_cited_by_code", True, "; ".join(cited))
    return CheckResult("integrations_cited_by_code", True, "no provider named from the ledger")


def _demote(
    name: str, problems: Mapping[str, str], demoted: dict[str, str], ok: str
) -> CheckResult:
    for question, problem in problems.items():
        demoted.setdefault(question, problem)
    return demotion(name, problems, to="a human", ok=ok)


def _unique_questions(output: OnboardingAnswers) -> CheckResult:
    keys = [a.question for a in output.answers]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        return CheckResult("unique_questions", False, f"answered more than once: {twice}")
    return CheckResult("unique_questions", True, "each question answered at most once")


def _allowed_values(answered: Sequence[Answer]) -> CheckResult:
    """A value outside its question's allowed set is never published as a fact: ``to_output``
    hands that question to a human. It does not spoil the other, valid answers."""
    bad = [
        f"{a.question}={a.value!r}" for a in answered if not normalize(a.question, a.value or "")
    ]
    if bad:
        return CheckResult("allowed_values", True, f"outside the allowed sets, to a human: {bad}")
    return CheckResult("allowed_values", True, "every value is in its question's allowed set")


def _bare(answered: Sequence[Answer]) -> dict[str, str]:
    return {
        a.question: f"{a.question}: no evidence cited"
        for a in answered
        if not [e for e in a.evidence if e.strip()]
    }


def _untraceable(
    answered: Sequence[Answer], facts: Facts, event: Mapping[str, Any] | None
) -> dict[str, str]:
    signup_keys = None if event is None else set(event.get("signup_answers") or {})
    problems: dict[str, str] = {}
    for a in answered:
        for item in a.evidence:
            problem = None
            if item.startswith(SIGNUP):
                key = item.removeprefix(SIGNUP).strip()
                if not key or (signup_keys is not None and key not in signup_keys):
                    problem = f"{a.question}: no signup answer {key!r}"
            elif item.startswith(PROFILE):
                name = item.removeprefix(PROFILE).strip()
                if facts.profile is None or facts.profile.get(name) is None:
                    problem = f"{a.question}: getClient returned no {name!r}"
            if problem:
                problems.setdefault(a.question, problem)
    return problems


def _instructed(answered: Sequence[Answer], event: Mapping[str, Any] | None) -> dict[str, str]:
    """Answers citing a signup answer in which the screen finds instruction-like content:
    text that tries to steer the model is no source of a fact, whatever value it names (the
    run is flagged by ``prompt_injection`` too; this keeps the value itself from being
    published, should the run pass). The names of the patterns only, never the text."""
    signup = (event or {}).get("signup_answers") or {}
    problems: dict[str, str] = {}
    for a in answered:
        for item in a.evidence:
            key = item.removeprefix(SIGNUP).strip() if item.startswith(SIGNUP) else None
            found = screen_text(str(signup.get(key, ""))) if key else ()
            if found:
                problem = f"{a.question}: signup answer {key!r} reads as instructions"
                problems.setdefault(a.question, f"{problem} ({', '.join(found)})")
    return problems


def _ungrounded(answered: Sequence[Answer], returned: str) -> dict[str, str]:
    """Answers citing a record id (or text) no tool of this run returned: an invented id, the
    prompt's ``<transaction_id>`` placeholder, a tool call's own id."""
    problems: dict[str, str] = {}
    for a in answered:
        for item in a.evidence:
            if item.strip() and not item.startswith((SIGNUP, PROFILE)) and item not in returned:
                problems.setdefault(a.question, f"{a.question}: no tool returned {item!r}")
    return problems


def _support_problem(answer: Answer, facts: Facts) -> str | None:
    """Why the cited sources do not support the answer's value (None: they do)."""
    key, value = answer.question, normalize(answer.question, answer.value or "")
    if value is None:
        return None  # reported by allowed_values
    from_signup = any(e.startswith(SIGNUP) for e in answer.evidence)
    supported = from_signup
    for item in answer.evidence:
        if item.startswith(PROFILE) and facts.profile is not None:
            name = item.removeprefix(PROFILE).strip()
            if name != _PROFILE_FIELD.get(key):
                continue
            if not _profile_agrees(key, value, facts.profile.get(name)):
                return f"{key}={value!r} contradicts getClient {name}={facts.profile.get(name)!r}"
            supported = True
    if key in _SIGNUP_ONLY and not from_signup:
        return f"{key}: only a signup answer can tell (the ledger has no such data)"
    if key in ("payroll_provider", "payment_processors") and not from_signup:
        return _integration_problem(key, value, facts.cited_transactions(answer.evidence))
    if key == "industry" and not supported:
        supported = bool(answer.evidence)  # any traceable record may hint at the industry
    return None if supported else f"{key}: no cited source states {value!r}"


def _profile_agrees(key: str, value: str, field_value: Any) -> bool:
    if field_value is None:
        return False
    if key == "fiscal_year_end":
        return isinstance(field_value, int) and year_end_month(field_value) == value
    if key == "industry":
        a, b = value.casefold(), str(field_value).casefold()
        return a in b or b in a
    return normalize(key, str(field_value)) == value


def _integration_problem(key: str, value: str, cited: list[dict[str, Any]]) -> str | None:
    for name in value.split(","):
        if name == "none":
            return f"{key}: 'none' needs a signup answer (missing data proves nothing)"
        if not naming(key, name, cited):
            direction, markers = SIDE[key]
            return f"{key}: no cited {direction} mentions {markers[name]}"
    return None


# payroll shows up in debits (the company pays the provider), processors in credits (payouts)
SIDE = {
    "payroll_provider": ("debit", PAYROLL_MARKERS),
    "payment_processors": ("credit", PAYMENT_MARKERS),
}


def naming(key: str, name: str, transactions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The transactions on the provider's side whose descriptor names provider ``name``."""
    direction, markers = SIDE[key]
    return [
        tx
        for tx in transactions
        if tx.get("direction") == direction
        and markers[name] in str(tx.get("descriptor", "")).upper()
    ]
