"""Comparison by replay: the same events through two configurations of a daemon, side by side.

    config.py    the TOML file naming what varies (model, prompts, planner, limits, temperature)
    scripted.py  ``scripted:<path>`` models (JSON scripts keyed by the event) for tests
    replay.py    events (eval set or production topic range) → shadow topics → the daemon
                 through the real runtime → shadow outputs, outcomes, run records, dead letters
    report.py    per case and in total: output diff, eval accuracy, pass rate, judge scores,
                 tokens, cost, latency; the terminal table
    html.py      the self-contained HTML report (inline CSS and SVG charts)

:func:`run_comparison` is what ``daemons compare`` calls.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from processors.compare.config import CompareConfig, load_config
from processors.compare.replay import (
    Case,
    Tools,
    TopicRange,
    cases_from_eval_set,
    cases_from_topic_ranges,
    replay,
)
from processors.compare.report import Comparison, compare_sides, format_comparison
from processors.daemons import evaluation, registry
from processors.errors import ConfigError
from processors.llm.config import LLMSettings
from processors.settings import Settings

LLMFor = Callable[[CompareConfig], AbstractContextManager[LLMSettings]]


def run_comparison(
    daemon: str,
    baseline: CompareConfig,
    candidate: CompareConfig,
    settings: Settings,
    *,
    eval_set: Path | None = None,
    topic_ranges: Sequence[TopicRange] = (),
    tools: Tools | None = None,
    timeout: float = 600.0,
    concurrency: int = 8,
    keep_shadow: bool = False,
    llm_for: LLMFor | None = None,
) -> Comparison:
    """Replay the cases through ``baseline`` and then ``candidate`` and compare them.

    ``llm_for(config)`` (optional) gives the model settings for one side's replay, e.g. with
    a local model server started for it (``daemons compare`` does that, like ``daemons eval``).
    """
    if baseline.name == candidate.name:
        raise ConfigError(f"baseline and candidate are both named {baseline.name!r}")
    if (eval_set is None) == (not topic_ranges):
        raise ConfigError("give either an eval set or topic ranges")
    use_case = registry.use_case(daemon)
    contracts = registry.contracts(settings)
    cases: list[Case]
    if eval_set is not None:
        cases = cases_from_eval_set(eval_set, use_case, contracts)
        source = str(eval_set)
    else:
        cases = cases_from_topic_ranges(topic_ranges, use_case, settings, contracts)
        source = ", ".join(f"{r.topic}:{r.partition}:{r.start}-{r.end}" for r in topic_ranges)
    if not cases:
        raise ConfigError(f"no events to replay in {source}")
    scorer = evaluation.eval_set(daemon).score if eval_set is not None else None
    run = uuid.uuid4().hex[:6]
    sides = []
    for config in (baseline, candidate):
        with llm_for(config) if llm_for else contextlib.nullcontext(settings.llm) as llm:
            side_settings = settings.model_copy(update={"llm": llm})
            sides.append(
                replay(use_case, config, cases, side_settings, tools=tools or Tools(), run=run,
                       timeout=timeout, concurrency=concurrency, keep_shadow=keep_shadow)
            )  # fmt: skip
    return compare_sides(daemon, source, cases, sides[0], sides[1], scorer)


__all__ = [
    "CompareConfig",
    "Comparison",
    "Tools",
    "TopicRange",
    "format_comparison",
    "load_config",
    "run_comparison",
]
