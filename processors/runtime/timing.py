"""Every timeout of a daemon process, derived from two numbers in one place.

A daemon process has a handful of clocks that must agree, and each is set somewhere else: the
consumer's ``max.poll.interval.ms`` (librdkafka), the liveness rules of ``/healthz``, the
shutdown grace, and in Kubernetes ``terminationGracePeriodSeconds`` and the probes. Set
independently they drift apart: a poll interval below the slowest agent run, a liveness bound a
slow run trips, a pod killed before its last commit. :class:`Timings` derives all of them from
the agent's wall-clock limit per run and the shutdown grace; ``daemons run`` and the Helm chart
(``daemons deploy values``) both read them from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from processors.errors import ConfigError

# librdkafka's own default; our loop polls continuously (agent runs are tasks), so this bound
# is only reached when the loop itself is stuck
_MIN_POLL_INTERVAL_S = 300.0


@dataclass(frozen=True)
class Timings:
    """``run_timeout_s``: the agent's wall-clock limit per run (its ``Limits.timeout_s``);
    ``grace_s``: how long shutdown lets running events finish; ``commit_s``: the bound on the
    last producer flush and offset commit (or transaction) after that."""

    run_timeout_s: float
    grace_s: float = 30.0
    commit_s: float = 30.0  # the runner's two producer flushes (10 s each) and the commit

    def __post_init__(self) -> None:
        for name in ("run_timeout_s", "grace_s", "commit_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"Timings.{name} must be > 0, got {getattr(self, name)!r}")

    @property
    def max_poll_interval_ms(self) -> int:
        """Above the slowest run plus the shutdown grace, never below librdkafka's default:
        the group never evicts a process for a run the agent's own limit allows."""
        seconds = max(_MIN_POLL_INTERVAL_S, self.run_timeout_s + self.grace_s + 60.0)
        return int(seconds * 1000)

    @property
    def poll_stale_s(self) -> float:
        """Liveness fails when the loop has not polled for this long: by then the group has
        evicted the process (``max.poll.interval.ms``), so only a restart helps."""
        return self.max_poll_interval_ms / 1000

    @property
    def stall_after_s(self) -> float:
        """Liveness fails when partitions have work (lag or events in flight) and no event
        was consumed or finished for this long: two of the slowest runs plus a minute."""
        return 2 * self.run_timeout_s + 60.0

    @property
    def termination_grace_s(self) -> int:
        """Kubernetes' ``terminationGracePeriodSeconds``: the shutdown grace, the last commit,
        and a few seconds for the process to exit after it."""
        return math.ceil(self.grace_s + self.commit_s + 5.0)
