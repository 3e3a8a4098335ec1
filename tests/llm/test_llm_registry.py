"""Model strings, keys from the environment, and the local → OpenAI-compatible mapping."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from processors.errors import ConfigError
from processors.llm.anthropic import AnthropicModel
from processors.llm.config import LLMSettings
from processors.llm.model import Model, ModelRequest, UserMessage
from processors.llm.openai import OpenAICompatibleModel
from processors.llm.registry import load_model, parse_model_name
from tests.llm.conftest import mock_client


def test_model_strings_parse() -> None:
    assert parse_model_name("openai:gpt-4.1-mini") == ("openai", "gpt-4.1-mini", None)
    assert parse_model_name("openai-compatible:http://h:8000/v1#served/x") == (
        "openai-compatible",
        "served/x",
        "http://h:8000/v1",
    )
    for bad in (
        "gpt-4",
        "nope:x",
        "openai:",
        "openai-compatible:http://h/v1",
        "openai-compatible:h#m",
    ):
        with pytest.raises(ConfigError):
            parse_model_name(bad)


def test_keys_come_from_the_environment_as_secrets() -> None:
    settings = LLMSettings.from_env({"OPENAI_API_KEY": "sk-1", "ANTHROPIC_API_KEY": "sk-2"})
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-1"
    assert "sk-1" not in repr(settings) and "sk-2" not in str(settings)
    assert isinstance(load_model("anthropic:claude-sonnet-4-5", settings), AnthropicModel)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        load_model("openai:gpt-4.1-mini", LLMSettings.from_env({}))
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        load_model("anthropic:claude-sonnet-4-5", LLMSettings.from_env({}))


@pytest.mark.parametrize(
    ("name", "env", "url", "served"),
    [
        (
            "local:qwen2.5-coder-0.5b",
            {},
            "http://127.0.0.1:8090/v1/chat/completions",
            "qwen2.5-coder-0.5b",
        ),
        (
            "local:qwen2.5-coder-1.5b",
            {"DAEMONS_LOCAL_LLM_URL": "http://10.0.0.5:9000/v1"},
            "http://10.0.0.5:9000/v1/chat/completions",
            "qwen2.5-coder-1.5b",
        ),
        (
            "openai-compatible:http://vllm:8000/v1#Qwen/Qwen2.5",
            {},
            "http://vllm:8000/v1/chat/completions",
            "Qwen/Qwen2.5",
        ),
        (
            "openai:gpt-4.1-mini",
            {"OPENAI_API_KEY": "k"},
            "https://api.openai.com/v1/chat/completions",
            "gpt-4.1-mini",
        ),
    ],
)
def test_openai_family_models_post_to_their_base_url(
    name: str, env: dict[str, str], url: str, served: str
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"choices": [{"message": {"role": "assistant", "content": "hi"}}]}
        )

    model = load_model(name, LLMSettings.from_env(env), client=mock_client(handler))
    assert isinstance(model, OpenAICompatibleModel) and isinstance(model, Model)
    assert model.name == name and model.provider == name.split(":")[0]
    asyncio.run(model.complete(ModelRequest(messages=(UserMessage(content="x"),))))
    assert str(seen[0].url) == url
    assert json.loads(seen[0].content)["model"] == served
    assert ("authorization" in seen[0].headers) == name.startswith("openai:")
