"""The small argument checker catches what generated tool schemas express."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from processors.agent.schema_check import check


class Line(BaseModel):
    account: str
    amount: float


class Entry(BaseModel):
    memo: str | None = None
    lines: list[Line]
    currency: str = "USD"


SCHEMA: dict[str, Any] = Entry.model_json_schema()  # uses $defs/$ref and anyOf


def test_valid_arguments_pass() -> None:
    assert check({"lines": [{"account": "6000", "amount": 12.5}], "memo": None}, SCHEMA) == []


def test_problems_name_the_path() -> None:
    problems = check({"lines": [{"account": 6000}], "memo": 3}, SCHEMA)
    assert "$.lines[0]: missing required property 'amount'" in problems
    assert "$.lines[0].account: expected string, got int" in problems
    assert "$.memo: matches none of the allowed shapes" in problems


def test_keywords_of_the_supported_subset() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1, "maximum": 5},
            "kind": {"enum": ["a", "b"]},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$", "maxLength": 3},
            "flag": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 1},
        },
        "additionalProperties": False,
    }
    assert check({"n": 3, "kind": "a", "code": "USD", "flag": True, "tags": ["x"]}, schema) == []
    assert check({"n": 9}, schema) == ["$.n: 9 > maximum 5"]
    assert check({"n": True}, schema) == ["$.n: expected integer, got bool"]
    assert check({"kind": "c"}, schema) == ["$.kind: 'c' is not one of ['a', 'b']"]
    assert check({"code": "usd"}, schema) == ["$.code: does not match pattern '^[A-Z]{3}$'"]
    assert check({"tags": ["a", 1]}, schema) == [
        "$.tags: more than 1 items",
        "$.tags[1]: expected string, got int",
    ]
    assert check({"extra": 1}, schema) == ["$: unexpected property 'extra'"]
