"""``scripted:<path>``: a model played from a JSON script, for comparisons in tests and demos.

The daemon runs events concurrently, so a script is keyed by the event rather than by call
order. Each rule names text that appears in the run's task (the rendered event) and the
responses to give, one per turn::

    {
      "name": "scripted:baseline",         // optional; default scripted:<file stem>
      "usd_per_1k_tokens": 0.002,           // optional; cost per 1,000 tokens (estimated)
      "latency_s": 0.0,                     // optional; simulated latency per call
      "rules": [
        {"match": "green coffee",
         "steps": [{"tool_calls": [{"name": "aggregateSpend", "arguments": {...}}]},
                   {"reply": {"vendor": "none", ...}}]}
      ]
    }

The step for a request is the number of this script's turns already in its conversation
(tool calls the daemon's code gathered before the first turn do not count). Like
:class:`~processors.llm.fakes.ScriptedModel` it fails loudly: a task no rule matches, or a
turn past a rule's last step, raises :class:`~processors.llm.fakes.UnexpectedModelCall`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from processors.errors import ConfigError
from processors.llm.fakes import FunctionModel, UnexpectedModelCall, call, reply, tool_calls
from processors.llm.model import AssistantMessage, Message, ModelRequest


class _ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tool_calls: list[_ToolCall] | None = None
    reply: dict[str, Any] | str | None = None


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: str = Field(min_length=1)
    steps: list[_Step] = Field(min_length=1)


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    usd_per_1k_tokens: float = Field(default=0.0, ge=0.0)
    latency_s: float = Field(default=0.0, ge=0.0)
    rules: list[_Rule] = Field(min_length=1)


def load_script(path: Path) -> FunctionModel:
    """A :class:`FunctionModel` playing the script at ``path``."""
    try:
        script = Script.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise ConfigError(f"cannot load model script {path}: {exc}") from exc
    name = script.name or f"scripted:{path.stem}"
    issued: set[str] = set()  # ids of the tool calls this script made (call ids are unique)

    def respond(request: ModelRequest) -> AssistantMessage:
        text = request.task
        rule = next((r for r in script.rules if r.match in text), None)
        if rule is None:
            raise UnexpectedModelCall(f"{name}: no rule matches the task {text[:200]!r}")
        turn = sum(_own(m, issued) for m in request.messages)
        if turn >= len(rule.steps):
            raise UnexpectedModelCall(
                f"{name}: turn {turn + 1} but the rule {rule.match!r} has {len(rule.steps)} steps"
            )
        step = rule.steps[turn]
        if step.tool_calls:
            calls = [call(c.name, c.arguments) for c in step.tool_calls]
            issued.update(c.id for c in calls)
            return tool_calls(*calls)
        if step.reply is None:
            raise ConfigError(f"{path}: a step needs 'tool_calls' or 'reply'")
        return reply(step.reply)

    return FunctionModel(
        respond, name=name, usd_per_1k_tokens=script.usd_per_1k_tokens, latency_s=script.latency_s
    )


def _own(message: Message, issued: set[str]) -> bool:
    """An assistant turn this script played — not one the daemon's code made (gathered reads
    appear as assistant tool calls before the model's first turn)."""
    if not isinstance(message, AssistantMessage):
        return False
    return not message.tool_calls or all(c.id in issued for c in message.tool_calls)
