"""Tools by reflection over plain typed Python handlers (sync or async).

The handler's signature is the contract: type hints (and pydantic models) give the JSON Schema
of the input *and* the output, the docstring gives the description (its first paragraph) and
per-parameter descriptions (Google ``Args:`` or Sphinx ``:param x:`` style). Parameters whose
annotation is in the ``inject`` mapping — the caller's identity, a credential, a database
handle, an idempotency key — are hidden from the model and supplied at call time from the
:class:`Injection` (the call's context and the credential minted for it). A parameter
annotated :class:`~processors.tools.base.CallContext` or :class:`~processors.tools.auth.Credential`
is injected without being listed.

Arguments from the model are validated against the input model before the handler runs; a
validation failure raises :class:`ToolError` (the loop may let the model try again). An
exception from the handler with an integer ``status`` (or ``status_code``) attribute becomes a
``ToolError`` with that status; other exceptions are bugs and propagate.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from processors.errors import ConfigError
from processors.tools._common import check_tool_name, status_error
from processors.tools.auth import Credential, CredentialProvider
from processors.tools.base import CallContext, ToolBase, ToolError


@dataclass(frozen=True)
class Injection:
    """What a resolver may use to produce an injected argument."""

    ctx: CallContext
    credential: Credential | None

    def __repr__(self) -> str:
        return f"Injection(ctx={self.ctx!r})"


Resolver = Callable[[Injection], Any]
"""Produces an injected argument; may return an awaitable."""

ErrorMapper = Callable[[str, BaseException, Credential | None], ToolError | None]


def status_attribute_errors(
    tool: str, exc: BaseException, credential: Credential | None
) -> ToolError | None:
    """Default mapping: an exception with an int ``status``/``status_code`` is a ToolError."""
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool):
        return status_error(tool, status, str(exc), credential)
    return None


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The first paragraph (joined into one line) and the parameter descriptions."""
    text = inspect.cleandoc(doc or "")
    summary = " ".join(text.split("\n\n", 1)[0].split()) if text else ""
    params: dict[str, str] = {}
    for m in re.finditer(r"^:param\s+(?:[\w\[\], |]+\s+)?(\w+):\s*(.+)$", text, re.M):
        params[m.group(1)] = m.group(2).strip()
    section = re.search(r"^(?:Args|Arguments|Parameters):\n((?:[ \t]+.*\n?|\n)+)", text, re.M)
    if section:
        current: str | None = None
        for line in section.group(1).splitlines():
            item = re.match(r"^\s{1,8}(\*{0,2}\w+)(?:\s*\(.*?\))?:\s*(.*)$", line)
            if item and not line.startswith(" " * 9):
                current = item.group(1).lstrip("*")
                params[current] = item.group(2).strip()
            elif current and line.strip():
                params[current] = f"{params[current]} {line.strip()}".strip()
    return summary, params


def _injected_key(annotation: Any, inject: Mapping[Any, Resolver]) -> Any | None:
    """The ``inject`` key matching ``annotation`` (also through ``X | None``), if any."""
    candidates = [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        candidates = [a for a in typing.get_args(annotation) if a is not type(None)]
    for candidate in candidates:
        if candidate in (CallContext, Credential) or candidate in inject:
            return candidate
    return None


class ReflectedTool(ToolBase):
    """A :class:`~processors.tools.base.Tool` backed by a Python function."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        inject: Mapping[Any, Resolver] | None = None,
        credentials: CredentialProvider | None = None,
        map_error: ErrorMapper = status_attribute_errors,
    ) -> None:
        self._fn = fn
        self._inject = dict(inject or {})
        self._credentials = credentials
        self._map_error = map_error
        self._name = check_tool_name(name or fn.__name__)
        summary, param_docs = parse_docstring(fn.__doc__)
        self._description = description if description is not None else summary
        hints = typing.get_type_hints(fn, include_extras=True)
        self._injected: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        for pname, param in inspect.signature(fn).parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ConfigError(f"tool {self._name}: *args/**kwargs cannot be described")
            if pname not in hints:
                raise ConfigError(f"tool {self._name}: parameter {pname!r} has no type hint")
            key = _injected_key(hints[pname], self._inject)
            if key is not None:
                self._injected[pname] = key
                continue
            default = ... if param.default is param.empty else param.default
            fields[pname] = (hints[pname], Field(default, description=param_docs.get(pname)))
        if Credential in self._injected.values() and credentials is None:
            raise ConfigError(f"tool {self._name} needs a credential provider")
        only = next(iter(fields.values()))[0] if len(fields) == 1 else None
        self._flat_param: str | None = None
        if isinstance(only, type) and issubclass(only, BaseModel):
            # A lone model parameter: its fields are the tool's arguments.
            self._flat_param = next(iter(fields))
            self._input: type[BaseModel] = only
        else:
            self._input = create_model(
                f"{self._name}_input", __config__=ConfigDict(extra="forbid"), **fields
            )
        self._input_schema = self._input.model_json_schema()
        returns = hints.get("return", Any)
        self._output: TypeAdapter[Any] | None = None if returns is Any else TypeAdapter(returns)
        self._output_schema = (
            None if self._output is None else self._output.json_schema(mode="serialization")
        )
        self._is_async = inspect.iscoroutinefunction(fn)

    def __repr__(self) -> str:
        return f"ReflectedTool(name={self._name!r})"

    async def call(self, arguments: dict[str, Any], ctx: CallContext) -> Any:
        """Validate ``arguments``, inject hidden parameters, run the handler, dump the result."""
        kwargs = self._validate(arguments)
        credential = None if self._credentials is None else await self._credentials.credential(ctx)
        try:
            kwargs.update(await self._resolve(Injection(ctx=ctx, credential=credential)))
            if self._is_async:
                result = await self._fn(**kwargs)
            else:
                result = await asyncio.to_thread(self._fn, **kwargs)
        except ToolError:
            raise
        except Exception as exc:
            mapped = self._map_error(self._name, exc, credential)
            if mapped is None:
                raise
            raise mapped from None
        if self._output is None:
            return result
        return self._output.dump_python(result, mode="json")

    def _validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            model = self._input.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            )
            raise ToolError(f"invalid arguments for {self._name}: {problems}") from None
        if self._flat_param is not None:
            return {self._flat_param: model}
        return {name: getattr(model, name) for name in type(model).model_fields}

    async def _resolve(self, injection: Injection) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for pname, key in self._injected.items():
            if key is CallContext:
                value: Any = injection.ctx
            elif key is Credential:
                value = injection.credential
            else:
                value = self._inject[key](injection)
                if inspect.isawaitable(value):
                    value = await value
            values[pname] = value
        return values


def reflect(
    handlers: Iterable[Callable[..., Any]],
    *,
    inject: Mapping[Any, Resolver] | None = None,
    credentials: CredentialProvider | None = None,
    map_error: ErrorMapper = status_attribute_errors,
) -> dict[str, ReflectedTool]:
    """Tools for ``handlers``, keyed by name (the function name). Duplicate names are an error."""
    tools: dict[str, ReflectedTool] = {}
    for fn in handlers:
        tool = ReflectedTool(fn, inject=inject, credentials=credentials, map_error=map_error)
        if tool.name in tools:
            raise ConfigError(f"two handlers are named {tool.name!r}")
        tools[tool.name] = tool
    return tools


__all__ = [
    "ErrorMapper",
    "Injection",
    "ReflectedTool",
    "Resolver",
    "parse_docstring",
    "reflect",
    "status_attribute_errors",
]
