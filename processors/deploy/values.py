"""What the Helm chart deploys, computed from the one source of truth.

The chart (``deploy/helm/process-daemons``) renders every daemon from one generated file,
``files/generated.json``, made by ``daemons deploy values`` from:

- the topic catalog (``topics/topics.toml`` plus each daemon's own ``contracts``): one
  Strimzi ``KafkaTopic`` per topic, and each daemon's input partitions (its replica bound);
- the daemon registry: each use case's name, consumer group, input topic and the topics it
  writes (:func:`~processors.daemons.handler.topics_written` and its dead letters), which
  become its ``KafkaUser``'s ACLs — checked against the catalog's ``producers``/``consumers``;
- :class:`~processors.runtime.timing.Timings` from each use case's run timeout: the consumer's
  ``max.poll.interval.ms``, the liveness bounds and ``terminationGracePeriodSeconds``;
- the consumer configuration (:func:`~processors.kafka.clients.consumer_config`): KEDA's
  ``offsetResetPolicy`` is its ``auto.offset.reset``;
- the measured throughput in ``deploy/sizing.toml``: KEDA's ``lagThreshold`` is the events one
  replica drains in the target drain time (:func:`lag_threshold`).

A test regenerates the file and compares it with the one checked in, so none of these can
drift from the chart.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processors.catalog import Catalog
from processors.daemons.handler import topics_written
from processors.daemons.usecase import UseCase
from processors.errors import ConfigError
from processors.kafka.clients import consumer_config
from processors.runtime.daemon import dead_letter_topic
from processors.runtime.timing import Timings
from processors.settings import Settings

EVERY_DAEMON = "every daemon"  # how topics.toml names a topic every daemon produces to


@dataclass(frozen=True)
class Throughput:
    """How long one replica of a daemon takes per event, and where the figure comes from."""

    seconds_per_event: float
    source: str

    def __post_init__(self) -> None:
        if not self.seconds_per_event > 0:
            raise ConfigError(f"seconds_per_event must be > 0, got {self.seconds_per_event!r}")


@dataclass(frozen=True)
class Sizing:
    """``deploy/sizing.toml``: the drain time the autoscaler aims for and each daemon's
    measured :class:`Throughput`."""

    target_drain_s: float
    daemons: Mapping[str, Throughput]

    @classmethod
    def load(cls, path: Path) -> Sizing:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        try:
            daemons = {
                name: Throughput(float(body["seconds_per_event"]), str(body["source"]))
                for name, body in data.get("daemons", {}).items()
            }
            target = float(data["target_drain_s"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: {exc!r} (see the file's header)") from exc
        if not target > 0:
            raise ConfigError(f"{path}: target_drain_s must be > 0, got {target!r}")
        return cls(target, daemons)

    def of(self, daemon: str) -> Throughput:
        try:
            return self.daemons[daemon]
        except KeyError:
            raise ConfigError(
                f"no measured seconds per event for daemon {daemon!r} in deploy/sizing.toml: "
                f"measure it (`daemons eval {daemon} --json`, the wall p50 per decision) and "
                "add it with its source"
            ) from None


def lag_threshold(target_drain_s: float, seconds_per_event: float) -> int:
    """KEDA's ``lagThreshold``: the events one replica drains within ``target_drain_s``.

    KEDA asks for ``ceil(total lag / lagThreshold)`` replicas, so a backlog is spread over as
    many replicas as it takes to drain it in about the target time. Rounded down (never
    less than 1): a replica is counted as slower than measured, not faster."""
    return max(1, math.floor(target_drain_s / seconds_per_event))


def chart_values(
    use_cases: Sequence[UseCase[Any]],
    catalog: Catalog,
    sizing: Sizing,
    *,
    grace_s: float = 30.0,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The content of the chart's ``files/generated.json`` (JSON-ready; key order fixed)."""
    settings = settings or Settings()
    reset = consumer_config(settings, "any")["auto.offset.reset"]
    daemons = {}
    for use_case in sorted(use_cases, key=lambda u: u.name):
        daemons[use_case.name] = _daemon(use_case, catalog, sizing, grace_s, str(reset))
    topics = {
        t.name: {
            "partitions": t.partitions,
            "replicas": t.replication_factor,
            # strings: Helm reads JSON numbers as floats and prints 2592000000 as 2.592e+09
            "config": dict(sorted(t.configs().items())),
        }
        for t in sorted(catalog, key=lambda t: t.name)
    }
    return {
        "_comment": "generated by `daemons deploy values`; do not edit (docs/deploy.md)",
        "targetDrainSeconds": sizing.target_drain_s,
        "daemons": daemons,
        "topics": topics,
    }


def _daemon(
    use_case: UseCase[Any], catalog: Catalog, sizing: Sizing, grace_s: float, reset: str
) -> dict[str, Any]:
    name = use_case.name
    source = catalog.get(use_case.input_topic)
    if name not in source.consumers:
        raise ConfigError(
            f"topic {source.name!r} does not list daemon {name!r} among its consumers "
            "(topics.toml): the catalog and the registry disagree"
        )
    writes = [*topics_written(use_case), dead_letter_topic(name)]
    for topic in writes:
        spec = catalog.get(topic)
        if name not in spec.producers and EVERY_DAEMON not in spec.producers:
            raise ConfigError(
                f"daemon {name!r} writes {topic!r}, whose producers in topics.toml are "
                f"{list(spec.producers)}: the catalog and the registry disagree"
            )
    timings = Timings(run_timeout_s=use_case.limits.timeout_s, grace_s=grace_s)
    throughput = sizing.of(name)
    return {
        "groupId": name,  # a use case's daemon joins the group named after it
        "inputTopic": source.name,
        "inputPartitions": source.partitions,
        "writes": sorted(writes),
        "timings": {
            "runTimeoutSeconds": timings.run_timeout_s,
            "graceSeconds": timings.grace_s,
            "commitSeconds": timings.commit_s,
            "maxPollIntervalMs": timings.max_poll_interval_ms,
            "pollStaleSeconds": timings.poll_stale_s,
            "stallAfterSeconds": timings.stall_after_s,
            "terminationGracePeriodSeconds": timings.termination_grace_s,
        },
        "scaling": {
            "secondsPerEvent": throughput.seconds_per_event,
            "secondsPerEventSource": throughput.source,
            "lagThreshold": lag_threshold(sizing.target_drain_s, throughput.seconds_per_event),
            "maxReplicaCount": source.partitions,
            "offsetResetPolicy": reset,
        },
    }
