"""Memory records: their keys, their checks, and the Avro round trip through the codec."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from processors.kafka.clients import Contracts
from processors.memory.records import SCHEMA, TOPIC, MemoryRecord
from processors.settings import Settings
from processors.testing.memory import at, episode, fact, provenance


def test_every_version_of_a_fact_has_its_own_key_and_the_catalog_builds_the_same() -> None:
    contracts = Contracts.load(Settings())
    old = fact("t1", "acme", "phone", "1", at(1))
    new = fact("t1", "acme", "phone", "2", at(2))
    assert old.key != new.key
    assert old.key.startswith("t1:vendor:acme:phone:")
    assert contracts.catalog.get(TOPIC).key_for(old.to_avro()) == old.key.encode()
    assert contracts.catalog.get(TOPIC).cleanup_policy == "compact"


def test_records_survive_the_avro_codec() -> None:
    codec = Contracts.load(Settings()).codec
    for record in (
        fact("t1", "acme", "phone", "1", at(1), valid_to=at(3)),
        episode("t1", "q-1", "what is my bank", '{"answer": "X"}', run_id="r1", when=at(2)),
    ):
        data = codec.encode(SCHEMA, record.to_avro(), topic=TOPIC)
        assert MemoryRecord.from_avro(codec.decode(data)) == record


def test_a_fact_needs_a_value_and_an_aware_time() -> None:
    good = fact("t1", "acme", "phone", "1", at(1))
    with pytest.raises(ValidationError):
        MemoryRecord.model_validate({**good.model_dump(), "value": None})
    with pytest.raises(ValidationError):
        MemoryRecord.model_validate({**good.model_dump(), "valid_from": datetime(2026, 1, 1)})
    with pytest.raises(ValidationError):
        MemoryRecord.model_validate({**good.model_dump(), "valid_to": at(1)})


def test_only_the_guardrails_or_a_named_reviewer_approve() -> None:
    assert provenance(approved_by="reviewer:alice").approved_by == "reviewer:alice"
    for bad in ("model", "reviewer:", "", "guardrails "):
        with pytest.raises(ValidationError):
            provenance(approved_by=bad)


def test_a_decoded_memory_id_must_match_its_record() -> None:
    datum = fact("t1", "acme", "phone", "1", at(1)).to_avro()
    with pytest.raises(ValueError, match="memory_id"):
        MemoryRecord.from_avro({**datum, "memory_id": "vendor:evil:phone:1"})
