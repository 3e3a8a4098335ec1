"""A reviewer's correction of a held output, checked field by field before anything is written.

A held output is a datum of its target topic's schema (JSON form). The fields a person may
correct are its scalar leaves — strings, numbers, booleans, enums, nullable or not, also inside
records and lists of records — except the locked ones: the envelope (:data:`ENVELOPE`: whose
and which output it is) and the topic's key fields (which entity it is about; a changed key
would put the result in another entity's order). Each is named by its path as the JSON codec
names it (``figures[0].amount_minor``).

A corrected value is checked twice, and every failure names its field:

1. against the topic's schema: its Avro type, its enum symbols, whether it may be null;
2. against the daemon's output model (the pydantic ``UseCase.output_type``) where a field of
   the datum is a field of the model by the same names (``answer``, ``answers[2].value``) or
   its value (``merchant_category_code.value`` for the model's ``merchant_category_code``,
   the topic's ``EnrichedField`` wrapper): its type and constraints (a pattern, a range).

:func:`correct` returns the corrected datum or the errors — never raises for a bad value.
"""

from __future__ import annotations

import copy
import functools
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from processors.errors import SchemaValidationError
from processors.serde.json_codec import from_json, named_types

ENVELOPE = frozenset(
    ("event_id", "tenant_id", "principal_id", "occurred_at", "output_id", "run_id", "trace_id")
)
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Editable:
    """One field a reviewer may correct: where it is, what the schema allows, its value."""

    path: Path
    kind: str  # an Avro primitive (string, long, int, double, float, boolean) or "enum"
    nullable: bool
    value: Any
    symbols: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return path_name(self.path)


@dataclass(frozen=True)
class FieldError:
    field: str  # the path, as in ``figures[0].amount_minor``
    message: str


@dataclass(frozen=True)
class Corrected:
    datum: dict[str, Any]  # the whole output in JSON form, corrections applied
    changed: tuple[str, ...]  # the fields whose value differs from the held output


def path_name(path: Path) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name


def editable_fields(
    schema: Any, datum: Mapping[str, Any], locked: Iterable[str] = ENVELOPE
) -> list[Editable]:
    """The correctable leaves of ``datum`` (JSON form) under the topic's parsed ``schema``,
    in schema order; ``locked``: top-level fields no correction may change (the envelope and
    the topic's key fields)."""
    named = named_types(schema)
    found: list[Editable] = []
    _walk(schema, datum, (), named, found, frozenset(locked) | ENVELOPE)
    return found


def correct(
    schema: Any,
    held: Mapping[str, Any],
    changes: Mapping[str, Any],
    output_type: type[BaseModel] | None = None,
    locked: Iterable[str] = ENVELOPE,
) -> Corrected | list[FieldError]:
    """The held output with ``changes`` (field name → typed value) applied, or why not.

    A name that is not a correctable field is an error too: a form cannot set the tenant."""
    fields = {f.name: f for f in editable_fields(schema, held, locked)}
    errors = [
        FieldError(name, "this field cannot be corrected") for name in changes if name not in fields
    ]
    datum = copy.deepcopy(dict(held))
    changed = []
    for name, value in changes.items():
        field = fields.get(name)
        if field is None:
            continue
        problem = _schema_problem(field, value) or _model_problem(output_type, field.path, value)
        if problem:
            errors.append(FieldError(name, problem))
            continue
        if value != field.value:
            changed.append(name)
            _set(datum, field.path, value)
    if errors:
        return errors
    try:
        from_json(schema, datum)  # the whole record, as the topic will take it
    except SchemaValidationError as exc:
        return [FieldError(exc.field or "", str(exc))]
    return Corrected(datum, tuple(changed))


# ---- the schema's leaves ---------------------------------------------------------------------


def _walk(
    schema: Any,
    value: Any,
    path: Path,
    named: dict[str, Any],
    out: list[Editable],
    locked: frozenset[str],
) -> None:
    schema = named.get(schema, schema) if isinstance(schema, str) else schema
    nullable = False
    if isinstance(schema, list):
        branches = [named.get(b, b) if isinstance(b, str) else b for b in schema if b != "null"]
        nullable = "null" in schema
        if len(branches) != 1:
            return  # a union of several types: not a single field a form can edit
        schema = branches[0]
    kind = schema if isinstance(schema, str) else schema["type"]
    if kind == "record":
        if isinstance(value, Mapping):
            for field in schema["fields"]:
                if path == () and field["name"] in locked:
                    continue
                name = field["name"]
                _walk(field["type"], value.get(name), (*path, name), named, out, locked)
    elif kind == "array":
        items = schema["items"]
        items = named.get(items, items) if isinstance(items, str) else items
        if isinstance(items, dict) and items.get("type") == "record" and isinstance(value, list):
            for index, item in enumerate(value):
                _walk(items, item, (*path, index), named, out, locked)
    elif kind == "enum":
        out.append(Editable(path, "enum", nullable, value, tuple(schema["symbols"])))
    elif kind in ("string", "long", "int", "double", "float", "boolean") and not (
        isinstance(schema, dict) and schema.get("logicalType")
    ):
        out.append(Editable(path, kind, nullable, value))


def _schema_problem(field: Editable, value: Any) -> str | None:
    if value is None:
        return None if field.nullable else "a value is required"
    if field.kind == "enum":
        return None if value in field.symbols else f"must be one of {', '.join(field.symbols)}"
    if field.kind in ("long", "int"):
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        return None if -(2**63) <= value < 2**63 else "is out of range"
    if field.kind in ("double", "float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if field.kind == "boolean":
        return None if isinstance(value, bool) else "must be yes or no"
    return None if isinstance(value, str) else "must be text"


def _set(datum: dict[str, Any], path: Path, value: Any) -> None:
    target: Any = datum
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


# ---- the daemon's output model -----------------------------------------------------------------


def _model_problem(output_type: type[BaseModel] | None, path: Path, value: Any) -> str | None:
    if output_type is None:
        return None
    adapter = _adapter(output_type, tuple(p for p in path if isinstance(p, str)))
    if adapter is None:
        return None
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        return "; ".join(_plain(e) for e in exc.errors(include_url=False))
    return None


@functools.lru_cache(maxsize=256)
def _adapter(model: type[BaseModel], names: tuple[str, ...]) -> TypeAdapter[Any] | None:
    info = _model_field(model, names)
    if info is None:
        return None
    annotated: Any = (
        Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    )
    return TypeAdapter(annotated)


def _model_field(model: type[BaseModel], names: Sequence[str]) -> FieldInfo | None:
    current: type[BaseModel] | None = model
    for index, name in enumerate(names):
        if current is None or name not in current.model_fields:
            return None
        info = current.model_fields[name]
        inner = _model_in(info.annotation)
        rest = names[index + 1 :]
        if not rest:
            return None if inner is not None else info
        if inner is None:
            return info if list(rest) == ["value"] else None  # the EnrichedField wrapper
        current = inner
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``annotation`` (itself, ``list[M]``, ``M | None``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _plain(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "is not valid"))
    return message[0].lower() + message[1:] if message else message
