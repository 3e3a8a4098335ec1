"""The feedback contract: what a ``Feedback`` record on ``feedback.inbox`` must be to reach
``daemons.feedback`` (``docs/feedback.md`` says it field by field).

:func:`accept` is pure: (the feedback as sent, the run it names or None, the daemon's output
model or None) → the record to publish, its blanks filled from the run — or a
:class:`~processors.errors.FeedbackRejected` whose message names the field. The intake
(:mod:`processors.feedback.intake`) dead-letters what it raises.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from processors.errors import FeedbackRejected, InvalidCorrection, OtherTenantsRun, UnknownRun
from processors.feedback.runs import RunFacts

INBOX_TOPIC = "feedback.inbox"
FEEDBACK_TOPIC = "daemons.feedback"
REVIEW_DECISIONS = frozenset({"approve", "reject"})
"""Decisions only ``daemons review`` (and the console) write: an approval publishes a held
result in the same transaction, so one arriving from elsewhere would mark a held result
decided without publishing it."""


def correction_problems(model: type[BaseModel], correction: Any) -> list[str]:
    """What is wrong with ``correction`` as a (partial) output of ``model``, one line per
    field (``field: why``); empty when every field it names is a field of the model and its
    value validates. Fields it leaves out are not required: they stand as the run gave them."""
    if not isinstance(correction, dict):
        return [f"corrected_output_json: a JSON object of {model.__name__} fields, not "
                f"{type(correction).__name__}"]  # fmt: skip
    if not correction:
        return ["corrected_output_json: names no field"]
    fields = model.model_fields
    problems = [
        f"{name}: not a field of {model.__name__}" for name in correction if name not in fields
    ]
    try:
        model.model_validate(correction)
    except ValidationError as exc:
        for error in exc.errors():
            loc = error["loc"]
            if not loc or loc[0] not in correction or loc[0] not in fields:
                continue  # a field left out (missing), or one already reported
            path = ".".join(str(part) for part in loc)
            problems.append(f"{path}: {error['msg']} (got {_short(error.get('input'))})")
    return problems


def accept(
    feedback: Mapping[str, Any], run: RunFacts | None, output_model: type[BaseModel] | None
) -> dict[str, Any]:
    """The record to publish on ``daemons.feedback`` for ``feedback`` about ``run``."""
    run_id = str(feedback["run_id"])
    decision = feedback["decision"]
    if decision in REVIEW_DECISIONS:
        raise FeedbackRejected(
            f"decision: {decision!r} is a review decision (daemons review); send 'rate' with "
            "a label (thumbs_up/thumbs_down) or 'correct' with the corrected output"
        )
    scores = dict(feedback.get("scores") or {})
    for name, value in scores.items():
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise FeedbackRejected(f"scores.{name}: {value} is not within 0..1")
    if decision == "rate" and feedback.get("label") is None and not scores:
        raise FeedbackRejected("label: a 'rate' feedback needs a label or at least one score")
    correction = feedback.get("corrected_output_json")
    if decision != "correct" and correction is not None:
        raise FeedbackRejected("corrected_output_json: only with decision 'correct'")
    if run is None:
        raise UnknownRun(f"run_id: no run {run_id!r} on daemons.runs")
    if run.tenant_id != feedback["tenant_id"]:  # the other tenant's id is not repeated
        raise OtherTenantsRun(f"tenant_id: run {run_id!r} is not a run of this tenant")
    filled = dict(feedback)
    for field, known in (("daemon", run.daemon), ("input_event_id", run.event_id),
                         ("trace_id", run.trace_id)):  # fmt: skip
        given = feedback.get(field) or None
        if given is not None and given != known:
            raise FeedbackRejected(f"{field}: run {run_id!r} has {known!r}, not {given!r}")
        filled[field] = known
    filled["output_id"] = feedback.get("output_id") or None
    if decision == "correct":
        filled["corrected_output_json"] = _checked_correction(correction, run, output_model)
    return filled


def _checked_correction(
    correction: str | None, run: RunFacts, model: type[BaseModel] | None
) -> str:
    if correction is None:
        raise InvalidCorrection("corrected_output_json: a 'correct' feedback needs the correction")
    try:
        parsed = json.loads(correction)
    except ValueError as exc:
        raise InvalidCorrection(f"corrected_output_json: not JSON: {exc}") from None
    if model is None:
        raise InvalidCorrection(
            f"daemon: no output model known for {run.daemon!r} here (not a registered daemon)"
        )
    problems = correction_problems(model, parsed)
    if problems:
        raise InvalidCorrection("; ".join(problems))
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
