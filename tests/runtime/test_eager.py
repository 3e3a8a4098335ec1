"""Eager start (processors.runtime.eager) and plain handlers run inline by the runner."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from processors.runtime.daemon import EventContext, Output, call_handler, plain_result, waits
from processors.runtime.eager import start_eagerly

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="outer")


def test_a_coroutine_that_never_waits_finishes_at_once_without_a_task() -> None:
    async def main() -> None:
        done: list[str] = []

        async def quick() -> None:
            VAR.set("inner")  # in a context of its own: never leaks into the caller's
            done.append("ran")

        task = start_eagerly(asyncio.get_running_loop(), quick(), lambda: done.append("on_done"))
        assert task is None
        assert done == ["ran"]  # on_done is for tasks only
        assert VAR.get() == "outer"

    asyncio.run(main())


def test_a_coroutine_that_waits_becomes_a_task_resumed_where_it_waited() -> None:
    async def main() -> None:
        steps: list[str] = []
        gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def slow() -> None:
            VAR.set("inner")
            steps.append("before")
            steps.append(f"got {await gate}")
            await asyncio.sleep(0)  # a bare yield passes through too
            steps.append(f"after {VAR.get()}")

        task = start_eagerly(asyncio.get_running_loop(), slow(), lambda: steps.append("done"))
        assert task is not None
        assert steps == ["before"]
        gate.set_result(7)
        await task
        assert steps == ["before", "got 7", "after inner", "done"]
        assert VAR.get() == "outer"

    asyncio.run(main())


def test_cancelling_the_task_cancels_the_coroutine_inside() -> None:
    async def main() -> None:
        seen: list[str] = []

        async def slow() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                seen.append("cancelled inside")
                raise

        task = start_eagerly(asyncio.get_running_loop(), slow(), lambda: seen.append("done"))
        assert task is not None
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen == ["cancelled inside", "done"]

    asyncio.run(main())


def test_an_exception_propagates_from_the_first_step_and_from_the_task() -> None:
    async def main() -> None:
        async def fails_at_once() -> None:
            raise ValueError("first step")

        with pytest.raises(ValueError, match="first step"):
            start_eagerly(asyncio.get_running_loop(), fails_at_once(), lambda: None)

        async def fails_later() -> None:
            await asyncio.sleep(0)
            raise KeyError("later")

        task = start_eagerly(asyncio.get_running_loop(), fails_later(), lambda: None)
        assert task is not None
        with pytest.raises(KeyError, match="later"):
            await task

    asyncio.run(main())


def _plain(event: dict[str, object], ctx: EventContext) -> list[Output]:
    return [Output("t", {"n": event["n"]})]


async def _async(event: dict[str, object], ctx: EventContext) -> list[Output]:
    return _plain(event, ctx)


def test_handlers_of_both_kinds_are_told_apart_and_called() -> None:
    assert not waits(_plain)
    assert waits(_async)
    ctx = None  # not read by these handlers
    plain = asyncio.run(call_handler(_plain, {"n": 1}, ctx))  # type: ignore[arg-type]
    awaited = asyncio.run(call_handler(_async, {"n": 2}, ctx))  # type: ignore[arg-type]
    assert [o.value for o in plain + awaited] == [{"n": 1}, {"n": 2}]


def test_a_plain_handler_that_returns_an_awaitable_is_a_type_error() -> None:
    def sneaky(event: dict[str, object], ctx: EventContext) -> list[Output]:
        return _async(event, ctx)  # type: ignore[return-value]

    coro = sneaky({"n": 1}, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="declare it async def"):
        plain_result(sneaky, coro)
    assert coro.cr_frame is None  # closed, no "never awaited" warning
