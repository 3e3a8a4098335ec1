"""Dataset rows as each consumer wants them, and the JSON Schemas every row is checked
against before it is written (``docs/feedback.md#row-shapes``).

- ``openai``: OpenAI's chat fine-tuning format: ``{"messages", "tools"}``; an assistant's
  tool call is ``{"id", "type": "function", "function": {"name", "arguments"}}`` with
  ``arguments`` a JSON **string**; a tool's result is ``{"role": "tool", "tool_call_id",
  "content"}``.
- ``sft``: TRL's conversational language-modeling type with tools: ``{"messages", "tools"}``,
  ``arguments`` a JSON **object** (dict) and a tool's result ``{"role": "tool", "name",
  "content"}`` — the shape TRL's dataset-formats guide shows and chat templates render.
- ``kto``: TRL's conversational unpaired preference: ``{"prompt", "completion", "label",
  "tools"}``.
- ``dpo``: TRL's conversational preference with an explicit prompt: ``{"prompt", "chosen",
  "rejected", "tools"}``.

Messages come from a run's transcript (``RunRecord.transcript_json``: our own
``kind``-tagged messages); :func:`messages` converts them for one format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Literal

import jsonschema

Format = Literal["openai", "sft", "kto", "dpo"]
FORMATS: tuple[Format, ...] = ("openai", "sft", "kto", "dpo")


def tool_specs(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tools offered, as ``{"type": "function", "function": {...}}`` (both consumers)."""
    return [
        {"type": "function", "function": {
            "name": t["name"], "description": t.get("description", ""),
            "parameters": t.get("parameters") or {"type": "object", "properties": {}},
        }}
        for t in tools
    ]  # fmt: skip


def messages(transcript: Sequence[Mapping[str, Any]], fmt: Format) -> list[dict[str, Any]]:
    """Our transcript messages in ``fmt``'s shape (OpenAI's for ``openai``, TRL's otherwise)."""
    out: list[dict[str, Any]] = []
    for m in transcript:
        kind = m["kind"]
        if kind in ("system", "user"):
            out.append({"role": kind, "content": m["content"]})
        elif kind == "assistant":
            message: dict[str, Any] = {"role": "assistant"}
            if m.get("content"):
                message["content"] = m["content"]
            if m.get("tool_calls"):
                message["tool_calls"] = [_call(c, fmt) for c in m["tool_calls"]]
            out.append(message)
        elif kind == "tool":
            if fmt == "openai":
                out.append(
                    {"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]}
                )
            else:
                out.append({"role": "tool", "name": m["name"], "content": m["content"]})
    return out


def _call(call: Mapping[str, Any], fmt: Format) -> dict[str, Any]:
    arguments = call.get("arguments") or {}
    if fmt == "openai":  # a JSON string, as OpenAI's format wants it
        return {"id": call["id"], "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(arguments)}}  # fmt: skip
    return {"type": "function", "function": {"name": call["name"], "arguments": arguments}}


# ---- the schemas each row is checked against ---------------------------------------------

_TOOLS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["type", "function"],
        "properties": {
            "type": {"const": "function"},
            "function": {
                "type": "object",
                "required": ["name", "parameters"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
                    "description": {"type": "string"},
                    "parameters": {"type": "object"},
                },
            },
        },
    },
}


def _message_schema(
    arguments: dict[str, Any], tool: dict[str, Any], call_id: bool
) -> dict[str, Any]:
    call_required = ["type", "function"] + (["id"] if call_id else [])
    return {
        "oneOf": [
            {"type": "object", "additionalProperties": False, "required": ["role", "content"],
             "properties": {"role": {"enum": ["system", "user"]}, "content": {"type": "string"}}},
            {"type": "object", "additionalProperties": False, "required": ["role"],
             "anyOf": [{"required": ["content"]}, {"required": ["tool_calls"]}],
             "properties": {
                 "role": {"const": "assistant"},
                 "content": {"type": "string"},
                 "tool_calls": {"type": "array", "minItems": 1, "items": {
                     "type": "object", "additionalProperties": False, "required": call_required,
                     "properties": {
                         "id": {"type": "string"},
                         "type": {"const": "function"},
                         "function": {"type": "object", "additionalProperties": False,
                                      "required": ["name", "arguments"],
                                      "properties": {"name": {"type": "string"},
                                                     "arguments": arguments}},
                     }}},
             }},
            tool,
        ]
    }  # fmt: skip


_OPENAI_MESSAGE = _message_schema(
    {"type": "string", "contentMediaType": "application/json"},
    {"type": "object", "additionalProperties": False,
     "required": ["role", "tool_call_id", "content"],
     "properties": {"role": {"const": "tool"}, "tool_call_id": {"type": "string"},
                    "content": {"type": "string"}}},
    call_id=True,
)  # fmt: skip
_TRL_MESSAGE = _message_schema(
    {"type": "object"},
    {"type": "object", "additionalProperties": False, "required": ["role", "name", "content"],
     "properties": {"role": {"const": "tool"}, "name": {"type": "string"},
                    "content": {"type": "string"}}},
    call_id=False,
)  # fmt: skip
_FINAL = {"type": "array", "minItems": 1, "maxItems": 1, "items": {
    "type": "object", "additionalProperties": False, "required": ["role", "content"],
    "properties": {"role": {"const": "assistant"}, "content": {"type": "string"}}}}  # fmt: skip


def _conversation(message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "minItems": 2, "items": message}


SCHEMAS: dict[Format, dict[str, Any]] = {
    "openai": {"type": "object", "additionalProperties": False, "required": ["messages"],
               "properties": {"messages": _conversation(_OPENAI_MESSAGE), "tools": _TOOLS}},
    "sft": {"type": "object", "additionalProperties": False, "required": ["messages"],
            "properties": {"messages": _conversation(_TRL_MESSAGE), "tools": _TOOLS}},
    "kto": {"type": "object", "additionalProperties": False,
            "required": ["prompt", "completion", "label"],
            "properties": {"prompt": {"type": "array", "minItems": 1, "items": _TRL_MESSAGE},
                           "completion": _FINAL, "label": {"type": "boolean"},
                           "tools": _TOOLS}},
    "dpo": {"type": "object", "additionalProperties": False,
            "required": ["prompt", "chosen", "rejected"],
            "properties": {"prompt": {"type": "array", "minItems": 1, "items": _TRL_MESSAGE},
                           "chosen": _FINAL, "rejected": _FINAL, "tools": _TOOLS}},
}  # fmt: skip
"""One JSON Schema per format (draft 2020-12)."""


@cache
def _validator(fmt: Format) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(SCHEMAS[fmt])


def problems(row: Mapping[str, Any], fmt: Format) -> list[str]:
    """Why ``row`` is not a row of ``fmt`` (empty: it is), including the last assistant
    message of a conversation being the answer and every OpenAI ``arguments`` parsing as a
    JSON object."""
    validator = _validator(fmt)
    found = [f"{'/'.join(map(str, e.absolute_path)) or '(row)'}: {e.message}"
             for e in validator.iter_errors(row)]  # fmt: skip
    if fmt in ("openai", "sft") and not found:
        last = row["messages"][-1]
        if last["role"] != "assistant" or "content" not in last:
            found.append("messages: the last message is not the assistant's answer")
    if fmt == "openai" and not found:
        for m in row["messages"]:
            for call in m.get("tool_calls", ()):
                try:
                    parsed = json.loads(call["function"]["arguments"])
                except ValueError:
                    parsed = None
                if not isinstance(parsed, dict):
                    found.append(f"tool call {call['id']}: arguments are not a JSON object string")
    return found
