"""Prompts are files, versioned by content; untrusted data is fenced, never obeyed.

A :class:`Prompt` is text plus ``version`` (the first 12 hex digits of the SHA-256 of its
content), so a run record names exactly which prompt produced a decision and two prompt
versions can be compared. ``{placeholders}`` are filled by :meth:`Prompt.render`.

:func:`untrusted` wraps event fields and tool results in a labeled delimiter::

    <untrusted source="tool:search_directory" id="call_1">...</untrusted>

Anything inside that looks like the delimiter is neutralized, so data can never close the
fence early and smuggle in text that reads as instructions.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from processors.errors import ConfigError, SchemaValidationError
from processors.untrusted import defenses
from processors.untrusted.fencing import neutralize, untrusted

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def short_hash(text: str) -> str:
    """First 12 hex digits of the SHA-256 of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class Prompt(BaseModel):
    """A prompt's text and content version. Build with :meth:`load` or :meth:`from_text`."""

    model_config = ConfigDict(frozen=True)

    name: str
    text: str
    version: str

    @classmethod
    def load(cls, path: str | Path) -> Prompt:
        """Read a prompt file (UTF-8); its name is the file's stem."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read prompt file {file}: {exc}") from exc
        return cls(name=file.stem, text=text, version=short_hash(text))

    @classmethod
    def from_text(cls, text: str, *, name: str = "inline") -> Prompt:
        return cls(name=name, text=text, version=short_hash(text))

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(_PLACEHOLDER.findall(self.text))

    def render(self, **values: str) -> str:
        """Replace each ``{name}`` by ``values[name]``; a missing value is a ConfigError.

        Only ``{identifier}`` is a placeholder, so JSON examples in a prompt stay as written.
        """
        missing = self.placeholders - values.keys()
        if missing:
            raise ConfigError(f"prompt {self.name!r} needs values for {sorted(missing)}")
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.text)


EVENT_FENCE = ('<untrusted source="event">', "</untrusted>")
"""A task prompt may fence its event fields as one block, written in the prompt file::

    <untrusted source="event">
    Raw descriptor: {raw_descriptor}
    Amount: {amount_minor} {currency}
    </untrusted>

The fields inside are neutralized, not fenced one by one: one fence instead of one per field
(about 15 prompt tokens each), as safe, since no field can close it."""
_EVENT_BLOCK = re.compile(
    rf"({re.escape(EVENT_FENCE[0])}\n)(.*?)(\n{re.escape(EVENT_FENCE[1])})", re.DOTALL
)


def render_task(task: Prompt, event: Mapping[str, Any]) -> str:
    """Fill ``task``'s placeholders with the event's fields as untrusted data: inside the
    prompt's event block (:data:`EVENT_FENCE`) neutralized, elsewhere each in its own fence.

    A field the prompt needs but the event lacks is a :class:`SchemaValidationError` (the
    event is bad, not the code): it names the field and is dead-lettered.
    """
    texts: dict[str, str] = {}
    for name in task.placeholders:
        if name not in event:
            raise SchemaValidationError(f"event has no field {name!r}", field=name)
        value = event[name]
        texts[name] = (
            value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        )

    def fill(template: str, *, inside: bool) -> str:
        def value(match: re.Match[str]) -> str:
            name, text = match.group(1), texts[match.group(1)]
            return neutralize(text) if inside else untrusted(text, source=f"event:{name}")

        return _PLACEHOLDER.sub(value, template)

    parts, last = [], 0
    for block in _EVENT_BLOCK.finditer(task.text):
        parts.append(fill(task.text[last : block.start()], inside=False))
        body = fill(block.group(2), inside=True)
        fenced = defenses.current().fencing  # off only in the red-team benchmark
        parts.append(f"{block.group(1)}{body}{block.group(3)}" if fenced else body)
        last = block.end()
    parts.append(fill(task.text[last:], inside=False))
    return "".join(parts)
