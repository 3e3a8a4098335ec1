"""The agent benchmark script runs and ends with one JSON object holding every figure."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "agent.py"


def test_benchmark_prints_figures_and_a_final_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    module: dict[str, Any] = runpy.run_path(str(SCRIPT), run_name="agent_benchmark")
    assert module["main"](["--turns", "20"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    figures = json.loads(last)
    assert figures["loop_overhead"]["long_run_turns"] == 20
    assert figures["loop_overhead"]["long_run_overhead_ms_per_turn"] > 0
    planning = figures["planning"]
    assert planning["planning_tool_calls"] == 6  # exactly the planned tools, nothing more
    assert planning["no_planning_tool_calls"] > planning["planning_tool_calls"]
