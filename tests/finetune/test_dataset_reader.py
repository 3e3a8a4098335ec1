"""The training reader refuses bad dataset rows with file, line and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from processors.errors import ConfigError
from processors.finetune import data

Q = [{"role": "user", "content": "Which account for Contoso Cloud?"}]
A = [{"role": "assistant", "content": "6100"}]
CALL = {
    "role": "assistant",
    "content": "",
    "tool_calls": [{"type": "function", "function": {"name": "lookup", "arguments": {"q": 1}}}],
}


def _folder(tmp_path: Path, name: str, rows: list[Any]) -> Path:
    (tmp_path / "manifest.json").write_text(json.dumps({"sha256": "ef" * 32}))
    (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def test_rows_of_each_method_load_with_the_manifest_sha(tmp_path: Path) -> None:
    sft = {"messages": [*Q, CALL, {"role": "tool", "content": "{}"}, *A], "tools": []}
    _folder(tmp_path, "sft", [sft])
    _folder(tmp_path, "dpo", [{"prompt": Q, "chosen": A, "rejected": A}])
    _folder(tmp_path, "kto", [{"prompt": Q, "completion": A, "label": False}])
    assert data.available_methods(tmp_path) == ["sft", "dpo", "kto"]
    for method in data.METHODS:
        loaded = data.load(tmp_path, method)
        assert loaded.manifest_sha256 == "ef" * 32 and len(loaded.rows) == 1


def test_a_manifest_without_sha_is_identified_by_its_bytes(tmp_path: Path) -> None:
    _folder(tmp_path, "sft", [{"messages": [*Q, *A]}])
    (tmp_path / "manifest.json").write_text("{}")
    assert data.load(tmp_path, "sft").manifest_sha256 == (
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )


@pytest.mark.parametrize(
    ("method", "row", "message"),
    [
        ("sft", {"tools": []}, "sft.jsonl:2: field 'messages' is missing"),
        ("sft", {"messages": Q}, "messages: the last message must be the assistant's"),
        ("sft", {"messages": [{"role": "bot", "content": "x"}, *A]}, "messages[0]: role"),
        (
            "sft",
            {"messages": [*Q, {**CALL, "tool_calls": [
                {"function": {"name": "lookup", "arguments": '{"q": 1}'}}]}]},
            "tool_calls[0]: function.arguments: must be an object",
        ),
        ("kto", {"prompt": Q, "completion": A, "label": 1}, "label: must be true or false"),
        ("dpo", {"prompt": Q, "chosen": A}, "field 'rejected' is missing"),
    ],
)  # fmt: skip
def test_bad_rows_are_refused_with_file_line_and_field(
    tmp_path: Path, method: data.Method, row: dict[str, Any], message: str
) -> None:
    good: dict[str, dict[str, Any]] = {
        "sft": {"messages": [*Q, *A]},
        "dpo": {"prompt": Q, "chosen": A, "rejected": A},
        "kto": {"prompt": Q, "completion": A, "label": True},
    }
    _folder(tmp_path, method, [good[method], row])
    with pytest.raises(ConfigError, match=r"\.jsonl:2: ") as caught:
        data.load(tmp_path, method)
    assert message in str(caught.value)


def test_a_method_the_dataset_lacks_is_named_with_what_it_has(tmp_path: Path) -> None:
    _folder(tmp_path, "sft", [{"messages": [*Q, *A]}])
    with pytest.raises(ConfigError, match=r"no dpo rows in this dataset \(it has: sft\)"):
        data.load(tmp_path, "dpo")
