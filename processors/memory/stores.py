"""Choosing a store and an embedder from the settings.

``STORES`` maps a store's name (``DAEMONS_MEMORY_STORE``) to the module that implements it; the
module has ``open_store(settings, embedder)`` (the store, as materialized so far) and
``fresh_store(settings, embedder)`` (an empty store, and a function that makes it *the* store
once a rebuild filled it). Adding a store is adding its module and one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from processors.errors import ConfigError
from processors.memory.embedders import MINILM, MiniLMEmbedder, OpenAIEmbeddings
from processors.memory.port import Embedder, MemoryStore
from processors.settings import Settings

STORES: dict[str, str] = {
    "sqlite": "processors.memory.sqlite_store",
    "postgres": "processors.memory.postgres_store",
}


def _module(settings: Settings, name: str | None) -> Any:
    chosen = name or settings.memory.store
    if chosen not in STORES:
        raise ConfigError(f"memory store {chosen!r}: not one of {', '.join(sorted(STORES))}")
    return importlib.import_module(STORES[chosen])


def open_store(settings: Settings, embedder: Embedder, name: str | None = None) -> MemoryStore:
    store: MemoryStore = _module(settings, name).open_store(settings, embedder)
    return store


def fresh_store(
    settings: Settings, embedder: Embedder, name: str | None = None
) -> tuple[MemoryStore, Callable[[], None]]:
    made: tuple[MemoryStore, Callable[[], None]] = _module(settings, name).fresh_store(
        settings, embedder
    )
    return made


def embedder_from(settings: Settings) -> Embedder:
    """``local:all-MiniLM-L6-v2`` or ``openai-compatible:URL#MODEL@DIMENSION``."""
    spec = settings.memory.embedder
    if spec == f"local:{MINILM}":
        return MiniLMEmbedder()
    if spec.startswith("openai-compatible:") and "#" in spec and "@" in spec:
        url, _, rest = spec.removeprefix("openai-compatible:").partition("#")
        model, _, dimension = rest.rpartition("@")
        if url and model and dimension.isdigit():
            return OpenAIEmbeddings(
                url, model, int(dimension), api_key=settings.memory.embeddings_api_key
            )
    raise ConfigError(
        f"DAEMONS_EMBEDDER {spec!r}: use local:{MINILM} or openai-compatible:URL#MODEL@DIMENSION"
    )
