"""Start a coroutine at once, and make a task of it only if it has to wait.

Most events of a pass-through daemon never wait: decode, handler, encode, produce. A task per
event (``create_task``, its first step a turn of the loop later, ``current_task`` to leave the
registry) was a tenth of such an event's CPU. :func:`start_eagerly` runs the coroutine's first
step now, in a context of its own (as a task would), and returns ``None`` if that finished it;
only a coroutine that suspends becomes a task, which resumes it exactly where it waits. This is
Python 3.12's eager task start (``asyncio.eager_task_factory``), for 3.11.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Generator
from typing import Any


class _Suspended:
    """Awaiting this resumes ``coro``, which suspended on ``waiting`` (what it yielded to its
    driver: a future, or ``None`` for a bare yield): the awaiting task waits on that first,
    then drives ``coro`` to its end — sending, throwing (a cancellation) and closing through."""

    __slots__ = ("coro", "waiting")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self.coro, self.waiting = coro, waiting

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting = self.coro, self.waiting
        while True:
            try:
                sent = yield waiting
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - thrown in by the task: passed on
                try:
                    waiting = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration as done:
                    return done.value


async def _resume(coro: Coroutine[Any, Any, Any], waiting: Any, on_done: Callable[[], None]) -> Any:
    try:
        return await _Suspended(coro, waiting)
    finally:
        on_done()


def start_eagerly(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, None],
    on_done: Callable[[], None],
) -> asyncio.Task[None] | None:
    """Run ``coro`` until it first waits. ``None``: it finished (its exceptions propagate
    here). Else the task that drives it on; ``on_done`` runs inside that task when ``coro``
    ends, however it ends (not when it finished here)."""
    context = contextvars.copy_context()
    try:
        waiting = context.run(coro.send, None)
    except StopIteration:
        return None
    return loop.create_task(_resume(coro, waiting, on_done), context=context)
