"""The model port: every language model, real or fake, is reached through :class:`Model`.

Messages are small tagged pydantic models joined in a discriminated union (``Message``), so
a whole conversation serializes with one ``TypeAdapter``. Providers (OpenAI-compatible,
Anthropic, the embedded local server) translate to and from these types in exactly one place.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ToolCall(_Frozen):
    """The model asks to run tool ``name`` with ``arguments`` (already parsed JSON).

    ``invalid_arguments`` is set (to why, and the start of what the model wrote) when the
    provider could not read them as a JSON object: the call is not run, and the model is
    told so and may correct itself (a sampled model's broken JSON is its turn's mistake, not
    a reason to run the whole paid event again)."""

    id: str
    name: str
    arguments: dict[str, Any]
    invalid_arguments: str | None = None


class SystemMessage(_Frozen):
    kind: Literal["system"] = "system"
    content: str


class UserMessage(_Frozen):
    kind: Literal["user"] = "user"
    content: str


class AssistantMessage(_Frozen):
    kind: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


class ToolResultMessage(_Frozen):
    """A tool's result (or structured error) fed back to the model as untrusted data."""

    kind: Literal["tool"] = "tool"
    tool_call_id: str
    name: str
    content: str
    is_error: bool = False


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolResultMessage,
    Field(discriminator="kind"),
]
messages_adapter: TypeAdapter[list[Message]] = TypeAdapter(list[Message])


class ToolSpec(_Frozen):
    """What the model sees of a tool: its name, description and JSON Schema of arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


class ModelSettings(_Frozen):
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None


class ModelRequest(_Frozen):
    """One call to a model.

    ``tool_choice`` is ``"auto"``, ``"required"``, ``"none"`` or the name of one tool.
    ``response_schema`` (a JSON Schema) asks for a final answer of that shape.
    ``cache_prefix`` counts the leading messages that are the same, byte for byte, for every
    event of this daemon and tenant (instructions, then the tenant's context); the event and
    its evidence follow. Providers with explicit cache breakpoints mark its end; 0: unknown.
    """

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"
    response_schema: dict[str, Any] | None = None
    response_name: str = "response"
    settings: ModelSettings = ModelSettings()
    cache_prefix: int = 0

    @property
    def task(self) -> str:
        """The first user message after the cacheable prefix: an agent's task, with the event
        in it (before it: instructions and the tenant's context); "" when there is none."""
        found = (m for m in self.messages[self.cache_prefix :] if isinstance(m, UserMessage))
        return next((m.content for m in found), "")


class Usage(_Frozen):
    """Tokens of one model call (or, added up, of many).

    ``input_tokens`` is the whole prompt. Two parts of it are priced differently by the
    providers: ``cached_input_tokens`` were read from the provider's prompt cache (OpenAI's
    ``prompt_tokens_details.cached_tokens``, Anthropic's ``cache_read_input_tokens``) and
    ``cache_write_tokens`` were written to it (Anthropic's ``cache_creation_input_tokens``).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def uncached_input_tokens(self) -> int:
        """The prompt tokens neither read from nor written to a cache (never below 0)."""
        return max(0, self.input_tokens - self.cached_input_tokens - self.cache_write_tokens)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


class ModelResponse(_Frozen):
    """The model's answer: either text (the final response) or tool calls."""

    message: AssistantMessage
    usage: Usage = Usage()
    model: str
    finish_reason: str | None = None
    cost_usd: float = 0.0
    latency_s: float = 0.0


@runtime_checkable
class Model(Protocol):
    """A language model. ``name`` is the full model string, e.g. ``openai:gpt-4.1-mini``;
    ``provider`` is the part before the colon (used for spans and the judge-differs rule)."""

    @property
    def name(self) -> str: ...

    @property
    def provider(self) -> str: ...

    async def complete(self, request: ModelRequest) -> ModelResponse: ...
