"""Tool calling for models that cannot emit native tool-call tags.

Small coder models write tool calls as fenced JSON, which llama.cpp's own tool parser does not
recognise. Instead, generation is *constrained* by one JSON Schema: a union with one branch per
allowed tool, ``{"tool": "<name>", "arguments": <its parameters schema>}``, plus a final-answer
branch ``{"final": <response schema or string>}``. The result is then translated back into a
standard Chat Completions message (``tool_calls`` or ``content``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from processors.errors import ProviderError

_REF_PREFIXES = ("#/$defs/", "#/definitions/")


def _rewrite_refs(node: Any, rename: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                for prefix in _REF_PREFIXES:
                    if value.startswith(prefix) and value[len(prefix) :] in rename:
                        value = "#/$defs/" + rename[value[len(prefix) :]]
                out[key] = value
            else:
                out[key] = _rewrite_refs(value, rename)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, rename) for item in node]
    return node


def _hoist_defs(schema: dict[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """Move ``$defs``/``definitions`` of a nested schema to the root (renamed with ``prefix``)
    so its ``#/$defs/...`` references still resolve once it is embedded in the union."""
    local = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    if not local:
        return schema
    rename = {name: f"{prefix}__{name}" for name in local}
    body = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
    for name, sub in local.items():
        defs[rename[name]] = _rewrite_refs(sub, rename)
    rewritten: dict[str, Any] = _rewrite_refs(body, rename)
    return rewritten


def allowed_tools(tools: list[dict[str, Any]], tool_choice: Any) -> list[dict[str, Any]]:
    """The OpenAI ``tools`` entries the model may call under ``tool_choice``."""
    if tool_choice == "none" or not tools:
        return []
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        chosen = [t for t in tools if t["function"]["name"] == name]
        if not chosen:
            raise ProviderError(f"tool_choice names unknown tool {name!r}", status=400)
        return chosen
    return tools


def build_union(
    tools: list[dict[str, Any]], tool_choice: Any, response_schema: dict[str, Any] | None
) -> dict[str, Any]:
    """The JSON Schema that constrains one assistant turn.

    ``tools`` are OpenAI tool entries; ``tool_choice`` is ``"auto"``, ``"none"``,
    ``"required"`` or ``{"type": "function", "function": {"name": ...}}``."""
    defs: dict[str, Any] = {}
    branches: list[dict[str, Any]] = []
    for tool in allowed_tools(tools, tool_choice):
        name = tool["function"]["name"]
        params = tool["function"].get("parameters") or {"type": "object", "properties": {}}
        branches.append(
            {
                "type": "object",
                "properties": {
                    "tool": {"const": name},
                    "arguments": _hoist_defs(params, f"tool_{name}", defs),
                },
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        )
    may_answer = tool_choice in ("auto", "none") or not tools
    if may_answer:
        final = (
            _hoist_defs(response_schema, "final", defs)
            if response_schema is not None
            else {"type": "string"}
        )
        branches.append(
            {
                "type": "object",
                "properties": {"final": final},
                "required": ["final"],
                "additionalProperties": False,
            }
        )
    union: dict[str, Any] = branches[0] if len(branches) == 1 else {"anyOf": branches}
    if defs:
        union = {**union, "$defs": defs}
    return union


def compact(schema: Any) -> Any:
    """A JSON Schema as the model reads it in the guide: the same shape with less noise.

    Titles, ``default: null`` and ``additionalProperties: false`` go (the grammar enforces the
    shape anyway) and ``anyOf: [X, {"type": "null"}]`` becomes X with ``"type": [..., "null"]``:
    fewer tokens for the same meaning, and on a CPU every prompt token counts."""
    if isinstance(schema, list):
        return [compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if (key == "default" and value is None) or (key == "additionalProperties" and not value):
            continue
        out[key] = value if key in ("enum", "const", "required") else compact(value)
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        (other,) = [option for option in options if option != {"type": "null"}]
        if isinstance(other, dict) and isinstance(other.get("type"), str):
            del out["anyOf"]
            out = {**other, "type": [other["type"], "null"], **out}
    return out


def _dumps(schema: Any) -> str:
    return json.dumps(compact(schema), separators=(",", ":"))


def instructions(
    tools: list[dict[str, Any]], tool_choice: Any, response_schema: dict[str, Any] | None
) -> str:
    """A system-prompt section telling the model how to answer in the union's format.

    For ``"auto"`` and ``"none"`` it is the same (all tools, the final-answer format), so a
    conversation that closes its tools on the last turn keeps llama.cpp's prompt cache for the
    whole prefix and says so at the end instead (:func:`turn_note`). A forced tool call (the
    judge's verdict, a plan) is a single shot: its guide names only what it may do."""
    open_ended = tool_choice in ("auto", "none") or not tools
    offered = tools if open_ended else allowed_tools(tools, tool_choice)
    lines = ["Answer with exactly one JSON object and nothing else."]
    if offered:
        lines.append('To call a tool, answer {"tool": "<tool name>", "arguments": {...}}.')
        lines.append("Available tools:")
        for tool in offered:
            fn = tool["function"]
            params = _dumps(fn.get("parameters") or {})
            lines.append(f"- {fn['name']}: {fn.get('description', '')} Arguments schema: {params}")
    if open_ended:
        if response_schema is not None:
            lines.append(
                'To give the final answer, answer {"final": <answer>} where <answer> '
                f"matches this JSON Schema: {_dumps(response_schema)}"
            )
        else:
            lines.append('To give the final answer, answer {"final": "<your answer as text>"}.')
        if offered:
            lines.append("Call a tool when you need information or an action; otherwise answer.")
    return "\n".join(lines)


def turn_note(tools: list[dict[str, Any]], tool_choice: Any) -> str | None:
    """The note that closes the tools for this turn (the grammar enforces it; the note tells
    the model, so it does not fight the grammar), else ``None``."""
    if tools and tool_choice == "none":
        return 'No more tool calls: give the final answer now, as {"final": ...}.'
    return None


def translate(content: str, response_schema: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    """A Chat Completions assistant message and finish reason from the constrained output."""
    try:
        data = json.loads(content)
    except ValueError:
        # Only a truncated generation (max_tokens) escapes the grammar.
        return {"role": "assistant", "content": content}, "length"
    if isinstance(data, dict) and "tool" in data:
        call = {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": data["tool"], "arguments": json.dumps(data.get("arguments", {}))},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    if isinstance(data, dict) and "final" in data:
        final = data["final"]
        plain = response_schema is None and isinstance(final, str)
        text = final if plain else json.dumps(final)
        return {"role": "assistant", "content": text}, "stop"
    return {"role": "assistant", "content": content}, "stop"
