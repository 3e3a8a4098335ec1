"""A fake embedder for unit tests: deterministic, no model, and named as fake everywhere.

Each word is hashed into one of ``dimension`` buckets (a signed count), so texts that share
words are close and others are not. It knows nothing of meaning: tests of "finds by meaning"
use the real MiniLM embedder (:mod:`processors.memory.embedders`).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

_WORD = re.compile(r"\w+", re.UNICODE)


class FakeHashEmbedder:
    """Bag of hashed words, L2-normalized. ``name`` says ``fake``."""

    def __init__(self, dimension: int = 64) -> None:
        if dimension < 2:
            raise ValueError("dimension must be at least 2")
        self._dimension = dimension

    @property
    def name(self) -> str:
        return f"fake-hash-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[float]:
        vector = [0.0] * self._dimension
        for word in _WORD.findall(text.lower()):
            digest = hashlib.sha256(word.encode()).digest()
            bucket = int.from_bytes(digest[:4], "big") % self._dimension
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:
            vector[0] = 1.0  # an empty text still gets a valid unit vector
            return vector
        return [v / norm for v in vector]
