"""The runs feedback may name: an index materialized from ``daemons.runs`` (run id → tenant,
daemon, input event, trace), like a Kafka Streams state store: its own positions are the
offsets (no consumer group commits), and it reads on from them whenever asked about a run it
does not know yet (:meth:`RunIndex.find`) — a run record is produced with the result it
explains, so a run anyone could have seen is on the topic by then.

It keeps a few ids per run, in memory (about 200 bytes a run: a million runs ≈ 200 MB),
and starts from the topic's beginning, so it knows every run the topic still retains
(``daemons.runs`` keeps 30 days).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Any

from processors.errors import SerdeError
from processors.feedback.scan import Offsets, consumer, scan, watermarks
from processors.kafka.clients import Contracts
from processors.settings import Settings

RUNS_TOPIC = "daemons.runs"
log = logging.getLogger("processors.feedback")


@dataclass(frozen=True)
class RunFacts:
    """What feedback is checked against: whose run it was, by which daemon, for which event."""

    run_id: str
    tenant_id: str
    daemon: str
    event_id: str
    trace_id: str
    occurred_at: dt.datetime

    @classmethod
    def from_record(cls, datum: dict[str, Any]) -> RunFacts:
        return cls(
            run_id=str(datum["run_id"]), tenant_id=str(datum["tenant_id"]),
            daemon=str(datum["daemon"]), event_id=str(datum["event_id"]),
            trace_id=str(datum.get("trace_id") or ""), occurred_at=datum["occurred_at"],
        )  # fmt: skip


class RunIndex:
    """Run ids → :class:`RunFacts`, read from ``daemons.runs`` (under the settings' prefix).
    Safe to call from several threads: one catch-up at a time."""

    def __init__(self, settings: Settings, contracts: Contracts) -> None:
        self._settings, self._contracts = settings, contracts
        self._topic = contracts.catalog.physical(RUNS_TOPIC)
        self._runs: dict[str, RunFacts] = {}
        self._positions: Offsets = {}
        self._lock = threading.Lock()
        self.skipped = 0  # records that were no run record (logged, each)

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: str) -> RunFacts | None:
        """The run as far as the index has read (no Kafka call)."""
        return self._runs.get(run_id)

    def find(self, run_id: str) -> RunFacts | None:
        """The run, reading on to the topic's end first when the index does not know it."""
        found = self._runs.get(run_id)
        if found is None:
            self.catch_up()
            found = self._runs.get(run_id)
        return found

    def catch_up(self) -> int:
        """Read from the index's positions to the topic's end as of now; the runs added."""
        with self._lock:
            reader = consumer(self._settings, "feedback-runs")
            try:
                lows, highs = watermarks(reader, self._topic)
                starts = {p: max(self._positions.get(p, 0), lows[p]) for p in highs}
                added = 0
                for msg in scan(reader, self._topic, starts, highs):
                    try:
                        facts = RunFacts.from_record(self._contracts.codec.decode(msg.value()))
                    except (SerdeError, KeyError) as exc:  # its feedback: unknown run
                        where = f"{self._topic}[{msg.partition()}]@{msg.offset()}"
                        log.warning("run index: %s skipped, not a run record: %s", where, exc)
                        self.skipped += 1
                        continue
                    added += facts.run_id not in self._runs
                    self._runs[facts.run_id] = facts
                self._positions.update(highs)
                return added
            finally:
                reader.close()
