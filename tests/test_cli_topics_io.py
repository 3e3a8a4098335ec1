"""`daemons topics apply`, `produce` and `tail` against the real broker."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from processors.cli import main
from processors.daemons import registry
from processors.kafka.admin import apply_topics
from processors.kafka.clients import admin_client
from processors.settings import Settings

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli_env(isolated: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", isolated.kafka.bootstrap_servers)
    monkeypatch.setenv("DAEMONS_TOPIC_PREFIX", isolated.topic_prefix)
    return isolated


SAMPLES = registry.use_case("vendor-enrichment").samples
assert SAMPLES is not None


def test_apply_creates_topics_then_is_idempotent_and_reconciles(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["topics", "apply"]) == 0
    first = capsys.readouterr().out
    assert first.count("create ") == len(registry.contracts(cli_env).catalog)
    assert main(["topics", "apply"]) == 0
    assert "no changes" in capsys.readouterr().out

    # Drift: someone changed a config by hand. apply puts it back and says so.
    admin = admin_client(cli_env)
    runs = f"{cli_env.topic_prefix}daemons.runs"
    entry = ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ConfigResource.Type.TOPIC, runs, incremental_configs=[entry])
    _until_config(admin, resource, runs, "1000")
    changes = apply_topics(admin, registry.contracts(cli_env).catalog)
    assert [str(c) for c in changes if c.action == "config"] == [
        f"config     {runs}: retention.ms: 1000 -> 2592000000"
    ]


def _until_config(admin: AdminClient, resource: ConfigResource, topic: str, value: str) -> None:
    """Alter a config and wait until the broker reports it (a topic's first alter right after
    creation can be dropped by the broker while its metadata settles, so retry)."""
    plain = ConfigResource(ConfigResource.Type.TOPIC, topic)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for future in admin.incremental_alter_configs([resource]).values():
            future.result()
        time.sleep(0.3)
        current = next(iter(admin.describe_configs([plain]).values())).result()
        if current["retention.ms"].value == value:
            return
    raise AssertionError(f"{topic}: retention.ms never became {value}")


def test_apply_raises_partition_counts(cli_env: Settings) -> None:
    contracts = registry.contracts(cli_env)
    admin = admin_client(cli_env)
    apply_topics(admin, contracts.catalog)
    spec = contracts.catalog.get("questions.asked")
    bigger = spec.model_copy(update={"partitions": spec.partitions + 2})
    from processors.catalog import Catalog

    grown = Catalog([bigger], prefix=cli_env.topic_prefix)
    changes = apply_topics(admin, grown)
    assert [c.action for c in changes] == ["partitions"]
    topic = admin.list_topics(timeout=10).topics[grown.physical("questions.asked")]
    assert len(topic.partitions) == spec.partitions + 2


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_produce_then_tail_shows_the_record_with_trace_headers(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["topics", "apply"]) == 0
    sample = SAMPLES
    assert main(["produce", "vendors.discovered", "--file", str(sample)]) == 0
    capsys.readouterr()
    sent = [json.loads(line) for line in sample.read_text().splitlines()]
    assert main(["tail", "vendors.discovered", "--from-beginning", "--max", str(len(sent))]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["value"]["event_id"] for r in records) == sorted(s["event_id"] for s in sent)
    for record in records:
        assert record["headers"]["traceparent"].startswith("00-")
        assert (
            record["key"] == f"{record['value']['tenant_id']}:{record['value']['raw_descriptor']}"
        )
        assert record["schema"] == "processdaemons.events.VendorDiscovered"


def test_bad_lines_are_reported_by_file_line_and_field_and_good_ones_still_sent(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["topics", "apply"]) == 0
    good = {
        "event_id": "q1", "tenant_id": "t1", "principal_id": "u1",
        "occurred_at": "2026-08-01T10:00:00Z", "question_id": "q1", "question": "How much?",
    }  # fmt: skip
    path = _write(
        tmp_path,
        [
            json.dumps(good),
            "{not json",
            json.dumps({**good, "event_id": "q3", "question": 42}),
            json.dumps({k: v for k, v in good.items() if k != "question_id"} | {"event_id": "q4"}),
            json.dumps({**good, "event_id": "q5"}),
        ],
    )
    capsys.readouterr()
    assert main(["produce", "questions.asked", "--file", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2: invalid JSON" in err
    assert f"{path}:3: field question:" in err
    assert f"{path}:4: field question_id:" in err
    assert "sent 2 record(s)" in err
    assert main(["tail", "questions.asked", "--from-beginning", "--max", "2"]) == 0
    ids = sorted(json.loads(x)["value"]["event_id"] for x in capsys.readouterr().out.splitlines())
    assert ids == ["q1", "q5"]


def test_unknown_topic_is_a_clear_error(
    cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["produce", "no.such.topic", "--file", str(_write(tmp_path, ["{}"]))]) == 2
    assert "unknown topic 'no.such.topic'" in capsys.readouterr().err


@pytest.mark.skipif(
    shutil.which("kcat") is None, reason="kcat not installed (make deps installs it)"
)
def test_kcat_reads_what_produce_wrote(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["topics", "apply"]) == 0
    sample = SAMPLES
    assert main(["produce", "vendors.discovered", "--file", str(sample)]) == 0
    topic = f"{cli_env.topic_prefix}vendors.discovered"
    out = subprocess.run(
        ["kcat", "-b", cli_env.kafka.bootstrap_servers, "-C", "-t", topic, "-o", "beginning",
         "-e", "-q", "-f", "%k|%h|%S\n"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.splitlines()  # fmt: skip
    sent = [json.loads(line) for line in sample.read_text().splitlines()]
    assert len(out) == len(sent)
    keys = sorted(line.split("|")[0] for line in out)
    assert keys == sorted(f"{e['tenant_id']}:{e['raw_descriptor']}" for e in sent)
    assert all("traceparent=00-" in line for line in out)
