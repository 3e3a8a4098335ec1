"""Every daemon by name: the entry points of group ``process_daemons.daemons``, ours and those
of any installed package, each naming a :class:`~processors.daemons.usecase.UseCase`.

A package registers its own daemon in its ``pyproject.toml``::

    [project.entry-points."process_daemons.daemons"]
    expense-memo = "expense_memo:USE_CASE"

and ``daemons run expense-memo`` finds it; a use case not registered is given as
``package.module:attribute``. The built-in three are registered the same way (this package's
``pyproject.toml``). Nothing else in the product keeps a list of daemon names: what a daemon
brings (its topics and schemas, eval set, red-team hooks, sample events) is on its use case.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from processors.daemons.usecase import UseCase
from processors.errors import ConfigError
from processors.kafka.clients import Contracts
from processors.settings import Settings

GROUP = "process_daemons.daemons"


@cache
def _registered() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=GROUP):
        known = found.get(point.name)
        if known is not None and known.value != point.value:
            raise ConfigError(
                f"daemon {point.name!r} is registered twice (entry points {known.value!r} and "
                f"{point.value!r} in group {GROUP}): uninstall one of the packages"
            )
        found[point.name] = point
    return found


def names(of: str | None = None) -> list[str]:
    """Every registered daemon's name; ``of`` a distribution: only those it registers
    (``"process-daemons"``: the built-in ones)."""
    return sorted(
        name for name, point in _registered().items()
        if of is None or (point.dist is not None and point.dist.name == of)
    )  # fmt: skip


def use_case(name: str) -> UseCase[Any]:
    """A registered daemon's use case, or the one at ``package.module:attribute``."""
    if ":" in name:
        return _checked(load_object(name), name)
    point = _registered().get(name)
    if point is None:
        known = ", ".join(names()) or "none"
        raise ConfigError(
            f"unknown daemon {name!r}; registered ({GROUP}): {known} (or give module:attribute)"
        )
    try:
        loaded = point.load()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"daemon {name!r}: cannot load {point.value!r}: {exc}") from exc
    found_case = _checked(loaded, point.value)
    if found_case.name != name:
        raise ConfigError(
            f"daemon {name!r}: {point.value!r} is a use case named {found_case.name!r}; the "
            "entry point's name and UseCase.name must be the same"
        )
    return found_case


def load_object(spec: str) -> object:
    """What ``package.module:attribute`` names (a ConfigError saying why it cannot be had)."""
    module, _, attribute = spec.partition(":")
    try:
        found: object = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load daemon {spec!r}: {exc}") from exc
    return found


def use_cases() -> list[UseCase[Any]]:
    """Every registered daemon's use case, by name."""
    return [use_case(name) for name in names()]


def contract_dirs() -> list[Path]:
    """The folders of topics and schemas the registered daemons bring (``UseCase.contracts``)."""
    return [u.contracts for u in use_cases() if u.contracts is not None]


def contracts(settings: Settings) -> Contracts:
    """The built-in schemas and topics merged with every registered daemon's own."""
    return Contracts.load(settings, contract_dirs())


def _checked(found: object, where: str) -> UseCase[Any]:
    if not isinstance(found, UseCase):
        raise ConfigError(f"{where!r} is a {type(found).__name__}, not a UseCase")
    return found
