"""The clocks of a daemon process derived in one place (issue 16 item 3): each invariant the
Helm chart and ``daemons run`` rely on, asserted over run timeouts from a second to an hour."""

from __future__ import annotations

import logging

import pytest

from processors.errors import ConfigError
from processors.kafka.clients import CLASSIC_ONLY, consumer_config
from processors.runtime.timing import Timings
from processors.settings import Settings


@pytest.mark.parametrize("run_timeout", [1.0, 45.0, 240.0, 600.0, 3600.0])
@pytest.mark.parametrize("grace", [5.0, 30.0, 120.0])
def test_the_clocks_agree_for_any_run_timeout(run_timeout: float, grace: float) -> None:
    t = Timings(run_timeout_s=run_timeout, grace_s=grace)
    # the group never evicts a process for a run its own limit allows, nor while it drains
    assert t.max_poll_interval_ms / 1000 > run_timeout + grace
    assert t.max_poll_interval_ms >= 300_000  # never below librdkafka's default
    # a slow run never trips liveness; a stuck one does, within a bounded time
    assert run_timeout < t.stall_after_s <= 2 * run_timeout + 60
    assert t.poll_stale_s * 1000 == t.max_poll_interval_ms
    # Kubernetes waits for the drain and the last commit before it kills the pod
    assert t.termination_grace_s >= grace + t.commit_s
    assert isinstance(t.termination_grace_s, int)


@pytest.mark.parametrize("field", ["run_timeout_s", "grace_s", "commit_s"])
def test_a_clock_that_is_not_positive_is_refused(field: str) -> None:
    values = {"run_timeout_s": 10.0, field: 0.0}
    with pytest.raises(ConfigError, match=field):
        Timings(**values)


def test_the_group_protocol_comes_from_the_environment() -> None:
    assert Settings.from_env({}).kafka.group_protocol == "classic"
    env = {"DAEMONS_GROUP_PROTOCOL": "consumer"}
    assert Settings.from_env(env).kafka.group_protocol == "consumer"
    with pytest.raises(ConfigError, match="DAEMONS_GROUP_PROTOCOL: 'eager'"):
        Settings.from_env({"DAEMONS_GROUP_PROTOCOL": "eager"})


def test_classic_consumers_assign_cooperatively() -> None:
    config = consumer_config(Settings.from_env({}), "g", **{"session.timeout.ms": 10_000})
    assert config["partition.assignment.strategy"] == "cooperative-sticky"
    assert "group.protocol" not in config
    assert config["session.timeout.ms"] == 10_000


def test_kip848_consumers_drop_the_settings_librdkafka_refuses_there(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings.from_env({"DAEMONS_GROUP_PROTOCOL": "consumer"})
    with caplog.at_level(logging.WARNING):
        config = consumer_config(settings, "g", **{"session.timeout.ms": 10_000})
    assert config["group.protocol"] == "consumer"
    assert not CLASSIC_ONLY & config.keys()
    assert "session.timeout.ms is a classic-protocol setting" in caplog.text


def test_an_assignor_chosen_for_the_whole_group_is_kept() -> None:
    """Members of one group must share an assignor: a group of eager (``range``) members is
    joined with ``KAFKA_PARTITION_ASSIGNMENT_STRATEGY=range``, not cooperative-sticky."""
    env = {"KAFKA_PARTITION_ASSIGNMENT_STRATEGY": "range"}
    config = consumer_config(Settings.from_env(env), "g")
    assert config["partition.assignment.strategy"] == "range"
    kip848 = consumer_config(Settings.from_env({**env, "DAEMONS_GROUP_PROTOCOL": "consumer"}), "g")
    assert "partition.assignment.strategy" not in kip848
