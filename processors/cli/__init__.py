"""The ``daemons`` console script.

Each concept's commands live in their own module here with a ``register(subparsers)``
function; ``main`` wires them together and turns our errors into one-line messages.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from processors.errors import DaemonsError


def _command_modules() -> list[ModuleType]:
    from processors.cli import (
        broker,
        compare,
        deploy,
        dlq,
        eval,
        feedback,
        finetune,
        io,
        llm,
        memory,
        new,
        promote,
        review,
        run,
        runs,
        tools,
        topics,
    )  # fmt: skip

    return [
        broker,
        topics,
        io,
        run,
        runs,
        dlq,
        review,
        llm,
        tools,
        eval,
        compare,
        new,
        deploy,
        memory,
        feedback,
        finetune,
        promote,
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daemons",
        description="Run LLM agents as dependable Kafka-driven background workers.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        module.register(sub)
    return parser


QUIET_LOGGERS = ("httpx", "httpcore")
"""Libraries that log every request URL at INFO: a tool's URL carries untrusted event text
(a bank descriptor in a directory search), and a daemon makes thousands. At DEBUG only."""


def configure_logging(verbose: bool) -> None:
    """INFO for our own loggers (DEBUG with ``-v``); request URLs only with ``-v``."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.handler(args) or 0)
    except DaemonsError as exc:
        print(f"daemons: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
