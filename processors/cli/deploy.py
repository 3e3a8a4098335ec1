"""``daemons deploy values``: the Helm chart's generated file, from the one source of truth
(the topic catalog, the daemon registry, the runtime's timings and ``deploy/sizing.toml``;
see :mod:`processors.deploy.values` and docs/deploy.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from processors.daemons import registry
from processors.deploy.values import Sizing, chart_values
from processors.errors import ConfigError
from processors.kafka.clients import Contracts
from processors.settings import Settings

CHART_FILE = Path("deploy/helm/process-daemons/files/generated.json")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("deploy", help="what the Kubernetes deployment is made from")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    values = actions.add_parser(
        "values",
        help="write the Helm chart's generated.json (topics, daemons, timings, scaling)",
    )
    values.add_argument(
        "--daemon", action="append", dest="daemons", metavar="NAME",
        help="a daemon to deploy (repeat; default: the built-in ones)",
    )  # fmt: skip
    values.add_argument(
        "--sizing", type=Path, default=None,
        help="measured seconds per event (default: deploy/sizing.toml)",
    )  # fmt: skip
    values.add_argument("--grace", type=float, default=30.0, help="shutdown grace seconds (30)")
    values.add_argument(
        "--out", default=str(CHART_FILE), help=f"where to write ({CHART_FILE}; - for stdout)"
    )
    values.add_argument(
        "--check", action="store_true",
        help="write nothing; exit 1 when --out differs from what would be written",
    )  # fmt: skip
    values.set_defaults(handler=_values)


def render(settings: Settings, daemons: list[str] | None, sizing: Path | None, grace: float) -> str:
    """The generated file's text for these daemons (the built-in ones by default)."""
    names = daemons or registry.names(of="process-daemons")
    use_cases = [registry.use_case(name) for name in names]
    own = [u.contracts for u in use_cases if u.contracts is not None]
    catalog = Contracts.load(settings, own).catalog
    sizes = Sizing.load(sizing or settings.deploy_dir / "sizing.toml")
    values = chart_values(use_cases, catalog, sizes, grace_s=grace, settings=settings)
    return json.dumps(values, indent=2, ensure_ascii=False) + "\n"


def _values(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if settings.topic_prefix:
        raise ConfigError("DAEMONS_TOPIC_PREFIX is set: the chart deploys the catalog's names")
    text = render(settings, args.daemons, args.sizing, args.grace)
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(f"{out} is out of date: run `daemons deploy values`", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0
