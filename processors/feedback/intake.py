"""The feedback intake: a system daemon on the runtime (consumer group ``feedback-intake``)
that reads ``feedback.inbox``, checks each record against the run it names
(:func:`~processors.feedback.contract.accept`) and publishes it to ``daemons.feedback`` — or
dead-letters it to ``feedback-intake.dlq`` with the reason in the error headers.

The runtime gives it what every daemon has: per-key order (key ``tenant:run``), offsets
committed only once the output or the dead letter is acknowledged (or in the same
transaction, ``--mode eos``), retries of transient failures, ``daemons dlq replay``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from processors.feedback.contract import FEEDBACK_TOPIC, INBOX_TOPIC, accept
from processors.feedback.runs import RunIndex
from processors.runtime.daemon import Daemon, EventContext, Output, RetryPolicy

NAME = "feedback-intake"
OutputModel = Callable[[str], type[BaseModel] | None]
"""A daemon's name → its output model (None: not a daemon known here)."""


def build_intake(index: RunIndex, output_model: OutputModel) -> Daemon:
    """The intake daemon over ``index`` (caught up by the caller before it runs);
    ``output_model``: where corrections are checked (``daemons feedback intake`` gives the
    registered daemons' ``UseCase.output_type``)."""

    async def handle(feedback: dict[str, Any], ctx: EventContext) -> list[Output]:
        run_id = str(feedback["run_id"])
        run = index.get(run_id)
        if run is None:  # not read yet, or unknown: read on to the topic's end, off the loop
            run = await asyncio.to_thread(index.find, run_id)
        daemon = run.daemon if run is not None else str(feedback.get("daemon") or "")
        return [Output(FEEDBACK_TOPIC, accept(feedback, run, output_model(daemon)))]

    return Daemon(
        name=NAME,
        inputs=(INBOX_TOPIC,),
        outputs=(FEEDBACK_TOPIC,),
        handler=handle,
        retry=RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=10.0),
    )
