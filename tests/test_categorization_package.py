"""The fourth daemon is a package of its own (``examples/categorization``), tested as its
user would test it: its own test suite, run from its own folder, against this session's real
broker. Nothing under ``processors/`` names it: it is found by its entry point."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from processors.daemons import registry
from processors.settings import Settings

pytestmark = pytest.mark.kafka
PACKAGE = Path(__file__).resolve().parents[1] / "examples" / "categorization"


def test_it_is_registered_by_its_entry_point_with_its_own_topics() -> None:
    use_case = registry.use_case("transaction-categorization")
    assert use_case.contracts is not None
    assert use_case.contracts.is_relative_to(PACKAGE)
    assert use_case.evals is not None and len(use_case.evals.load()) >= 15


def test_no_file_under_processors_names_it() -> None:
    processors = PACKAGE.parents[1] / "processors"
    name = re.compile(r"transaction-categorization|\bcategorization\b")
    files = [p for p in processors.rglob("*") if p.is_file() and p.suffix != ".pyc"]
    named = [str(p) for p in files if name.search(p.read_text(errors="ignore"))]
    assert named == []


def test_its_own_suite_passes_against_the_real_broker(kafka: Settings) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.kafka.bootstrap_servers}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=PACKAGE, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None and int(passed.group(1)) >= 50, done.stdout[-2000:]
    assert "skipped" not in done.stdout.splitlines()[-1]
