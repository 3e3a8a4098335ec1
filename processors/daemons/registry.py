"""Daemons by name, for ``daemons run NAME``."""

from __future__ import annotations

from collections.abc import Callable

from processors.errors import ConfigError
from processors.runtime.daemon import Daemon

_FACTORIES: dict[str, Callable[[], Daemon]] = {}


def register(name: str, factory: Callable[[], Daemon]) -> None:
    _FACTORIES[name] = factory


def names() -> list[str]:
    return sorted(_FACTORIES)


def get(name: str) -> Daemon:
    try:
        factory = _FACTORIES[name]
    except KeyError:
        known = ", ".join(names()) or "none yet"
        raise ConfigError(f"unknown daemon {name!r}; known: {known} (or use module:attribute)") from None
    return factory()
