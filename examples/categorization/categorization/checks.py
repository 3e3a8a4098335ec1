"""Deterministic checks of a :class:`Categorization` against what this run's tools returned.

Two fail the whole result (it is withheld: nothing is published, the team is told):

- ``account_in_chart``: the account is a code of the chart listAccounts returned for this
  tenant (a model cannot invent an account, nor use another tenant's);
- ``evidence_returned``: every cited record was returned by this run's tools *as such*: a
  vendor id as a listVendors record's ``vendor_id``, a transaction id as a listTransactions
  record's ``transaction_id`` (an account code or an amount is no evidence). :mod:`.resolve`
  drops the model's other citations before the checks; this check stands behind any output
  that did not come that way.

Two leave the transaction to a person (a *demotion*: the result is published with status
``needs_review``, no account, and the reason; never a guess posted to the books):

- ``direction_fits``: the account's type fits the money's direction — money out (debit) to
  an expense or asset account, money in (credit) to an income, liability or equity account.
  What else happens (a supplier's refund, paying down a card, a customer's invoice paid) is
  real, but is for a person to post;
- ``confident_enough``: the confidence is at least :data:`THRESHOLD` (a confidence is capped
  by :mod:`.resolve` when no cited record books the account).

Pure: the output given is never changed; the checks return a demoted copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.daemons.usecase import Checked
from processors.guardrails.checks import CheckResult, demotion
from processors.tools.evidence import ToolEvidence

from categorization.models import NEEDS_REVIEW, Categorization
from categorization.resolve import chart, records, returned_ids

THRESHOLD = 0.6
"""Below this confidence a transaction is left to a person."""

FITS = {"debit": frozenset({"expense", "asset"}),
        "credit": frozenset({"income", "liability", "equity"})}  # fmt: skip
"""Account types a transaction of each direction may be posted to without a person."""

TO_PERSON = "a person"


def account_in_chart(output: Categorization, evidence: Sequence[ToolEvidence]) -> CheckResult:
    code = output.account_code
    if code is None:
        return CheckResult("account_in_chart", True, "no account chosen")
    if not records(evidence, "listAccounts", "accounts"):
        return CheckResult("account_in_chart", False, f"account {code!r} but no chart was read")
    if code not in chart(evidence):
        return CheckResult("account_in_chart", False, f"{code!r} is not in the tenant's chart")
    return CheckResult("account_in_chart", True, f"{code} is in the chart")


def evidence_returned(output: Categorization, evidence: Sequence[ToolEvidence]) -> CheckResult:
    unknown = [i for i in output.evidence if i not in returned_ids(evidence)]
    if unknown:
        detail = f"cited records no tool returned as a vendor or transaction: {unknown}"
        return CheckResult("evidence_returned", False, detail)
    if not output.evidence:
        return CheckResult("evidence_returned", True, "no record cited")
    return CheckResult("evidence_returned", True, f"{len(output.evidence)} cited, all returned")


def direction_problem(output: Categorization, direction: str) -> str | None:
    """Why the account cannot take money going ``direction``, or None."""
    kind = output.account_type
    if output.account_code is None or kind is None:  # no account, or not in the chart
        return None
    allowed = FITS.get(direction)
    if allowed is None:
        return f"direction {direction!r} is neither debit nor credit"
    if kind not in allowed:
        money = "money out" if direction == "debit" else "money in"
        a = "an" if kind[:1] in "aeiou" else "a"
        return f"{output.account_code} is {a} {kind} account, not one for {money} ({direction})"
    return None


def confidence_problem(output: Categorization) -> str | None:
    if output.account_code is None or output.confidence >= THRESHOLD:
        return None
    name = f" ({output.account_name})" if output.account_name else ""
    return f"confidence {output.confidence:.2f} below {THRESHOLD} for {output.account_code}{name}"


def demote(output: Categorization, why: str) -> None:
    """Leave the transaction to a person: no account, confidence 0, the reason kept (the
    suggestion is named in it)."""
    output.status = NEEDS_REVIEW
    output.account_code = output.account_name = output.account_type = None
    output.confidence = 0.0
    output.review_reason = why if output.review_reason is None else output.review_reason


def checks(
    output: Categorization, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> Checked[Categorization]:
    """The use case's deterministic checks (the runtime adds no_secrets, no_pii,
    cross_tenant_refs, the tool-call policy and the injection screen), on a copy of
    ``output`` that they return demoted."""
    output = output.model_copy(deep=True)  # demoted below; the caller's stays as it was
    results = [account_in_chart(output, evidence), evidence_returned(output, evidence)]
    direction = direction_problem(output, str(event.get("direction", "")))
    if direction:
        demote(output, direction)
    results.append(demotion("direction_fits", {"account": direction} if direction else {},
                            to=TO_PERSON, ok="the account's type fits the direction"))  # fmt: skip
    unsure = confidence_problem(output)
    if unsure:
        demote(output, unsure)
    sure = f"no account, or confidence >= {THRESHOLD}"
    results.append(demotion("confident_enough", {"account": unsure} if unsure else {},
                            to=TO_PERSON, ok=sure))  # fmt: skip
    return Checked(output, results)
