"""The daemon's dead-letter hook: a dead letter (or a budget breach, which dead-letters the
event) becomes a team notification naming the tenant, daemon, run and trace."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace

from processors.errors import BudgetExceeded
from processors.notify import Notice, Notifier

DeadLetterHook = Callable[[Mapping[str, Any], BaseException], None]


def dead_letter_notice(notifier: Notifier) -> DeadLetterHook:
    """A ``Daemon.on_dead_letter`` callback posting one notice per dead letter."""

    def on_dead_letter(letter: Mapping[str, Any], error: BaseException) -> None:
        span = trace.get_current_span().get_span_context()  # the event's `process` span
        notifier.notify(
            Notice(
                kind="budget_exceeded" if isinstance(error, BudgetExceeded) else "dead_letter",
                daemon=str(letter.get("daemon", "")),
                tenant_id=str(letter.get("tenant_id", "unknown")),
                reason=f"{letter.get('error_type')}: {letter.get('error_message', '')}",
                run_id=str(getattr(error, "run_id", "") or ""),
                trace_id=f"{span.trace_id:032x}" if span.is_valid else "",
                event_id=str(letter.get("event_id", "")),
            )
        )

    return on_dead_letter
