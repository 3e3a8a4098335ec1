"""Memory as tools: ``recall`` and ``facts`` reflected like any tool, the tenant taken from the
call's context (the model cannot name another), results fenced as untrusted data."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from processors.llm.fakes import ScriptedModel, call, reply, tool_calls
from processors.llm.model import ToolResultMessage
from processors.memory.aliases import alias_attribute
from processors.memory.fakes import FakeHashEmbedder
from processors.memory.records import MemoryRecord, Provenance
from processors.memory.sqlite_store import SqliteMemoryStore
from processors.tools.base import CallContext
from processors.tools.memory import memory_tools

sys.path.insert(0, str(Path(__file__).parents[1] / "agent"))
from agent_support import GOOD_ANSWER, VendorProfile, make_agent

T0 = datetime(2026, 9, 1, tzinfo=UTC)
OAKLAND = "SQ *BLUE BOTTLE COF 1234 OAKLAND CA"


def fact(tenant: str, entity: str, attribute: str, value: str, offset: int) -> MemoryRecord:
    return MemoryRecord(
        tenant_id=tenant, principal_id="u-1", occurred_at=T0, kind="fact",
        entity_kind="vendor", entity_id=entity, attribute=attribute, value=value,
        valid_from=T0, recorded_at=T0,
        provenance=Provenance(run_id=f"run-{offset}", source_topic="vendors.enriched",
                              source_partition=0, source_offset=offset,
                              approved_by="guardrails"),
    )  # fmt: skip


def store_with_two_tenants(tmp_path: Path) -> SqliteMemoryStore:
    store = SqliteMemoryStore(tmp_path / "memory.sqlite", FakeHashEmbedder())
    records = [
        fact("t-a", "v-a-01", "name", "Blue Bottle Coffee", 0),
        fact("t-a", "v-a-01", alias_attribute(OAKLAND), OAKLAND, 1),
        fact("t-a", "v-a-01", "website", "https://bluebottlecoffee.com", 3),
        fact("t-b", "v-b-09", alias_attribute(OAKLAND), OAKLAND, 4),
        fact("t-b", "v-b-09", "name", "Blue Bottle Coffee", 2),  # identical, another tenant
    ]
    for offset, record in enumerate(records):
        store.apply(record.key, record, partition=0, offset=offset)
    return store


def ctx(tenant: str) -> CallContext:
    return CallContext(tenant_id=tenant, principal_id="u-1", event_id="e-1", run_id="run-x")


def test_the_model_sees_no_tenant_and_cannot_reach_another(tmp_path: Path) -> None:
    store = store_with_two_tenants(tmp_path)
    tools = memory_tools(store)
    assert sorted(tools) == ["facts", "identify", "recall"]
    for tool in tools.values():
        schema = json.dumps(tool.input_schema)
        assert "tenant" not in schema and "ctx" not in schema
    recalled = asyncio.run(tools["recall"].call({"query": "blue bottle"}, ctx("t-a")))
    entities = {m["entity_id"] for m in recalled["memories"]}
    assert entities == {"v-a-01"}
    # an entity of the other tenant, named outright: the query is filtered by the tenant
    other = asyncio.run(tools["facts"].call({"entity_kind": "vendor", "entity_id": "v-b-09"},
                                            ctx("t-a")))  # fmt: skip
    assert other["memories"] == []
    mine = asyncio.run(tools["facts"].call({"entity_kind": "vendor", "entity_id": "v-b-09"},
                                           ctx("t-b")))  # fmt: skip
    assert {m["value"] for m in mine["memories"]} == {"Blue Bottle Coffee", OAKLAND}
    assert {m["source"] for m in mine["memories"]} == {
        "vendors.enriched/0/2",
        "vendors.enriched/0/4",
    }
    store.close()


def test_an_agent_recalls_through_the_loop_and_reads_the_result_fenced(tmp_path: Path) -> None:
    store = store_with_two_tenants(tmp_path)
    tools = memory_tools(store)
    with ScriptedModel([
        tool_calls(call("recall", {"query": "BLUE BOTTLE COFFEE OAKLAND", "k": 50}, id="r1")),
        reply(GOOD_ANSWER),
    ]) as model:  # fmt: skip
        result = asyncio.run(make_agent(model, list(tools.values())).run(
            {"vendor": "BLUE BOTTLE COFFEE OAKLAND"}, ctx("t-a")))  # fmt: skip
    assert result.output == VendorProfile(**GOOD_ANSWER)
    [evidence] = [e for e in result.evidence if e.tool == "recall"]
    assert {m["entity_id"] for m in evidence.result["memories"]} == {"v-a-01"}
    assert evidence.arguments["k"] == 50  # asked for 50; the tool caps what it returns
    assert len(evidence.result["memories"]) <= 20
    fed = [m for m in model.requests[1].messages if isinstance(m, ToolResultMessage)]
    assert fed[0].content.startswith('<untrusted source="tool:recall" id="r1">')
    store.close()


def test_identify_finds_the_entity_by_its_exact_alias_in_this_tenant_only(tmp_path: Path) -> None:
    store = store_with_two_tenants(tmp_path)
    identify = memory_tools(store)["identify"]
    args = {"entity_kind": "vendor", "alias": "sq *blue  bottle cof 1234 oakland ca"}
    found = asyncio.run(identify.call(args, ctx("t-a")))
    assert found["entity_id"] == "v-a-01"
    assert found["current"] == {"name": "Blue Bottle Coffee",
                                "website": "https://bluebottlecoffee.com"}  # fmt: skip
    assert asyncio.run(identify.call(args, ctx("t-b")))["entity_id"] == "v-b-09"
    assert asyncio.run(identify.call(args, ctx("t-c")))["entity_id"] is None  # nobody's
    variant = {"entity_kind": "vendor", "alias": "SQ *BLUE BOTTLE COF 9999 OAKLAND CA"}
    near = asyncio.run(identify.call(variant, ctx("t-a")))
    assert near["entity_id"] is None and near["current"] == {}
    assert {m["entity_id"] for m in near["similar"]} == {"v-a-01"}  # a look-alike, offered
    # the same alias learned for two entities: not exact any more, the model decides
    twice = fact("t-a", "v-a-02", alias_attribute(OAKLAND), OAKLAND, 5)
    store.apply(twice.key, twice, partition=0, offset=5)
    assert asyncio.run(identify.call(args, ctx("t-a")))["entity_id"] is None
    store.close()
