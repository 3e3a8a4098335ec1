"""``daemons dataset build`` from the real broker: every row valid in its format, the
arguments trap handled per consumer, scrubbed, deduplicated, split so evaluation never sees
training rows, and a manifest that names what was read and hashes what was written."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from feedback_support import ANSWER, T0, feedback, run_record

from processors.daemons.vendor_enrichment.models import VendorChoice
from processors.feedback.datasets import Build, build, iter_rows
from processors.feedback.formats import FORMATS, Format, problems
from processors.kafka.clients import Contracts, producer_config
from processors.settings import Settings

FIX = {"account_category": "6100"}
PII = "PAY billing@bluebottle.com 4111 1111 1111 1111"
NOW = dt.datetime.now(dt.UTC)


def _produce(settings: Settings, contracts: Contracts, topic: str, datums: list[dict[str, Any]],
             at: dt.datetime) -> None:  # fmt: skip
    """Records with the broker timestamp ``at`` (what --from/--to select by)."""
    spec, physical = contracts.catalog.get(topic), contracts.catalog.physical(topic)
    producer = Producer(producer_config(settings))
    for datum in datums:
        value = contracts.codec.encode(spec.value_schema, datum, topic=physical)
        stamp = int(at.timestamp() * 1000)
        producer.produce(physical, key=spec.key_for(datum), value=value, timestamp=stamp)
    assert producer.flush(30) == 0


@pytest.fixture
def stream(isolated: Settings, topics: Contracts) -> Contracts:
    """Runs and their feedback: approved, corrected, rejected, a duplicate, a PII-carrying
    descriptor, another tenant's, one outside the time range and one not taught."""
    contracts = topics
    hour = dt.timedelta(hours=1)
    runs = [
        run_record("approved", at=T0),
        run_record("twin", at=T0 + hour),  # same conversation and answer as "approved"
        run_record("corrected", at=T0 + 2 * hour, descriptor="SQ *ACME RENT"),
        run_record("rejected", at=T0 + 3 * hour, descriptor="AMZN MKTP"),
        run_record("pii", at=T0 + 4 * hour, descriptor=PII),
        run_record("late", at=T0 + 9 * hour, descriptor="LATE CAFE"),
        run_record("globex", tenant="globex", at=T0 + 5 * hour, descriptor="GLOBEX CAFE"),
        run_record("old", at=T0 - 48 * hour, descriptor="OLD CAFE"),
        run_record("untaught", at=T0 + 6 * hour, descriptor="UNTAUGHT"),
    ]  # fmt: skip
    _produce(isolated, contracts, "daemons.runs", [r.to_avro() for r in runs], NOW - 3 * hour)
    given = [
        feedback("approved"), feedback("twin"),
        feedback("corrected", decision="correct", label=None, correction=FIX),
        feedback("rejected", label="thumbs_down"),
        feedback("pii"), feedback("late", decision="correct", label=None, correction=FIX),
        feedback("globex", tenant="globex"),
        feedback("untaught", decision="correct", label=None, correction={"website": "x.example"}),
    ]  # fmt: skip
    for item in given:
        item["daemon"] = "vendor-enrichment"
    _produce(isolated, contracts, "daemons.feedback", given, NOW - 2 * hour)
    old = feedback("old")
    old["daemon"] = "vendor-enrichment"
    _produce(isolated, contracts, "daemons.feedback", [old], NOW - 30 * hour)
    return contracts


def _build(settings: Settings, contracts: Contracts, tmp: Path, fmt: Format, **kw: Any) -> tuple[
        list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    kw.setdefault("start", NOW - 24 * dt.timedelta(hours=1))
    request = Build(daemon="vendor-enrichment", fmt=fmt, out=tmp / fmt, end=NOW, **kw)
    build(settings, contracts, request, lambda _name: VendorChoice)
    train, held = (
        list(iter_rows(tmp / fmt / "train.jsonl")),
        list(iter_rows(tmp / fmt / "eval.jsonl")),
    )
    return train, held, json.loads((tmp / fmt / "manifest.json").read_text())


def _final(row: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(row["messages"][-1]["content"]))


@pytest.mark.kafka
def test_every_format_builds_valid_rows_with_a_manifest_that_hashes_them(
    isolated: Settings, stream: Contracts, tmp_path: Path
) -> None:
    for fmt in FORMATS:
        train, held, manifest = _build(isolated, stream, tmp_path, fmt, eval_fraction=0.0)
        assert train, (fmt, manifest)
        assert manifest["runs_joined"] == manifest["feedback_runs"] == 8, manifest
        for row in [*train, *held]:
            assert problems(row, fmt) == [], (fmt, row)
        for name in ("train.jsonl", "eval.jsonl"):
            data = (tmp_path / fmt / name).read_bytes()
            assert manifest["files"][name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert manifest["rows"] == {"train": len(train), "eval": len(held)}
        read = manifest["topics"]["daemons.feedback"]
        assert sum(end - start for start, end in read["partitions"].values()) == 9
        assert read["outside_time_range"] == 1  # "old": stamped before --from, written after
        assert manifest["skipped"]["correction names no field the model writes, or does not "
                                   "validate with it"] == 1  # fmt: skip


@pytest.mark.kafka
def test_sft_and_openai_targets_and_the_arguments_trap(
    isolated: Settings, stream: Contracts, tmp_path: Path
) -> None:
    sft, _, manifest = _build(isolated, stream, tmp_path, "sft", eval_fraction=0.0)
    openai, _, _ = _build(isolated, stream, tmp_path, "openai", eval_fraction=0.0)
    # approved (its twin deduplicated), corrected, pii, late, globex; not the rejected one
    assert len(sft) == len(openai) == 5 and manifest["skipped"]["duplicate row"] == 1
    assert manifest["skipped"]["neither approved nor corrected (no target)"] == 1  # rejected
    targets = [_final(r)["account_category"] for r in sft]
    assert targets.count("6100") == 2 and targets.count("6600") == 3
    trl_call = sft[0]["messages"][2]["tool_calls"][0]["function"]
    oai_call = openai[0]["messages"][2]["tool_calls"][0]
    assert isinstance(trl_call["arguments"], dict)  # TRL: a dict
    assert isinstance(oai_call["function"]["arguments"], str)  # OpenAI: a JSON string
    assert json.loads(oai_call["function"]["arguments"]) == trl_call["arguments"]
    result = '{"results": [{"business_id": "biz-7"}]}'
    assert openai[0]["messages"][3] == {
        "role": "tool", "tool_call_id": oai_call["id"], "content": result,
    }  # fmt: skip
    assert sft[0]["messages"][3]["name"] == "searchDirectory"
    assert sft[0]["tools"][0]["function"]["name"] == "searchDirectory"
    text = json.dumps(sft)
    assert "billing@bluebottle.com" not in text and "4111 1111 1111 1111" not in text
    assert PII not in text


@pytest.mark.kafka
def test_kto_labels_and_dpo_pairs(isolated: Settings, stream: Contracts, tmp_path: Path) -> None:
    kto, _, manifest = _build(isolated, stream, tmp_path, "kto", eval_fraction=0.0, start=None)
    labels = sorted(row["label"] for row in kto)
    # no --from: from the beginning, "old" included; approved, pii, globex, old: True;
    # rejected: False; two corrections: False + True each
    assert labels == [False] * 3 + [True] * 6, manifest
    dpo, _, _ = _build(isolated, stream, tmp_path, "dpo", eval_fraction=0.0)
    assert len(dpo) == 2
    for row in dpo:
        chosen, rejected = (json.loads(row[k][0]["content"]) for k in ("chosen", "rejected"))
        assert chosen == {**ANSWER, **FIX} and rejected == ANSWER


@pytest.mark.kafka
def test_the_split_is_by_time_and_tenant_and_evaluation_never_sees_a_training_prompt(
    isolated: Settings, stream: Contracts, tmp_path: Path
) -> None:
    train, held, manifest = _build(isolated, stream, tmp_path, "sft", eval_fraction=0.3,
                                   eval_tenants=frozenset({"globex"}))  # fmt: skip
    descriptors = {row["messages"][1]["content"]: row for row in train}
    held_descriptors = {row["messages"][1]["content"] for row in held}
    assert "Raw descriptor: GLOBEX CAFE" in held_descriptors  # a held-out tenant
    assert "Raw descriptor: LATE CAFE" in held_descriptors  # the latest run
    assert not held_descriptors & set(descriptors)
    assert manifest["split"]["eval_tenants"] == ["globex"]
    assert manifest["split"]["eval_from"] > T0.isoformat()


@pytest.mark.kafka
def test_the_same_records_build_the_same_version(
    isolated: Settings, stream: Contracts, tmp_path: Path
) -> None:
    _, _, first = _build(isolated, stream, tmp_path / "a", "dpo")
    _, _, second = _build(isolated, stream, tmp_path / "b", "dpo")
    assert first["version"] == second["version"] and first["files"] == second["files"]


@pytest.mark.kafka
def test_the_cli_builds_a_dataset_and_prints_what_it_wrote(
    isolated: Settings, stream: Contracts, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from processors.cli import main

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", isolated.kafka.bootstrap_servers)
    monkeypatch.setenv("DAEMONS_TOPIC_PREFIX", isolated.topic_prefix)
    out = tmp_path / "cli"
    code = main(["dataset", "build", "vendor-enrichment", "--format", "dpo", "--out", str(out),
                 "--eval-fraction", "0"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == {"train": 2, "eval": 0}
    assert summary["version"] == json.loads((out / "manifest.json").read_text())["version"]
    assert main(["dataset", "build", "no-such-daemon", "--format", "sft", "--out", str(out)]) == 2
