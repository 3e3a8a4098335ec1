"""Small frozen value classes that configure the model providers, and :class:`LLMSettings`,
built once from the environment (:meth:`LLMSettings.from_env`) and passed down.

API keys are ``SecretStr``: they print as ``**********`` and are unwrapped only where a
request header is built.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from processors.llm.model import Usage

DEFAULT_LOCAL_BASE_URL = "http://127.0.0.1:8090/v1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Timeouts(_Frozen):
    """Seconds to wait for each phase of one HTTP request (like ``httpx.Timeout``)."""

    connect: float = 10.0
    read: float = 120.0
    write: float = 30.0
    pool: float = 10.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


class ModelRetries(_Frozen):
    """Bounded retries of one model request's transient failures (connection errors, 429,
    5xx): exponential backoff with full jitter, or the peer's ``Retry-After`` when it sent
    one. A wait longer than ``max_delay`` is not slept through here: the error goes up to the
    runtime's own (slower) retry of the event instead. Attempts count from 1, as the
    runtime's :class:`~processors.runtime.daemon.RetryPolicy` does."""

    max_attempts: int = Field(default=4, ge=1)
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(0.0, ceiling)


class RateLimits(_Frozen):
    """Client-side limits; ``None`` means unlimited."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None


class Price(_Frozen):
    """USD per one million tokens.

    ``cached_input_per_mtok`` is what a prompt token read from the provider's cache costs,
    ``cache_write_per_mtok`` what one written to it costs (Anthropic; its 5-minute cache,
    the one :mod:`processors.llm.anthropic` asks for). Unset, such tokens are charged at
    ``input_per_mtok``: an unknown discount is never guessed.
    """

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None


# Public list prices (USD per 1M tokens) of a few common models; extend via LLMSettings.prices.
# OpenAI (platform.openai.com/docs/pricing): cached input is 25% of input for the gpt-4.1
# family and 50% for gpt-4o; no cache-write charge. Anthropic (docs.claude.com pricing and
# prompt-caching pages): cache hits 0.1x input, 5-minute cache writes 1.25x input.
DEFAULT_PRICES: dict[str, Price] = {
    "openai:gpt-4.1": Price(input_per_mtok=2.0, output_per_mtok=8.0, cached_input_per_mtok=0.5),
    "openai:gpt-4.1-mini": Price(
        input_per_mtok=0.4, output_per_mtok=1.6, cached_input_per_mtok=0.1
    ),
    "openai:gpt-4.1-nano": Price(
        input_per_mtok=0.1, output_per_mtok=0.4, cached_input_per_mtok=0.025
    ),
    "openai:gpt-4o": Price(input_per_mtok=2.5, output_per_mtok=10.0, cached_input_per_mtok=1.25),
    "openai:gpt-4o-mini": Price(
        input_per_mtok=0.15, output_per_mtok=0.6, cached_input_per_mtok=0.075
    ),
    "anthropic:claude-sonnet-4-5": Price(
        input_per_mtok=3.0,
        output_per_mtok=15.0,
        cached_input_per_mtok=0.3,
        cache_write_per_mtok=3.75,
    ),
    "anthropic:claude-haiku-4-5": Price(
        input_per_mtok=1.0,
        output_per_mtok=5.0,
        cached_input_per_mtok=0.1,
        cache_write_per_mtok=1.25,
    ),
    "anthropic:claude-opus-4-1": Price(
        input_per_mtok=15.0,
        output_per_mtok=75.0,
        cached_input_per_mtok=1.5,
        cache_write_per_mtok=18.75,
    ),
}

_FREE_PROVIDERS = ("local",)


class PriceTable(_Frozen):
    """Maps full model strings to prices. Local models cost nothing; an unknown model costs
    0 (its tokens are still counted) — add it to the table to get a figure."""

    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    def price_of(self, model_name: str) -> Price | None:
        if model_name.split(":", 1)[0] in _FREE_PROVIDERS:
            return None
        return self.prices.get(model_name)

    def cost(self, model_name: str, usage: Usage) -> float:
        """Uncached prompt tokens at the input price, cache reads at the cached price, cache
        writes at the write price, completion tokens at the output price."""
        price = self.price_of(model_name)
        if price is None:
            return 0.0
        cached = price.cached_input_per_mtok
        write = price.cache_write_per_mtok
        return (
            usage.uncached_input_tokens * price.input_per_mtok
            + usage.cached_input_tokens * (price.input_per_mtok if cached is None else cached)
            + usage.cache_write_tokens * (price.input_per_mtok if write is None else write)
            + usage.output_tokens * price.output_per_mtok
        ) / 1_000_000


class LLMSettings(_Frozen):
    """Everything :func:`processors.llm.registry.load_model` needs to build a provider."""

    openai_api_key: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    compatible_api_key: SecretStr | None = None
    """Sent as a bearer token to ``openai-compatible:`` gateways (LiteLLM, vLLM --api-key)."""
    openai_base_url: str = "https://api.openai.com/v1"
    anthropic_base_url: str = "https://api.anthropic.com"
    local_base_url: str = DEFAULT_LOCAL_BASE_URL
    timeouts: Timeouts = Timeouts()
    local_timeouts: Timeouts = Timeouts(read=1800.0)
    """For ``local:`` models: the embedded server is on this machine and answers requests in
    turn, so a busy machine makes a call slow, not lost. Timing it out would only queue the
    retry behind the abandoned request, which the server still computes; the run's own
    ``Limits.timeout_s`` bounds the call instead."""
    retry: ModelRetries = ModelRetries()
    rate_limits: dict[str, RateLimits] = Field(default_factory=dict)
    """Per provider (``openai``, ``anthropic``, ``openai-compatible``, ``local``)."""
    prices: PriceTable = PriceTable()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LLMSettings:
        env = os.environ if env is None else env

        def secret(var: str) -> SecretStr | None:
            value = env.get(var)
            return SecretStr(value) if value else None

        values: dict[str, object] = {
            "openai_api_key": secret("OPENAI_API_KEY"),
            "anthropic_api_key": secret("ANTHROPIC_API_KEY"),
            "compatible_api_key": secret("OPENAI_COMPATIBLE_API_KEY"),
        }
        for field, var in (
            ("openai_base_url", "OPENAI_BASE_URL"),
            ("anthropic_base_url", "ANTHROPIC_BASE_URL"),
            ("local_base_url", "DAEMONS_LOCAL_LLM_URL"),
        ):
            if env.get(var):
                values[field] = env[var]
        return cls.model_validate(values)
