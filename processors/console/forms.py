"""The correction form: each editable field of a held output as a form input, and the text a
reviewer typed back as typed values (or a plain error per field).

Amounts are shown and typed as an accountant writes them: a ``*_minor`` integer with a
``currency`` beside it is edited in major units (``5605.50`` for 560550 cents), with the
currency's decimals (none for JPY); everything else as its schema type says. Checking the
values against the schema and the daemon's model is :mod:`processors.guardrails.corrections`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from processors.guardrails.corrections import Editable, FieldError

ZERO_DECIMALS = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "XOF", "XAF", "UGX"})
PREFIX = "f:"  # form input names: "f:" + the field's path
MINUS = "\u2212"  # the typographic minus: as wide as a digit
PRIMARY = frozenset({"value", "label", "answer", "name"})


@dataclass(frozen=True)
class FormField:
    field: Editable
    label: str
    widget: str  # text, textarea, number, money, select
    text: str  # the current value as typed
    choices: tuple[str, ...] = ()
    currency: str | None = None
    decimals: int = 2

    @property
    def input_name(self) -> str:
        return PREFIX + self.field.name

    @property
    def leaf(self) -> str:
        """The field's own name within its group (``confidence`` of ``name.confidence``)."""
        last = str(self.field.path[-1])
        if self.widget == "money":
            return f"{last.removesuffix('_minor').replace('_', ' ')} ({self.currency})"
        return self.label if len(self.field.path) == 1 else last.replace("_", " ")

    @property
    def shown(self) -> str:
        """The value as a page shows it: amounts grouped with their currency, 0..1
        confidences as percents, booleans as yes/no, nothing as a dash."""
        if self.text == "":
            return "—"
        if self.widget == "money":
            return format_money(self.field.value, self.currency)
        if self.field.path[-1] == "confidence" and self.field.kind in ("double", "float"):
            return f"{float(self.text) * 100:.0f}%"
        if self.field.kind == "boolean":
            return "yes" if self.text == "true" else "no"
        return self.text

    @property
    def primary(self) -> bool:
        """What a reader looks at first in its group: a record's ``value``, a lone field, an
        amount or a label; the rest (status, confidence, currency) reads as detail."""
        last = self.field.path[-1]
        return len(self.field.path) == 1 or last in PRIMARY or self.widget == "money"


@dataclass(frozen=True)
class Group:
    """The fields of one top-level field or list item (``name``: value, status, confidence)."""

    label: str
    fields: list[FormField]


def grouped(fields: list[FormField]) -> list[Group]:
    groups: dict[tuple[str | int, ...], list[FormField]] = {}
    for f in fields:
        path = f.field.path
        key = path if len(path) == 1 else path[: _group_end(path)]
        groups.setdefault(key, []).append(f)
    return [Group(words(key), items) for key, items in groups.items()]


def _group_end(path: tuple[str | int, ...]) -> int:
    for index, part in enumerate(path):
        if isinstance(part, int):
            return index + 1  # figures[0]
    return len(path) - 1  # name.value -> name


def words(key: tuple[str | int, ...]) -> str:
    """A field's path as words: ``figures[0].amount_minor`` -> ``figures 1 amount minor``."""
    words = [f"{p + 1}" if isinstance(p, int) else str(p).replace("_", " ") for p in key]
    return " ".join(words)


def form_fields(fields: list[Editable], datum: Mapping[str, Any]) -> list[FormField]:
    return [_form_field(f, datum) for f in fields]


def parse(
    form: Mapping[str, str], fields: list[FormField]
) -> tuple[dict[str, Any], list[FieldError]]:
    """The values typed for ``fields`` (name → typed value; only the fields present in the
    form), and a plain-language error for each value that cannot be read as its type."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for f in fields:
        if f.input_name not in form:
            continue
        text = form[f.input_name].strip()
        try:
            values[f.field.name] = _value(f, text)
        except ValueError as exc:
            errors.append(FieldError(f.field.name, str(exc)))
    return values, errors


def _value(f: FormField, text: str) -> Any:
    kind = f.field.kind
    if text == "" and (f.field.nullable or kind not in ("string",)):
        if f.field.nullable:
            return None
        raise ValueError("a value is required")
    if f.widget == "money":
        return _minor(text, f.decimals)
    if kind in ("long", "int"):
        try:
            return int(text.replace(",", ""))
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if kind in ("double", "float"):
        try:
            return float(text.replace(",", ""))
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError("choose yes or no")
        return text == "true"
    if kind == "enum" and text not in f.choices:
        raise ValueError(f"choose one of {', '.join(f.choices)}")
    return text


def _minor(text: str, decimals: int) -> int:
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount (e.g. 1234.50)") from None
    if not amount.is_finite():
        raise ValueError(f"{text!r} is not an amount (e.g. 1234.50)")
    scaled = amount.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"at most {decimals} decimal places" if decimals else "no decimals")
    return int(scaled)


def _form_field(f: Editable, datum: Mapping[str, Any]) -> FormField:
    label = f.name.replace("_", " ")
    if f.kind == "enum":
        return FormField(f, label, "select", _text(f.value), f.symbols)
    if f.kind == "boolean":
        return FormField(f, label, "select", _text(f.value), ("true", "false"))
    last = f.path[-1]
    if f.kind in ("long", "int") and isinstance(last, str) and last.endswith("_minor"):
        currency = _sibling(datum, f, "currency")
        if isinstance(currency, str):
            decimals = 0 if currency.upper() in ZERO_DECIMALS else 2
            text = "" if f.value is None else money_text(int(f.value), decimals)
            label = label.removesuffix(" minor") + f" ({currency})"
            return FormField(f, label, "money", text, currency=currency, decimals=decimals)
    if f.kind in ("long", "int", "double", "float"):
        return FormField(f, label, "number", _text(f.value))
    text = _text(f.value)
    long = len(text) > 50 or last in ("answer", "reason", "comment", "description")
    return FormField(f, label, "textarea" if long else "text", text)


def format_money(minor: Any, currency: Any) -> str:
    """``USD 5,605.50`` from minor units; negative amounts with a minus sign."""
    if not isinstance(minor, int) or isinstance(minor, bool):
        return "" if minor is None else str(minor)
    code = str(currency or "").upper()
    decimals = 0 if code in ZERO_DECIMALS else 2
    whole, _, cents = money_text(abs(minor), decimals).partition(".")
    shown = f"{int(whole):,}" + (f".{cents}" if cents else "")
    return f"{MINUS if minor < 0 else ''}{code} {shown}".strip()


def money_text(minor: int, decimals: int) -> str:
    return f"{Decimal(minor).scaleb(-decimals):.{decimals}f}"


def _sibling(datum: Mapping[str, Any], f: Editable, name: str) -> Any:
    target: Any = datum
    for part in f.path[:-1]:
        target = target[part]
    return target.get(name) if isinstance(target, Mapping) else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
