"""A small JSON Schema checker for tool arguments (the subset our generated schemas use).

Supports ``type`` (also lists), ``properties``, ``required``, ``additionalProperties``,
``items``, ``enum``, ``const``, ``anyOf``/``oneOf``/``allOf``, local ``$ref`` (``#/$defs/…``),
``minimum``/``maximum``, ``minLength``/``maxLength``, ``minItems``/``maxItems`` and
``pattern``. Unknown keywords are ignored, so the check never rejects what a full validator
would accept for the supported subset. Returns readable problems instead of raising.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list, tuple),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def check(value: Any, schema: dict[str, Any]) -> list[str]:
    """Problems of ``value`` against ``schema`` (empty list: valid). At most 10 are reported."""
    problems: list[str] = []
    _check(value, schema, schema, "$", problems)
    return problems[:10]


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, (object,)))


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _check(value: Any, schema: Any, root: dict[str, Any], at: str, out: list[str]) -> None:
    if not isinstance(schema, dict):
        return
    schema = _resolve(schema, root)
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_is_type(value, n) for n in names):
            out.append(f"{at}: expected {' or '.join(names)}, got {type(value).__name__}")
            return
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{at}: {value!r} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        out.append(f"{at}: must be {schema['const']!r}")
    for key in ("anyOf", "oneOf"):
        if key in schema and not any(_valid(value, s, root) for s in schema[key]):
            out.append(f"{at}: matches none of the allowed shapes")
    for sub in schema.get("allOf", []):
        _check(value, sub, root, at, out)
    if isinstance(value, dict):
        _check_object(value, schema, root, at, out)
    elif isinstance(value, list | tuple):
        _check_sized(len(value), schema, "minItems", "maxItems", at, "items", out)
        for i, item in enumerate(value):
            _check(item, schema.get("items"), root, f"{at}[{i}]", out)
    elif isinstance(value, str):
        _check_sized(len(value), schema, "minLength", "maxLength", at, "characters", out)
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and re.search(pattern, value) is None:
            out.append(f"{at}: does not match pattern {pattern!r}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{at}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{at}: {value} > maximum {schema['maximum']}")


def _check_object(
    value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], at: str, out: list[str]
) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            out.append(f"{at}: missing required property {name!r}")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            _check(item, properties[name], root, f"{at}.{name}", out)
        elif extra is False:
            out.append(f"{at}: unexpected property {name!r}")
        else:
            _check(item, extra, root, f"{at}.{name}", out)


def _check_sized(
    size: int, schema: dict[str, Any], low: str, high: str, at: str, unit: str, out: list[str]
) -> None:
    if low in schema and size < schema[low]:
        out.append(f"{at}: fewer than {schema[low]} {unit}")
    if high in schema and size > schema[high]:
        out.append(f"{at}: more than {schema[high]} {unit}")


def _valid(value: Any, schema: Any, root: dict[str, Any]) -> bool:
    problems: list[str] = []
    _check(value, schema, root, "$", problems)
    return not problems
