"""The onboarding questionnaire: a fixed list of question keys, each with its allowed values.

A value the model gives is first *normalized* by code (``"C-Corp"`` → ``"c_corp"``,
``"06"`` → ``"june"``, ``"Stripe, Shopify"`` → ``"shopify,stripe"``); a value that does not
normalize into the question's allowed set is invalid and fails the run's checks. Free-text
questions (``industry``, ``bank``) only need short non-empty text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

QuestionKey = Literal[
    "entity_type",
    "size_band",
    "industry",
    "bank",
    "payroll_provider",
    "payment_processors",
    "fiscal_year_end",
    "accounting_basis",
    "currency",
]
KEYS: tuple[str, ...] = get_args(QuestionKey)

ModelQuestionKey = Literal[
    "entity_type",
    "size_band",
    "industry",
    "bank",
    "fiscal_year_end",
    "accounting_basis",
    "currency",
]
"""The questions the model may answer: the payroll provider and the payment processors are
read off the bank feed by code (debits and credits whose descriptors name them), so the
answer's schema does not offer them and the model spends no generated tokens on them."""

MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip


@dataclass(frozen=True)
class Question:
    """One questionnaire entry. ``allowed`` None means short free text; ``multi`` allows a
    comma-separated subset of ``allowed``."""

    key: str
    text: str
    allowed: tuple[str, ...] | None = None
    multi: bool = False
    aliases: tuple[tuple[str, str], ...] = ()


QUESTIONS: dict[str, Question] = {
    q.key: q
    for q in (
        Question(
            "entity_type",
            "Legal entity type",
            ("sole_proprietorship", "partnership", "llc", "pllc", "s_corp", "c_corp", "nonprofit"),
            aliases=(
                ("c_corporation", "c_corp"),
                ("s_corporation", "s_corp"),
                ("sole_proprietor", "sole_proprietorship"),
                ("non_profit", "nonprofit"),
            ),
        ),
        Question("size_band", "People employed", ("1", "2-10", "11-50", "51-200", "201+")),
        Question("industry", "Industry, in a few words"),
        Question("bank", "Name of the main business bank"),
        Question(
            "payroll_provider",
            "Payroll provider",
            ("gusto", "adp", "paychex", "rippling", "justworks", "quickbooks_payroll", "none"),
        ),
        Question(
            "payment_processors",
            "Payment processors the company receives money through",
            ("stripe", "square", "shopify", "paypal", "none"),
            multi=True,
        ),
        Question("fiscal_year_end", "Month the fiscal year ends", MONTHS),
        Question("accounting_basis", "Accounting basis", ("cash", "accrual")),
        Question("currency", "Reporting currency (ISO 4217 code)"),
    )
}

# How a provider shows up in bank descriptors, and which way the money flows.
PAYROLL_MARKERS = {
    "gusto": "GUSTO",
    "adp": "ADP",
    "paychex": "PAYCHEX",
    "rippling": "RIPPLING",
    "justworks": "JUSTWORKS",
    "quickbooks_payroll": "INTUIT",
}
PAYMENT_MARKERS = {  # only credits (payouts) count: "SQ *SHOP" debits are the tenant paying
    "stripe": "STRIPE",
    "square": "SQUARE",
    "shopify": "SHOPIFY",
    "paypal": "PAYPAL",
}
MAX_TEXT = 80
_SEPARATORS = re.compile(r"[\s\-./]+")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _token(text: str) -> str:
    return _SEPARATORS.sub("_", text.strip().casefold()).strip("_")


def normalize(key: str, value: str) -> str | None:
    """The canonical form of ``value`` for question ``key``, or None if it is not allowed."""
    question = QUESTIONS[key]
    text = value.strip()
    if not text:
        return None
    if key == "currency":
        return text.upper() if _CURRENCY.match(text.upper()) else None
    if key == "fiscal_year_end":
        return _month(text)
    if key == "size_band":
        band = re.sub(r"\s+", "", text).replace("\u2013", "-").replace("\u2014", "-")
        return band if band in (question.allowed or ()) else None
    if question.allowed is None:
        return text if len(text) <= MAX_TEXT else None
    aliases = dict(question.aliases)
    if question.multi:
        parts = [_token(p) for p in text.split(",") if p.strip()]
        picked = sorted({aliases.get(p, p) for p in parts})
        if not picked or any(p not in question.allowed for p in picked):
            return None
        return None if "none" in picked and len(picked) > 1 else ",".join(picked)
    token = _token(text)
    token = aliases.get(token, token)
    return token if token in question.allowed else None


def _month(text: str) -> str | None:
    token = _token(text)
    if token.isdigit() and 1 <= int(token) <= 12:
        return MONTHS[int(token) - 1]
    for month in MONTHS:
        if token in (month, month[:3]):
            return month
    return None


def year_end_month(start_month: int) -> str:
    """The month a fiscal year starting in ``start_month`` (1-12) ends in."""
    return MONTHS[(start_month - 2) % 12]
