"""Daemons found by entry point or module:attribute; their own topics and schemas merged with
the built-in catalog, with clear errors for a clash or a missing schema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from processors.daemons import registry
from processors.errors import CatalogError, ConfigError
from processors.kafka.clients import Contracts
from processors.scaffold import create
from processors.settings import Settings


def test_the_built_in_daemons_are_registered_by_entry_point() -> None:
    assert {"vendor-enrichment", "client-onboarding", "question-answering"} <= set(registry.names())
    for name in ("vendor-enrichment", "client-onboarding", "question-answering"):
        use_case = registry.use_case(name)
        assert use_case.name == name
        assert use_case.evals is not None and use_case.evals.load()
        assert use_case.samples is not None and use_case.samples.exists()
        assert use_case.redteam is not None


def test_an_unknown_name_lists_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"registered.*vendor-enrichment"):
        registry.use_case("no-such-daemon")


def test_module_attribute_must_be_a_use_case() -> None:
    assert registry.use_case("processors.daemons.vendor_enrichment:USE_CASE").name == (
        "vendor-enrichment"
    )
    with pytest.raises(ConfigError, match="not a UseCase"):
        registry.use_case("processors.daemons.vendor_enrichment:TOOLS")
    with pytest.raises(ConfigError, match="cannot load"):
        registry.use_case("processors.daemons.nothing_here:USE_CASE")


@pytest.fixture
def own(tmp_path: Path) -> Path:
    """The contracts folder of a scaffolded daemon."""
    return create("ledger-notes", tmp_path) / "ledger_notes" / "contracts"


def test_a_daemons_own_topics_and_schemas_are_merged(own: Path) -> None:
    contracts = Contracts.load(Settings(), [own])
    spec = contracts.catalog.get("ledger-notes.requested")
    assert contracts.schemas.get(spec.value_schema).path.parent == own / "schemas"
    assert contracts.catalog.get("vendors.discovered")  # the built-in ones stay


def test_a_topic_defined_twice_names_both_files(own: Path) -> None:
    toml = own / "topics.toml"
    toml.write_text(toml.read_text() + '\n[topics."vendors.discovered"]\nvalue_schema = '
                    '"processdaemons.events.VendorDiscovered"\nkey = ["tenant_id"]\n')  # fmt: skip
    with pytest.raises(CatalogError, match=r"vendors.discovered.*defined twice.*topics\.toml"):
        Contracts.load(Settings(), [own])


def test_a_schema_defined_twice_differently_names_both_files(own: Path) -> None:
    builtin = Settings().schemas_dir / "vendor_discovered.avsc"
    changed = json.loads(builtin.read_text())
    changed["fields"] = changed["fields"][:-1]
    (own / "schemas" / "clash.avsc").write_text(json.dumps(changed))
    with pytest.raises(CatalogError, match=r"VendorDiscovered is defined twice.*clash\.avsc"):
        Contracts.load(Settings(), [own])
    shutil.copy(builtin, own / "schemas" / "clash.avsc")  # the same schema again is fine
    assert Contracts.load(Settings(), [own]).catalog.get("ledger-notes.results")


def test_a_topic_naming_a_missing_schema_names_its_file(own: Path) -> None:
    (own / "schemas" / "result.avsc").unlink()
    with pytest.raises(CatalogError, match=r"topics\.toml: topic 'ledger-notes.results'"):
        Contracts.load(Settings(), [own])
