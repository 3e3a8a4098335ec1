"""``daemons compare NAME --baseline CONFIG --candidate CONFIG (--eval-set FILE | --topic-range
TOPIC:PARTITION:START-END …)``: replay the same events through two configurations of a daemon
into shadow topics and compare the results.

Prints a table (or ``--json``); ``--html FILE`` writes the self-contained HTML report. Tools
come from a fresh in-process reference ledger API per side unless ``--tools-url`` names an
existing API (``DAEMONS_TOOLS_SIGNING_KEY`` signs the credentials) — mind that some daemons
write back through their tools (vendor-enrichment upserts vendors). A ``local:…`` model with
no server answering gets one started for its side, as in ``daemons eval``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from processors.cli.eval import _llm_settings
from processors.compare import Tools, TopicRange, format_comparison, load_config, run_comparison
from processors.compare.config import CompareConfig
from processors.compare.html import render_html
from processors.errors import ConfigError
from processors.llm.config import LLMSettings
from processors.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "compare", help="replay events through two configurations of a daemon and compare"
    )
    parser.add_argument("name", help="daemon name (vendor-enrichment, client-onboarding, ...)")
    parser.add_argument("--baseline", required=True, type=Path, help="baseline config (TOML)")
    parser.add_argument("--candidate", required=True, type=Path, help="candidate config (TOML)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--eval-set", type=Path, help="labeled cases (JSON lines), scored")
    source.add_argument(
        "--topic-range", action="append", type=_topic_range, metavar="TOPIC:PART:START-END",
        help="events at these offsets of a production topic (read only; repeatable)",
    )  # fmt: skip
    parser.add_argument("--html", type=Path, help="write the HTML report here")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument("--tools-url", default=None, help="use this API for tools (default: "
                        "an in-process reference ledger API)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per side (900)")
    parser.add_argument("--concurrency", type=int, default=4, help="events in flight (4)")
    parser.add_argument("--keep-shadow", action="store_true", help="keep the shadow topics")
    parser.set_defaults(handler=_compare)


def llm_for(settings: Settings) -> Callable[[CompareConfig], AbstractContextManager[LLMSettings]]:
    """Model settings per side: its own local server URL if it names one, else a local server
    started for it when nobody serves its ``local:`` model (as ``daemons eval`` does)."""

    def side(config: CompareConfig) -> AbstractContextManager[LLMSettings]:
        if config.model.startswith("scripted:") or config.local_url:
            return contextlib.nullcontext(config.llm(settings.llm))
        return _llm_settings(config.model, settings.llm)

    return side


def _topic_range(text: str) -> TopicRange:
    try:
        return TopicRange.parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _compare(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    baseline, candidate = load_config(args.baseline), load_config(args.candidate)
    tools = Tools(args.tools_url, settings.tools_signing_key) if args.tools_url else Tools()

    comparison = run_comparison(
        args.name, baseline, candidate, settings,
        eval_set=args.eval_set, topic_ranges=args.topic_range or (), tools=tools,
        timeout=args.timeout, concurrency=args.concurrency, keep_shadow=args.keep_shadow,
        llm_for=llm_for(settings),
    )  # fmt: skip
    if args.html:
        args.html.write_text(render_html(comparison), encoding="utf-8")
        print(f"HTML report: {args.html}", file=sys.stderr)
    if args.json:
        print(json.dumps(comparison.to_dict(), indent=2, default=str))
    else:
        print(format_comparison(comparison))
    return 0
