"""Avro schemas from ``schemas/`` and the two standard wire formats.

- Avro single-object encoding (``C3 01`` + CRC-64-AVRO fingerprint, little-endian) when no
  Schema Registry is configured: any Avro reader with our ``schemas/`` can decode it.
- Confluent wire format (``00`` + 4-byte schema id) against a Confluent-compatible Schema
  Registry when ``SCHEMA_REGISTRY_URL`` is set.

:class:`AvroCodec` writes one of them and reads both.
"""

from processors.serde.codec import AvroCodec
from processors.serde.schemas import SchemaSet

__all__ = ["AvroCodec", "SchemaSet"]
