"""Embedders: MiniLM runs here without a network and agrees with the published model; the
OpenAI-compatible client maps answers and errors."""

from __future__ import annotations

import json
import math

import httpx
import pytest
from pydantic import SecretStr

from processors.errors import DaemonsError, ProviderError, RateLimited, TransientError
from processors.memory.embedders import MiniLMEmbedder, OpenAIEmbeddings
from processors.memory.fakes import FakeHashEmbedder
from processors.memory.port import Embedder


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_minilm_gives_unit_vectors_and_the_same_vector_for_the_same_text(
    minilm: MiniLMEmbedder,
) -> None:
    assert isinstance(minilm, Embedder)
    first, second = minilm.embed(["Dropbox monthly plan", "something else entirely"])
    assert len(first) == minilm.dimension == 384
    assert math.isclose(_cos(first, first), 1.0, rel_tol=1e-5)
    assert minilm.embed(["Dropbox monthly plan"])[0] == first  # alone or in a list: same
    assert first != second


def test_minilm_matches_the_published_similarity(minilm: MiniLMEmbedder) -> None:
    # sentence-transformers' documentation gives 0.7553 for this pair with all-MiniLM-L6-v2
    food, bread, movie = minilm.embed(
        ["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome"]
    )
    assert abs(_cos(food, bread) - 0.7553) < 0.002
    assert _cos(food, movie) < 0.2


def test_the_fake_embedder_says_it_is_fake_and_is_deterministic() -> None:
    fake = FakeHashEmbedder()
    assert "fake" in fake.name
    assert fake.embed(["a b"]) == fake.embed(["a b"])
    assert fake.embed(["a b"]) != fake.embed(["c d"])


def _client(handler: httpx.MockTransport, dimension: int = 3) -> OpenAIEmbeddings:
    return OpenAIEmbeddings(
        "http://embed.test/v1",
        "text-embedding-3-small",
        dimension,
        api_key=SecretStr("sk-secret-value"),
        transport=handler,
    )


def test_openai_embeddings_sends_the_model_and_orders_by_index() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "data": [
                    {"index": 1, "embedding": [0.0, 1.0, 0.0]},
                    {"index": 0, "embedding": [1.0, 0.0, 0.0]},
                ]
            },
        )

    client = _client(httpx.MockTransport(handle))
    assert client.embed(["a", "b"]) == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert seen[0].url == "http://embed.test/v1/embeddings"
    assert json.loads(seen[0].content) == {"model": "text-embedding-3-small", "input": ["a", "b"]}
    assert seen[0].headers["authorization"] == "Bearer sk-secret-value"


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, RateLimited), (503, TransientError), (401, ProviderError), (400, ProviderError)],
)
def test_openai_embeddings_maps_errors_and_never_echoes_the_key(
    status: int, error: type[Exception]
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"message": "bad key sk-secret-value"}})

    with pytest.raises(error) as caught:
        _client(httpx.MockTransport(handle)).embed(["a"])
    assert "sk-secret-value" not in str(caught.value)


def test_openai_embeddings_refuses_a_wrong_dimension() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0, 0.0]}]})

    with pytest.raises(DaemonsError, match="dimensions"):
        _client(httpx.MockTransport(handle)).embed(["a"])


def test_openai_embeddings_timeout_is_transient() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(TransientError):
        _client(httpx.MockTransport(handle)).embed(["a"])
