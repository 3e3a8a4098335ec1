"""The curated set of tools one daemon may use.

Nothing is exposed by default: a :class:`ToolCatalog` holds exactly the allowlisted names,
drawn from tool sources (any ``Mapping[str, Tool]``: reflected handlers, an OpenAPI source).
An allowlisted name no source provides is a startup error that names what is available.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence

from processors.errors import ConfigError
from processors.llm.model import ToolSpec
from processors.tools.base import Tool, ToolError
from processors.tools.scoped import TenantScoped


class ToolCatalog:
    """An allowlisted, ordered set of tools; what the agent loop shows the model."""

    def __init__(self, tools: Sequence[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ConfigError(f"tool {tool.name!r} is listed twice")
            self._tools[tool.name] = tool

    @classmethod
    def build(
        cls,
        sources: Iterable[Mapping[str, Tool]],
        allow: Sequence[str],
        *,
        tenant_scoped: bool = False,
    ) -> ToolCatalog:
        """The tools named in ``allow`` (in that order), each taken from exactly one source;
        with ``tenant_scoped``, each called for the event's tenant only (a daemon's catalogue:
        :class:`~processors.tools.scoped.TenantScoped`)."""
        sources = list(sources)
        tools: list[Tool] = []
        missing: list[str] = []
        for name in allow:
            holders = [source for source in sources if name in source]
            if len(holders) > 1:
                raise ConfigError(f"tool {name!r} is offered by more than one source")
            if holders:
                tool = holders[0][name]
                tools.append(TenantScoped(tool) if tenant_scoped else tool)
            else:
                missing.append(name)
        if missing:
            available = sorted({name for source in sources for name in source})
            raise ConfigError(
                f"allowlisted tool(s) not found: {', '.join(missing)}; "
                f"available: {', '.join(available) or '(none)'}"
            )
        return cls(tools)

    def __repr__(self) -> str:
        return f"ToolCatalog({list(self._tools)})"

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def get(self, name: str) -> Tool:
        """The tool called ``name``; a :class:`ToolError` (for the model) if there is none."""
        try:
            return self._tools[name]
        except KeyError:
            raise ToolError(
                f"unknown tool {name!r}; available: {', '.join(self._tools) or '(none)'}"
            ) from None

    def specs(self) -> tuple[ToolSpec, ...]:
        """What the model sees: name, description and the JSON Schema of the arguments."""
        return tuple(
            ToolSpec(name=t.name, description=t.description, parameters=t.input_schema)
            for t in self._tools.values()
        )


def render_catalog(catalog: ToolCatalog, *, schemas: bool = True) -> str:
    """A human-readable listing of ``catalog`` (for ``daemons tools``)."""
    if not len(catalog):
        return "(no tools: nothing is exposed unless allowlisted)\n"
    blocks: list[str] = []
    for tool in catalog:
        lines = [f"{tool.name}", f"  {tool.description or '(no description)'}"]
        if schemas:
            lines.append("  input schema:")
            lines.extend(
                "    " + line for line in json.dumps(tool.input_schema, indent=2).split("\n")
            )
            lines.append("  output schema:")
            output = tool.output_schema
            text = "(none declared)" if output is None else json.dumps(output, indent=2)
            lines.extend("    " + line for line in text.split("\n"))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
