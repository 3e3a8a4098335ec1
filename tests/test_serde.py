"""Avro encoding: every schema round-trips in both wire formats; bad bytes fail clearly."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_reader
from fastavro.utils import generate_one

from processors.errors import SchemaValidationError, SerdeError
from processors.serde import AvroCodec, SchemaSet
from processors.serde.json_codec import from_json, to_json
from processors.serde.registry import RegistryClient

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = SchemaSet.load(ROOT / "schemas")


@pytest.mark.parametrize("name", SCHEMAS.names())
def test_every_schema_round_trips_single_object_encoding(name: str) -> None:
    codec = AvroCodec(SCHEMAS)
    datum = generate_one(SCHEMAS.get(name).parsed)
    data = codec.encode(name, datum, topic="any")
    assert data[:2] == b"\xc3\x01" and data[2:10] == SCHEMAS.get(name).fingerprint
    decoded = codec.decode(data)
    assert decoded["event_id"] == datum["event_id"]
    assert codec.encode(name, decoded, topic="any") == data  # decode∘encode is the identity


def test_a_plain_avro_reader_decodes_single_object_encoding_with_our_schemas() -> None:
    """What a downstream team with only schemas/ and fastavro does: look up the fingerprint."""
    schema = SCHEMAS.get("processdaemons.events.QuestionAsked")
    datum = generate_one(schema.parsed)
    data = AvroCodec(SCHEMAS).encode(schema.name, datum, topic="q")
    by_fp = {}
    for path in (ROOT / "schemas").glob("*.avsc"):
        from fastavro import parse_schema
        from fastavro.schema import fingerprint, to_parsing_canonical_form

        parsed = parse_schema(json.loads(path.read_text()))
        by_fp[fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO")] = parsed
    plain = schemaless_reader(io.BytesIO(data[10:]), by_fp[data[2:10].hex()], None)
    assert plain == AvroCodec(SCHEMAS).decode(data)


def test_undecodable_bytes_are_a_serde_error() -> None:
    codec = AvroCodec(SCHEMAS)
    for bad in (b"", b"hello", b"\xc3\x01" + b"\x00" * 8 + b"x", b"\x00\x00\x00\x00\x07"):
        with pytest.raises(SerdeError):
            codec.decode(bad)
    fp = SCHEMAS.get("processdaemons.events.QuestionAsked").fingerprint
    with pytest.raises(SerdeError, match="cannot decode"):
        codec.decode(b"\xc3\x01" + fp + b"\x02")


def test_encode_rejects_a_record_the_schema_rejects_naming_the_field() -> None:
    with pytest.raises(SchemaValidationError) as info:
        AvroCodec(SCHEMAS).encode(
            "processdaemons.events.QuestionAsked", {"event_id": 3}, topic="questions.asked"
        )
    assert info.value.field is not None


def test_json_input_errors_name_the_field_path() -> None:
    schema = SCHEMAS.get("processdaemons.outputs.QuestionAnswered").parsed
    good = to_json(generate_one(schema))
    good["figures"] = [{"label": "x", "amount_minor": 5, "currency": "USD", "record_ids": []}]
    assert from_json(schema, good)["figures"][0]["amount_minor"] == 5
    bad = {**good, "figures": [{**good["figures"][0], "amount_minor": "5"}]}
    with pytest.raises(SchemaValidationError) as info:
        from_json(schema, bad)
    assert info.value.field == "figures[0].amount_minor"
    missing = {k: v for k, v in good.items() if k != "tenant_id"}
    with pytest.raises(SchemaValidationError, match="tenant_id: required field is missing"):
        from_json(schema, missing)
    with pytest.raises(SchemaValidationError, match="nope: field is not in the schema"):
        from_json(schema, {**good, "nope": 1})


def test_iso_timestamps_and_dates_are_accepted_from_json() -> None:
    schema = SCHEMAS.get("processdaemons.events.VendorDiscovered").parsed
    datum = from_json(
        schema,
        {
            "event_id": "e", "tenant_id": "t", "principal_id": "p",
            "occurred_at": "2026-07-14T09:30:00Z", "transaction_id": "x",
            "raw_descriptor": "SQ *SHOP", "amount_minor": 100, "transaction_date": "2026-07-13",
        },
    )  # fmt: skip
    assert to_json(datum)["occurred_at"] == "2026-07-14T09:30:00+00:00"
    assert datum["currency"] == "USD"  # the schema default


class _FakeRegistry(BaseHTTPRequestHandler):
    """A Confluent-compatible registry subset over real HTTP: register and fetch by id."""

    schemas: dict[int, str] = {}
    requests: list[str] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(f"POST {self.path}")
        ids = {v: k for k, v in self.schemas.items()}
        schema_id = ids.get(body["schema"]) or len(self.schemas) + 1
        self.schemas[schema_id] = body["schema"]
        self._reply({"id": schema_id})

    def do_GET(self) -> None:
        self.requests.append(f"GET {self.path}")
        schema_id = int(self.path.rsplit("/", 1)[1])
        if schema_id not in self.schemas:
            self.send_response(404)
            self.end_headers()
            return
        self._reply({"schema": self.schemas[schema_id]})

    def _reply(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    _FakeRegistry.schemas = {}
    _FakeRegistry.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_confluent_wire_format_with_a_registry(registry_url: str) -> None:
    name = "processdaemons.system.GuardrailOutcome"
    datum = generate_one(SCHEMAS.get(name).parsed)
    writer = AvroCodec(SCHEMAS, RegistryClient(registry_url))
    first = writer.encode(name, datum, topic="guardrails.outcomes")
    writer.encode(name, datum, topic="guardrails.outcomes")
    assert first[0] == 0 and int.from_bytes(first[1:5], "big") == 1
    assert _FakeRegistry.requests == ["POST /subjects/guardrails.outcomes-value/versions"]
    reader = AvroCodec(SCHEMAS, RegistryClient(registry_url))  # a fresh client: looks the id up
    decoded = reader.decode(first)
    assert writer.encode(name, decoded, topic="guardrails.outcomes") == first
    assert _FakeRegistry.requests[-1] == "GET /schemas/ids/1"
    # The reader also accepts single-object encoding.
    assert reader.decode(AvroCodec(SCHEMAS).encode(name, datum, topic="x")) == decoded


def test_confluent_framed_bytes_without_a_registry_fail_clearly() -> None:
    with pytest.raises(SerdeError, match="no SCHEMA_REGISTRY_URL"):
        AvroCodec(SCHEMAS).decode(b"\x00\x00\x00\x00\x01\x02")
