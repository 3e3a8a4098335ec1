"""Small daemons for tests and benchmarks of the runtime (no LLM): they answer a question
event with a ``QuestionAnswered`` record, and the question text scripts their behaviour:

- ``sleep:<ms>``       await that long, then answer
- ``poison``           raise a permanent error (dead-lettered at once)
- ``flaky:<n>``        fail with a transient error on the first ``n`` attempts
- anything else        answer at once
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from processors.errors import PermanentError, TransientError
from processors.runtime.daemon import Daemon, EventContext, Output, RetryPolicy


async def answer(event: dict[str, Any], ctx: EventContext) -> list[Output]:
    question: str = event["question"]
    if question.startswith("sleep:"):
        await asyncio.sleep(int(question.split(":")[1]) / 1000)
    elif question == "poison":
        raise PermanentError(f"poison pill in {ctx.event_id}")
    elif question.startswith("flaky:") and ctx.attempt <= int(question.split(":")[1]):
        raise TransientError(f"flaky attempt {ctx.attempt}")
    value = {
        "event_id": event["event_id"],
        "tenant_id": event["tenant_id"],
        "principal_id": event["principal_id"],
        "occurred_at": event["occurred_at"],
        "output_id": "",
        "run_id": f"{ctx.partition}-{ctx.offset}",
        "trace_id": format(ctx.span.get_span_context().trace_id, "032x"),
        "question_id": event["question_id"],
        "can_answer": True,
        "answer": f"pid {os.getpid()} attempt {ctx.attempt}",
    }
    return [Output("questions.answered", value)]


echo = Daemon(
    name="echo",
    inputs=("questions.asked",),
    outputs=("questions.answered",),
    handler=answer,
    dead_letter_topic="question-answering.dlq",
    retry=RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.5),
)
