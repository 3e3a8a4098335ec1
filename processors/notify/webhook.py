"""Post guardrail fails, dead letters, budget breaches and judge errors to a team webhook.

:class:`WebhookNotifier` is the one port for this side effect. ``notify`` is synchronous,
never blocks and never raises: it drops a notice already sent for the same (kind, daemon,
reason) within ``dedup_window`` seconds, spends a token from the daemon's bucket (``burst``
notices, refilled at ``refill_per_s``) and puts the Slack-compatible payload on a bounded
queue. A background task (started when there is something to send, ending when the queue
is empty) posts it with a short timeout. Anything that goes wrong (queue full, HTTP error,
non-2xx) is logged without the URL — a Slack webhook URL is a credential — and counted, in
``counts`` and on the ``daemons.notifications`` counter (attribute ``outcome``): a
notification problem never reaches the daemon. Budget breaches reach it as dead letters
(:mod:`processors.guardrails.notices`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx
from opentelemetry import metrics
from pydantic import SecretStr

from processors.untrusted.redaction import redact

log = logging.getLogger("processors.notify")
NoticeKind = Literal["guardrail_fail", "dead_letter", "budget_exceeded", "judge_error"]
_TITLES = {
    "guardrail_fail": "Guardrail blocked a result",
    "dead_letter": "Event dead-lettered",
    "budget_exceeded": "Agent run over budget",
    "judge_error": "Judge failed: result held for review",
}
_VOLATILE = re.compile(r"\b[0-9a-f]{12,}\b|\d+")  # ids and numbers: not part of "the same reason"
_counter = metrics.get_meter("processors.notify").create_counter(
    "daemons.notifications", unit="{notice}", description="Team notifications by outcome."
)


@dataclass(frozen=True)
class Notice:
    """What happened, to whom and where to look. Ids only: never payloads or credentials."""

    kind: NoticeKind
    daemon: str
    tenant_id: str
    reason: str
    run_id: str = ""
    trace_id: str = ""
    event_id: str = ""

    @property
    def dedup_key(self) -> tuple[str, str, str]:
        return (self.kind, self.daemon, _VOLATILE.sub("#", self.reason)[:200])


class Notifier(Protocol):
    def notify(self, notice: Notice) -> None:
        """Queue ``notice``; never blocks for long and never raises."""
        ...


def slack_payload(notice: Notice) -> dict[str, Any]:
    """Slack-compatible JSON: ``text`` (fallback and other chat tools) plus ``blocks``."""
    reason = redact(notice.reason)[:1500]
    title = _TITLES[notice.kind]
    facts = {
        "daemon": notice.daemon,
        "tenant": notice.tenant_id,
        "run id": notice.run_id or "-",
        "trace id": notice.trace_id or "-",
        "event id": notice.event_id or "-",
    }
    text = f"{title} ({notice.daemon}, tenant {notice.tenant_id}): {reason}"
    line = " | ".join(f"{k}: {v}" for k, v in facts.items())
    return {
        "text": f"{text} [{line}]",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": reason}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f"*{k}*\n`{v}`"} for k, v in facts.items()],
            },
        ],
    }


class _Bucket:
    def __init__(self, burst: float, refill_per_s: float, now: float) -> None:
        self.tokens, self.burst, self.refill, self.at = burst, burst, refill_per_s, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.refill)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class WebhookNotifier:
    """Posts notices to ``url``; see the module docstring for dedup, rate limit and failures."""

    def __init__(
        self,
        url: SecretStr | str,
        *,
        timeout: float = 5.0,
        dedup_window: float = 600.0,
        burst: int = 5,
        refill_per_s: float = 1 / 60,
        queue_size: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url if isinstance(url, SecretStr) else SecretStr(url)
        self.timeout, self.dedup_window, self.queue_size = timeout, dedup_window, queue_size
        self.burst, self.refill_per_s, self._clock = burst, refill_per_s, clock
        self.counts: Counter[str] = Counter()
        self._sent_at: dict[tuple[str, str, str], float] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[Notice, dict[str, Any]]] | None = None
        self._worker: asyncio.Task[None] | None = None

    def notify(self, notice: Notice) -> None:
        now = self._clock()
        key = notice.dedup_key
        if now - self._sent_at.get(key, float("-inf")) < self.dedup_window:
            self._count(notice, "deduplicated")
            return
        bucket = self._buckets.setdefault(
            notice.daemon, _Bucket(self.burst, self.refill_per_s, now)
        )
        if not bucket.take(now):
            self._count(notice, "rate_limited")
            return
        self._sent_at[key] = now
        if len(self._sent_at) > 1000:  # forget keys older than the window
            self._sent_at = {k: t for k, t in self._sent_at.items() if now - t < self.dedup_window}
        queue = self._ensure_worker()
        if queue is None:
            log.warning("notification %s for %s dropped: no event loop", notice.kind, notice.daemon)
            self._count(notice, "dropped")
            return
        try:
            queue.put_nowait((notice, slack_payload(notice)))
        except asyncio.QueueFull:
            log.warning("notification queue full: %s for %s dropped", notice.kind, notice.daemon)
            self._count(notice, "dropped")

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued notice was posted (or failed)."""
        if self._queue is not None and self._loop is asyncio.get_running_loop():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._queue.join()

    async def aclose(self, timeout: float = 5.0) -> None:
        """Post what is queued (up to ``timeout``), then stop the worker."""
        await self.flush(timeout)
        worker, self._worker = self._worker, None
        if worker is not None and self._loop is asyncio.get_running_loop():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    def _ensure_worker(self) -> asyncio.Queue[tuple[Notice, dict[str, Any]]] | None:
        """The queue of the running loop, with a worker draining it (started on demand: it
        ends when the queue is empty, so no task outlives a loop that stops)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        if self._loop is not loop or self._queue is None:
            self._loop, self._queue, self._worker = loop, asyncio.Queue(self.queue_size), None
        if self._worker is None:
            self._worker = loop.create_task(self._drain(self._queue), name="webhook-notifier")
        return self._queue

    async def _drain(self, queue: asyncio.Queue[tuple[Notice, dict[str, Any]]]) -> None:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while not queue.empty():
                notice, payload = queue.get_nowait()
                try:
                    await self._post(client, notice, payload)
                finally:
                    queue.task_done()
            if self._queue is queue:
                self._worker = None  # a notice queued from now on starts a new worker

    async def _post(
        self, client: httpx.AsyncClient, notice: Notice, payload: dict[str, Any]
    ) -> None:
        try:
            response = await client.post(self._url.get_secret_value(), json=payload)
        except httpx.HTTPError as exc:  # the URL is a secret: log the error class only
            log.warning("notification %s for %s failed: %s", notice.kind, notice.daemon,
                        type(exc).__name__)  # fmt: skip
            self._count(notice, "failed")
            return
        if response.is_success:
            self._count(notice, "sent")
        else:
            log.warning("notification %s for %s failed: HTTP %d", notice.kind, notice.daemon,
                        response.status_code)  # fmt: skip
            self._count(notice, "failed")

    def _count(self, notice: Notice, outcome: str) -> None:
        self.counts[outcome] += 1
        _counter.add(1, {"daemon": notice.daemon, "kind": notice.kind, "outcome": outcome})
