"""A small client for the Confluent Schema Registry REST API (also served by Karapace,
Redpanda and Apicurio's compatibility API). Results are cached: one request per schema."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
from pydantic import SecretStr

from processors.errors import SerdeError, TransientError
from processors.serde.schemas import AvroSchema

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryClient:
    def __init__(
        self,
        url: str,
        *,
        basic_auth: SecretStr | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        auth = None
        if basic_auth is not None:
            user, _, password = basic_auth.get_secret_value().partition(":")
            auth = httpx.BasicAuth(user, password)
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            auth=auth,
            timeout=timeout,
            transport=transport,
            headers={"Accept": _CONTENT_TYPE},
        )
        self._ids: dict[tuple[str, str], int] = {}
        self._by_id: dict[int, AvroSchema] = {}
        self._lock = threading.Lock()

    def register(self, subject: str, schema: AvroSchema) -> int:
        """The registry id of ``schema`` under ``subject``, registering it if new."""
        key = (subject, schema.canonical)
        with self._lock:
            if key in self._ids:
                return self._ids[key]
        body = self._request(
            "POST",
            f"/subjects/{subject}/versions",
            json={"schemaType": "AVRO", "schema": json.dumps(schema.source)},
        )
        schema_id = int(str(body["id"]))
        with self._lock:
            self._ids[key] = schema_id
            self._by_id[schema_id] = schema
        return schema_id

    def schema_by_id(self, schema_id: int) -> AvroSchema:
        with self._lock:
            if schema_id in self._by_id:
                return self._by_id[schema_id]
        body = self._request("GET", f"/schemas/ids/{schema_id}")
        try:
            schema = AvroSchema.from_json(
                json.loads(str(body["schema"])), path=Path(f"<registry id {schema_id}>")
            )
        except (ValueError, KeyError) as exc:
            raise SerdeError(f"registry schema {schema_id} is not valid Avro: {exc}") from exc
        with self._lock:
            self._by_id[schema_id] = schema
        return schema

    def _request(self, method: str, path: str, **kwargs: object) -> dict[str, object]:
        try:
            response = self._http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            raise TransientError(f"schema registry unreachable: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"schema registry {method} {path}: HTTP {response.status_code}")
        if response.status_code >= 400:
            detail = response.text[:200]
            raise SerdeError(
                f"schema registry {method} {path}: HTTP {response.status_code} {detail}"
            )
        result: dict[str, object] = response.json()
        return result

    def close(self) -> None:
        self._http.close()
