"""``daemons new NAME``: scaffold the package of your own daemon (:mod:`processors.scaffold`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from processors import scaffold
from processors.daemons import registry
from processors.errors import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "new", help="scaffold a package of your own daemon (use case, prompts, checks, ...)"
    )
    parser.add_argument("name", help="the daemon's name, e.g. expense-memo")
    parser.add_argument(
        "--path", type=Path, default=Path("."), help="folder to create it in (default: here)"
    )
    parser.set_defaults(handler=_new)


def _new(args: argparse.Namespace) -> int:
    scaffold.package_name(args.name)  # a bad name fails before anything else
    if args.name in registry.names():
        raise ConfigError(f"a daemon named {args.name!r} is already registered")
    root = scaffold.create(args.name, args.path)
    print(f"created {root}/ — next:")
    print(f"  cd {root} && pip install -e '.[test]' && daemons topics apply && pytest")
    print(f"  daemons run {args.name}")
    return 0
