"""Store-agnostic pieces of hybrid search: query terms, and reciprocal rank fusion."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

RRF_K = 60
_TERM = re.compile(r"[^\W_]+", re.UNICODE)  # unicode61's tokens: letters and digits


def terms(text: str) -> list[str]:
    """The distinct terms of ``text`` as the index's tokenizer (unicode61, diacritics removed)
    makes them, sorted."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return sorted(set(_TERM.findall(plain)))


def fuse(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: each key scores the sum of ``1 / (k + rank)`` over the rankings
    it appears in (ranks from 1); ties broken by key, so the order is deterministic."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
