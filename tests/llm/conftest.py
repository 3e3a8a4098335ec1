"""Helpers shared by the LLM tests: a recording sleep and an httpx client on a handler."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest


class RecordingSleep:
    """Stands in for ``asyncio.sleep``: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def recording_sleep() -> RecordingSleep:
    return RecordingSleep()


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))
