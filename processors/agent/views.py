"""Views: what a model reads of a tool result — the columns and rows its use case needs.

A view is a pure function of the result (:data:`processors.agent.toolbox.View`); the result
itself, which the run record digests and the guardrails and the judge read, is unchanged.
:func:`rows` builds the common one, a projection of a list of records::

    rows("accounts", columns=("code", "name"), where=lambda r: r["type"] == "expense")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]


def rows(
    key: str,
    *,
    columns: Sequence[str],
    where: Callable[[Row], bool] | None = None,
    distinct: str | None = None,
    keep: Sequence[str] = (),
) -> Callable[[Any], Any]:
    """A view of the list at ``result[key]``: only ``columns`` of each record, only records
    ``where`` accepts, only the first record of each value of ``distinct``; of the result's
    other fields only ``keep``. A result of another shape is shown unchanged, so a view can
    never hide an error or an unexpected answer from the model."""

    def view(result: Any) -> Any:
        if not isinstance(result, Mapping) or not isinstance(result.get(key), list):
            return result
        records = result[key]
        if not all(isinstance(record, Mapping) for record in records):
            return result
        seen: set[Any] = set()
        shown: list[dict[str, Any]] = []
        for record in records:
            if where is not None and not where(record):
                continue
            if distinct is not None:
                if record.get(distinct) in seen:
                    continue
                seen.add(record.get(distinct))
            shown.append({column: record.get(column) for column in columns})
        out: dict[str, Any] = {name: result[name] for name in keep if name in result}
        out[key] = shown
        return out

    return view
