"""The machine's raw speed, measured beside a benchmark's figures (its speed varies ~2x by day)."""

from __future__ import annotations

import time
from typing import Any


def matmul_speed() -> dict[str, Any]:
    """GFLOP/s of twenty 512 x 512 float32 matrix products (numpy): ``matmul_512_gflops``."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
    start = time.perf_counter()
    for _ in range(20):
        a @ a
    seconds = time.perf_counter() - start
    return {"matmul_512_gflops": round(20 * 2 * 512**3 / seconds / 1e9, 2)}
