"""How much finished work a crash or a stop makes a daemon do again (run by hand).

    .venv/bin/python benchmarks/redo.py                 # 3,000 events, 3 SIGKILLs; one SIGTERM
    .venv/bin/python benchmarks/redo.py --events 1000 --kills 2 --concurrency 32

A real ``daemons run`` process (the test app ``processors.testing.apps:echo``: each event
awaits ``--handler-ms``, then answers) works a backlog on the real broker
(``KAFKA_BOOTSTRAP_SERVERS`` or a local broker this script starts). Scenario ``kill``:
SIGKILL it ``--kills`` times while it works, restarting it each time; scenario ``term``:
SIGTERM it once (graceful stop) and start it again. Each ends when every event was answered.
Events run twice are answers beyond one per event (every answer is a paid agent run in a
real daemon); for ``term`` the handlers running at the signal come from the stopping
process's own log line. Bars (issue 14): after a SIGKILL, events run twice ≤ the concurrency
limit (per kill); after a SIGTERM, ≤ the handlers running at the signal. Events lost (never
answered) must be 0. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processors.kafka.admin import apply_topics  # noqa: E402
from processors.kafka.clients import (  # noqa: E402
    Contracts,
    admin_client,
    consumer_config,
    ephemeral_group,
)
from processors.settings import Settings  # noqa: E402
from processors.testing.broker import session_broker  # noqa: E402
from processors.testing.runtime import produce_events  # noqa: E402

_DRAINING = re.compile(r"draining: (\d+) running handler")


def _question(i: int, keys: int, handler_ms: int) -> dict[str, Any]:
    return {
        "event_id": f"e{i:06d}-{uuid.uuid4().hex[:6]}", "tenant_id": "t1",
        "principal_id": f"u{i % keys}", "occurred_at": dt.datetime.now(dt.UTC),
        "question_id": f"q{i}", "question": f"sleep:{handler_ms}", "conversation_id": None,
    }  # fmt: skip


def _start(settings: Settings, group: str, concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "DAEMONS_TOPIC_PREFIX": settings.topic_prefix,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "processors", "run", "processors.testing.apps:echo",
             "--group-id", group, "--concurrency", str(concurrency), "--grace", "30"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip


class Answers:
    """Counts answers per event id on ``questions.answered``, reading as they come."""

    def __init__(self, settings: Settings, contracts: Contracts) -> None:
        self.contracts = contracts
        self.counts: Counter[str] = Counter()
        self.consumer = Consumer(consumer_config(settings, ephemeral_group("redo-reader")))
        self.consumer.subscribe([contracts.catalog.physical("questions.answered")])

    def read(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for msg in self.consumer.consume(500, timeout=0.2):
                if msg.error() is None:
                    self.counts[self.contracts.codec.decode(msg.value())["event_id"]] += 1

    def until(self, ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ids <= set(self.counts) and time.monotonic() < deadline:
            self.read(0.5)
        self.read(3.0)  # late duplicates still count

    def close(self) -> None:
        self.consumer.close()


def scenario(base: Settings, name: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    settings = base.model_copy(update={"topic_prefix": f"redo{uuid.uuid4().hex[:8]}."})
    contracts = Contracts.load(settings)
    apply_topics(admin_client(settings), contracts.catalog)
    events = [_question(i, args.keys, args.handler_ms) for i in range(args.events)]
    produce_events(settings, contracts, "questions.asked", events)
    ids = {e["event_id"] for e in events}
    group = f"echo-{uuid.uuid4().hex[:8]}"
    answers = Answers(settings, contracts)
    running_at_signal: list[int] = []
    started = time.monotonic()
    proc = _start(settings, group, args.concurrency, logs / f"{name}-0.log")
    try:
        signals = args.kills if name == "kill" else 1
        for i in range(signals):
            before = len(answers.counts)
            while len(answers.counts) < before + args.events // (signals + 2):
                answers.read(0.2)  # let it work a share of the backlog, then hit it
            if name == "kill":
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
            else:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(60)
                text = (logs / f"{name}-{i}.log").read_text(errors="replace")
                found = _DRAINING.findall(text)
                running_at_signal.append(int(found[-1]) if found else -1)
                if code != 0:
                    raise SystemExit(f"SIGTERM: exit {code}; see {logs / f'{name}-{i}.log'}")
            proc = _start(settings, group, args.concurrency, logs / f"{name}-{i + 1}.log")
        answers.until(ids, timeout=args.timeout)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        answers.close()
    counts = answers.counts
    twice = sum(n - 1 for eid, n in counts.items() if eid in ids and n > 1)
    lost = len(ids - set(counts))
    figures: dict[str, Any] = {
        "events": args.events, "signals": signals, "events_run_twice": twice,
        "events_lost": lost, "seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    if name == "kill":
        figures["run_twice_per_kill"] = round(twice / signals, 1)
        figures["bar_per_kill_le_concurrency"] = twice / signals <= args.concurrency
    else:
        figures["handlers_running_at_signal"] = running_at_signal[0]
        figures["bar_le_running_at_signal"] = 0 <= twice <= running_at_signal[0]
    figures["bar_nothing_lost"] = lost == 0
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--handler-ms", type=int, default=200)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--scenarios", default="kill,term")
    args = parser.parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="redo-"))
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    result: dict[str, Any] = {
        "commit": commit, "concurrency": args.concurrency, "handler_ms": args.handler_ms,
        "keys": args.keys, "logs": str(logs),
    }  # fmt: skip
    with session_broker() as settings:
        for name in [s for s in args.scenarios.split(",") if s]:
            print(f"[{name}] …", file=sys.stderr, flush=True)
            result[name] = scenario(settings, name, args, logs)
            print(f"[{name}] {result[name]}", file=sys.stderr, flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
