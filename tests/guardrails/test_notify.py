"""Team notifications over real HTTP to a loopback webhook: what arrives, deduplication, the
per-daemon rate limit, and that a dead or slow webhook costs the caller nothing."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from processors.notify import Notice, WebhookNotifier
from tests.guardrails.webhook import webhook


def _notice(
    reason: str = "numeric_grounding: amounts not in tool results: [7240]",
    *,
    kind: str = "guardrail_fail",
    daemon: str = "question-answering",
) -> Notice:
    return Notice(
        kind=kind,
        daemon=daemon,
        tenant_id="t-ridgeline",
        reason=reason,  # type: ignore[arg-type]
        run_id="run-1",
        trace_id="ab" * 16,
        event_id="evt-1",
    )


def test_a_notice_arrives_as_slack_json_with_ids_and_no_secrets() -> None:
    with webhook() as hook:
        notifier = WebhookNotifier(hook.url)

        async def main() -> None:
            notifier.notify(_notice("leak: Authorization: Bearer abcdefghijklmnopqrstuvwxyz123"))
            await notifier.aclose()

        asyncio.run(main())
        (post,) = hook.wait_for(1)
    assert set(post) == {"text", "blocks"}
    text = post["text"]
    for fact in ("question-answering", "t-ridgeline", "run-1", "ab" * 16, "evt-1"):
        assert fact in text
    assert "Guardrail blocked a result" in text
    assert "abcdefghijklmnopqrstuvwxyz123" not in str(post)  # redacted
    assert [b["type"] for b in post["blocks"]] == ["header", "section", "section"]
    assert notifier.counts["sent"] == 1


def test_the_same_reason_is_sent_once_per_window_and_other_ones_still_go() -> None:
    with webhook() as hook:
        notifier = WebhookNotifier(hook.url, dedup_window=60.0)

        async def main() -> None:
            for amount in (7240, 7241, 9999):  # same reason but for the numbers
                notifier.notify(
                    _notice(f"numeric_grounding: amounts not in tool results: [{amount}]")
                )
            notifier.notify(_notice("tenant_scoped_ids: ids not returned by tools"))
            notifier.notify(_notice("x", kind="dead_letter"))
            await notifier.aclose()

        asyncio.run(main())
        posts = hook.wait_for(3)
        time.sleep(0.2)
    assert len(hook.posts) == 3, [p["text"] for p in posts]
    assert notifier.counts["deduplicated"] == 2 and notifier.counts["sent"] == 3


def test_the_rate_limit_holds_per_daemon_and_refills() -> None:
    now = [0.0]
    with webhook() as hook:
        notifier = WebhookNotifier(hook.url, burst=3, refill_per_s=1.0, clock=lambda: now[0])

        async def main() -> None:
            for i in range(10):
                notifier.notify(_notice(f"reason {chr(97 + i)}"))
            notifier.notify(_notice("other daemon", daemon="vendor-enrichment"))
            now[0] += 2.0  # two tokens back
            for i in range(5):
                notifier.notify(_notice(f"later {chr(97 + i)}"))
            await notifier.aclose()

        asyncio.run(main())
        hook.wait_for(6)
        time.sleep(0.2)
    by_daemon = [p["text"].split("(")[1].split(",")[0] for p in hook.posts]
    assert by_daemon.count("question-answering") == 5  # 3 burst + 2 refilled
    assert by_daemon.count("vendor-enrichment") == 1
    assert notifier.counts["rate_limited"] == 10


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dead_webhook_is_logged_and_counted_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://127.0.0.1:{_dead_port()}/hooks/secret-token"
    notifier = WebhookNotifier(url, timeout=1.0)

    async def main() -> float:
        started = time.perf_counter()
        notifier.notify(_notice("a"))
        notifier.notify(_notice("b"))
        took = time.perf_counter() - started
        await notifier.aclose()
        return took

    with caplog.at_level(logging.WARNING, logger="processors.notify"):
        took = asyncio.run(main())
    assert took < 0.05  # notify() only queues
    assert notifier.counts["failed"] == 2 and notifier.counts["sent"] == 0
    assert "failed" in caplog.text and "secret-token" not in caplog.text


def test_an_error_status_counts_as_failed() -> None:
    with webhook() as hook:
        hook.status = 500
        notifier = WebhookNotifier(hook.url)

        async def main() -> None:
            notifier.notify(_notice())
            await notifier.aclose()

        asyncio.run(main())
    assert notifier.counts["failed"] == 1


def test_a_slow_webhook_does_not_block_and_a_full_queue_drops() -> None:
    with webhook() as hook:
        hook.delay = 0.3
        notifier = WebhookNotifier(hook.url, queue_size=2, burst=100)

        async def main() -> float:
            started = time.perf_counter()
            for i in range(6):
                notifier.notify(_notice(f"reason {chr(97 + i)}"))
            took = time.perf_counter() - started
            await notifier.aclose(timeout=5.0)
            return took

        took = asyncio.run(main())
    assert took < 0.05
    assert notifier.counts["dropped"] >= 3
    assert notifier.counts["sent"] + notifier.counts["dropped"] == 6


class _Recorder:
    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)


def test_a_budget_breach_dead_letter_is_notified_as_a_budget_breach() -> None:
    from processors.errors import SchemaValidationError, TurnLimitExceeded
    from processors.guardrails.notices import dead_letter_notice

    recorder = _Recorder()
    hook = dead_letter_notice(recorder)
    letter = {
        "daemon": "vendor-enrichment",
        "tenant_id": "t-quillstack",
        "event_id": "evt-9",
        "error_type": "TurnLimitExceeded",
        "error_message": "used all 8 turns",
    }
    hook(letter, TurnLimitExceeded("used all 8 turns", run_id="run-9"))
    hook({**letter, "error_type": "SchemaValidationError"}, SchemaValidationError("bad"))
    budget, other = recorder.notices
    assert (budget.kind, budget.run_id, budget.tenant_id) == (
        "budget_exceeded",
        "run-9",
        "t-quillstack",
    )
    assert "TurnLimitExceeded: used all 8 turns" in budget.reason
    assert (other.kind, other.run_id) == ("dead_letter", "")
