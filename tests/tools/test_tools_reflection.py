"""Tools by reflection over typed Python handlers: schemas, injection, validation, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, NewType, TypeVar

import pytest
from pydantic import BaseModel, SecretStr

from processors.errors import ConfigError
from processors.reference import Ledger, TokenVerifier
from processors.reference.as_tools import reflection_tools
from processors.reference.data import PRINCIPALS
from processors.tools.auth import Credential, HmacCredentialProvider, HmacCredentialSettings
from processors.tools.base import CallContext, Tool, ToolError
from processors.tools.reflection import Injection, ReflectedTool, parse_docstring, reflect

T = TypeVar("T")
KEY = "reflection-test-signing-key"
RIDGELINE_OWNER = CallContext(
    tenant_id="t-ridgeline", principal_id="u-ridgeline-owner", event_id="evt-1"
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Point(BaseModel):
    x: int
    y: int


class Distance(BaseModel):
    value: float
    unit: str


@dataclass(frozen=True)
class Caller:
    name: str


Secret = NewType("Secret", str)


async def measure(origin: Point, target: Point, caller: Caller, unit: str = "m") -> Distance:
    """Measure the distance between two points.

    Longer explanation that is not part of the description.

    Args:
        origin: Where to start.
        target: Where to end,
            continued on a second line.
        unit: The unit of the answer.
    """
    d = ((origin.x - target.x) ** 2 + (origin.y - target.y) ** 2) ** 0.5
    return Distance(value=d, unit=f"{unit}:{caller.name}")


def whoami(ctx: CallContext, secret: Secret | None) -> str:
    """Say who calls.

    :param ctx: never shown
    """
    return f"{ctx.principal_id}/{secret}"


def test_input_and_output_schemas_come_from_type_hints_and_models() -> None:
    tool = ReflectedTool(measure, inject={Caller: lambda inj: Caller("x")})
    assert isinstance(tool, Tool)
    schema = tool.input_schema
    assert set(schema["properties"]) == {"origin", "target", "unit"}  # caller is hidden
    assert schema["required"] == ["origin", "target"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["unit"]["default"] == "m"
    assert schema["properties"]["target"]["description"] == (
        "Where to end, continued on a second line."
    )
    point = schema["$defs"]["Point"]
    assert point["properties"]["x"]["type"] == "integer"
    assert tool.output_schema is not None
    assert tool.output_schema["properties"]["value"]["type"] == "number"
    assert tool.output_schema["required"] == ["value", "unit"]
    assert tool.description == "Measure the distance between two points."


def test_docstring_parsing_handles_google_and_sphinx_styles() -> None:
    summary, params = parse_docstring(whoami.__doc__)
    assert summary == "Say who calls."
    assert params == {"ctx": "never shown"}
    summary, params = parse_docstring(measure.__doc__)
    assert params["origin"] == "Where to start."
    assert set(params) == {"origin", "target", "unit"}


def test_call_validates_injects_and_dumps_json() -> None:
    tool = ReflectedTool(measure, inject={Caller: lambda inj: Caller(inj.ctx.principal_id)})
    result = run(
        tool.call({"origin": {"x": 0, "y": 0}, "target": {"x": 3, "y": 4}}, RIDGELINE_OWNER)
    )
    assert result == {"value": 5.0, "unit": "m:u-ridgeline-owner"}


def test_invalid_arguments_raise_tool_error_before_the_call() -> None:
    calls: list[int] = []

    def count(n: int) -> int:
        """Count."""
        calls.append(n)
        return n

    tool = ReflectedTool(count)
    with pytest.raises(ToolError) as err:
        run(tool.call({"n": "not a number"}, RIDGELINE_OWNER))
    assert "n:" in str(err.value) and err.value.retryable is False and err.value.status is None
    with pytest.raises(ToolError, match=r"(?i)extra inputs"):
        run(tool.call({"n": 1, "surprise": True}, RIDGELINE_OWNER))
    assert calls == []


def test_hidden_parameters_can_never_be_set_by_the_model() -> None:
    tool = ReflectedTool(whoami, inject={Secret: lambda inj: Secret("s3")})
    assert tool.input_schema["properties"] == {}
    with pytest.raises(ToolError):
        run(tool.call({"ctx": {"tenant_id": "t-other"}}, RIDGELINE_OWNER))
    assert run(tool.call({}, RIDGELINE_OWNER)) == "u-ridgeline-owner/s3"


def test_a_credential_parameter_needs_a_provider() -> None:
    def needs(credential: Credential) -> str:
        return "ok"

    with pytest.raises(ConfigError, match="credential provider"):
        ReflectedTool(needs)


def test_untyped_parameters_and_bad_names_are_startup_errors() -> None:
    def untyped(x) -> int:  # type: ignore[no-untyped-def]
        return 1

    with pytest.raises(ConfigError, match="no type hint"):
        ReflectedTool(untyped)
    with pytest.raises(ConfigError, match="must match"):
        ReflectedTool(measure, name="has space")


def _ledger_tools() -> tuple[Ledger, dict[str, ReflectedTool]]:
    ledger = Ledger.sample()
    provider = HmacCredentialProvider(HmacCredentialSettings(key=SecretStr(KEY)))
    return ledger, reflection_tools(ledger, TokenVerifier(KEY.encode(), PRINCIPALS), provider)


def test_ledger_handlers_reflect_with_hidden_identity_and_output_schema() -> None:
    _, tools = _ledger_tools()
    assert set(tools) >= {"search_directory", "list_transactions", "upsert_vendor"}
    upsert = tools["upsert_vendor"].input_schema
    assert set(upsert["properties"]) == {"tenant_id", "vendor"}  # no principal, ledger, key
    out = tools["aggregate_spend"].output_schema
    assert out is not None
    assert "transaction_ids" in out["properties"]
    assert out["properties"]["total"]["type"] == "string"  # Decimal serializes as text


def test_reflected_call_is_authorized_by_the_handlers_like_over_http() -> None:
    ledger, tools = _ledger_tools()
    page = run(tools["list_transactions"].call({"tenant_id": "t-ridgeline"}, RIDGELINE_OWNER))
    assert page["total_matching"] == 20
    with pytest.raises(ToolError) as err:
        run(tools["list_transactions"].call({"tenant_id": "t-quillstack"}, RIDGELINE_OWNER))
    assert err.value.status == 403 and err.value.retryable is False
    viewer = RIDGELINE_OWNER.model_copy(update={"principal_id": "u-ridgeline-viewer"})
    with pytest.raises(ToolError) as err:
        run(
            tools["upsert_vendor"].call(
                {"tenant_id": "t-ridgeline", "vendor": {"name": "Blue Bottle Coffee"}}, viewer
            )
        )
    assert err.value.status == 403
    assert ledger.writes == 0


def test_reflected_write_uses_the_event_id_as_idempotency_key() -> None:
    ledger, tools = _ledger_tools()
    args = {"tenant_id": "t-ridgeline", "vendor": {"name": "Blue Bottle Coffee", "mcc": "5814"}}
    first = run(tools["upsert_vendor"].call(args, RIDGELINE_OWNER))
    second = run(tools["upsert_vendor"].call(args, RIDGELINE_OWNER))
    assert first == second and first["created"] is True
    assert ledger.writes == 1
    other_event = RIDGELINE_OWNER.model_copy(update={"event_id": "evt-2"})
    third = run(tools["upsert_vendor"].call(args, other_event))
    assert third["created"] is False and third["vendor"]["revision"] == 2
    assert ledger.writes == 2


def test_reflect_rejects_duplicate_names() -> None:
    def a() -> int:
        return 1

    def b() -> int:
        return 2

    b.__name__ = "a"
    with pytest.raises(ConfigError, match="two handlers"):
        reflect([a, b])


def test_injection_repr_never_shows_the_credential() -> None:
    provider = HmacCredentialProvider(HmacCredentialSettings(key=SecretStr(KEY)))
    cred = provider.mint("t-ridgeline", "u-ridgeline-owner")
    secret = cred.token.get_secret_value()
    injection = Injection(ctx=RIDGELINE_OWNER, credential=cred)
    for text in (repr(injection), str(injection), repr(cred), str(cred), f"{cred}"):
        assert secret not in text
