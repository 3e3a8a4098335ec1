"""A near match — memory holds a vendor under a similar descriptor, not this very one — is
offered to the model as evidence that can help and cannot mislead: the remembered name (and
the directory searched for it by code when this run's search missed it), never a memory's id.
Whatever the model cites must still come from this run's ledger reads."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from processors.daemons import registry
from processors.daemons.vendor_enrichment.recall import (
    descriptor_words,
    model_view,
    near,
    near_match,
    near_reads,
)
from processors.llm.fakes import FunctionModel, reply
from processors.llm.model import AssistantMessage, ModelRequest
from processors.memory.aliases import alias_attribute
from processors.memory.fakes import FakeHashEmbedder
from processors.memory.records import MemoryRecord, Provenance
from processors.memory.sqlite_store import SqliteMemoryStore
from processors.settings import Settings
from processors.testing.harness import Published, reference_api, run_events
from processors.tools.evidence import ToolEvidence

OAKLAND = "SQ *BLUE BOTTLE COF 1234 OAKLAND CA"  # the sample; biz-001, Oakland
OAKLAND_ENTRY = "biz-001"


@pytest.mark.parametrize(
    ("one", "two"),
    [
        ("LES SCHWAB TIRE CENTER 7499 BEND OR", "TST* LES SCHWAB TIRE CEN 3181 BEND OR"),
        ("POS TWO RIVERS DINE TENINO WA", "TST* TWO RIVERS D 2271 TENINO WA"),
        ("PATTERSON DE ST PAUL MN", "POS PATTERSON DENTAL SU 4420 ST PAUL MN"),
        ("SQ *HIGH DESERT 6604 LA PINE OR", "HIGH DESERT 2199 LA PINE OR"),
        ("SQ *SWEET MARIA'S CO OAKLAND CA", "SQ *SWEET MARIAS COFFEE OAKLAND CA"),
    ],
)
def test_variants_of_one_vendor_at_one_place_are_near(one: str, two: str) -> None:
    assert near(one, two) and near(two, one)


@pytest.mark.parametrize(
    ("one", "two"),
    [
        # two directory entries of one chain: another city is another vendor
        ("BLUE BOTTLE 1474 SAN FRANCISCO CA", "POS BLUE BOTTLE COFFEE 4407 OAKLAND CA"),
        ("POS STAPLES MISSOULA MT", "POS STAPLES BOZEMAN MT"),
        ("POS GITHUB 8996 SAN FRANCISCO CA", "POS GUSTO SAN FRANCISCO CA"),
        ("ZOOM 1234", "ZOOM 5678"),  # one word: nothing to tell a vendor by
    ],
)
def test_other_vendors_or_places_are_not_near(one: str, two: str) -> None:
    assert not near(one, two) and not near(two, one)


def test_descriptor_words_drop_prefixes_and_numbers() -> None:
    assert descriptor_words("POS COSTCO WHOLESALE 6072 BEND OR") == [
        "COSTCO",
        "WHOLESALE",
        "BEND",
        "OR",
    ]
    assert descriptor_words("TST* SISTERS FEED & SISTERS OR")[:3] == ["SISTERS", "FEED", "&"]


def identify_result(asked: str, others: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {"alias": asked, "entity_id": None, "current": {}, "memories": [], "similar": [],
            "others": others}  # fmt: skip


def remembered(name: str, business: str, vendor: str, *aliases: str) -> dict[str, str]:
    facts = {"name": name, "business_id": business, "vendor_id": vendor}
    return facts | {alias_attribute(a): a for a in aliases}


def test_a_near_match_is_the_one_vendor_remembered_under_a_near_descriptor() -> None:
    blue = remembered("Blue Bottle Coffee", OAKLAND_ENTRY, "v-mem-01", OAKLAND)
    sweet = remembered("Sweet Maria's", "biz-003", "v-mem-02", "SQ *SWEET MARIAS CO OAKLAND CA")
    asked = "POS BLUE BOTTLE COFFEE 4407 OAKLAND CA"
    assert near_match(identify_result(asked, {"v-mem-02": sweet, "v-mem-01": blue})) == blue
    # not near anything remembered: nothing offered
    assert near_match(identify_result("BLUE BOTTLE 1474 SAN FRANCISCO CA", {"v": blue})) is None
    # near descriptors of two vendors of different names: memory cannot tell, none offered
    other = remembered("Blue Bottle Roasters", "biz-099", "v-mem-03", "SQ *BLUE BOTTLE OAKLAND CA")
    assert near_match(identify_result(asked, {"a": blue, "b": other})) is None
    # an exact match is settle's business, not a near match
    assert near_match(identify_result(asked, {"v": blue}) | {"entity_id": "v-mem-01"}) is None


def test_the_model_reads_the_near_matchs_name_and_no_id_of_memory() -> None:
    blue = remembered("Blue Bottle Coffee", OAKLAND_ENTRY, "v-mem-01", OAKLAND)
    view = model_view(identify_result("POS BLUE BOTTLE COFFEE 4407 OAKLAND CA", {"v-mem-01": blue}))
    assert view["known"] is False and view["a_similar_descriptor_was"] == "Blue Bottle Coffee"
    shown = json.dumps(view)
    assert "v-mem-01" not in shown and OAKLAND_ENTRY not in shown and OAKLAND not in shown
    assert model_view(identify_result("POS GUSTO SAN FRANCISCO CA", {"v-mem-01": blue})) == {
        "known": False
    }


def test_the_directory_is_searched_for_the_name_unless_this_runs_search_returned_it() -> None:
    blue = remembered("Blue Bottle Coffee", OAKLAND_ENTRY, "v-mem-01", OAKLAND)
    asked = "POS BLUE BOTTLE C 4407 OAKLAND CA"
    memory = ToolEvidence("identify", {"alias": asked}, identify_result(asked, {"v": blue}))
    missed = ToolEvidence("searchDirectory", {"query": asked}, {"results": []})
    [call] = near_reads({"raw_descriptor": asked}, [memory, missed])
    assert call.name == "searchDirectory" and call.arguments == {"query": "Blue Bottle Coffee"}
    found = ToolEvidence(
        "searchDirectory", {"query": asked},
        {"results": [{"business_id": OAKLAND_ENTRY, "name": "Blue Bottle Coffee"}]},
    )  # fmt: skip
    assert near_reads({"raw_descriptor": asked}, [memory, found]) == []
    # memory's own word that it is biz-001 is no ledger read
    only_memory = identify_result(asked, {"v": blue})
    assert near_reads({}, [ToolEvidence("identify", {}, only_memory)])[0].name == "searchDirectory"


# ---- the real daemon, the real broker, the reference API over HTTP -------------------------


def sample(descriptor: str) -> dict[str, object]:
    use_case = registry.use_case("vendor-enrichment")
    assert use_case.samples is not None
    [event] = [json.loads(line) for line in use_case.samples.read_text().splitlines()
               if "BLUE BOTTLE" in line][:1]  # fmt: skip
    event["event_id"] = f"evt-near-{uuid.uuid4().hex[:8]}"
    event["raw_descriptor"] = descriptor
    return event


def picks_the_oakland_entry(request: ModelRequest) -> AssistantMessage:
    text = json.dumps([getattr(m, "content", "") for m in request.messages])
    assert OAKLAND_ENTRY in text, "the directory search did not return the Oakland entry"
    return reply({"business_id": OAKLAND_ENTRY, "existing_vendor_id": None,
                  "name": "Blue Bottle Coffee", "account_category": None})  # fmt: skip


def learned_store(kafka: Settings, tmp_path: Path) -> tuple[SqliteMemoryStore, Published]:
    use_case = registry.use_case("vendor-enrichment")
    with reference_api() as api:
        learned = run_events(use_case, [sample(OAKLAND)], FunctionModel(picks_the_oakland_entry),
                             settings=kafka, api=api)  # fmt: skip
    assert learned.memories, learned.outcomes
    store = SqliteMemoryStore(tmp_path / "memory.sqlite", FakeHashEmbedder())
    for offset, datum in enumerate(learned.memories):
        memory = MemoryRecord.from_avro(datum)
        store.apply(memory.key, memory, partition=0, offset=offset)
    return store, learned


@pytest.mark.kafka
def test_a_near_match_is_offered_by_name_and_answered_with_one_model_call(
    kafka: Settings, tmp_path: Path
) -> None:
    use_case = registry.use_case("vendor-enrichment")
    store, learned = learned_store(kafka, tmp_path)
    memory_ids = {m["memory_id"] for m in learned.memories}
    remembered_vendor = {m["value"] for m in learned.memories if m["attribute"] == "vendor_id"}
    seen: list[str] = []

    def reads_the_near_match(request: ModelRequest) -> AssistantMessage:
        text = json.dumps([getattr(m, "content", "") for m in request.messages])
        seen.append(text)
        return picks_the_oakland_entry(request)

    variant = sample("POS BLUE BOTTLE COFFEE 4407 OAKLAND CA")
    with reference_api() as api:
        asked = run_events(use_case, [variant], FunctionModel(reads_the_near_match),
                           settings=kafka, api=api, memory=store)  # fmt: skip
    store.close()
    assert asked.verdicts() == {variant["event_id"]: "pass"}, asked.outcomes
    [run] = asked.runs
    assert len(run["model_calls"]) == 1
    [text] = seen
    assert "a_similar_descriptor_was" in text and "Blue Bottle Coffee" in text
    # no id of memory's reached the model: not a memory id, not the remembered vendor record
    assert not any(m in text for m in memory_ids)
    assert not any(v and v in text for v in remembered_vendor)
    [output] = asked.outputs
    assert f"searchDirectory:{OAKLAND_ENTRY}" in output["sources"]


@pytest.mark.kafka
def test_an_id_only_memory_holds_fails_the_checks_near_match_or_not(
    kafka: Settings, tmp_path: Path
) -> None:
    """The failure 11f10d1 fixed, made on purpose: the model cites the vendor record memory
    holds (written back in the first run's ledger, absent from this run's), which no ledger
    read of this run returned — the deterministic checks fail it."""
    use_case = registry.use_case("vendor-enrichment")
    store, learned = learned_store(kafka, tmp_path)
    [vendor] = {m["value"] for m in learned.memories if m["attribute"] == "vendor_id"}

    def cites_memorys_vendor(request: ModelRequest) -> AssistantMessage:
        return reply({"business_id": OAKLAND_ENTRY, "existing_vendor_id": vendor,
                      "name": "Blue Bottle Coffee", "account_category": None})  # fmt: skip

    variant = sample("POS BLUE BOTTLE COFFEE 4407 OAKLAND CA")
    with reference_api() as api:  # a fresh ledger: the first run's vendor record is not in it
        asked = run_events(use_case, [variant], FunctionModel(cites_memorys_vendor),
                           settings=kafka, api=api, memory=store)  # fmt: skip
    store.close()
    assert asked.verdicts()[variant["event_id"]] != "pass", asked.outcomes
    assert asked.memories == []  # and what failed teaches nothing


@pytest.mark.kafka
def test_the_directory_is_searched_for_a_near_matchs_name_the_descriptor_does_not_spell(
    kafka: Settings, tmp_path: Path
) -> None:
    """A vendor remembered (say, from a reviewer's approval) under a short descriptor the
    directory search cannot match: its variant's search returns nothing, so code searches the
    directory for the remembered name before the model's one turn, and the model reads the
    entry from that ledger read. (The checks still judge the answer: this descriptor does not
    spell the name, so picking it is not passed on memory's word.)"""
    use_case = registry.use_case("vendor-enrichment")
    learned, t0 = "SQ *SMC 1111 OAKLAND CA", datetime(2026, 9, 1, tzinfo=UTC)
    store = SqliteMemoryStore(tmp_path / "memory.sqlite", FakeHashEmbedder())
    event = sample("SQ *SMC 2222 OAKLAND CA")
    for offset, (attribute, value) in enumerate([
        ("name", "Sweet Maria's Coffee"), ("business_id", "biz-003"),
        (alias_attribute(learned), learned),
    ]):  # fmt: skip
        record = MemoryRecord(
            tenant_id=str(event["tenant_id"]), principal_id="u-1", occurred_at=t0, kind="fact",
            entity_kind="vendor", entity_id="sweet maria's coffee", attribute=attribute,
            value=value, valid_from=t0, recorded_at=t0,
            provenance=Provenance(run_id="run-0", source_topic="vendors.enriched",
                                  source_partition=0, source_offset=offset,
                                  approved_by="reviewer:u-ridgeline-owner"),
        )  # fmt: skip
        store.apply(record.key, record, partition=0, offset=offset)
    seen: list[str] = []

    def reads_the_entry(request: ModelRequest) -> AssistantMessage:
        seen.append(json.dumps([getattr(m, "content", "") for m in request.messages]))
        return reply({"business_id": "biz-003", "existing_vendor_id": None,
                      "name": "Sweet Maria's Coffee", "account_category": None})  # fmt: skip

    with reference_api() as api:
        asked = run_events(use_case, [event], FunctionModel(reads_the_entry),
                           settings=kafka, api=api, memory=store)  # fmt: skip
    store.close()
    [run] = asked.runs
    searches = [json.loads(c["arguments_json"]) for c in run["tool_calls"]
                if c["name"] == "searchDirectory"]  # fmt: skip
    assert searches == [{"query": event["raw_descriptor"]}, {"query": "Sweet Maria's Coffee"}]
    assert len(run["model_calls"]) == 1
    [text] = seen
    assert "biz-003" in text and "a_similar_descriptor_was" in text
