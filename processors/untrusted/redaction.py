"""What must not leave in a record, a log line or a span: secrets masked by their shape,
card and SSN-like numbers masked, and the personal data a check looks for."""

from __future__ import annotations

import re

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_SECRET_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"\b(sk|pk|rk|ghp|gho|xox[abpr])[-_][A-Za-z0-9_-]{8,}"),
    re.compile(
        r"(?i)\b(api[_-]?key|access[_-]?token|token|secret|password|passwd|authorization)"
        r"(\"?\s*[:=]\s*\"?)[^\s\"',}]+"
    ),
)

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


def redact(text: str) -> str:
    """Mask secret-looking substrings (bearer tokens, JWTs, ``sk-…`` keys, ``password=…``)
    and card or SSN-like numbers."""
    text = mask_pii(_JWT.sub("[REDACTED]", text))
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)} [REDACTED]", text)
    text = _SECRET_PATTERNS[1].sub("[REDACTED]", text)
    return _SECRET_PATTERNS[2].sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]", text)
