"""The product's daemons by name, for ``daemons run NAME`` and ``daemons tools NAME``."""

from __future__ import annotations

import importlib
from typing import Any

from processors.daemons.base import UseCase
from processors.errors import ConfigError

# daemon name -> module holding its USE_CASE
_USE_CASES = {
    "vendor-enrichment": "processors.daemons.vendor_enrichment",
    "client-onboarding": "processors.daemons.client_onboarding",
    "question-answering": "processors.daemons.question_answering",
}


def names() -> list[str]:
    return sorted(_USE_CASES)


def use_case(name: str) -> UseCase[Any]:
    try:
        module = _USE_CASES[name]
    except KeyError:
        raise ConfigError(
            f"unknown daemon {name!r}; known: {', '.join(names())} (or use module:attribute)"
        ) from None
    found: UseCase[Any] = importlib.import_module(module).USE_CASE
    return found
