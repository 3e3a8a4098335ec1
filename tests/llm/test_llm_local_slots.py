"""Requests go to the slot that holds their daemon's and tenant's prefix (pure)."""

from __future__ import annotations

import pytest

from processors.llm.local.slots import SlotRouter


def request(daemon: str, tenant: str | None, event: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": f"{daemon} instructions"}]
    if tenant is not None:
        messages.append({"role": "user", "content": f"{tenant} records"})
    return [*messages, {"role": "user", "content": event}]


def test_tenants_of_one_daemon_each_keep_their_slot() -> None:
    router = SlotRouter(4)
    first = [router.route(request("vendor", t, f"e{i}")) for i, t in enumerate(["T1", "T2"])]
    assert first == [0, 1]  # a new tenant gets a fresh slot, not the daemon's last one
    again = [router.route(request("vendor", t, f"e{i}")) for i, t in enumerate(["T1", "T2", "T1"])]
    assert again == [0, 1, 0]


def test_daemons_each_keep_their_slot_and_a_runs_turns_stay_in_theirs() -> None:
    router = SlotRouter(4)
    vendor = router.route(request("vendor", "T1", "e1"))
    client = router.route(request("client", "T1", "e2"))
    assert vendor != client
    turn_one = request("question", "T1", "what did we spend?")
    question = router.route(turn_one)
    turn_two = [
        *turn_one,
        {"role": "assistant", "content": "call"},
        {"role": "user", "content": "result"},
    ]
    assert router.route(turn_two) == question
    assert router.route(request("vendor", "T1", "e3")) == vendor


def test_when_every_slot_is_taken_the_least_recently_used_is_reused() -> None:
    router = SlotRouter(2)
    a = router.route(request("vendor", "T1", "e1"))
    b = router.route(request("vendor", "T2", "e2"))
    router.route(request("vendor", "T1", "e3"))  # T1 used again: T2's slot is now the oldest
    assert router.route(request("vendor", "T3", "e4")) == b
    assert router.route(request("vendor", "T1", "e5")) == a


def test_a_router_needs_a_slot() -> None:
    with pytest.raises(ValueError):
        SlotRouter(0)
    assert SlotRouter(1).route([]) == 0
