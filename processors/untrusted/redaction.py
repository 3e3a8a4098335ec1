"""What must not leave in an output, a record, a log line or a span: secrets — recognised by
what they are (every credential the process minted or holds, by value: :func:`remember_secret`)
and by the shape of known token formats — card and SSN-like numbers, and the personal data a
check looks for."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

# Known token formats: JWTs, bearer headers, provider keys (OpenAI/Anthropic/Stripe "sk-",
# "sk_live_", AWS, GitHub, GitLab, Slack, Google), private key blocks, key=value assignments.
SECRET_FORMATS = re.compile(
    r"(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|\bBearer\s+[A-Za-z0-9._~+/-]{16,}"
    r"|\b(?:sk|rk)[-_](?:(?:live|test|proj|ant)[-_])?[A-Za-z0-9_-]{16,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}|\bglpat-[A-Za-z0-9_-]{20,}"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\bAIza[0-9A-Za-z_-]{35}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\b(?:password|passwd|secret|api[_-]?key|access[_-]?token|client[_-]?secret)\s*[:=]\s*\S{6,})",
    re.IGNORECASE,
)
_MIN_SECRET = 12  # shorter values are not remembered: they would match ordinary text


class _KnownSecrets:
    """The secret values this process holds (signing keys, API keys: kept for good) and the
    credentials it minted (the most recent ``limit``: a minted token is short-lived, and every
    value here is looked for in every text that may leave, so the list stays short)."""

    def __init__(self, limit: int = 256) -> None:
        self._held: dict[str, None] = {}
        self._minted: OrderedDict[str, None] = OrderedDict()
        self._limit, self._lock = limit, threading.Lock()

    def add(self, value: str, *, minted: bool) -> None:
        parts = [value, *(p for p in value.split(".") if len(p) >= 20)]  # a JWT's signature too
        with self._lock:
            for part in parts:
                if len(part) < _MIN_SECRET:
                    continue
                if not minted:
                    self._held[part] = None
                    continue
                self._minted[part] = None
                self._minted.move_to_end(part)
            while len(self._minted) > self._limit:
                self._minted.popitem(last=False)

    def values(self) -> list[str]:
        with self._lock:
            return [*self._held, *self._minted]


_KNOWN = _KnownSecrets()


def remember_secret(value: str, *, minted: bool = False) -> None:
    """Register a secret this process holds (``minted``: a short-lived credential it made), so
    it is recognised by value in any output (``no_secrets``) and masked in any record or log
    line (:func:`redact`)."""
    _KNOWN.add(value, minted=minted)


def secret_in(text: str) -> str | None:
    """What kind of secret ``text`` holds, if any: ``"a credential this process holds"`` (by
    value) or ``"secret-like text"`` (a known token format)."""
    if any(value in text for value in _KNOWN.values()):
        return "a credential this process minted or holds"
    if SECRET_FORMATS.search(text):
        return "secret-like text"
    return None


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


def mask_personal(text: str) -> str:
    """``text`` with every kind of personal data :func:`pii_found` knows masked — card and
    SSN-like numbers, valid IBANs, email addresses — for data that leaves the system
    (fine-tuning datasets), where nothing vouches for any of it."""
    text = mask_pii(text)
    text = _IBAN.sub(lambda m: "[IBAN]" if _iban_valid(m.group(0)) else m.group(0), text)
    return _EMAIL.sub("[EMAIL]", text)


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
    """Mask every secret this process holds (by value), secret-looking substrings (bearer
    tokens, JWTs, ``sk-…`` keys, ``password=…``) and card or SSN-like numbers."""
    for value in _KNOWN.values():
        if value in text:
            text = text.replace(value, "[REDACTED]")
    text = mask_pii(_JWT.sub("[REDACTED]", text))
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)} [REDACTED]", text)
    text = _SECRET_PATTERNS[1].sub("[REDACTED]", text)
    text = _SECRET_PATTERNS[2].sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]", text)
    return SECRET_FORMATS.sub("[REDACTED]", text)  # the other known token formats
