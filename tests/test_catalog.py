"""Topics and schemas are data, and they agree with each other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processors.catalog import Catalog
from processors.errors import CatalogError, SchemaValidationError
from processors.serde import SchemaSet

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = SchemaSet.load(ROOT / "schemas")
CATALOG = Catalog.load(ROOT / "topics", SCHEMAS)


def test_every_topic_names_an_existing_schema_and_every_schema_is_used() -> None:
    used = {t.value_schema for t in CATALOG}
    assert used <= set(SCHEMAS.names())
    assert set(SCHEMAS.names()) - used == set(), "schemas no topic uses"


def test_every_daemon_input_has_a_dead_letter_topic() -> None:
    consumers = {c for t in CATALOG for c in t.consumers if not c.startswith(("downstream", "`"))}
    assert consumers, "no daemon consumes anything"
    for daemon in consumers:
        dlq = CATALOG.get(f"{daemon}.dlq")
        assert dlq.value_schema == "processdaemons.system.DeadLetter"


def test_every_record_carries_the_common_fields_and_no_credential() -> None:
    for schema in SCHEMAS:
        names = {f["name"] for f in schema.source["fields"]}
        assert {"event_id", "tenant_id", "occurred_at", "principal_id"} <= names, schema.name
        credential = re.compile(r"(^|_)(token|secret|password|credential|api_key)$")
        assert not {n for n in names if credential.search(n)}, schema.name
        assert all(f.get("doc") for f in schema.source["fields"]), (
            f"undocumented field in {schema.name}"
        )


def test_keys_are_built_from_record_fields() -> None:
    topic = CATALOG.get("clients.created")
    assert topic.key_for({"tenant_id": "t1", "client_id": "c9"}) == b"t1:c9"
    with pytest.raises(SchemaValidationError, match="client_id"):
        topic.key_for({"tenant_id": "t1"})


def test_unknown_topic_and_unknown_schema_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="unknown topic 'nope'"):
        CATALOG.get("nope")
    (tmp_path / "topics.toml").write_text(
        '[topics.x]\npartitions=1\nreplication_factor=1\nretention_ms=1\ncleanup_policy="delete"\n'
        'key_schema="string"\nkey=["tenant_id"]\nvalue_schema="no.such.Schema"\n'
    )
    with pytest.raises(CatalogError, match=r"no\.such\.Schema"):
        Catalog.load(tmp_path, SCHEMAS)


def test_prefix_maps_logical_to_physical_names() -> None:
    prefixed = Catalog(list(CATALOG), prefix="test1.")
    assert prefixed.physical("daemons.runs") == "test1.daemons.runs"
    assert prefixed.get("test1.daemons.runs").name == "daemons.runs"
