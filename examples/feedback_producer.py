"""Send feedback on a daemon's run from any system: a plain confluent-kafka producer and
fastavro, nothing of this project imported (docs/feedback.md is the contract).

    python examples/feedback_producer.py --tenant acme --run RUN_ID --principal u-42 \\
        --source end_user --system ledger-ui --label thumbs_down \\
        --correct '{"account_category": "6100"}' --comment "rent, not office supplies"

It writes Avro's single-object encoding (``C3 01``, the schema's 8-byte CRC-64-AVRO
fingerprint, the binary datum) to ``feedback.inbox`` with the key ``tenant:run``. With a
Schema Registry, use Confluent's ``AvroSerializer`` instead: the intake reads both.
Environment: ``KAFKA_BOOTSTRAP_SERVERS`` (default 127.0.0.1:9092) and
``DAEMONS_TOPIC_PREFIX`` (default none), like the daemons.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Producer
from fastavro.schema import fingerprint, to_parsing_canonical_form

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "feedback.avsc"


def single_object(schema: dict[str, Any], datum: dict[str, Any]) -> bytes:
    """``datum`` in Avro's single-object encoding of ``schema``."""
    parsed = fastavro.parse_schema(schema)
    digest = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    buffer = io.BytesIO()
    buffer.write(b"\xc3\x01" + digest)
    fastavro.schemaless_writer(buffer, parsed, datum)
    return buffer.getvalue()


def feedback(args: argparse.Namespace) -> dict[str, Any]:
    decision = "correct" if args.correct else "rate"
    return {
        "event_id": args.event_id or uuid.uuid4().hex,  # the same id on a resend: dedupable
        "tenant_id": args.tenant,
        "principal_id": args.principal,
        "occurred_at": dt.datetime.now(dt.UTC),
        "run_id": args.run,
        "daemon": args.daemon or "",  # filled by the intake from the run
        "decision": decision,
        "comment": args.comment,
        "corrected_output_json": args.correct,
        "label": args.label,
        "scores": {k: float(v) for k, v in (s.split("=", 1) for s in args.score)},
        "source": args.source,
        "source_system": args.system,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--run", required=True, help="run_id of the result (daemons.runs)")
    parser.add_argument("--principal", required=True, help="who gives the feedback (an id)")
    parser.add_argument("--daemon", default=None)
    parser.add_argument("--label", choices=("thumbs_up", "thumbs_down"), default=None)
    parser.add_argument("--score", action="append", default=[], metavar="NAME=0..1")
    parser.add_argument("--correct", default=None, metavar="JSON", help="corrected fields")
    parser.add_argument("--comment", default=None)
    parser.add_argument("--source", choices=("reviewer", "end_user", "downstream_system"),
                        default="downstream_system")  # fmt: skip
    parser.add_argument("--system", default=None, help="the sending system's name")
    parser.add_argument("--event-id", default=None, help="the feedback's own id")
    parser.add_argument("--schema", type=Path, default=SCHEMA)
    args = parser.parse_args(argv)

    schema = json.loads(args.schema.read_text())
    datum = feedback(args)
    topic = os.environ.get("DAEMONS_TOPIC_PREFIX", "") + "feedback.inbox"
    producer = Producer({
        "bootstrap.servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        "enable.idempotence": True,
    })  # fmt: skip
    failures: list[str] = []
    producer.produce(
        topic,
        key=f"{args.tenant}:{args.run}".encode(),
        value=single_object(schema, datum),
        on_delivery=lambda err, _msg: failures.append(str(err)) if err else None,
    )
    if producer.flush(30) != 0 or failures:
        print(f"not delivered: {failures or 'timed out'}", file=sys.stderr)
        return 1
    print(json.dumps({"topic": topic, "event_id": datum["event_id"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
