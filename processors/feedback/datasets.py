"""``daemons dataset build``: feedback joined to the runs it names, as fine-tuning rows.

1. The time range becomes offsets (the broker's time index): ``daemons.feedback`` from
   ``--from`` to ``--to``; ``daemons.runs`` from its start to ``--to`` (a run comes before
   its feedback). Only run records whose key names a run with feedback are decoded.
2. Each run with feedback gives an :class:`Example`: the conversation its model had (the
   run record's transcript, without the answers it was sent back to correct), its answer,
   the latest label or decision, and the latest correction mapped onto the answer model
   (fields the model does not write — values code copies from tool results — cannot be
   taught; such a correction is skipped and counted).
3. Rows per format (:mod:`.formats`): ``sft``/``openai`` from approved or corrected runs
   (the correction as the target), ``kto`` from labels (a correction: the original as
   undesirable, the corrected as desirable), ``dpo`` from corrections (corrected chosen,
   original rejected).
4. Every string is scrubbed (secrets, then PII), rows are deduplicated, split by the run's
   time (and optionally by tenant), and an evaluation row whose prompt is also a training
   prompt is dropped: evaluation never sees training rows.
5. ``train.jsonl``, ``eval.jsonl`` and ``manifest.json`` (offset ranges, counts, SHA-256 of
   each file; ``version`` is the SHA-256 over them) go to the output folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from processors.errors import ConfigError, DaemonsError
from processors.feedback.contract import FEEDBACK_TOPIC
from processors.feedback.formats import Format, messages, problems, tool_specs
from processors.feedback.rewards import answer_fields, human, latest_correction
from processors.feedback.runs import RUNS_TOPIC
from processors.feedback.scan import Offsets, consumer, offsets_at, scan, watermarks
from processors.kafka.clients import Contracts
from processors.settings import Settings
from processors.untrusted.redaction import mask_personal, redact

AnswerModel = Callable[[str], type[BaseModel] | None]
NO_ROW: dict[str, str] = {
    "sft": "neither approved nor corrected (no target)",
    "openai": "neither approved nor corrected (no target)",
    "kto": "no label (scores only)",
    "dpo": "no correction (no pair)",
}
"""Why a run with feedback gave no row in a format (counted in the manifest's ``skipped``)."""


@dataclass(frozen=True)
class Build:
    """What to build: the daemon's feedback in [start, end) as ``fmt`` rows into ``out``."""

    daemon: str
    fmt: Format
    out: Path
    start: dt.datetime | None = None  # None: the topic's beginning
    end: dt.datetime | None = None  # None: now
    eval_fraction: float = 0.2  # the latest share of runs (by time) held out for evaluation
    eval_from: dt.datetime | None = None  # or: runs from this time on are held out
    eval_tenants: frozenset[str] = frozenset()  # these tenants' runs are evaluation only


@dataclass(frozen=True)
class Example:
    """One run with its feedback, ready to become rows."""

    run_id: str
    tenant_id: str
    at: str  # the run's time, ISO 8601
    prompt: list[dict[str, Any]]  # our transcript messages before the final answer
    tools: list[dict[str, Any]]
    answer: str  # the run's answer (canonical JSON)
    corrected: str | None  # the corrected answer, when a correction maps onto it
    liked: bool | None  # the latest label or decision; None: neither


@dataclass
class Report:
    """What a build did (also in the manifest)."""

    manifest: dict[str, Any]
    seconds: float
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        return int(sum(self.manifest["rows"].values()))


# ---- reading -------------------------------------------------------------------------------


def _read(
    settings: Settings, contracts: Contracts, build: Build
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]], dict[str, Any]]:
    """(run id → its feedback, run id → its run record, the offset ranges read)."""
    reader = consumer(settings, "dataset")
    outside = 0
    try:
        fb_topic = contracts.catalog.physical(FEEDBACK_TOPIC)
        fb_low, _ = watermarks(reader, fb_topic)
        fb_start = fb_low if build.start is None else offsets_at(reader, fb_topic, build.start)
        fb_end = offsets_at(reader, fb_topic, build.end)
        feedback: dict[str, list[dict[str, Any]]] = {}
        low = _ms(build.start) if build.start else None
        high = _ms(build.end) if build.end else None
        for msg in scan(reader, fb_topic, fb_start, fb_end):
            stamp = msg.timestamp()[1]  # the range is by offset; a record stamped out of it
            if (low is not None and stamp < low) or (high is not None and stamp >= high):
                outside += 1  # (produced late with an older time, say) is left out
                continue
            datum = contracts.codec.decode(msg.value())
            if datum.get("daemon") == build.daemon:
                feedback.setdefault(str(datum["run_id"]), []).append(datum)
        runs_topic = contracts.catalog.physical(RUNS_TOPIC)
        runs_start, _ = watermarks(reader, runs_topic)
        runs_end = offsets_at(reader, runs_topic, build.end)
        runs: dict[str, dict[str, Any]] = {}
        for msg in scan(reader, runs_topic, runs_start, runs_end):
            key = (msg.key() or b"").decode(errors="replace")
            if key.rsplit(":", 1)[-1] not in feedback:
                continue  # no feedback names it: not decoded
            datum = contracts.codec.decode(msg.value())
            runs[str(datum["run_id"])] = datum
    finally:
        reader.close()
    ranges = {
        FEEDBACK_TOPIC: {**_ranges(fb_topic, fb_start, fb_end), "outside_time_range": outside},
        RUNS_TOPIC: _ranges(runs_topic, runs_start, runs_end),
    }
    return feedback, runs, ranges


def _when(record: Mapping[str, Any]) -> str:
    occurred = record["occurred_at"]
    return occurred.isoformat() if isinstance(occurred, dt.datetime) else str(occurred)


def _ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def _ranges(physical: str, starts: Offsets, ends: Offsets) -> dict[str, Any]:
    spans = {str(p): [starts.get(p, 0), end] for p, end in sorted(ends.items())}
    return {"topic": physical, "partitions": spans}


# ---- examples ------------------------------------------------------------------------------


def example(
    record: Mapping[str, Any], feedback: Sequence[Mapping[str, Any]], model: type[BaseModel] | None
) -> Example | str:
    """The example of one run, or why it cannot be one (a skip reason)."""
    if record.get("outcome") != "completed" or record.get("output_json") is None:
        return "run failed"
    if not record.get("transcript_json"):
        return "run record without a transcript (no model answer, or over 256 KiB)"
    transcript = json.loads(record["transcript_json"])
    conversation = _without_corrected_answers(transcript["messages"])
    if not conversation or conversation[-1]["kind"] != "assistant":
        return "transcript does not end with the answer"
    answer = str(record["output_json"])
    corrected: str | None = None
    fix = latest_correction(feedback)
    if fix is not None:
        corrected = _corrected(answer, fix, model)
        if corrected is None:
            return "correction names no field the model writes, or does not validate with it"
        if corrected == answer:
            return "correction agrees with the answer"
    score = human(feedback)
    occurred = record["occurred_at"]
    return Example(
        run_id=str(record["run_id"]), tenant_id=str(record["tenant_id"]),
        at=occurred.isoformat() if isinstance(occurred, dt.datetime) else str(occurred),
        prompt=conversation[:-1], tools=list(transcript.get("tools") or ()), answer=answer,
        corrected=corrected, liked=None if score is None else score >= 0.5,
    )  # fmt: skip


def _without_corrected_answers(transcript: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The conversation without the answers the run sent back (an invalid final answer and
    the correction that followed it): a dataset teaches the answer that held."""
    kept: list[dict[str, Any]] = []
    skip_next_user = False
    last = len(transcript) - 1
    for i, m in enumerate(transcript):
        if skip_next_user and m["kind"] == "user":
            skip_next_user = False
            continue
        if m["kind"] == "assistant" and not m.get("tool_calls") and i != last:
            skip_next_user = True
            continue
        kept.append(dict(m))
    return kept


def _corrected(answer: str, fix: Mapping[str, Any], model: type[BaseModel] | None) -> str | None:
    original = answer_fields(answer)
    if original is None:
        return None
    writable = set(model.model_fields) if model is not None else set(original)
    taught = {k: v for k, v in fix.items() if k in writable}
    if not taught:
        return None
    merged = {**original, **taught}
    if model is not None:
        try:
            merged = model.model_validate(merged).model_dump(mode="json")
        except ValidationError:
            return None
    text = json.dumps(merged, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return answer if merged == original else text


# ---- rows ------------------------------------------------------------------------------------


def rows(ex: Example, fmt: Format) -> list[dict[str, Any]]:
    """The rows one example gives in ``fmt`` (possibly none)."""
    tools = tool_specs(ex.tools)
    extra = {"tools": tools} if tools else {}
    prompt = messages(ex.prompt, fmt)
    if fmt in ("sft", "openai"):
        target = ex.corrected or (ex.answer if ex.liked else None)
        if target is None:
            return []
        return [{"messages": [*prompt, _assistant(target)], **extra}]
    if fmt == "kto":
        made: list[dict[str, Any]] = []
        if ex.corrected is not None:
            for completion, label in ((ex.answer, False), (ex.corrected, True)):
                made.append({"prompt": prompt, "completion": [_assistant(completion)],
                             "label": label, **extra})  # fmt: skip
        elif ex.liked is not None:
            made.append(
                {
                    "prompt": prompt,
                    "completion": [_assistant(ex.answer)],
                    "label": ex.liked,
                    **extra,
                }
            )
        return made
    if ex.corrected is None:  # dpo
        return []
    return [{"prompt": prompt, "chosen": [_assistant(ex.corrected)],
             "rejected": [_assistant(ex.answer)], **extra}]  # fmt: skip


def _assistant(content: str) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def scrub(value: Any) -> Any:
    """Every string in ``value`` with secrets redacted and PII masked (keys kept)."""
    if isinstance(value, str):
        return mask_personal(redact(value))
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    return value


def _digest(value: Any) -> str:
    return hashlib.sha256(
        json.dumps(value, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


# ---- the build -------------------------------------------------------------------------------


def build(
    settings: Settings, contracts: Contracts, request: Build, answer_model: AnswerModel
) -> Report:
    """Read, join, make rows, split, write; the manifest says what was read and written."""
    started = time.perf_counter()
    model = answer_model(request.daemon)
    if model is None:
        raise ConfigError(f"unknown daemon {request.daemon!r}: no answer model to check rows with")
    feedback, runs, ranges = _read(settings, contracts, request)
    skipped: Counter[str] = Counter()
    made: list[tuple[Example, dict[str, Any]]] = []
    seen: set[str] = set()
    # in run time order (then run id), whatever order the partitions were read in: the same
    # records give the same files, so the same version
    order = sorted(feedback, key=lambda r: (_when(runs[r]) if r in runs else "", r))
    for run_id in order:
        items = feedback[run_id]
        record = runs.get(run_id)
        if record is None:
            skipped["run not on daemons.runs (before its retention, or after --to)"] += len(items)
            continue
        ex = example(record, items, model)
        if isinstance(ex, str):
            skipped[ex] += 1
            continue
        given = rows(ex, request.fmt)
        if not given:
            skipped[NO_ROW[request.fmt]] += 1
        for row in given:
            row = scrub(row)
            key = _digest(row)
            if key in seen:
                skipped["duplicate row"] += 1
                continue
            seen.add(key)
            wrong = problems(row, request.fmt)
            if wrong:  # a defect of ours, never written
                raise DaemonsError(f"run {run_id}: a {request.fmt} row is not valid: {wrong[:3]}")
            made.append((ex, row))
    train, held, cut = _split(made, request, skipped)
    request.out.mkdir(parents=True, exist_ok=True)
    files = {name: _write(request.out / name, part) for name, part in
             (("train.jsonl", train), ("eval.jsonl", held))}  # fmt: skip
    version = hashlib.sha256("".join(f["sha256"] for f in files.values()).encode()).hexdigest()
    manifest = {
        "name": request.daemon, "format": request.fmt, "version": version,
        "built_at": dt.datetime.now(dt.UTC).isoformat(),
        "from": request.start.isoformat() if request.start else None,
        "to": request.end.isoformat() if request.end else None,
        "topics": ranges,
        "split": {"by": "run time", "eval_from": cut,
                  "eval_tenants": sorted(request.eval_tenants)},
        "rows": {"train": len(train), "eval": len(held)},
        "files": files,
        "feedback_runs": len(feedback), "runs_joined": sum(r in runs for r in feedback),
        "skipped": dict(sorted(skipped.items())),
    }  # fmt: skip
    (request.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return Report(manifest, time.perf_counter() - started, skipped)


def _split(
    made: list[tuple[Example, dict[str, Any]]], request: Build, skipped: Counter[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]:
    """(train rows, eval rows, the time evaluation starts at): by the run's time, the
    held-out tenants' runs to evaluation only, and no evaluation row whose prompt trains."""
    times = sorted({ex.at for ex, _ in made if ex.tenant_id not in request.eval_tenants})
    cut: str | None
    if request.eval_from is not None:
        cut = request.eval_from.isoformat()
    elif times and request.eval_fraction > 0:
        cut = times[min(len(times) - 1, int(len(times) * (1 - request.eval_fraction)))]
    else:
        cut = None
    train, held = [], []
    for ex, row in made:
        if ex.tenant_id in request.eval_tenants or (cut is not None and ex.at >= cut):
            held.append((ex, row))
        else:
            train.append(row)
    trained = {_digest(row.get("prompt") or row["messages"][:-1]) for row in train}
    kept = []
    for _ex, row in held:
        if _digest(row.get("prompt") or row["messages"][:-1]) in trained:
            skipped["eval row whose prompt is a training prompt"] += 1
            continue
        kept.append(row)
    return train, kept, cut


def _write(path: Path, part: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for row in part:
            line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            digest.update(line)
            out.write(line)
    return {"rows": len(part), "sha256": digest.hexdigest()}


def iter_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a written ``.jsonl`` file."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)
