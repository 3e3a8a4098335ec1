"""The vendor's values are copied by code from the records the model chose (pure)."""

from __future__ import annotations

from processors.daemons.vendor_enrichment.models import VendorChoice
from processors.daemons.vendor_enrichment.resolve import CHOSEN, COPIED, profile, resolve
from processors.tools.evidence import ToolEvidence

DIRECTORY = ToolEvidence("searchDirectory", {"query": "SQ *BLUE BOTTLE"}, {"results": [
    {"business_id": "biz-001", "name": "Blue Bottle Coffee", "website": "https://bb.example",
     "phone": "510-555-0101", "address": "300 Webster St", "city": "Oakland",
     "hours": "Mon-Sun 7:00-17:00", "mcc": "5814"},
    {"business_id": "biz-003", "name": "Sweet Maria's", "website": "https://sm.example",
     "phone": None, "address": "1115 21st St", "city": "Oakland", "hours": "", "mcc": "54x9"},
]})  # fmt: skip
VENDORS = ToolEvidence("listVendors", {"name": "BLUE"}, {"vendors": [
    {"vendor_id": "v-r-02", "name": "Blue Bottle", "website": None, "phone": "510-555-0999",
     "address": None, "mcc": "5814", "default_category": "6600"},
]})  # fmt: skip
BOOKED = ToolEvidence("listTransactions", {}, {"transactions": [{"category": "6900"}]})
FAILED = ToolEvidence("searchDirectory", {"query": "x"}, None, "tool_error: 503")


def choice(**values: str | None) -> VendorChoice:
    base = {"business_id": None, "existing_vendor_id": None, "name": None,
            "account_category": None}  # fmt: skip
    return VendorChoice.model_validate({**base, **values})


def test_the_chosen_entry_gives_every_value_the_model_never_writes() -> None:
    found = profile(choice(business_id="biz-001", name="Blue Bottle Coffee",
                           account_category="6600"), [DIRECTORY, BOOKED])  # fmt: skip
    assert (found.website, found.phone, found.address) == (
        "https://bb.example",
        "510-555-0101",
        "300 Webster St",
    )
    assert (found.opening_hours, found.merchant_category_code) == ("Mon-Sun 7:00-17:00", "5814")
    assert found.confidence("website") == found.confidence("name") == COPIED
    assert found.confidence("account_category") == CHOSEN  # picked, not booked before
    assert found.business_id == "biz-001" and found.vendor_id is None


def test_an_existing_vendor_record_fills_what_the_directory_left_unknown() -> None:
    found = profile(choice(business_id="biz-003", existing_vendor_id="v-r-02"),
                    [DIRECTORY, VENDORS])  # fmt: skip
    assert found.website == "https://sm.example" and found.phone == "510-555-0999"
    assert found.opening_hours is None and found.confidence("opening_hours") == 0.0
    assert found.merchant_category_code == "5814"  # the entry's "54x9" is no MCC: the record's
    assert found.name == "Sweet Maria's"  # the model named none: the entry's name
    assert (found.account_category, found.confidence("account_category")) == ("6600", COPIED)


def test_an_id_no_tool_returned_copies_nothing_and_is_kept_for_the_checks() -> None:
    for evidence in ([DIRECTORY], [FAILED], []):
        found = profile(choice(business_id="biz-099", name="ZVKRT"), evidence)
        assert found.business_id == "biz-099"  # the checks report it (entry_returned)
        assert all(found.value(f) is None for f in ("website", "phone", "address"))
        assert (found.name, found.confidence("name")) == ("ZVKRT", CHOSEN)  # off the descriptor


def test_unknown_words_mean_nothing_was_chosen() -> None:
    found = profile(choice(business_id="unknown", name="N/A", account_category=""),
                    [DIRECTORY])  # fmt: skip
    assert found.business_id is None and found.name is None and found.account_category is None
    assert found.confidence("name") == 0.0


CHART = ToolEvidence("listAccounts", {}, {"accounts": [
    {"code": "6600", "name": "Meals", "type": "expense"},
    {"code": "6500", "name": "Software and subscriptions", "type": "expense"},
]})  # fmt: skip


def test_an_account_named_or_coded_as_the_chart_writes_it_is_its_code() -> None:
    for named in (
        "Software and subscriptions",
        "software  and Subscriptions",
        "6500",
        "6500 Software and subscriptions",
        "6500 | Software and subscriptions",
    ):
        found = profile(choice(account_category=named), [CHART])
        assert found.account_category == "6500", named
    # a name the chart lacks stays as given, so the account_in_chart check reports it
    assert profile(choice(account_category="Travel"), [CHART]).account_category == "Travel"
    assert profile(choice(account_category="9999 Meals"), [CHART]).account_category == "9999 Meals"
    # no chart read in this run: nothing to look up in
    assert profile(choice(account_category="Meals"), []).account_category == "Meals"


CHAIN = ToolEvidence("searchDirectory", {"query": "SQ *BLUE BOTTLE COF 5678 SAN FRANCISCO CA"},
                     {"results": [
    {"business_id": "biz-001", "name": "Blue Bottle Coffee", "city": "Oakland", "phone": "510"},
    {"business_id": "biz-002", "name": "Blue Bottle Coffee - Mint Plaza", "city": "San Francisco",
     "phone": "415"},
    {"business_id": "biz-003", "name": "Sweet Maria's Coffee", "city": "Oakland", "phone": "511"},
]})  # fmt: skip


def test_the_branch_in_the_city_the_descriptor_names_replaces_another_branch() -> None:
    san_francisco = {"raw_descriptor": "SQ *BLUE BOTTLE COF 5678 SAN FRANCISCO CA"}
    found = resolve(choice(business_id="biz-001"), [CHAIN], san_francisco)
    assert (found.business_id, found.phone) == ("biz-002", "415")  # the Mint Plaza entry's
    # the descriptor's own city: the model's choice stands
    oakland = {"raw_descriptor": "SQ *BLUE BOTTLE COF 1234 OAKLAND CA"}
    assert resolve(choice(business_id="biz-001"), [CHAIN], oakland).business_id == "biz-001"
    # another business in the named city is no branch of this one: the checks judge it
    assert resolve(choice(business_id="biz-003"), [CHAIN], san_francisco).business_id == "biz-003"
    # no city named, or an id no result has: unchanged
    plain = {"raw_descriptor": "SQ *BLUE BOTTLE COF"}
    assert resolve(choice(business_id="biz-001"), [CHAIN], plain).business_id == "biz-001"
    assert resolve(choice(business_id="biz-099"), [CHAIN], san_francisco).business_id == "biz-099"


def test_a_name_read_off_the_descriptor_loses_the_payment_processors_prefix() -> None:
    named = (("PADDLE.NET* ZVKRT LABS", "ZVKRT LABS"), ("SQ *BLUE BOTTLE", "BLUE BOTTLE"),
             ("TST* TWO RIVERS", "TWO RIVERS"), ("ZVKRT", "ZVKRT"), ("AT&T", "AT&T"))  # fmt: skip
    for written, published in named:
        assert profile(choice(name=written), []).name == published
    # a record's name is copied as the record writes it, prefix or not
    entry = ToolEvidence("searchDirectory", {"query": "x"}, {"results": [
        {"business_id": "biz-9", "name": "SQ *Odd Name", "city": "Oakland"}]})  # fmt: skip
    assert profile(choice(business_id="biz-9", name="SQ *X"), [entry]).name == "SQ *Odd Name"
