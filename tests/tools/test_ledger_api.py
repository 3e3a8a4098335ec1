"""The reference ledger API itself, over real HTTP: auth on every route, documents, writes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from processors.reference import LedgerApp, sample_app, serve_in_thread
from processors.reference.data import CLIENTS, directory, transactions
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings

KEY = "ledger-api-test-key"
MINT = HmacCredentialProvider(HmacCredentialSettings(key=SecretStr(KEY))).mint


@pytest.fixture
def api() -> Iterator[tuple[httpx.Client, LedgerApp]]:
    app = sample_app(KEY.encode())
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield client, app


def _concrete(path: str) -> str:
    return path.replace("{tenant_id}", "t-ridgeline").replace("{vendor_id}", "v-r-01")


def test_every_documented_route_requires_a_valid_token(
    api: tuple[httpx.Client, LedgerApp],
) -> None:
    client, _ = api
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    operations = [(m, p) for p, item in doc["paths"].items() for m in item]
    assert len(operations) == 8
    bad = MINT("t-ridgeline", "u-ridgeline-owner").authorization_header()[:-4] + "AAAA"
    for method, path in operations:
        for headers in ({}, {"Authorization": "Bearer not.a.token"}, {"Authorization": bad}):
            response = client.request(method, _concrete(path), headers=headers, json={"name": "x"})
            assert response.status_code == 401, (method, path, headers.keys())


def test_tenant_a_token_never_reads_tenant_b(api: tuple[httpx.Client, LedgerApp]) -> None:
    client, _ = api
    auth = {"Authorization": MINT("t-ridgeline", "u-ridgeline-owner").authorization_header()}
    for path in (
        "/tenants/t-quillstack/transactions",
        "/tenants/t-quillstack/client",
        "/tenants/t-quillstack/vendors/v-q-01",
        "/tenants/t-quillstack/spend",
        "/tenants/t-quillstack/accounts",
    ):
        assert client.get(path, headers=auth).status_code == 403, path
    # a vendor id of tenant B under tenant A's path is simply not found
    assert client.get("/tenants/t-ridgeline/vendors/v-q-01", headers=auth).status_code == 404
    assert client.get("/tenants/t-ridgeline/vendors/v-r-01", headers=auth).status_code == 200


def test_invalid_query_is_422_and_filters_work(api: tuple[httpx.Client, LedgerApp]) -> None:
    client, _ = api
    auth = {"Authorization": MINT("t-brightsmile", "u-brightsmile-admin").authorization_header()}
    base = "/tenants/t-brightsmile/transactions"
    assert client.get(base, params={"date_from": "June"}, headers=auth).status_code == 422
    q2 = client.get(
        base,
        params={"date_from": "2026-04-01", "date_to": "2026-06-30", "category": "5000"},
        headers=auth,
    ).json()
    assert [t["transaction_id"] for t in q2["transactions"]] == ["tx-b-001", "tx-b-005", "tx-b-009"]


def test_sample_data_has_three_tenants_and_a_directory() -> None:
    assert len(CLIENTS) == 3
    per_tenant = {c.tenant_id: 0 for c in CLIENTS}
    for t in transactions():
        per_tenant[t.tenant_id] += 1
    assert all(10 <= n <= 30 for n in per_tenant.values())
    assert {t.posted_on.month for t in transactions()} >= {4, 5, 6, 7, 8, 9}
    entries = directory()
    assert len(entries) >= 20 and all(len(b.mcc) == 4 and b.mcc.isdigit() for b in entries)
