"""``daemons review serve`` and ``daemons review token`` as a user runs them: the real command
in its own process, the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from console_support import TOKENS, write_reviewers

from processors.cli import main
from processors.console.reviewers import hash_token
from processors.kafka.clients import Contracts
from processors.settings import Settings
from processors.testing import held as seed
from processors.testing.broker import free_port


def test_review_token_prints_a_token_and_the_line_for_the_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["review", "token"]) == 0
    out = capsys.readouterr().out
    token = out.split("keep it nowhere else): ")[1].split()[0]
    assert f'token_sha256 = "{hash_token(token)}"' in out


def test_serve_refuses_a_reviewers_file_with_a_plain_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reviewers.toml"
    path.write_text('[[reviewer]]\nid = "u-a"\ntoken = "x"\ntenants = ["t"]\n', encoding="utf-8")
    assert main(["review", "serve", "--reviewers", str(path)]) == 2
    assert "plain text" in capsys.readouterr().err


@pytest.mark.kafka
def test_serve_runs_the_console_over_the_broker(
    module_settings: Settings, module_topics: Contracts, tmp_path: Path
) -> None:
    story = seed.vendor("t-ridgeline", 21)
    seed.publish(module_settings, module_topics, [story])
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": module_settings.kafka.bootstrap_servers,
           "DAEMONS_TOPIC_PREFIX": module_settings.topic_prefix}  # fmt: skip
    reviewers = write_reviewers(tmp_path / "reviewers.toml")
    command = [sys.executable, "-m", "processors", "review", "serve",
               "--reviewers", str(reviewers), "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the console did not answer within 60 s"
            time.sleep(0.2)
        bearer = {"Authorization": f"Bearer {TOKENS['u-anna']}"}
        page = httpx.get(base + f"/held/{story.run_id}", headers=bearer, timeout=60)
        assert page.status_code == 200 and "BLUE BOTTLE" in page.text
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "held.story 200 u-anna" in err  # one line per request, by route name
    assert TOKENS["u-anna"] not in err and "BLUE BOTTLE" not in err
