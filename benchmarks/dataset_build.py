"""Dataset build throughput (issue 18's benchmark): rows/s of ``daemons dataset build`` read
from the topics.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/dataset_build.py [--runs 10000]
        [--unrated 10000] [--formats sft,openai,kto,dpo]

On a local broker (started here unless ``KAFKA_BOOTSTRAP_SERVERS`` is set; topics under a
fresh prefix, deleted at the end) it produces ``--runs`` run records of vendor-enrichment
(each with a transcript like a real run's: instructions, the task, two tool calls and their
results, the answer; about 3 KB), ``--unrated`` more runs nobody gave feedback on (read past
by key, never decoded), and one feedback record per rated run: 50% thumbs up, 20% thumbs
down, 30% corrections of the account. Then, per format, it times
:func:`processors.feedback.datasets.build` end to end — offsets for the time range, reading
both topics, the join, rows, scrubbing, dedup, validation of every row, the split and the
files — and reports rows written per second and records read per second.

The machine's raw speed (a fixed numpy matmul, as ``benchmarks/memory.py``) is measured at the
start and the end. The LAST line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processors.agent.record import RunRecord, ToolCallRecord, transcript_json  # noqa: E402
from processors.daemons.vendor_enrichment.models import VendorChoice  # noqa: E402
from processors.feedback.datasets import Build, build  # noqa: E402
from processors.kafka.admin import apply_topics  # noqa: E402
from processors.kafka.clients import Contracts, admin_client, producer_config  # noqa: E402
from processors.llm.model import (  # noqa: E402
    AssistantMessage,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    UserMessage,
)
from processors.settings import Settings  # noqa: E402
from processors.testing.broker import session_broker  # noqa: E402
from processors.testing.speed import matmul_speed  # noqa: E402

DAEMON = "vendor-enrichment"
INSTRUCTIONS = (
    "You enrich vendors from bank descriptors. Use the tools; answer in JSON. " * 12
).strip()
TOOLS = [
    ToolSpec(name="searchDirectory", description="Search the business directory by text.",
             parameters={"type": "object", "properties": {"query": {"type": "string"},
                         "city": {"type": "string"}}, "required": ["query"]}),
    ToolSpec(name="listAccounts", description="The tenant's chart of accounts.",
             parameters={"type": "object", "properties": {}}),
]  # fmt: skip


raw_speed = matmul_speed


def run(i: int, rng: random.Random, at: dt.datetime) -> RunRecord:
    descriptor = f"SQ *VENDOR {i} {rng.choice(['SEATTLE', 'PORTLAND', 'OAKLAND'])}"
    answer = {"business_id": f"biz-{i}", "existing_vendor_id": None, "name": f"Vendor {i}",
              "account_category": rng.choice(["6100", "6600", "6200", "6300"])}  # fmt: skip
    results = [{"business_id": f"biz-{i + k}", "name": f"Vendor {i + k}", "city": "Seattle",
                "website": f"https://vendor{i + k}.example", "mcc": "5812"}
               for k in range(4)]  # fmt: skip
    chart = [{"code": c, "name": n} for c, n in (("6100", "Rent"), ("6200", "Utilities"),
             ("6300", "Software"), ("6600", "Meals"))]  # fmt: skip
    messages = [
        SystemMessage(content=INSTRUCTIONS),
        UserMessage(content=f"Raw descriptor: {descriptor}\nAmount: {rng.randint(5, 900)}.00"),
        AssistantMessage(tool_calls=(
            ToolCall(id="c1", name="searchDirectory", arguments={"query": descriptor}),
            ToolCall(id="c2", name="listAccounts", arguments={}),
        )),
        ToolResultMessage(tool_call_id="c1", name="searchDirectory",
                          content=json.dumps({"results": results})),
        ToolResultMessage(tool_call_id="c2", name="listAccounts",
                          content=json.dumps({"accounts": chart})),
        AssistantMessage(content=json.dumps(answer)),
    ]  # fmt: skip
    return RunRecord(
        run_id=uuid.UUID(int=rng.getrandbits(128)).hex, daemon=DAEMON,
        tenant_id=f"tenant-{i % 7}", principal_id="u-1", event_id=f"ev-{i}",
        model="local:qwen2.5-coder-1.5b", prompt_version="abc", prompts={},
        started_at=at.isoformat(),
        tool_calls=[ToolCallRecord(turn=1, call_id="c1", name="searchDirectory",
                                   arguments=json.dumps({"query": descriptor}))],
        final_response=json.dumps(answer, sort_keys=True, separators=(",", ":")),
        transcript=transcript_json(messages, TOOLS), outcome="completed",
    )  # fmt: skip


def feedback(record: RunRecord, rng: random.Random, at: dt.datetime) -> dict[str, Any]:
    roll = rng.random()
    decision, label, correction = "rate", "thumbs_up", None
    if roll >= 0.7:
        decision, label = "correct", None
        correction = json.dumps({"account_category": rng.choice(["6100", "6200", "6300"])})
    elif roll >= 0.5:
        label = "thumbs_down"
    return {
        "event_id": uuid.uuid4().hex, "tenant_id": record.tenant_id, "principal_id": "r-1",
        "occurred_at": at, "run_id": record.run_id, "daemon": DAEMON, "decision": decision,
        "comment": None, "corrected_output_json": correction, "label": label, "scores": {},
        "source": "downstream_system", "source_system": "bench",
    }  # fmt: skip


def produce(
    settings: Settings, contracts: Contracts, topic: str, datums: list[dict[str, Any]]
) -> None:
    spec, physical = contracts.catalog.get(topic), contracts.catalog.physical(topic)
    producer = Producer(producer_config(settings, **{"linger.ms": 20}))
    for datum in datums:
        value = contracts.codec.encode(spec.value_schema, datum, topic=physical)
        while True:
            try:
                producer.produce(physical, key=spec.key_for(datum), value=value)
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(120) != 0:
        raise SystemExit(f"{topic}: not every record was delivered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="rated runs (one feedback each)")
    parser.add_argument("--unrated", type=int, default=10_000, help="runs without feedback")
    parser.add_argument("--formats", default="sft,openai,kto,dpo")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    machine = raw_speed() | {"cpus": os.cpu_count()}
    figures: dict[str, Any] = {"commit": commit, "machine_start": machine,
                               "runs": args.runs, "unrated_runs": args.unrated}  # fmt: skip
    print(f"machine: {figures['machine_start']}")
    rng = random.Random(18)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with session_broker() as base:
        settings = base.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:8]}."})
        contracts = Contracts.load(settings)
        admin = admin_client(settings)
        apply_topics(admin, contracts.catalog)
        try:
            records = [
                run(i, rng, start + dt.timedelta(seconds=i))
                for i in range(args.runs + args.unrated)
            ]
            rated = records[: args.runs]
            rng.shuffle(records)
            began = time.perf_counter()
            produce(settings, contracts, "daemons.runs", [r.to_avro() for r in records])
            produce(settings, contracts, "daemons.feedback",
                    [feedback(r, rng, start + dt.timedelta(hours=1)) for r in rated])  # fmt: skip
            figures["produce_seconds"] = round(time.perf_counter() - began, 1)
            sizes = [len(json.dumps(r.to_avro(), default=str)) for r in records[:200]]
            figures["run_record_json_bytes_mean"] = round(sum(sizes) / len(sizes))
            print(
                f"produced {len(records)} runs and {len(rated)} feedback "
                f"in {figures['produce_seconds']} s"
            )
            for fmt in args.formats.split(","):
                with tempfile.TemporaryDirectory() as out:
                    request = Build(daemon=DAEMON, fmt=fmt, out=Path(out))  # type: ignore[arg-type]
                    report = build(settings, contracts, request, lambda _n: VendorChoice)
                rows = report.rows
                read = len(records) + len(rated)
                figures[fmt] = {
                    "rows": rows, "seconds": round(report.seconds, 2),
                    "rows_per_s": round(rows / report.seconds, 1),
                    "records_read_per_s": round(read / report.seconds, 1),
                    "skipped": report.manifest["skipped"],
                }  # fmt: skip
                print(f"{fmt}: {rows} rows in {report.seconds:.2f} s = "
                      f"{rows / report.seconds:.0f} rows/s "
                      f"({read / report.seconds:.0f} records read/s)")  # fmt: skip
        finally:
            names = [contracts.catalog.physical(spec.name) for spec in contracts.catalog]
            for future in admin.delete_topics(names, operation_timeout=60).values():
                future.result()
    figures["machine_end"] = raw_speed()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
