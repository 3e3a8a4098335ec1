"""What the vendor-enrichment agent decides, and the profile code makes of it.

The model answers a :class:`VendorChoice`: which directory entry and which existing vendor
record are this vendor (by id), its name, and the expense account — the judgement. Code
(:mod:`.resolve`) copies every other value from the records it chose into a
:class:`VendorProfile`, each value with its confidence; a model never writes a website, phone
or address, so it can neither mistype nor invent one, and it writes a quarter of the tokens.
:mod:`.output` turns the cited ids into the record's ``sources`` and the checks verify each
of them against what the tools really returned. The vendor id comes from the daemon's
write-back (:mod:`.write`), made only once the result passed the guardrails.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

# What small models write instead of null; each means "not established".
_UNKNOWN_WORDS = frozenset({"", "unknown", "null", "none", "n/a", "na", "not found", "-"})
_CONFIDENCE = Field(ge=0.0, le=1.0, description="0 to 1; 0 when the value is null.")

VALUE_FIELDS = (
    "name",
    "website",
    "phone",
    "address",
    "opening_hours",
    "merchant_category_code",
    "account_category",
)
"""The enriched attributes, in the order of the output schema."""


def _null_if_unknown(value: Any) -> Any:
    """``"unknown"``, ``"N/A"``, ``""`` … all mean null: never a value to publish."""
    if isinstance(value, str):
        value = value.strip()
        if value.casefold() in _UNKNOWN_WORDS:
            return None
    return value


BUSINESS_ID = (
    "business_id of the searchDirectory result that is this vendor; "
    "null if no result clearly matches."
)
EXISTING_VENDOR_ID = (
    "vendor_id of this tenant's existing vendor record (from listVendors) "
    "for the same vendor; null if there is none."
)


class VendorChoice(BaseModel):
    """What the model decides about one bank descriptor: records by id, a name, an account."""

    model_config = ConfigDict(extra="forbid")

    business_id: str | None = Field(description=BUSINESS_ID)
    existing_vendor_id: str | None = Field(description=EXISTING_VENDOR_ID)
    name: str | None = Field(
        description="The vendor's name: the matching record's name, else read from the "
        "descriptor, e.g. 'Blue Bottle Coffee'."
    )
    account_category: str | None = Field(
        description="Code of the expense account from listAccounts that fits this vendor, "
        "e.g. '6600'."
    )

    @field_validator("business_id", "existing_vendor_id", "name", "account_category", mode="before")
    @classmethod
    def _unknown_is_null(cls, value: Any) -> Any:
        return _null_if_unknown(value)


class VendorProfile(BaseModel):
    """The vendor behind one bank descriptor, as established from tool results only: what
    the checks check, the daemon publishes and the write-back writes."""

    model_config = ConfigDict(extra="forbid")

    business_id: str | None = Field(description=BUSINESS_ID)
    existing_vendor_id: str | None = Field(description=EXISTING_VENDOR_ID)
    name: str | None = Field(description="Normalized vendor name, e.g. 'Blue Bottle Coffee'.")
    name_confidence: float = _CONFIDENCE
    website: str | None = Field(description="Website exactly as a tool returned it, or null.")
    website_confidence: float = _CONFIDENCE
    phone: str | None = Field(description="Phone exactly as a tool returned it, or null.")
    phone_confidence: float = _CONFIDENCE
    address: str | None = Field(description="Street address as a tool returned it, or null.")
    address_confidence: float = _CONFIDENCE
    opening_hours: str | None = Field(description="Opening hours as returned, or null.")
    opening_hours_confidence: float = _CONFIDENCE
    merchant_category_code: str | None = Field(
        pattern=r"^[0-9]{4}$",  # llama.cpp grammars do not know \d
        description="The 'mcc' of the matching directory result, copied; null if none matched.",
    )
    merchant_category_code_confidence: float = _CONFIDENCE
    account_category: str | None = Field(
        description="Account code from listAccounts that fits this vendor, e.g. '6600'; or null."
    )
    account_category_confidence: float = _CONFIDENCE
    # Filled by the daemon's write-back (after the guardrails), never by the model: not in
    # the schema the model is shown.
    vendor_id: SkipJsonSchema[str | None] = None

    @field_validator(
        "business_id",
        "existing_vendor_id",
        "vendor_id",
        *VALUE_FIELDS,
        mode="before",
    )
    @classmethod
    def _unknown_is_null(cls, value: Any) -> Any:
        return _null_if_unknown(value)

    def value(self, field: str) -> str | None:
        """The value of one of :data:`VALUE_FIELDS`."""
        result: str | None = getattr(self, field)
        return result

    def confidence(self, field: str) -> float:
        """The confidence of one of :data:`VALUE_FIELDS` (0 when the value is unknown)."""
        if self.value(field) is None:
            return 0.0
        result: float = getattr(self, f"{field}_confidence")
        return result
