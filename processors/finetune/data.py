"""A dataset folder as ``daemons dataset build`` writes it, read for training.

::

    DIR/manifest.json   the dataset's version (its SHA-256) and row counts
    DIR/sft.jsonl       {"messages": [...], "tools": [...]}      TRL conversational SFT
    DIR/dpo.jsonl       {"prompt": [...], "chosen": [...], "rejected": [...]}
    DIR/kto.jsonl       {"prompt": [...], "completion": [...], "label": true|false}

Tool-call arguments are dicts (TRL's convention; Qwen's chat template renders them with
``tojson``): a string there is refused, as are rows missing a field. Every error names the
file, the line and the field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from processors.errors import ConfigError

Method = Literal["sft", "dpo", "kto"]
METHODS: tuple[Method, ...] = ("sft", "dpo", "kto")
_FIELDS: dict[Method, tuple[str, ...]] = {
    "sft": ("messages",),
    "dpo": ("prompt", "chosen", "rejected"),
    "kto": ("prompt", "completion", "label"),
}
_ROLES = {"system", "user", "assistant", "tool"}


@dataclass(frozen=True)
class Dataset:
    """The rows of one method, and what identifies the dataset they came from."""

    directory: Path
    method: Method
    rows: tuple[dict[str, Any], ...]
    manifest_sha256: str
    """The manifest's own ``sha256`` field when it has one, else the SHA-256 of its bytes."""
    manifest: dict[str, Any]


def available_methods(directory: Path) -> list[Method]:
    """The methods whose file exists in ``directory`` and has at least one row."""
    return [m for m in METHODS if (f := directory / f"{m}.jsonl").is_file() and f.stat().st_size]


def read_manifest(directory: Path) -> tuple[dict[str, Any], str]:
    path = directory / "manifest.json"
    try:
        raw = path.read_bytes()
        manifest = json.loads(raw)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the dataset's manifest: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ConfigError(f"{path}: the manifest must be a JSON object")
    sha = manifest.get("sha256")
    return manifest, sha if isinstance(sha, str) and sha else hashlib.sha256(raw).hexdigest()


def load(directory: Path, method: Method) -> Dataset:
    """Every row of ``DIR/<method>.jsonl``, validated; a :class:`ConfigError` on the first bad
    one, naming file, line and field."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: one of {', '.join(METHODS)}")
    manifest, sha = read_manifest(directory)
    path = directory / f"{method}.jsonl"
    if not path.is_file():
        present = ", ".join(available_methods(directory)) or "none"
        raise ConfigError(f"{path}: no {method} rows in this dataset (it has: {present})")
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{where}: not JSON: {exc}") from exc
            if not isinstance(row, dict):
                raise ConfigError(f"{where}: a row must be a JSON object")
            _check_row(row, method, where)
            rows.append(row)
    if not rows:
        raise ConfigError(f"{path}: no rows")
    return Dataset(directory, method, tuple(rows), sha, manifest)


def _check_row(row: dict[str, Any], method: Method, where: str) -> None:
    for field in _FIELDS[method]:
        if field not in row:
            raise ConfigError(f"{where}: field {field!r} is missing")
    if method == "sft":
        _check_messages(row["messages"], f"{where}: messages", need_assistant=True)
        tools = row.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise ConfigError(f"{where}: tools: must be a list of tool schemas")
        return
    _check_messages(row["prompt"], f"{where}: prompt", need_assistant=False)
    answers = ("chosen", "rejected") if method == "dpo" else ("completion",)
    for field in answers:
        _check_messages(row[field], f"{where}: {field}", need_assistant=True)
    if method == "kto" and not isinstance(row["label"], bool):
        raise ConfigError(f"{where}: label: must be true or false, not {row['label']!r}")


def _check_messages(messages: Any, where: str, *, need_assistant: bool) -> None:
    if not isinstance(messages, list) or not messages:
        raise ConfigError(f"{where}: must be a non-empty list of messages")
    for i, message in enumerate(messages):
        at = f"{where}[{i}]"
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise ConfigError(f"{at}: role: must be one of {', '.join(sorted(_ROLES))}")
        content = message.get("content")
        calls = message.get("tool_calls") or []
        if content is not None and not isinstance(content, str):
            raise ConfigError(f"{at}: content: must be a string")
        if not content and not calls:
            raise ConfigError(f"{at}: content: empty, and no tool_calls")
        for j, call in enumerate(calls):
            function = call.get("function", call) if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise ConfigError(f"{at}: tool_calls[{j}]: function.name is missing")
            if not isinstance(function.get("arguments"), dict):
                raise ConfigError(
                    f"{at}: tool_calls[{j}]: function.arguments: must be an object (TRL's "
                    "format), not a JSON string"
                )
    if need_assistant and messages[-1].get("role") != "assistant":
        raise ConfigError(f"{where}: the last message must be the assistant's")
