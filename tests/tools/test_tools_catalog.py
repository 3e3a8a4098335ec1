"""The allowlisted catalogue, its rendering and the ``daemons tools`` command."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from processors.cli import main
from processors.errors import ConfigError
from processors.llm.model import ToolSpec
from processors.reference import sample_app, serve_in_thread
from processors.tools.catalog import ToolCatalog, render_catalog
from processors.tools.reflection import reflect


def lookup_vendor(name: str) -> dict[str, str]:
    """Look a vendor up by name."""
    return {"name": name}


def count_things(limit: int = 3) -> int:
    """Count things."""
    return limit


TOOLS = reflect([lookup_vendor, count_things])


def test_nothing_is_exposed_unless_allowlisted() -> None:
    assert len(ToolCatalog.build([TOOLS], [])) == 0
    catalog = ToolCatalog.build([TOOLS], ["count_things"])
    assert catalog.names == ("count_things",)
    assert "lookup_vendor" not in catalog
    spec = catalog.specs()[0]
    assert isinstance(spec, ToolSpec)
    assert spec.name == "count_things" and spec.description == "Count things."
    assert spec.parameters["properties"]["limit"]["default"] == 3


def test_missing_and_ambiguous_names_are_config_errors() -> None:
    with pytest.raises(
        ConfigError, match=r"not found: nope; available: count_things, lookup_vendor"
    ):
        ToolCatalog.build([TOOLS], ["lookup_vendor", "nope"])
    with pytest.raises(ConfigError, match="more than one source"):
        ToolCatalog.build([TOOLS, reflect([count_things])], ["count_things"])


def test_render_shows_descriptions_and_schemas() -> None:
    text = render_catalog(ToolCatalog.build([TOOLS], ["lookup_vendor"]))
    assert text.startswith("lookup_vendor\n  Look a vendor up by name.")
    assert '"required": [\n' in text and "output schema:" in text
    assert "nothing is exposed" in render_catalog(ToolCatalog([]))


@pytest.fixture
def base_url() -> Iterator[str]:
    with serve_in_thread(sample_app(b"cli-test-key")) as url:
        yield url


def test_cli_lists_operations_and_renders_allowlisted_tools(
    base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tools", "--openapi", f"{base_url}/openapi.json"]) == 0
    listed = capsys.readouterr().out
    assert "  upsertVendor\n" in listed and "  searchDirectory\n" in listed
    assert (
        main(
            [
                "tools",
                "--openapi",
                f"{base_url}/openapi.json",
                "--allow",
                "searchDirectory,getVendor",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("searchDirectory\n") and "\n\ngetVendor\n" in out
    assert '"mcc"' in out


def test_cli_reports_an_unknown_allowlisted_operation(
    base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["tools", "--openapi", f"{base_url}/openapi.json", "--allow", "dropTables"])
    assert code == 2
    assert "dropTables" in capsys.readouterr().err


def test_cli_prints_a_daemons_allowlisted_catalog(
    base_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAEMONS_TOOLS_URL", base_url)
    assert main(["tools", "vendor-enrichment"]) == 0
    out = capsys.readouterr().out
    assert "upsertVendor" in out and "searchDirectory" in out
    assert "aggregateSpend" not in out  # not on this daemon's allowlist
    assert main(["tools", "vendor-enricher"]) == 2
    assert "unknown daemon 'vendor-enricher'" in capsys.readouterr().err
