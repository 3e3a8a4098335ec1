"""``daemons run NAME``: run one process of a daemon (its consumer group)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from processors import telemetry
from processors.agent.limits import Limits
from processors.errors import ConfigError, DaemonsError
from processors.kafka.clients import Contracts
from processors.memory.port import MemoryStore
from processors.runtime.daemon import Daemon
from processors.runtime.health import HealthServer
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.runner import Runner
from processors.runtime.timing import Timings
from processors.settings import Settings
from processors.telemetry.progress import ProgressTracker

if TYPE_CHECKING:
    from processors.daemons.base import UseCase

log = logging.getLogger("processors.cli.run")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="run one process of a daemon (joins its consumer group)")
    parser.add_argument("name", help="daemon name, or module:attribute of a Daemon")
    parser.add_argument("--concurrency", type=int, default=64, help="events in flight (64)")
    parser.add_argument("--mode", choices=("alo", "eos"), default="alo",
                        help="at-least-once (default) or exactly-once")  # fmt: skip
    parser.add_argument("--group-id", default=None, help="consumer group (default: the daemon's)")
    parser.add_argument(
        "--health-port",
        type=int,
        default=None,
        help="serve /healthz, /readyz, /metrics and /progress here (0: a free port)",
    )
    parser.add_argument(
        "--run-timeout", type=float, default=None,
        help="override the agent's wall-clock limit per run, seconds (slow local models)",
    )  # fmt: skip
    parser.add_argument("--grace", type=float, default=30.0, help="shutdown grace seconds")
    parser.add_argument(
        "--instance", default=os.environ.get("DAEMONS_INSTANCE"),
        help="this process's stable slot in the group (e.g. a StatefulSet pod name; env "
        "DAEMONS_INSTANCE): with --mode eos its transactional id, so a restarted process "
        "fences the one it replaces at once",
    )  # fmt: skip
    parser.add_argument(
        "--stall-after", type=float, default=None,
        help="liveness fails after this many seconds without an event consumed or finished "
        "while partitions have work (default: twice the run timeout plus a minute)",
    )  # fmt: skip
    parser.add_argument(
        "--memory", action="store_true",
        help="read what the daemons learned: materialize memory.facts into the configured "
        "store (DAEMONS_MEMORY_STORE, DAEMONS_MEMORY_PATH, DAEMONS_EMBEDDER) at start, follow "
        "it while running, and let the use case's memory reads go to it",
    )  # fmt: skip
    parser.set_defaults(handler=_run)


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What ``daemons run NAME`` runs: the daemon, the folder of its own topics and schemas
    (if it has one), and its agent's wall-clock limit per run (what :class:`Timings` derive
    from; a bare runtime Daemon has no agent and gets the default limit)."""

    daemon: Daemon
    contracts: Path | None = None
    run_timeout_s: float = Limits().timeout_s


def resolve(
    name: str,
    settings: Settings,
    run_timeout: float | None = None,
    memory: MemoryStore | None = None,
) -> Resolved:
    """A daemon by registered name, or ``package.module:attribute`` of a use case or a
    runtime :class:`Daemon`; ``memory``: the store its memory reads go to."""
    from processors.daemons import registry
    from processors.daemons.base import UseCase, build_daemon
    from processors.daemons.environment import environment_from_settings

    if ":" in name:
        found = registry.load_object(name)
        if isinstance(found, Daemon):
            return Resolved(found, None, run_timeout or Limits().timeout_s)
        if not isinstance(found, UseCase):
            raise ConfigError(f"{name!r} is a {type(found).__name__}, not a UseCase or a Daemon")
        use_case = found
    else:
        use_case = registry.use_case(name)
        use_case, settings = _promoted(name, use_case, settings)
    if run_timeout is not None:
        limits = use_case.limits.model_copy(update={"timeout_s": run_timeout})
        use_case = dataclasses.replace(use_case, limits=limits)
    env = dataclasses.replace(environment_from_settings(settings), memory=memory)
    daemon = build_daemon(use_case, env)
    return Resolved(daemon, use_case.contracts, use_case.limits.timeout_s)


def _promoted(
    name: str, use_case: UseCase[Any], settings: Settings
) -> tuple[UseCase[Any], Settings]:
    """The daemon's promoted model configuration applied (``daemons promote`` writes it to
    ``DAEMONS_CONFIG_DIR/NAME.toml``); unchanged when it has none."""
    from processors.promote import store

    config = store.current(settings.config_dir, name)
    if config is None:
        return use_case, settings
    log.info("%s: model configuration %s (%s)", name, config.name, config.model)
    if config.temperature is not None:
        log.warning("%s: the configuration's temperature is not applied by daemons run", name)
    changes: dict[str, Any] = {"model": config.model, "llm": config.llm(settings.llm)}
    if config.planner_model is not None:
        changes["planner_model"] = config.planner_model
    if config.judge_model is not None:
        changes["judge_model"] = config.judge_model
    return config.use_case(use_case), settings.model_copy(update=changes)


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    with _memory(settings, enabled=args.memory) as memory:
        return _run_resolved(args, settings, resolve(args.name, settings, args.run_timeout, memory))


@contextlib.contextmanager
def _memory(settings: Settings, *, enabled: bool) -> Iterator[MemoryStore | None]:
    """The store the daemon reads memory from, caught up with ``memory.facts`` before the
    first event and following it in a thread while the daemon runs (None: no memory). If the
    follower stops on an error, it says so in the log and the daemon goes on without what is
    learned after that: memory only proposes, the ledger's reads confirm."""
    if not enabled:
        yield None
        return
    from processors.memory.materializer import Materializer
    from processors.memory.stores import embedder_from, open_store

    store = open_store(settings, embedder_from(settings))  # safe to share across threads
    materializer = Materializer(settings, _contracts(settings, None), store)
    caught = materializer.catch_up()
    log.info("memory: %d record(s) applied, at %s", caught.applied, caught.positions)
    stop = threading.Event()

    def follow() -> None:
        try:
            materializer.follow(stop)
        except DaemonsError as exc:
            log.error("memory: stopped following memory.facts: %s", exc)

    follower = threading.Thread(target=follow, name="memory-follower", daemon=True)
    follower.start()
    try:
        yield store
    finally:
        stop.set()
        follower.join(timeout=10)
        store.close()


def _run_resolved(args: argparse.Namespace, settings: Settings, resolved: Resolved) -> int:
    daemon, own = resolved.daemon, resolved.contracts
    timings = Timings(run_timeout_s=resolved.run_timeout_s, grace_s=args.grace)
    if args.group_id:
        daemon = dataclasses.replace(daemon, group_id=args.group_id)
    otel = telemetry.configure(daemon.name, daemon.group_id)  # before any meter is made
    metrics = RuntimeMetrics(daemon.name, daemon.group_id, otel.meter_provider, otel.prometheus)
    try:
        return _run_daemon(args, settings, daemon, metrics, otel.progress, own, timings)
    finally:
        otel.shutdown()  # flush buffered spans and metrics


def _run_daemon(
    args: argparse.Namespace, settings: Settings, daemon: Daemon, metrics: RuntimeMetrics,
    progress: ProgressTracker, own: Path | None = None, timings: Timings | None = None,
) -> int:  # fmt: skip
    timings = timings or Timings(run_timeout_s=Limits().timeout_s, grace_s=args.grace)
    health = HealthServer(
        metrics, host="0.0.0.0", port=args.health_port or 0, progress=progress.snapshot,
        stale_after=timings.poll_stale_s,
    )  # fmt: skip
    runner = Runner(
        daemon, settings, _contracts(settings, own), concurrency=args.concurrency,
        mode=args.mode, grace=args.grace, metrics=metrics, heartbeat=health.heartbeat,
        stall_after=args.stall_after or timings.stall_after_s, instance=args.instance,
        max_poll_interval_ms=timings.max_poll_interval_ms,
    )  # fmt: skip
    health.watch(runner.stalled)
    if args.health_port is None:
        asyncio.run(_serve(runner))
        return 0
    with health:
        log.info("health and metrics on %s", health.url)
        asyncio.run(_serve(runner))
    return 0


def _contracts(settings: Settings, own: Path | None) -> Contracts:
    """The built-in topics and schemas, every registered daemon's, and this one's."""
    from processors.daemons import registry

    folders = registry.contract_dirs()
    return Contracts.load(settings, [*folders, *([own] if own and own not in folders else [])])


async def _serve(runner: Runner) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "running %s (group %s, mode %s)", runner.daemon.name, runner.daemon.group_id, runner.mode
    )
    await runner.run(stop)
    log.info("stopped %s cleanly", runner.daemon.name)
