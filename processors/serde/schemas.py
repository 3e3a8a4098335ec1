"""Every Avro schema in ``schemas/``, parsed once and indexed by full name and fingerprint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from processors.errors import CatalogError


@dataclass(frozen=True)
class AvroSchema:
    """One parsed schema. ``fingerprint`` is the 8-byte CRC-64-AVRO of its canonical form,
    little-endian as the single-object encoding writes it."""

    name: str
    path: Path
    source: dict[str, Any]
    parsed: Any
    canonical: str
    fingerprint: bytes

    @classmethod
    def from_json(cls, source: dict[str, Any], path: Path) -> AvroSchema:
        parsed = parse_schema(source)
        canonical = to_parsing_canonical_form(parsed)
        # fastavro's hex digest is already the little-endian byte order of the spec.
        digest = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        name = (
            source["name"] if "." in source["name"] else f"{source['namespace']}.{source['name']}"
        )
        return cls(name, path, source, parsed, canonical, digest)


class SchemaSet:
    """All schemas of a ``schemas/`` directory (``*.avsc``, one named record per file)."""

    def __init__(self, schemas: list[AvroSchema]) -> None:
        self._by_name = {s.name: s for s in schemas}
        self._by_fingerprint = {s.fingerprint: s for s in schemas}

    @classmethod
    def load(cls, directory: Path) -> SchemaSet:
        schemas = []
        for path in sorted(directory.glob("*.avsc")):
            try:
                source = json.loads(path.read_text())
                schemas.append(AvroSchema.from_json(source, path))
            except (ValueError, KeyError) as exc:
                raise CatalogError(f"{path}: not a valid Avro schema: {exc}") from exc
        if not schemas:
            raise CatalogError(f"no *.avsc schemas in {directory}")
        return cls(schemas)

    def merged(self, other: SchemaSet) -> SchemaSet:
        """Both sets; a schema in both must be the same (by canonical form), else an error
        naming the two files."""
        for schema in other:
            known = self._by_name.get(schema.name)
            if known is not None and known.canonical != schema.canonical:
                raise CatalogError(
                    f"schema {schema.name} is defined twice, differently: {known.path} and "
                    f"{schema.path}"
                )
        return SchemaSet([*self, *(s for s in other if s.name not in self._by_name)])

    def get(self, name: str) -> AvroSchema:
        try:
            return self._by_name[name]
        except KeyError:
            raise CatalogError(
                f"unknown schema {name!r}; known: {', '.join(sorted(self._by_name))}"
            ) from None

    def by_fingerprint(self, digest: bytes) -> AvroSchema | None:
        return self._by_fingerprint.get(digest)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[AvroSchema]:
        return iter(self._by_name.values())
