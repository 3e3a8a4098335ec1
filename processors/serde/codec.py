"""Encode records for a topic and decode any record we (or a Confluent client) wrote."""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.validation import ValidationError, validate

from processors.errors import SchemaValidationError, SerdeError
from processors.serde.registry import RegistryClient
from processors.serde.schemas import AvroSchema, SchemaSet

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
_DECODE_ERRORS = (
    EOFError, ValueError, IndexError, KeyError, TypeError, UnicodeDecodeError,
    SchemaResolutionError,
)  # fmt: skip


class AvroCodec:
    """Writes the Confluent wire format when a registry is configured, else single-object
    encoding; reads both. Schemas are parsed once (in :class:`SchemaSet`)."""

    def __init__(self, schemas: SchemaSet, registry: RegistryClient | None = None) -> None:
        self.schemas = schemas
        self.registry = registry

    def encode(self, schema_name: str, datum: dict[str, Any], *, topic: str) -> bytes:
        schema = self.schemas.get(schema_name)
        buffer = io.BytesIO()
        if self.registry is not None:
            schema_id = self.registry.register(f"{topic}-value", schema)
            buffer.write(CONFLUENT_MAGIC + schema_id.to_bytes(4, "big"))
        else:
            buffer.write(SINGLE_OBJECT_MAGIC + schema.fingerprint)
        try:
            schemaless_writer(buffer, schema.parsed, datum)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # The fast path failed: validate to say which field is wrong.
            raise self._invalid(schema_name, schema, datum, exc) from exc
        return buffer.getvalue()

    @staticmethod
    def _invalid(
        schema_name: str, schema: AvroSchema, datum: dict[str, Any], exc: Exception
    ) -> SchemaValidationError:
        try:
            validate(datum, schema.parsed, raise_errors=True)
        except ValidationError as invalid:
            errors = getattr(invalid, "errors", ())
            field = getattr(errors[0], "field", None) if errors else None
            if field:
                field = field.removeprefix(schema_name + ".")
            return SchemaValidationError(f"{schema_name}: {invalid}", field=field)
        return SchemaValidationError(f"{schema_name}: {exc}")

    def decode(self, data: bytes | None, reader_name: str | None = None) -> dict[str, Any]:
        """Decode ``data``; with ``reader_name`` resolve it to that (newer/older) schema."""
        if not data:
            raise SerdeError("empty message value (tombstone or missing payload)")
        writer, body = self._writer_schema(data)
        reader = self.schemas.get(reader_name) if reader_name else writer
        try:
            datum = schemaless_reader(
                io.BytesIO(body), writer.parsed, None if reader is writer else reader.parsed
            )
        except _DECODE_ERRORS as exc:
            raise SerdeError(f"cannot decode {writer.name} payload: {exc}") from exc
        if not isinstance(datum, dict):
            raise SerdeError(f"{writer.name} payload is not a record")
        return datum

    def writer_schema_name(self, data: bytes) -> str:
        return self._writer_schema(data)[0].name

    def _writer_schema(self, data: bytes) -> tuple[AvroSchema, bytes]:
        if data.startswith(SINGLE_OBJECT_MAGIC) and len(data) >= 10:
            schema = self.schemas.by_fingerprint(data[2:10])
            if schema is None:
                raise SerdeError(f"unknown schema fingerprint {data[2:10].hex()}")
            return schema, data[10:]
        if data.startswith(CONFLUENT_MAGIC) and len(data) >= 5:
            if self.registry is None:
                raise SerdeError("Confluent-framed payload but no SCHEMA_REGISTRY_URL configured")
            return self.registry.schema_by_id(int.from_bytes(data[1:5], "big")), data[5:]
        raise SerdeError("payload is neither Avro single-object encoded nor Confluent framed")
