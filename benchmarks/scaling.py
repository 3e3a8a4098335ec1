"""Scale one daemon 1 → 3 → 1 processes while events flow, per group protocol (run by hand).

    .venv/bin/python benchmarks/scaling.py                       # the three protocols
    .venv/bin/python benchmarks/scaling.py --protocols classic-eager,consumer --rate 40

For each protocol, on the real broker (``KAFKA_BOOTSTRAP_SERVERS`` or a local one started
here) and a fresh group: real ``daemons run`` processes of the test app (each event awaits
``--handler-ms``, concurrency 128 each) take a steady stream of ``--rate`` events/s over 300
keys; after ``--settle`` seconds two more processes start; once all three hold partitions and
``--settle`` more seconds passed, the two are stopped with SIGTERM (processors.testing.scaling).
Reported per scale step:
the rebalance callbacks the processes logged and the longest gap between consecutive outputs;
per run: events lost, run twice, per-key order violations. Bar (issue 16 item 6): 0 lost,
0 order violations, and the chosen protocol's longest pause shorter than the classic eager
protocol's in the same run. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processors.kafka.admin import apply_topics  # noqa: E402
from processors.kafka.clients import Contracts, admin_client  # noqa: E402
from processors.testing.broker import session_broker  # noqa: E402
from processors.testing.scaling import PROTOCOLS, scale_1_3_1  # noqa: E402


def cpu_probe(seconds: float = 1.0) -> float:
    """Millions of simple Python loop iterations a second: the machine's raw speed now."""
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(10_000):
            n += 1
    return round(n / seconds / 1e6, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--handler-ms", type=int, default=2000)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--chosen", default="consumer")
    args = parser.parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="scaling-"))
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    result: dict[str, Any] = {
        "commit": commit, "rate": args.rate, "handler_ms": args.handler_ms,
        "settle_s": args.settle, "cpu_mops_start": cpu_probe(), "loadavg_start": os.getloadavg(),
        "logs": str(logs), "runs": {},
    }  # fmt: skip
    with session_broker() as base:
        for protocol in [p for p in args.protocols.split(",") if p]:
            settings = base.model_copy(update={"topic_prefix": f"scale{uuid.uuid4().hex[:8]}."})
            contracts = Contracts.load(settings)
            apply_topics(admin_client(settings), contracts.catalog)
            print(f"[{protocol}] …", file=sys.stderr, flush=True)
            run = scale_1_3_1(settings, contracts, protocol, logs, rate=args.rate,
                              handler_ms=args.handler_ms, settle_s=args.settle)  # fmt: skip
            result["runs"][protocol] = run.as_dict()
            print(f"[{protocol}] {run.as_dict()}", file=sys.stderr, flush=True)
    result["cpu_mops_end"] = cpu_probe()
    runs = result["runs"]
    result["bar_nothing_lost_in_order"] = all(
        r["lost"] == 0 and r["order_violations"] == 0 for r in runs.values()
    )
    if "classic-eager" in runs and args.chosen in runs:
        longest = {p: max(s["longest_pause_s"] for s in r["steps"]) for p, r in runs.items()}
        result["longest_pause_s"] = longest
        result["bar_chosen_pause_shorter"] = longest[args.chosen] < longest["classic-eager"]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
