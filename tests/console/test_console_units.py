"""The console's pure parts: the reviewers file, the correction form's reading of what was
typed (amounts in major units), and how values read on a page."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from console_support import TOKENS, write_reviewers

from processors.console.forms import form_fields, grouped, parse
from processors.console.reviewers import Reviewers, hash_token, new_token
from processors.console.views import input_rows, money, when
from processors.errors import ConfigError, DaemonsError
from processors.guardrails.corrections import editable_fields
from processors.kafka.clients import Contracts
from processors.settings import Settings


def test_a_reviewer_is_found_by_token_and_sees_only_the_granted_tenants(tmp_path: Path) -> None:
    reviewers = Reviewers.load(write_reviewers(tmp_path / "r.toml"))
    anna = reviewers.authenticate(TOKENS["u-anna"])
    assert anna is not None and anna.id == "u-anna"
    assert anna.may_see("t-ridgeline") and not anna.may_see("t-quillstack")
    assert reviewers.authenticate("anna-token") is None
    assert reviewers.authenticate(TOKENS["u-anna"] + " ") is None
    assert reviewers.get("u-bert") is not None and reviewers.get("nobody") is None


def test_new_tokens_are_random_and_only_their_hash_is_kept() -> None:
    first, second = new_token(), new_token()
    assert first != second and len(first) >= 43
    assert hash_token(first) != first and len(hash_token(first)) == 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[reviewer]]\nid = "u-a"\ntoken = "s3cr3t-value"\ntenants = ["t"]\n', "plain text"),
        ('[[reviewer]]\nid = "u-a"\ntoken_sha256 = "abc"\ntenants = ["t"]\n', "64 hex"),
        (f'[[reviewer]]\nid = "u-a"\ntoken_sha256 = "{"a" * 64}"\ntenants = []\n', "tenants"),
        (f'[[reviewer]]\nid = "u a"\ntoken_sha256 = "{"a" * 64}"\ntenants = ["t"]\n', "id"),
        (
            f'[[reviewer]]\nid = "u-a"\ntoken_sha256 = "{"a" * 64}"\ntenants = ["t"]\n'
            f'[[reviewer]]\nid = "u-a"\ntoken_sha256 = "{"b" * 64}"\ntenants = ["t"]\n',
            "appears twice",
        ),
        ("title = 'no reviewers'\n", "no [[reviewer]]"),
        ("[[reviewer\n", "not TOML"),
    ],
)
def test_a_bad_reviewers_file_is_refused_naming_the_file_and_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "reviewers.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        Reviewers.load(path)
    assert str(path) in str(caught.value)
    assert "s3cr3t-value" not in str(caught.value)  # a token is never repeated in an error


def _question_fields() -> list:  # type: ignore[type-arg]
    import json

    from processors.testing import held as seed

    contracts = Contracts.load(Settings())
    schema = contracts.schemas.get(contracts.catalog.get("questions.answered").value_schema).parsed
    output = json.loads(seed.question("t-ridgeline", 1).held["output_json"])
    return form_fields(editable_fields(schema, output), output)


def test_amounts_are_typed_in_major_units_with_their_currency() -> None:
    fields = {f.field.name: f for f in _question_fields()}
    amount = fields["figures[0].amount_minor"]
    assert (amount.widget, amount.text, amount.currency) == ("money", "5605.50", "USD")
    assert amount.shown == "USD 5,605.50"
    values, errors = parse({amount.input_name: "5,100.10"}, [amount])
    assert values == {"figures[0].amount_minor": 510010} and errors == []
    for typed, message in (("12.345", "at most 2 decimal places"), ("lots", "not an amount"),
                           ("", "a value is required")):  # fmt: skip
        values, errors = parse({amount.input_name: typed}, [amount])
        assert values == {} and message in errors[0].message


def test_booleans_enums_and_nulls_are_read_as_their_types() -> None:
    fields = {f.field.name: f for f in _question_fields()}
    can, reason = fields["can_answer"], fields["reason"]
    values, errors = parse({can.input_name: "false", reason.input_name: ""}, [can, reason])
    assert values == {"can_answer": False, "reason": None} and errors == []
    _, errors = parse({can.input_name: "maybe"}, [can])
    assert errors[0].message == "choose yes or no"


def test_fields_are_grouped_per_top_level_field_and_list_item() -> None:
    groups = {g.label: [f.leaf for f in g.fields] for g in grouped(_question_fields())}
    assert groups["figures 1"] == ["label", "amount (USD)", "currency"]
    assert groups["answer"] == ["answer"]


def test_dates_and_amounts_read_as_an_accountant_writes_them() -> None:
    assert when("2026-08-04T09:30:00+00:00") == "4 Aug 2026, 09:30 UTC"
    assert when(dt.date(2026, 8, 4)) == "4 Aug 2026"
    assert money(-225050, "usd") == "\u2212USD 2,250.50"
    assert money(5000, "JPY") == "JPY 5,000"
    rows = input_rows({"event_id": "e", "amount_minor": 2250, "currency": "USD",
                       "transaction_date": "2026-08-04", "raw_descriptor": "SQ *X"})  # fmt: skip
    assert rows == [("amount", "USD 22.50", True), ("transaction date", "4 Aug 2026", False),
                    ("raw descriptor", "SQ *X", False)]  # fmt: skip


class _BrokerDown:
    """A review source whose every read fails as a broker that does not answer."""

    def queue(self) -> list:  # type: ignore[type-arg]
        raise DaemonsError("daemons.feedback: not at the end after 30s")


def test_a_broker_that_does_not_answer_is_a_503_page_not_a_crash(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from processors.console import ConsoleConfig, create_app

    config = ConsoleConfig(Reviewers.load(write_reviewers(tmp_path / "r.toml")), "k" * 32)
    client = TestClient(create_app(config, _BrokerDown()))  # type: ignore[arg-type]
    page = client.get("/held", headers={"Authorization": f"Bearer {TOKENS['u-anna']}"})
    assert page.status_code == 503 and "did not answer" in page.text
    assert "not at the end" not in page.text  # the broker's detail stays in the log
