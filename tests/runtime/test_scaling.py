"""Scaling one daemon 1 → 3 → 1 real processes while events flow, with each group protocol a
user can choose (issue 16 items 4 and 6): nothing lost, per-key order kept, every process
stopped cleanly, and the group really moved partitions at each step. How long the group's
output paused at each step, against the classic eager protocol, is measured by
``benchmarks/scaling.py`` (figures in docs/deploy.md), not asserted here: it is a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.kafka.clients import Contracts
from processors.settings import Settings
from processors.testing.scaling import scale_1_3_1

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("protocol", ["consumer", "classic-cooperative"])
def test_scaling_1_3_1_loses_nothing_and_keeps_per_key_order(
    isolated: Settings, topics: Contracts, tmp_path: Path, protocol: str
) -> None:
    run = scale_1_3_1(isolated, topics, protocol, tmp_path, rate=20.0, settle_s=5.0)
    logs = "\n".join(f"--- {name}\n{text}" for name, text in run.logs.items())
    assert run.exit_codes == [0, 0, 0], logs
    assert run.produced > 100
    assert run.lost == 0, logs
    assert run.order_violations == 0
    # SIGTERM drains running handlers and commits: a graceful scale-down redoes nothing
    assert run.run_twice == 0
    up, down = run.steps
    # 1→3: the first process gives partitions away and both new ones take some; 3→1 back
    assert up.callbacks >= 3 and down.callbacks >= 3, logs
