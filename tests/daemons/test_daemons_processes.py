"""Two `daemons run question-answering` processes in one consumer group split the work: real
processes, real broker, the reference API over HTTP, an OpenAI-compatible stub as the model."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from processors.kafka.clients import Contracts
from processors.reference import sample_app, serve_in_thread
from processors.settings import Settings
from processors.testing.broker import free_port
from processors.testing.llm import openai_compatible_stub
from processors.testing.runtime import produce_events, read_topic

pytestmark = pytest.mark.kafka
KEY = "processes-test-key"
PRINCIPALS = {"t-ridgeline": "u-ridgeline-owner", "t-quillstack": "u-quillstack-books"}


def respond(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Evidence first (list the tenant's accounts), then an honest 'cannot answer'."""
    if any(m["role"] == "tool" for m in messages):
        content = ('{"missing": "other", "metric": "money_paid", "account": "none", '
                   '"vendor": "none", "periods": [], "by_vendor": false}')  # fmt: skip
        return {"role": "assistant", "content": content}
    text = " ".join(str(m.get("content")) for m in messages)
    tenant = re.search(r"t-(?:ridgeline|quillstack|brightsmile)", text)
    assert tenant is not None, "the task names the tenant"
    call = {"id": f"c-{uuid.uuid4().hex[:6]}", "type": "function",
            "function": {"name": "listAccounts",
                         "arguments": f'{{"tenant_id": "{tenant.group(0)}"}}'}}  # fmt: skip
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def _consumed(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("daemons_events_consumed_total{")
    )


def test_two_processes_of_a_daemon_split_the_work(
    isolated: Settings, topics: Contracts, tmp_path: Path
) -> None:
    group = f"qa-{uuid.uuid4().hex[:8]}"
    with serve_in_thread(sample_app(KEY.encode())) as api, openai_compatible_stub(respond) as llm:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": isolated.kafka.bootstrap_servers,
            "DAEMONS_TOPIC_PREFIX": isolated.topic_prefix,
            "DAEMONS_MODEL": f"openai-compatible:{llm}#stub",
            "DAEMONS_TOOLS_URL": api,
            "DAEMONS_TOOLS_SIGNING_KEY": KEY,
        }
        ports = [free_port(), free_port()]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "processors",
                    "run",
                    "question-answering",
                    "--group-id",
                    group,
                    "--health-port",
                    str(port),
                ],
                env=env,
                stdout=(tmp_path / f"{port}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            for port in ports
        ]
        try:
            _until_ready(ports, procs, tmp_path)
            events = []
            for i in range(12):  # two per partition: each process owns some of them
                tenant = ("t-ridgeline", "t-quillstack")[i % 2]
                events.append({
                    "event_id": f"q{i}-{uuid.uuid4().hex[:6]}", "tenant_id": tenant,
                    "principal_id": PRINCIPALS[tenant], "occurred_at": dt.datetime.now(dt.UTC),
                    "question_id": f"q{i}", "question": "What will revenue be next year?",
                    "conversation_id": None,
                })  # fmt: skip
            for partition in range(6):
                produce_events(
                    isolated, topics, "questions.asked", events[2 * partition : 2 * partition + 2],
                    partition=partition,
                )  # fmt: skip
            answers = read_topic(isolated, topics, "questions.answered", expected=12, timeout=90)
            assert {a["value"]["event_id"] for a in answers} == {e["event_id"] for e in events}
            assert all(a["value"]["can_answer"] is False for a in answers)
            counts = [_consumed(port) for port in ports]
            assert sum(counts) == 12 and min(counts) > 0, f"work not split: {counts}"
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                assert proc.wait(60) == 0


def _until_ready(ports: list[int], procs: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError("".join(p.read_text() for p in logs.glob("*.log"))[-3000:])
        try:
            if all(httpx.get(f"http://127.0.0.1:{p}/readyz").status_code == 200 for p in ports):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("daemon processes never became ready")
