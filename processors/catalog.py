"""Topics as data: ``topics/topics.toml`` read into typed :class:`TopicSpec` values.

The catalog is checked against the schemas when loaded: every topic must name a schema that
exists, so a typo fails at start-up rather than at the first message.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from processors.errors import CatalogError, SchemaValidationError
from processors.serde.schemas import SchemaSet


class TopicSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    partitions: int = Field(ge=1)
    replication_factor: int = Field(ge=1)
    retention_ms: int
    cleanup_policy: Literal["delete", "compact", "compact,delete"]
    key_schema: Literal["string"]
    key: tuple[str, ...] = Field(min_length=1)
    value_schema: str
    producers: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()

    def key_for(self, record: Mapping[str, Any]) -> bytes:
        """The message key: the ``key`` fields of ``record`` joined by ``:``."""
        parts = []
        for field in self.key:
            value = record.get(field)
            if value is None or value == "":
                raise SchemaValidationError(
                    f"{field}: key field for topic {self.name} is missing", field=field
                )
            parts.append(str(value))
        return ":".join(parts).encode()

    def configs(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}


class Catalog:
    """All topics, by name. ``prefix`` (tests, shadow runs) is prepended to physical names."""

    def __init__(
        self, topics: list[TopicSpec], prefix: str = "", sources: Mapping[str, Path] | None = None
    ) -> None:
        self.prefix = prefix
        self._topics = {t.name: t for t in topics}
        self._sources = dict(sources or {})  # topic -> the topics.toml defining it

    @classmethod
    def load(cls, directory: Path, schemas: SchemaSet, prefix: str = "") -> Catalog:
        path = directory / "topics.toml"
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CatalogError(f"{path}: {exc}") from exc
        defaults = data.get("defaults", {})
        topics = []
        for name, body in data.get("topics", {}).items():
            try:
                topic = TopicSpec.model_validate({**defaults, **body, "name": name})
            except ValidationError as exc:
                raise CatalogError(f"{path}: topic {name!r}: {exc}") from exc
            try:
                schemas.get(topic.value_schema)
            except CatalogError as exc:
                raise CatalogError(f"{path}: topic {name!r}: {exc}") from None
            topics.append(topic)
        return cls(topics, prefix, {t.name: path for t in topics})

    def merged(self, other: Catalog) -> Catalog:
        """Both catalogs' topics; a topic defined in both is an error naming the two files."""
        for name in other._topics:
            if name in self._topics:
                raise CatalogError(
                    f"topic {name!r} is defined twice: in {self._sources.get(name, '?')} and "
                    f"in {other._sources.get(name, '?')}"
                )
        return Catalog([*self, *other], self.prefix, {**self._sources, **other._sources})

    def get(self, name: str) -> TopicSpec:
        """A topic by logical name (or by physical name, with the prefix)."""
        logical = name.removeprefix(self.prefix) if self.prefix else name
        try:
            return self._topics[logical]
        except KeyError:
            raise CatalogError(
                f"unknown topic {name!r}; known topics: {', '.join(sorted(self._topics))}"
            ) from None

    def physical(self, name: str) -> str:
        return self.prefix + self.get(name).name

    def __iter__(self) -> Iterator[TopicSpec]:
        return iter(self._topics.values())

    def __len__(self) -> int:
        return len(self._topics)
