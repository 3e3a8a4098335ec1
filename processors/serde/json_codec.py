"""JSON ⇄ Avro datum conversion with field paths in every error.

Upstream teams write events as plain JSON lines. This module walks the schema next to the
value: timestamps may be ISO-8601 strings or epoch milliseconds, dates ISO strings, a union
takes the first branch the value fits, and every mismatch names its path (``answers[2].value``).
On the way out, datetimes become ISO strings and bytes base64 so values print as JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from processors.errors import SchemaValidationError

_INTS = {"int", "long"}
_FLOATS = {"float", "double"}


_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def named_types(schema: Any, found: dict[str, Any] | None = None) -> dict[str, Any]:
    """Full name → definition of every record, enum and fixed inside a parsed schema."""
    found = {} if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            named_types(branch, found)
    elif isinstance(schema, dict):
        if schema["type"] in ("record", "enum", "fixed"):
            found[schema["name"]] = schema
        for field in schema.get("fields", ()):
            named_types(field["type"], found)
        for key in ("items", "values"):
            if key in schema:
                named_types(schema[key], found)
    return found


def from_json(schema: Any, value: Any, path: str = "", named: dict[str, Any] | None = None) -> Any:
    """Coerce a JSON value to an Avro datum for ``schema`` (a parsed fastavro schema)."""
    named = named_types(schema) if named is None else named
    if isinstance(schema, list):
        return _union(schema, value, path, named)
    if isinstance(schema, str):
        if schema not in _PRIMITIVES:
            return from_json(named[schema], value, path, named)
        return _primitive(schema, None, value, path)
    kind = schema["type"]
    if kind == "record":
        if not isinstance(value, dict):
            raise _error(path, f"expected an object for record {schema['name']}", value)
        known = {f["name"] for f in schema["fields"]}
        unknown = sorted(set(value) - known)
        if unknown:
            raise _error(_join(path, unknown[0]), "field is not in the schema", value[unknown[0]])
        out = {}
        for field in schema["fields"]:
            name = field["name"]
            if name in value:
                out[name] = from_json(field["type"], value[name], _join(path, name), named)
            elif "default" in field:
                out[name] = field["default"]
            else:
                raise SchemaValidationError(
                    f"{_join(path, name)}: required field is missing", field=_join(path, name)
                )
        return out
    if kind == "array":
        if not isinstance(value, list):
            raise _error(path, "expected an array", value)
        return [from_json(schema["items"], v, f"{path}[{i}]", named) for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _error(path, "expected an object (map)", value)
        return {k: from_json(schema["values"], v, _join(path, k), named) for k, v in value.items()}
    if kind == "enum":
        if value not in schema["symbols"]:
            raise _error(path, f"expected one of {schema['symbols']}", value)
        return value
    if kind == "fixed":
        return _primitive("bytes", None, value, path)
    return _primitive(kind, schema.get("logicalType"), value, path)


def _union(branches: list[Any], value: Any, path: str, named: dict[str, Any]) -> Any:
    if value is None:
        if "null" in branches:
            return None
        raise _error(path, "must not be null", value)
    errors = []
    for branch in branches:
        if branch == "null":
            continue
        try:
            return from_json(branch, value, path, named)
        except SchemaValidationError as exc:
            errors.append(str(exc))
    message = errors[0] if len(errors) == 1 else f"{path}: fits no branch of the union"
    raise SchemaValidationError(message, field=path)


def _primitive(kind: str, logical: str | None, value: Any, path: str) -> Any:
    if logical in ("timestamp-millis", "timestamp-micros") and isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _error(path, "expected an ISO-8601 timestamp", value) from None
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    if logical == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise _error(path, "expected an ISO-8601 date (YYYY-MM-DD)", value) from None
    if kind in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _error(path, f"expected an integer ({kind})", value)
        return value
    if kind in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _error(path, f"expected a number ({kind})", value)
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _error(path, "expected true or false", value)
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise _error(path, "expected a string", value)
        return value
    if kind == "bytes":
        if not isinstance(value, str):
            raise _error(path, "expected base64 text for bytes", value)
        return base64.b64decode(value)
    if kind == "null":
        if value is not None:
            raise _error(path, "expected null", value)
        return None
    raise _error(path, f"unsupported Avro type {kind}", value)


def to_json(value: Any) -> Any:
    """Make a decoded Avro datum JSON-serializable (ISO timestamps, base64 bytes)."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _error(path: str, message: str, value: Any) -> SchemaValidationError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return SchemaValidationError(
        f"{path or '<record>'}: {message}, got {shown}", field=path or None
    )
