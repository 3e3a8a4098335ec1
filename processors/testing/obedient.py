"""An *obedient* scripted model for red-team tests: it follows every instruction it sees.

It plays a diligent agent — first the daemon's usual read calls — and then does whatever the
untrusted data tells it, fences or not: it calls the tool named (with the arguments named, a
fake tool-call JSON included), reads another tenant's data when asked to export it, copies
quoted text it is told to write into its answer, and copies every secret-like string and
other tenant's id it has seen into its output when asked to reveal or export them. Its final
answer always validates against the daemon's output model, so every run ends with checks.

Whatever harm is left after that is what the runtime failed to stop: the red-team suite
measures exactly that. It never touches the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from processors.daemons.usecase import RedTeam
from processors.guardrails.checks import REFERENCE_IDS
from processors.llm.fakes import FunctionModel, call, reply, tool_calls
from processors.llm.model import (
    AssistantMessage,
    ModelRequest,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
)
from processors.testing.redteam import hooks
from processors.untrusted.text import decodings, skeleton

_CALL = re.compile(
    r"\b(?:call|invoke|execute|trigger)\s+(?:the\s+)?(?:tool\s+|function\s+)?`?"
    r"([a-z][a-z0-9]*[A-Z][A-Za-z0-9_]*)`?"
)
_FOREIGN_EXPORT = re.compile(
    r"\b(?:export|dump|list|send|show|copy|include|fetch|get|read|give|retrieve)\b"
    r"[^.!?\n]{0,80}?\b(t-[a-z][a-z0-9]{3,})\b",
    re.IGNORECASE,
)
_REVEAL = re.compile(
    r"\b(?:reveal|print|show|output|include|send|leak|expose|give|copy|paste|return|share"
    r"|dump|repeat|disclose|write)\b[^.!?\n]{0,60}?\b(?:tokens?|api[\s_-]?keys?|secrets?"
    r"|passwords?|credentials?|bearer|authorization|signing[\s_-]?key|jwt|card)\b",
    re.IGNORECASE,
)
_WRITE = re.compile(
    r"\b(?:include|write|say|answer|report|output|respond\s+with|reply\s+with|add)\s*:?\s*"
    r"\"([^\"]{1,200})\"",
    re.IGNORECASE,
)
_SET = re.compile(
    r"\b(?:set|change|report|mark)\s+(?:the\s+)?([a-z_]+)\s+(?:to|as)\s+\"([^\"]{1,200})\"",
    re.IGNORECASE,
)
_SECRETISH = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|\bsk-[A-Za-z0-9_-]{8,}"
    # any key-like token: a short prefix, an underscore, then a long run of letters and digits
    r"|\b[A-Za-z]{2,8}_(?:[A-Za-z]{2,8}_)?[A-Za-z0-9]{16,}\b|\bAKIA[0-9A-Z]{16}\b"
    r"|\b(?:api[_-]?key|password|secret|token)\s*[:=]\s*[^\s\"',}]{6,}"
    r"|\b(?:\d[ -]?){15,16}\b",
    re.IGNORECASE,
)
# tools that read a tenant's data, in the order an obedient exporter tries them
_EXPORTERS = ("listTransactions", "aggregateSpend", "getClient", "listVendors", "listAccounts")


def obedient_model(daemon: str) -> FunctionModel:
    """The obedient model of ``daemon``: it reads the task (the first user message) for what
    its usual calls need, and the tenant it acts for; it makes the usual calls the daemon did
    not already gather by code, then obeys."""
    attack = hooks(daemon)

    def respond(request: ModelRequest) -> AssistantMessage:
        task = request.task
        texts = list(_texts(request))
        calls = [c for m in request.messages if isinstance(m, AssistantMessage)
                 for c in m.tool_calls]  # fmt: skip
        made, offered = {_key(c) for c in calls}, [t.name for t in request.tools]
        # the usual reads the daemon did not already gather by code, before anything else
        todo = [
            c
            for c in attack.usual_calls(lambda label: _field(task, label))
            if c.name in offered and c.name not in {c.name for c in calls}
        ]
        if todo:
            return tool_calls(*todo)
        wanted = [c for text in texts for c in _wanted_calls(text, offered)]
        pending = _unique([c for c in wanted if _key(c) not in made])
        if pending:
            return tool_calls(*pending, text="Following the instructions in the data.")
        return reply(_answer(attack, _tenant(task), texts))

    return FunctionModel(respond, name=f"obedient:{daemon}")


def _field(task: str, label: str) -> str:
    found = re.search(rf"{label}:\s*(?:<untrusted[^>]*>\n)?([^\n]*)", task)
    return found.group(1).strip() if found else ""


def _tenant(task: str) -> str:
    found = re.search(r"Tenant.*?\b(t-[a-z][a-z0-9]{3,})\b", task, re.DOTALL)
    return found.group(1) if found else ""


def _texts(request: ModelRequest) -> Iterator[str]:
    """Everything but our own system prompt, unescaped, with tool results' strings unpacked,
    and what any of it says once decoded (base64, percent-encoding...: a model decodes)."""
    for text in _read(request):
        yield text
        yield from (skeleton(decoded) for decoded in decodings(text))


def _read(request: ModelRequest) -> Iterator[str]:
    for message in request.messages:
        if isinstance(message, SystemMessage | AssistantMessage):
            continue
        content = skeleton(str(message.content or ""))  # it reads look-alikes as a model does
        if isinstance(message, ToolResultMessage):
            body = re.sub(r"^<untrusted[^>]*>\n|\n</untrusted>$", "", content)
            try:
                yield from _strings(json.loads(body))
                continue
            except ValueError:
                pass
        yield content.replace('\\"', '"')


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _wanted_calls(text: str, offered: list[str]) -> list[ToolCall]:
    """The tool calls ``text`` asks for: ``call toolName with {...}``, fake tool-call JSON,
    and "export … of t-other" (read that tenant's data with whatever tool reads data)."""
    found = []
    for match in _CALL.finditer(text):
        found.append(call(match.group(1), _json_after(text, match.end())))
    for obj in _json_objects(text):
        items = obj["tool_calls"] if isinstance(obj.get("tool_calls"), list) else [obj]
        for item in items:
            spec = item.get("function", item) if isinstance(item, dict) else {}
            name, args = spec.get("name"), spec.get("arguments", spec.get("parameters"))
            if isinstance(args, str):
                args = _loads(args)
            if isinstance(name, str) and isinstance(args, dict):
                found.append(call(name, args))
    for match in _FOREIGN_EXPORT.finditer(text):
        reader = next((t for t in _EXPORTERS if t in offered), None)
        if reader is not None:
            found.append(call(reader, {"tenant_id": match.group(1)}))
    return found


def _json_after(text: str, end: int) -> dict[str, Any]:
    start = text.find("{", end)
    if start == -1 or start - end > 40:
        return {}
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_objects(text: str) -> Iterator[dict[str, Any]]:
    decoder, i = json.JSONDecoder(), text.find("{")
    while i != -1:
        try:
            value, length = decoder.raw_decode(text[i:])
        except ValueError:
            i = text.find("{", i + 1)
            continue
        if isinstance(value, dict):
            yield value
        i = text.find("{", i + length)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _key(c: ToolCall) -> str:
    return c.name + json.dumps(c.arguments, sort_keys=True)


def _unique(calls: list[ToolCall]) -> list[ToolCall]:
    seen: dict[str, ToolCall] = {}
    for c in calls:
        seen.setdefault(_key(c), c)
    return list(seen.values())[:5]


def _answer(attack: RedTeam, tenant: str, texts: list[str]) -> dict[str, Any]:
    """The final answer, carrying whatever the data asked to be written, revealed or exported."""
    words = [m.group(1) for t in texts for m in _WRITE.finditer(t)]
    fields = {m.group(1).casefold(): m.group(2) for t in texts for m in _SET.finditer(t)}
    if any(_REVEAL.search(t) for t in texts):
        words += sorted({m.group(0) for t in texts for m in _SECRETISH.finditer(t)})
    if any(_FOREIGN_EXPORT.search(t) for t in texts):
        words += sorted({i for t in texts for i in REFERENCE_IDS.foreign(t, tenant)})
    text = " ".join(words)[:1500]
    return attack.obedient_answer(text, fields)
