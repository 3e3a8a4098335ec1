"""Requests go to the slot that holds their daemon's and tenant's prefix (pure)."""

from __future__ import annotations

import pytest

from processors.llm.local.slots import SlotRouter, prefix_key


def request(daemon: str, tenant: str | None, event: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": f"{daemon} instructions"}]
    if tenant is not None:
        messages.append({"role": "user", "content": f"{tenant} records"})
    return [*messages, {"role": "user", "content": event}]


def test_tenants_of_one_daemon_each_keep_their_slot() -> None:
    router = SlotRouter(4)
    first = [router.route(request("vendor", t, f"e{i}")).slot for i, t in enumerate(["T1", "T2"])]
    assert first == [0, 1]  # a new tenant gets a fresh slot, not the daemon's last one
    order = ["T1", "T2", "T1"]
    again = [router.route(request("vendor", t, f"e{i}")).slot for i, t in enumerate(order)]
    assert again == [0, 1, 0]


def test_daemons_each_keep_their_slot_and_a_runs_turns_stay_in_theirs() -> None:
    router = SlotRouter(4)
    vendor = router.route(request("vendor", "T1", "e1")).slot
    client = router.route(request("client", "T1", "e2")).slot
    assert vendor != client
    turn_one = request("question", "T1", "what did we spend?")
    question = router.route(turn_one).slot
    turn_two = [
        *turn_one,
        {"role": "assistant", "content": "call"},
        {"role": "user", "content": "result"},
    ]
    assert router.route(turn_two) == (question, None)
    assert router.route(request("vendor", "T1", "e3")) == (vendor, None)


def test_when_every_slot_is_taken_the_least_recently_used_is_reused() -> None:
    router = SlotRouter(2)
    a = router.route(request("vendor", "T1", "e1")).slot
    b = router.route(request("vendor", "T2", "e2")).slot
    router.route(request("vendor", "T1", "e3"))  # T1 used again: T2's slot is now the oldest
    assert router.route(request("vendor", "T3", "e4")).slot == b
    assert router.route(request("vendor", "T1", "e5")).slot == a


def test_a_router_needs_a_slot() -> None:
    with pytest.raises(ValueError):
        SlotRouter(0)
    assert SlotRouter(1).route([]) == (0, None)


def tenant_request(tenant: str, event: str) -> tuple[list[dict[str, str]], str]:
    """As the agent loop lays it out: the same instructions, note and calls for every tenant,
    then the tenant's results, then the event; the key covers all but the event."""
    messages = [
        {"role": "system", "content": "vendor instructions"},
        {"role": "user", "content": "The daemon has read this tenant's records for you."},
        {"role": "assistant", "content": '{"tool": "listAccounts", "arguments": {}}'},
        {"role": "user", "content": f"Result of tool listAccounts: {tenant}'s chart"},
        {"role": "user", "content": event},
    ]
    return messages, prefix_key(messages[:4])


def test_a_prefix_key_keeps_each_tenant_in_its_slot_though_their_requests_start_alike() -> None:
    router = SlotRouter(4)
    order = ["T1", "T2", "T1", "T3", "T2", "T1"]
    slots = [router.route(*tenant_request(t, f"e{i}")).slot for i, t in enumerate(order)]
    assert slots == [0, 1, 0, 2, 1, 0]
    # without the keys, the shared note and calls would send T2 to T1's slot
    keyless = SlotRouter(4)
    assert [keyless.route(tenant_request(t, "e")[0]).slot for t in ("T1", "T2")] == [0, 0]


def test_a_new_tenant_starts_from_a_copy_of_the_slot_sharing_most_of_its_prefix() -> None:
    """T2's first request shares T1's instructions, note and call (3 messages): its slot is
    filled from T1's before it runs, so it computes only T2's records and event."""
    router = SlotRouter(4)
    assert router.route(*tenant_request("T1", "e1")) == (0, None)  # nothing to copy yet
    assert router.route(*tenant_request("T2", "e2")) == (1, 0)
    assert router.route(*tenant_request("T2", "e3")) == (1, None)  # warm now: no copy
    assert router.route(*tenant_request("T3", "e4")) == (2, 1)  # the most recent of equals


def test_nothing_is_copied_from_a_slot_that_shares_less_than_the_chosen_one() -> None:
    router = SlotRouter(2)
    router.route(request("vendor", "T1", "e1"))
    router.route(request("client", "T1", "e2"))
    # the LRU slot (vendor's) already holds the vendor instructions: no copy needed
    assert router.route(request("vendor", "T2", "e3"), "vendor-T2") == (0, None)
    # another daemon's instructions share nothing: a cold slot, nothing to copy
    assert router.route(request("question", "T1", "e4"), "question-T1") == (1, None)


def test_a_tenant_whose_system_prompt_ends_with_its_own_schema_copies_the_daemons_part() -> None:
    """The answer schema (a tenant's account names) is at the end of the system prompt: no
    whole message in common, but the daemon's instructions before it are worth copying."""
    router = SlotRouter(4)
    instructions = "Fill the query. " * 10

    def asked(tenant: str, event: str) -> tuple[list[dict[str, str]], str]:
        system = {"role": "system", "content": f"{instructions}Schema: {tenant} accounts"}
        messages = [system, {"role": "user", "content": "read"}]
        return [*messages, {"role": "user", "content": event}], prefix_key(messages)

    t1 = router.route(*asked("T1", "e1"))
    t2 = router.route(*asked("T2", "e2"))
    assert t2 == (t2.slot, t1.slot) and t2.slot != t1.slot
    assert router.route(*asked("T1", "e3")) == (t1.slot, None)
    # a system prompt with only a few characters in common is no reason to copy
    other = [{"role": "system", "content": "Fill in a form."}, {"role": "user", "content": "x"}]
    assert router.route(other, prefix_key(other[:1])).copy_from is None
