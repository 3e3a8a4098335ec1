"""Every memory store keeps the port's promises: the same tests for each entry of STORES."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.errors import MemoryStoreError
from processors.memory.embedders import MiniLMEmbedder
from processors.memory.fakes import FakeHashEmbedder
from processors.testing.memory import Feed, StoreFactory, at, episode, fact


def test_a_newer_valid_from_supersedes_and_as_of_still_finds_the_old_value(
    store_factory: StoreFactory,
) -> None:
    store = store_factory(FakeHashEmbedder())
    feed = Feed(store)
    old = fact("t1", "acme", "phone", "+1 555 0100", at(1))
    new = fact("t1", "acme", "phone", "+1 555 0199", at(10))
    feed.put(old, new)

    assert [r.value for r in store.facts("t1", "vendor", "acme")] == ["+1 555 0199"]
    assert [r.value for r in store.facts("t1", "vendor", "acme", as_of=at(5))] == ["+1 555 0100"]
    assert [r.value for r in store.facts("t1", "vendor", "acme", as_of=at(10))] == ["+1 555 0199"]
    assert store.facts("t1", "vendor", "acme", as_of=at(1, year=2025)) == []


def test_supersession_does_not_depend_on_arrival_order(store_factory: StoreFactory) -> None:
    forward, backward = store_factory(FakeHashEmbedder()), store_factory(FakeHashEmbedder())
    versions = [fact("t1", "acme", "website", f"https://v{i}.test", at(i)) for i in (1, 5, 9)]
    Feed(forward).put(*versions)
    Feed(backward).put(*reversed(versions))
    for as_of in (None, at(2), at(6), at(20)):
        assert forward.facts("t1", "vendor", "acme", as_of=as_of) == backward.facts(
            "t1", "vendor", "acme", as_of=as_of
        )
    assert [r.value for r in backward.facts("t1", "vendor", "acme")] == ["https://v9.test"]
    assert forward.digest() == backward.digest()


def test_an_explicit_valid_to_ends_a_fact(store_factory: StoreFactory) -> None:
    store = store_factory(FakeHashEmbedder())
    Feed(store).put(fact("t1", "acme", "opening_hours", "9-17", at(1), valid_to=at(3)))
    assert [r.value for r in store.facts("t1", "vendor", "acme", as_of=at(2))] == ["9-17"]
    assert store.facts("t1", "vendor", "acme", as_of=at(3)) == []
    assert store.facts("t1", "vendor", "acme") == []


def test_current_means_now_a_fact_valid_until_later_is_current_one_from_later_is_not(
    store_factory: StoreFactory,
) -> None:
    """Found by the memory eval (``asof-open-until-next-year``): a contract valid until next
    year is current today, and a version that starts next year is not yet."""
    store = store_factory(FakeHashEmbedder())
    now = datetime.now(UTC)
    Feed(store).put(
        fact("t1", "acme", "contract_rate", "$42/h", at(1, year=now.year - 1),
             valid_to=now + timedelta(days=365)),
        fact("t1", "acme", "phone", "+1 555 0100", at(1, year=now.year - 1)),
        fact("t1", "acme", "phone", "+1 555 0199", now + timedelta(days=30)),
    )  # fmt: skip
    current = {(r.attribute, r.value) for r in store.facts("t1", "vendor", "acme")}
    assert current == {("contract_rate", "$42/h"), ("phone", "+1 555 0100")}
    found = {h.record.value for h in store.search("t1", "acme phone contract rate", k=10)}
    assert found == {"$42/h", "+1 555 0100"}
    later = now + timedelta(days=60)
    assert {r.value for r in store.facts("t1", "vendor", "acme", as_of=later)} == {
        "$42/h", "+1 555 0199",
    }  # fmt: skip


def test_a_large_k_returns_up_to_k_hits(store_factory: StoreFactory) -> None:
    """k=500 asks the vector index for more candidates than sqlite-vec's KNN answers in one
    query (4,096): the store clamps them instead of failing."""
    store = store_factory(FakeHashEmbedder())
    Feed(store).put(*(fact("t1", f"v-{i}", "name", f"vendor number {i}", at(1))
                      for i in range(600)))  # fmt: skip
    found = store.search("t1", "vendor number 7", k=500)
    assert len(found) == 500 and len({h.key for h in found}) == 500
    assert len(store.search("t1", "vendor number 7", k=5000)) == 600


def test_facts_of_other_attributes_stand_side_by_side(store_factory: StoreFactory) -> None:
    store = store_factory(FakeHashEmbedder())
    Feed(store).put(
        fact("t1", "acme", "website", "https://acme.test", at(1)),
        fact("t1", "acme", "phone", "+1 555 0100", at(2)),
        fact("t1", "globex", "phone", "+1 555 0777", at(2)),
    )
    assert {(r.attribute, r.value) for r in store.facts("t1", "vendor", "acme")} == {
        ("website", "https://acme.test"),
        ("phone", "+1 555 0100"),
    }


def test_tombstoning_every_key_of_an_entity_forgets_it_everywhere(
    store_factory: StoreFactory,
) -> None:
    store = store_factory(FakeHashEmbedder())
    feed = Feed(store)
    feed.put(
        fact("t1", "acme", "phone", "+1 555 0100", at(1)),
        fact("t1", "acme", "phone", "+1 555 0199", at(5)),
        fact("t1", "acme", "website", "https://acme.test", at(1)),
        fact("t1", "globex", "website", "https://globex.test", at(1)),
    )
    keys = store.keys("t1", "vendor", "acme")
    assert len(keys) == 3
    for key in keys:
        feed.tombstone(key)

    assert store.keys("t1", "vendor", "acme") == []
    assert store.facts("t1", "vendor", "acme") == []
    assert store.facts("t1", "vendor", "acme", as_of=at(2)) == []
    assert all(h.record.entity_id != "acme" for h in store.search("t1", "acme phone website"))
    assert [r.value for r in store.facts("t1", "vendor", "globex")] == ["https://globex.test"]


def test_forgetting_a_tenant_leaves_the_other_tenants(store_factory: StoreFactory) -> None:
    store = store_factory(FakeHashEmbedder())
    feed = Feed(store)
    feed.put(
        fact("t1", "acme", "phone", "1", at(1)),
        fact("t1", "c-7", "bank", "First Bank", at(1), entity_kind="client"),
        fact("t2", "acme", "phone", "2", at(1)),
    )
    for key in store.keys("t1"):
        feed.tombstone(key)
    assert store.keys("t1") == []
    assert store.search("t1", "acme phone bank") == []
    assert len(store.keys("t2")) == 1


def test_a_replayed_offset_is_skipped_and_positions_advance(store_factory: StoreFactory) -> None:
    store = store_factory(FakeHashEmbedder())
    first = fact("t1", "acme", "phone", "1", at(1))
    assert store.apply(first.key, first, partition=3, offset=7)
    before = store.digest()
    assert not store.apply(first.key, None, partition=3, offset=7)  # a replay: ignored
    assert not store.apply(first.key, None, partition=3, offset=2)
    assert store.digest() == before
    assert store.positions() == {3: 8}
    assert store.apply(first.key, None, partition=3, offset=8)
    assert store.positions() == {3: 9}
    assert store.keys("t1") == []


def test_a_key_that_is_not_its_records_is_refused(store_factory: StoreFactory) -> None:
    store = store_factory(FakeHashEmbedder())
    record = fact("t1", "acme", "phone", "1", at(1))
    with pytest.raises(MemoryStoreError):
        store.apply("t2:" + record.memory_id, record, partition=0, offset=0)
    assert store.keys("t1") == [] and store.keys("t2") == []


def test_the_same_offsets_give_the_same_digest(store_factory: StoreFactory) -> None:
    records = [fact("t1", f"v{i}", "website", f"https://v{i}.test", at(1 + i)) for i in range(5)]
    digests = set()
    for _ in range(2):
        store = store_factory(FakeHashEmbedder())
        Feed(store).put(*records)
        digests.add(store.digest())
    assert len(digests) == 1
    other = store_factory(FakeHashEmbedder())
    Feed(other).put(*records[:4])
    assert other.digest() not in digests


def test_search_finds_by_meaning(store_factory: StoreFactory, minilm: MiniLMEmbedder) -> None:
    store = store_factory(minilm)
    Feed(store).put(
        fact("t1", "dropbox", "account_category", "Software subscriptions", at(1)),
        fact("t1", "shell-4411", "account_category", "Fuel and vehicle expenses", at(1)),
        fact("t1", "joes-diner", "account_category", "Meals and entertainment", at(1)),
        fact("t1", "staples", "account_category", "Office supplies", at(1)),
    )
    hits = store.search("t1", "petrol for the company car", k=2)
    assert hits[0].record.entity_id == "shell-4411"
    assert hits[0].vector_rank == 1 and hits[0].keyword_rank is None  # no word in common
    hits = store.search("t1", "lunch with a customer at a restaurant", k=1)
    assert hits[0].record.entity_id == "joes-diner"


def test_search_finds_by_keyword(store_factory: StoreFactory, minilm: MiniLMEmbedder) -> None:
    store = store_factory(minilm)
    Feed(store).put(
        fact("t1", "acme", "vendor_id", "VND-88213", at(1)),
        *(fact("t1", f"other-{i}", "vendor_id", f"VND-{1000 + i}", at(1)) for i in range(8)),
    )
    hits = store.search("t1", "88213", k=3)
    assert hits[0].record.value == "VND-88213"
    assert hits[0].keyword_rank == 1


def test_kinds_and_entity_kind_filter_in_the_query(store_factory: StoreFactory) -> None:
    store = store_factory(FakeHashEmbedder())
    Feed(store).put(
        fact("t1", "acme", "bank", "First Bank of acme", at(1)),
        fact("t1", "acme", "bank", "First Bank of acme", at(1), entity_kind="client"),
        episode("t1", "q-1", "which bank does acme use", "First Bank", run_id="r9", when=at(2)),
    )
    kinds = {h.record.kind for h in store.search("t1", "acme bank", kinds=["episode"], k=10)}
    assert kinds == {"episode"}
    entity_kinds = {
        h.record.entity_kind for h in store.search("t1", "acme bank", entity_kind="client", k=10)
    }
    assert entity_kinds == {"client"}
    assert store.search("t1", "acme bank", kinds=[], k=10) == []
    assert len(store.search("t1", "acme bank", k=10)) == 3


def test_search_as_of_sees_the_fact_then_current(store_factory: StoreFactory) -> None:
    store = store_factory(FakeHashEmbedder())
    Feed(store).put(
        fact("t1", "acme", "website", "https://old-acme.test", at(1)),
        fact("t1", "acme", "website", "https://new-acme.test", at(9)),
    )
    assert [h.record.value for h in store.search("t1", "acme website", k=5)] == [
        "https://new-acme.test"
    ]
    assert [h.record.value for h in store.search("t1", "acme website", k=5, as_of=at(3))] == [
        "https://old-acme.test"
    ]


_WORDS = st.text(alphabet=string.ascii_lowercase, min_size=3, max_size=8)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    contents=st.lists(
        st.tuples(_WORDS, _WORDS, st.lists(_WORDS, min_size=1, max_size=4)),
        min_size=1,
        max_size=6,
        unique_by=lambda c: (c[0], c[1]),
    ),
    probe=st.lists(_WORDS, min_size=1, max_size=4),
)
def test_identical_content_under_two_tenants_never_crosses(
    store_factory: StoreFactory,
    contents: list[tuple[str, str, list[str]]],
    probe: list[str],
) -> None:
    store = store_factory(FakeHashEmbedder())
    feed = Feed(store)
    for tenant in ("tenant-a", "tenant-b"):
        for entity, attribute, words in contents:
            feed.put(fact(tenant, entity, attribute, " ".join(words), at(1)))
    queries = [" ".join(probe), *(" ".join(words) for _, _, words in contents)]
    for tenant in ("tenant-a", "tenant-b"):
        for query in queries:
            hits = store.search(tenant, query, k=50)
            assert hits, "identical content must be found in the tenant's own memories"
            assert {h.record.tenant_id for h in hits} == {tenant}
            assert all(h.key.startswith(tenant + ":") for h in hits)
        for entity, _, _ in contents:
            assert {r.tenant_id for r in store.facts(tenant, "vendor", entity)} == {tenant}
        assert all(k.startswith(tenant + ":") for k in store.keys(tenant))
