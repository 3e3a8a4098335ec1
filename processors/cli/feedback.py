"""``daemons feedback intake`` (the feedback.inbox → daemons.feedback daemon) and
``daemons dataset build NAME`` (fine-tuning datasets from feedback and run records); see
``docs/feedback.md``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
from pathlib import Path

from pydantic import BaseModel

from processors.errors import ConfigError
from processors.settings import Settings

log = logging.getLogger("processors.cli.feedback")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feedback = sub.add_parser("feedback", help="the feedback intake (feedback.inbox)")
    commands = feedback.add_subparsers(dest="feedback_command", metavar="ACTION", required=True)
    intake = commands.add_parser(
        "intake", help="check feedback.inbox against the runs and publish to daemons.feedback"
    )
    intake.add_argument("--concurrency", type=int, default=64, help="records in flight (64)")
    intake.add_argument("--mode", choices=("alo", "eos"), default="alo",
                        help="at-least-once (default) or exactly-once")  # fmt: skip
    intake.add_argument("--group-id", default=None, help="consumer group (feedback-intake)")
    intake.add_argument("--health-port", type=int, default=None,
                        help="serve /healthz, /readyz, /metrics here")  # fmt: skip
    intake.add_argument("--grace", type=float, default=30.0, help="shutdown grace seconds")
    intake.add_argument("--instance", default=os.environ.get("DAEMONS_INSTANCE"),
                        help="stable slot in the group (the eos transactional id)")  # fmt: skip
    intake.add_argument("--stall-after", type=float, default=None, help="liveness bound, s")
    intake.set_defaults(handler=_intake)

    dataset = sub.add_parser("dataset", help="fine-tuning datasets from feedback")
    actions = dataset.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="join feedback to run records; write JSONL + manifest")
    build.add_argument("name", help="the daemon")
    build.add_argument(
        "--from",
        dest="start",
        type=_time,
        default=None,
        help="feedback given at or after (ISO 8601; default: the beginning)",
    )
    build.add_argument(
        "--to",
        dest="end",
        type=_time,
        default=None,
        help="feedback given before (ISO 8601; default: now)",
    )
    build.add_argument("--format", choices=("openai", "sft", "kto", "dpo"), required=True)
    build.add_argument("--out", type=Path, required=True, help="output folder")
    build.add_argument(
        "--eval-fraction",
        type=float,
        default=0.2,
        help="the latest share of runs held out for evaluation (0.2)",
    )
    build.add_argument(
        "--eval-from",
        type=_time,
        default=None,
        help="hold out runs from this time on instead (ISO 8601)",
    )
    build.add_argument("--eval-tenants", default="",
                       help="comma-separated tenants whose runs are evaluation only")  # fmt: skip
    build.set_defaults(handler=_build)


def _time(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def output_model(daemon: str) -> type[BaseModel] | None:
    """A registered daemon's output model (what corrections are checked against)."""
    from processors.daemons import registry

    try:
        return registry.use_case(daemon).output_type
    except ConfigError:
        return None


def answer_model(daemon: str) -> type[BaseModel] | None:
    """A registered daemon's answer model (what its model writes: the dataset's targets)."""
    from processors.daemons import registry

    try:
        found = registry.use_case(daemon)
    except ConfigError:
        return None
    return found.answer_type or found.output_type


def _intake(args: argparse.Namespace) -> int:
    from processors.cli.run import Resolved, _contracts, _run_resolved
    from processors.feedback.intake import build_intake
    from processors.feedback.runs import RunIndex

    settings = Settings.from_env()
    index = RunIndex(settings, _contracts(settings, None))
    added = index.catch_up()
    log.info("run index: %d run(s) from daemons.runs", added)
    args.run_timeout = None
    return _run_resolved(args, settings, Resolved(build_intake(index, output_model)))


def _build(args: argparse.Namespace) -> int:
    from processors.cli.run import _contracts
    from processors.feedback.datasets import Build, build

    settings = Settings.from_env()
    request = Build(
        daemon=args.name, fmt=args.format, out=args.out, start=args.start, end=args.end,
        eval_fraction=args.eval_fraction, eval_from=args.eval_from,
        eval_tenants=frozenset(t for t in args.eval_tenants.split(",") if t),
    )  # fmt: skip
    report = build(settings, _contracts(settings, None), request, answer_model)
    summary = {"out": str(args.out), "rows": report.manifest["rows"],
               "version": report.manifest["version"], "skipped": report.manifest["skipped"],
               "seconds": round(report.seconds, 3)}  # fmt: skip
    print(json.dumps(summary))
    return 0
