"""Schemas stay backward compatible with what main has published, and the checker works."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from processors.serde.compat import backward_problems

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "schema_snapshots"


def _published(name: str) -> dict[str, object] | None:
    """The schema as on origin/main if git has it, else the committed snapshot."""
    ref = subprocess.run(
        ["git", "show", f"origin/main:schemas/{name}"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if ref.returncode == 0:
        return dict(json.loads(ref.stdout))
    snap = SNAPSHOT / name
    return dict(json.loads(snap.read_text())) if snap.exists() else None


@pytest.mark.parametrize("path", sorted((ROOT / "schemas").glob("*.avsc")), ids=lambda p: p.name)
def test_schema_is_backward_compatible_with_published_version(path: Path) -> None:
    old = _published(path.name)
    if old is None:
        pytest.skip(f"{path.name} is new: nothing published to stay compatible with")
    assert backward_problems(old, json.loads(path.read_text())) == []


def test_every_schema_has_a_snapshot() -> None:
    current = {p.name for p in (ROOT / "schemas").glob("*.avsc")}
    assert current <= {p.name for p in SNAPSHOT.glob("*.avsc")}, (
        "copy new schemas to tests/schema_snapshots/ when they are published"
    )


BASE = {
    "type": "record",
    "name": "T",
    "namespace": "x",
    "fields": [
        {"name": "a", "type": "int"},
        {"name": "s", "type": {"type": "enum", "name": "E", "symbols": ["p", "q"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
    ],
}


def _with(**changes: object) -> dict[str, object]:
    fields = [dict(f) for f in BASE["fields"]]  # type: ignore[attr-defined]
    schema = {**BASE, "fields": fields}
    for name, value in changes.items():
        if name == "add":
            fields.append(value)
        elif name == "drop":
            schema["fields"] = [f for f in fields if f["name"] != value]
        else:
            next(f for f in fields if f["name"] == name)["type"] = value
    return schema


def test_adding_a_field_with_default_is_compatible() -> None:
    new = _with(add={"name": "b", "type": ["null", "string"], "default": None})
    assert backward_problems(BASE, new) == []


def test_adding_a_field_without_default_is_not() -> None:
    problems = backward_problems(BASE, _with(add={"name": "b", "type": "string"}))
    assert problems == ["b: new field without a default"]


def test_promotion_is_compatible_but_narrowing_is_not() -> None:
    assert backward_problems(BASE, _with(a="long")) == []
    assert backward_problems(_with(a="long"), BASE) == ["a: type changed from long to int"]


def test_removing_an_enum_symbol_is_not_compatible() -> None:
    narrowed = _with(s={"type": "enum", "name": "E", "symbols": ["p"]})
    assert backward_problems(BASE, narrowed) == ["s: enum symbols removed: ['q']"]


def test_dropping_a_field_and_widening_to_a_union_are_compatible() -> None:
    assert backward_problems(BASE, _with(drop="tags")) == []
    assert backward_problems(BASE, _with(a=["null", "int"])) == []
    assert backward_problems(BASE, _with(tags={"type": "array", "items": "int"})) == [
        "tags[]: type changed from string to int"
    ]
