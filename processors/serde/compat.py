"""Backward compatibility of Avro schemas: can a reader with the NEW schema read data
written with the OLD one? (Avro schema resolution rules, the Schema Registry's BACKWARD.)"""

from __future__ import annotations

from typing import Any

_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


def backward_problems(old: Any, new: Any) -> list[str]:
    """Reasons data written with ``old`` cannot be read with ``new`` (empty: compatible)."""
    return _check(old, new, "", _names(old), _names(new), set())


def _names(schema: Any, found: dict[str, Any] | None = None, ns: str = "") -> dict[str, Any]:
    found = {} if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            _names(branch, found, ns)
    elif isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
        name = schema["name"]
        ns = schema.get("namespace", ns)
        full = name if "." in name else f"{ns}.{name}" if ns else name
        found[full] = schema
        found.setdefault(name, schema)
        for field in schema.get("fields", ()):
            _names(field["type"], found, full.rpartition(".")[0])
    elif isinstance(schema, dict):
        for key in ("items", "values"):
            if key in schema:
                _names(schema[key], found, ns)
    return found


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    kind = schema["type"]
    return kind if isinstance(kind, str) else _kind(kind)


def _check(
    w: Any, r: Any, path: str, wn: dict[str, Any], rn: dict[str, Any], seen: set[tuple[str, str]]
) -> list[str]:
    if isinstance(w, str) and w in wn:
        w = wn[w]
    if isinstance(r, str) and r in rn:
        r = rn[r]
    wk, rk = _kind(w), _kind(r)
    at = path or "<root>"
    if wk == "union":
        return [p for branch in w for p in _check(branch, r, path, wn, rn, seen)]
    if rk == "union":
        for branch in r:
            if not _check(w, branch, path, wn, rn, seen):
                return []
        return [f"{at}: {wk} is not readable by any branch of the new union"]
    if wk in _PROMOTIONS or wk in ("null", "boolean", "double"):
        ok = rk in _PROMOTIONS.get(wk, {wk})
        return [] if ok else [f"{at}: type changed from {wk} to {rk}"]
    if wk != rk:
        return [f"{at}: type changed from {wk} to {rk}"]
    if wk == "array":
        return _check(w["items"], r["items"], f"{path}[]", wn, rn, seen)
    if wk == "map":
        return _check(w["values"], r["values"], f"{path}{{}}", wn, rn, seen)
    if wk == "enum":
        missing = set(w["symbols"]) - set(r["symbols"])
        if missing and "default" not in r:
            return [f"{at}: enum symbols removed: {sorted(missing)}"]
        return []
    if wk == "fixed":
        return [] if w["size"] == r["size"] else [f"{at}: fixed size changed"]
    key = (w["name"], r["name"])
    if key in seen:
        return []
    seen = seen | {key}
    problems: list[str] = []
    written = {f["name"]: f for f in w["fields"]}
    for field in r["fields"]:
        names = [field["name"], *field.get("aliases", [])]
        source = next((written[n] for n in names if n in written), None)
        sub = f"{path}.{field['name']}" if path else field["name"]
        if source is None:
            if "default" not in field:
                problems.append(f"{sub}: new field without a default")
            continue
        problems.extend(_check(source["type"], field["type"], sub, wn, rn, seen))
    return problems
