"""Turn a model string into a :class:`processors.llm.model.Model`.

    openai:gpt-4.1-mini                              OpenAI (OPENAI_API_KEY)
    anthropic:claude-sonnet-4-5                      Anthropic (ANTHROPIC_API_KEY)
    openai-compatible:http://host:8000/v1#served     any Chat Completions server
    local:qwen2.5-coder-1.5b                         the embedded server (``daemons llm serve``)

``local`` is the OpenAI-compatible provider pointed at ``LLMSettings.local_base_url`` — the
same code path as every other gateway.
"""

from __future__ import annotations

from typing import NamedTuple

import httpx
from pydantic import SecretStr

from processors.errors import ConfigError
from processors.llm._http import ProviderHTTP
from processors.llm.anthropic import ANTHROPIC_VERSION, AnthropicModel
from processors.llm.config import LLMSettings
from processors.llm.model import Model
from processors.llm.openai import OpenAICompatibleModel
from processors.llm.ratelimit import RateLimiter

PROVIDERS = ("openai", "anthropic", "openai-compatible", "local")


class ModelName(NamedTuple):
    provider: str
    served_model: str
    base_url: str | None  # only for openai-compatible


def parse_model_name(name: str) -> ModelName:
    """Split a model string; raise :class:`ConfigError` naming what is wrong."""
    provider, sep, rest = name.partition(":")
    if not sep or not rest:
        raise ConfigError(
            f"model {name!r} must look like 'provider:model' ({', '.join(PROVIDERS)})"
        )
    if provider not in PROVIDERS:
        raise ConfigError(
            f"unknown model provider {provider!r} in {name!r}; use one of {PROVIDERS}"
        )
    if provider == "openai-compatible":
        base_url, hash_, served = rest.partition("#")
        if not hash_ or not served or not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"model {name!r} must look like 'openai-compatible:http://host:port/v1#served-name'"
            )
        return ModelName(provider, served, base_url)
    return ModelName(provider, rest, None)


def _bearer(key: SecretStr | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}


def load_model(name: str, config: LLMSettings, *, client: httpx.AsyncClient | None = None) -> Model:
    """Build the provider for ``name``. ``client`` (optional) is shared and not closed by the
    model; without it each model owns a client, closed by its ``aclose()``."""
    parsed = parse_model_name(name)
    limiter = (
        RateLimiter(config.rate_limits[parsed.provider])
        if parsed.provider in config.rate_limits
        else None
    )

    def http(base_url: str, headers: dict[str, str], key: SecretStr | None) -> ProviderHTTP:
        return ProviderHTTP(
            provider=parsed.provider,
            base_url=base_url,
            headers=headers,
            secrets=(key,) if key else (),
            timeouts=config.local_timeouts if parsed.provider == "local" else config.timeouts,
            retry=config.retry,
            limiter=limiter,
            client=client,
        )

    if parsed.provider == "anthropic":
        key = config.anthropic_api_key
        if key is None:
            raise ConfigError(f"model {name!r} needs ANTHROPIC_API_KEY in the environment")
        headers = {"x-api-key": key.get_secret_value(), "anthropic-version": ANTHROPIC_VERSION}
        return AnthropicModel(
            name=name,
            served_model=parsed.served_model,
            http=http(config.anthropic_base_url, headers, key),
            prices=config.prices,
        )
    if parsed.provider == "openai":
        key = config.openai_api_key
        if key is None:
            raise ConfigError(f"model {name!r} needs OPENAI_API_KEY in the environment")
        base_url = config.openai_base_url
    elif parsed.provider == "openai-compatible":
        key = config.compatible_api_key
        assert parsed.base_url is not None
        base_url = parsed.base_url
    else:  # local
        key = None
        base_url = config.local_base_url
    return OpenAICompatibleModel(
        name=name,
        served_model=parsed.served_model,
        http=http(base_url, _bearer(key), key),
        prices=config.prices,
    )
