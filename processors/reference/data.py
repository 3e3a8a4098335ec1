"""Sample books for three tenants and a shared business directory.

Phone numbers use the fictional 555-01xx range; small local shops are invented and use
``.example`` websites. Dates fall in Q2/Q3 2026.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from processors.reference.models import Account, Business, Client, Role, Transaction, Vendor

_MCC = {
    "4814": "Telecommunication services",
    "4816": "Computer network/information services",
    "4900": "Utilities - electric, gas, water, sanitary",
    "5047": "Medical, dental, ophthalmic and hospital equipment and supplies",
    "5085": "Industrial supplies",
    "5251": "Hardware stores",
    "5300": "Wholesale clubs",
    "5499": "Miscellaneous food stores - specialty markets",
    "5532": "Automotive tire stores",
    "5734": "Computer software stores",
    "5812": "Eating places and restaurants",
    "5814": "Fast food restaurants",
    "5943": "Stationery, office and school supply stores",
    "5983": "Fuel dealers (non-automotive)",
    "5992": "Florists",
    "6513": "Real estate agents and managers - rentals",
    "7338": "Quick copy, reproduction and blueprinting services",
    "7372": "Computer programming, data processing and integrated systems design",
    "7399": "Business services",
    "8071": "Medical and dental laboratories",
}

# id, name, website, phone, address, city, region, hours, mcc
_DIRECTORY = [
    (
        "biz-001",
        "Blue Bottle Coffee",
        "https://bluebottlecoffee.com",
        "510-555-0101",
        "300 Webster St",
        "Oakland",
        "CA",
        "Mon-Sun 7:00-17:00",
        "5814",
    ),
    (
        "biz-002",
        "Blue Bottle Coffee - Mint Plaza",
        "https://bluebottlecoffee.com",
        "415-555-0102",
        "66 Mint St",
        "San Francisco",
        "CA",
        "Mon-Fri 7:00-16:00",
        "5814",
    ),
    (
        "biz-003",
        "Sweet Maria's Coffee",
        "https://www.sweetmarias.com",
        "510-555-0103",
        "1115 21st St",
        "Oakland",
        "CA",
        "Mon-Fri 9:00-17:00",
        "5499",
    ),
    (
        "biz-004",
        "Uline",
        "https://www.uline.com",
        "800-555-0104",
        "12575 Uline Dr",
        "Pleasant Prairie",
        "WI",
        "Mon-Fri 7:00-20:00",
        "5085",
    ),
    (
        "biz-005",
        "Pacific Power",
        "https://www.pacificpower.net",
        "888-555-0105",
        "825 NE Multnomah St",
        "Portland",
        "OR",
        None,
        "4900",
    ),
    (
        "biz-006",
        "Les Schwab Tire Center",
        "https://www.lesschwab.com",
        "541-555-0106",
        "20 SE 3rd St",
        "Bend",
        "OR",
        "Mon-Fri 8:00-18:00, Sat 8:00-17:00",
        "5532",
    ),
    (
        "biz-007",
        "Sisters Feed & Supply",
        "https://sistersfeed.example",
        "541-555-0107",
        "181 W Hood Ave",
        "Sisters",
        "OR",
        "Mon-Sat 8:00-18:00",
        "5999",
    ),
    (
        "biz-008",
        "High Desert Propane",
        "https://highdesertpropane.example",
        "541-555-0108",
        "51470 Huntington Rd",
        "La Pine",
        "OR",
        "Mon-Fri 8:00-16:30",
        "5983",
    ),
    (
        "biz-009",
        "Amazon Web Services",
        "https://aws.amazon.com",
        "206-555-0109",
        "410 Terry Ave N",
        "Seattle",
        "WA",
        None,
        "4816",
    ),
    (
        "biz-010",
        "GitHub",
        "https://github.com",
        "415-555-0110",
        "88 Colin P Kelly Jr St",
        "San Francisco",
        "CA",
        None,
        "5734",
    ),
    (
        "biz-011",
        "Slack Technologies",
        "https://slack.com",
        "415-555-0111",
        "415 Mission St",
        "San Francisco",
        "CA",
        None,
        "7372",
    ),
    (
        "biz-012",
        "Gusto",
        "https://gusto.com",
        "415-555-0112",
        "525 20th St",
        "San Francisco",
        "CA",
        None,
        "7399",
    ),
    (
        "biz-013",
        "WeWork 1 Sansome",
        "https://www.wework.com",
        "415-555-0113",
        "1 Sansome St",
        "San Francisco",
        "CA",
        "Mon-Fri 8:30-17:30",
        "6513",
    ),
    (
        "biz-014",
        "Zoom Video Communications",
        "https://zoom.us",
        "888-555-0114",
        "55 Almaden Blvd",
        "San Jose",
        "CA",
        None,
        "4814",
    ),
    (
        "biz-015",
        "Two Rivers Diner",
        "https://tworiversdiner.example",
        "360-555-0115",
        "212 Sussex Ave W",
        "Tenino",
        "WA",
        "Tue-Sun 6:30-14:00",
        "5812",
    ),
    (
        "biz-016",
        "Henry Schein Dental",
        "https://www.henryschein.com",
        "800-555-0116",
        "135 Duryea Rd",
        "Melville",
        "NY",
        "Mon-Fri 8:00-20:00",
        "5047",
    ),
    (
        "biz-017",
        "Patterson Dental Supply",
        "https://www.pattersondental.com",
        "651-555-0117",
        "1031 Mendota Heights Rd",
        "St Paul",
        "MN",
        "Mon-Fri 7:00-18:00",
        "5047",
    ),
    (
        "biz-018",
        "Mountain Bell Dental Lab",
        "https://mountainbelllab.example",
        "406-555-0118",
        "145 Main St",
        "Kalispell",
        "MT",
        "Mon-Thu 8:00-17:00",
        "8071",
    ),
    (
        "biz-019",
        "Bitterroot Valley Print Shop",
        "https://bitterrootprint.example",
        "406-555-0119",
        "220 Main St",
        "Hamilton",
        "MT",
        "Mon-Fri 9:00-17:30",
        "7338",
    ),
    (
        "biz-020",
        "Main Street Florist",
        "https://mainstreetflorist.example",
        "406-555-0120",
        "301 Main St",
        "Stevensville",
        "MT",
        "Mon-Sat 9:00-17:00",
        "5992",
    ),
    (
        "biz-021",
        "Granite Hardware",
        "https://granitehardware.example",
        "406-555-0121",
        "112 E Broadway St",
        "Philipsburg",
        "MT",
        "Mon-Sat 8:00-17:30",
        "5251",
    ),
    (
        "biz-022",
        "Staples",
        "https://www.staples.com",
        "800-555-0122",
        "2230 N Reserve St",
        "Missoula",
        "MT",
        "Mon-Sat 8:00-20:00, Sun 10:00-18:00",
        "5943",
    ),
    (
        "biz-023",
        "Costco Wholesale",
        "https://www.costco.com",
        "541-555-0123",
        "2500 NE Hwy 20",
        "Bend",
        "OR",
        "Mon-Fri 10:00-20:30",
        "5300",
    ),
]
_MCC["5999"] = "Miscellaneous and specialty retail stores"

CLIENTS = [
    Client(
        tenant_id="t-ridgeline",
        legal_name="Ridgeline Coffee Roasters LLC",
        display_name="Ridgeline Coffee",
        industry="Coffee roasting and wholesale",
        entity_type="LLC",
        fiscal_year_start_month=1,
        currency="USD",
        address="61535 American Ln, Bend, OR 97702",
        website="https://ridgelinecoffee.example",
        onboarding_status="active",
    ),
    Client(
        tenant_id="t-quillstack",
        legal_name="Quillstack, Inc.",
        display_name="Quillstack",
        industry="B2B SaaS (document automation)",
        entity_type="C-Corp",
        fiscal_year_start_month=1,
        currency="USD",
        address="1 Sansome St, Suite 3500, San Francisco, CA 94104",
        website="https://quillstack.example",
        onboarding_status="active",
    ),
    Client(
        tenant_id="t-brightsmile",
        legal_name="Bright Smile Family Dental PLLC",
        display_name="Bright Smile Dental",
        industry="Dental practice",
        entity_type="PLLC",
        fiscal_year_start_month=7,
        currency="USD",
        address="2420 Brooks St, Missoula, MT 59801",
        website=None,
        onboarding_status="connecting_accounts",
    ),
]

# principal id -> (tenant id, role)
PRINCIPALS: dict[str, tuple[str, Role]] = {
    "u-ridgeline-owner": ("t-ridgeline", "admin"),
    "u-ridgeline-viewer": ("t-ridgeline", "viewer"),
    "u-quillstack-books": ("t-quillstack", "bookkeeper"),
    "u-quillstack-viewer": ("t-quillstack", "viewer"),
    "u-brightsmile-admin": ("t-brightsmile", "admin"),
}

_COMMON_ACCOUNTS = [
    ("1000", "Operating checking", "asset"),
    ("1200", "Accounts receivable", "asset"),
    ("2000", "Accounts payable", "liability"),
    ("2100", "Business credit card", "liability"),
    ("3000", "Owner's equity", "equity"),
    ("6100", "Rent", "expense"),
    ("6200", "Utilities", "expense"),
    ("6400", "Office supplies", "expense"),
    ("6500", "Software and subscriptions", "expense"),
    ("6600", "Meals", "expense"),
    ("6700", "Payroll processing fees", "expense"),
    ("6900", "Repairs and maintenance", "expense"),
]
_OWN_ACCOUNTS = {
    "t-ridgeline": [
        ("4000", "Wholesale coffee sales", "income"),
        ("4100", "Online store sales", "income"),
        ("5000", "COGS - green coffee", "expense"),
        ("5100", "COGS - packaging", "expense"),
        ("5200", "Roaster fuel", "expense"),
        ("6300", "Vehicle expense", "expense"),
    ],
    "t-quillstack": [
        ("4000", "Subscription revenue", "income"),
        ("5000", "Cloud hosting", "expense"),
        ("6450", "Team offsites", "expense"),
    ],
    "t-brightsmile": [
        ("4000", "Patient fees", "income"),
        ("4100", "Insurance receipts", "income"),
        ("5000", "Dental supplies", "expense"),
        ("5100", "Lab fees", "expense"),
        ("6450", "Marketing and patient relations", "expense"),
    ],
}

# vendor id, tenant, name, website, default category, mcc
_VENDORS = [
    (
        "v-r-01",
        "t-ridgeline",
        "Sweet Maria's Coffee",
        "https://www.sweetmarias.com",
        "5000",
        "5499",
    ),
    ("v-r-02", "t-ridgeline", "Uline", "https://www.uline.com", "5100", "5085"),
    ("v-r-03", "t-ridgeline", "Pacific Power", None, "6200", "4900"),
    ("v-r-04", "t-ridgeline", "Costco", None, "6400", "5300"),
    ("v-q-01", "t-quillstack", "Amazon Web Services", "https://aws.amazon.com", "5000", "4816"),
    ("v-q-02", "t-quillstack", "GitHub", "https://github.com", "6500", "5734"),
    ("v-q-03", "t-quillstack", "WeWork", "https://www.wework.com", "6100", "6513"),
    ("v-q-04", "t-quillstack", "Gusto", "https://gusto.com", "6700", "7399"),
    ("v-b-01", "t-brightsmile", "Henry Schein", "https://www.henryschein.com", "5000", "5047"),
    ("v-b-02", "t-brightsmile", "Patterson Dental", None, "5000", "5047"),
    ("v-b-03", "t-brightsmile", "Staples", None, "6400", "5943"),
]

# tenant -> [(posted on, descriptor, amount, direction, category, vendor id)]
_TX: dict[str, list[tuple[str, str, str, str, str | None, str | None]]] = {
    "t-ridgeline": [
        ("2026-04-03", "SWEET MARIAS COFFEE OAKLAND CA", "2480.00", "debit", "5000", "v-r-01"),
        ("2026-04-07", "ULINE *S1849302 800-295-5510 WI", "612.40", "debit", "5100", "v-r-02"),
        ("2026-04-15", "PACIFIC POWER 800-221-7070 OR", "388.12", "debit", "6200", "v-r-03"),
        ("2026-04-18", "SHOPIFY PAYOUT 4471920 ON", "5210.44", "credit", "4100", None),
        ("2026-04-22", "SQ *BLUE BOTTLE COF 1234 OAKLAND CA", "14.75", "debit", None, None),
        ("2026-05-02", "HIGH DESERT PROPANE LA PINE OR", "310.00", "debit", None, None),
        ("2026-05-06", "SWEET MARIAS COFFEE OAKLAND CA", "3125.50", "debit", "5000", "v-r-01"),
        ("2026-05-14", "LES SCHWAB TIRES #0213 BEND OR", "742.50", "debit", None, None),
        ("2026-05-15", "PACIFIC POWER 800-221-7070 OR", "402.87", "debit", "6200", "v-r-03"),
        ("2026-05-20", "COSTCO WHSE #0679 BEND OR", "189.33", "debit", "6400", "v-r-04"),
        ("2026-06-01", "CASCADE GROCERS WHOLESALE DEP", "3900.00", "credit", "4000", None),
        ("2026-06-09", "SISTERS FEED & SUPPLY SISTERS OR", "56.20", "debit", None, None),
        ("2026-06-12", "ULINE *S1902217 800-295-5510 WI", "845.10", "debit", "5100", "v-r-02"),
        ("2026-06-15", "PACIFIC POWER 800-221-7070 OR", "371.45", "debit", "6200", "v-r-03"),
        ("2026-07-08", "SWEET MARIAS COFFEE OAKLAND CA", "2960.00", "debit", "5000", "v-r-01"),
        ("2026-07-21", "HIGH DESERT PROPANE LA PINE OR", "295.00", "debit", None, None),
        ("2026-08-04", "SQ *BLUE BOTTLE COF 1234 OAKLAND CA", "22.50", "debit", None, None),
        ("2026-08-15", "PACIFIC POWER 800-221-7070 OR", "455.02", "debit", "6200", "v-r-03"),
        ("2026-09-02", "SHOPIFY PAYOUT 4522817 ON", "6120.90", "credit", "4100", None),
        ("2026-09-10", "STAPLES 00123 BEND OR", "42.18", "debit", None, None),
    ],
    "t-quillstack": [
        (
            "2026-04-01",
            "WEWORK 1 SANSOME ST SAN FRANCISCO CA",
            "3200.00",
            "debit",
            "6100",
            "v-q-03",
        ),
        (
            "2026-04-03",
            "AMAZON WEB SERVICES AWS.AMAZON.CO WA",
            "4812.33",
            "debit",
            "5000",
            "v-q-01",
        ),
        ("2026-04-05", "GITHUB, INC. GITHUB.COM CA", "210.00", "debit", "6500", "v-q-02"),
        ("2026-04-10", "STRIPE TRANSFER ST-8H2K4L", "18450.00", "credit", "4000", None),
        ("2026-04-15", "GUSTO PAYROLL FEE 9 SAN FRANCISCO CA", "149.00", "debit", "6700", "v-q-04"),
        ("2026-04-17", "SLACK T02H8K1 SAN FRANCISCO CA", "87.50", "debit", None, None),
        ("2026-04-24", "SQ *BLUE BOTTLE COF 5678 SAN FRANCISCO CA", "38.50", "debit", None, None),
        (
            "2026-05-01",
            "WEWORK 1 SANSOME ST SAN FRANCISCO CA",
            "3200.00",
            "debit",
            "6100",
            "v-q-03",
        ),
        (
            "2026-05-03",
            "AMAZON WEB SERVICES AWS.AMAZON.CO WA",
            "5120.87",
            "debit",
            "5000",
            "v-q-01",
        ),
        ("2026-05-05", "GITHUB, INC. GITHUB.COM CA", "210.00", "debit", "6500", "v-q-02"),
        ("2026-05-12", "ZOOM.US 888-799-9666 CA", "149.90", "debit", None, None),
        ("2026-05-15", "GUSTO PAYROLL FEE 9 SAN FRANCISCO CA", "149.00", "debit", "6700", "v-q-04"),
        (
            "2026-06-01",
            "WEWORK 1 SANSOME ST SAN FRANCISCO CA",
            "3200.00",
            "debit",
            "6100",
            "v-q-03",
        ),
        (
            "2026-06-03",
            "AMAZON WEB SERVICES AWS.AMAZON.CO WA",
            "5388.10",
            "debit",
            "5000",
            "v-q-01",
        ),
        ("2026-06-10", "STRIPE TRANSFER ST-9J3M5N", "21780.00", "credit", "4000", None),
        ("2026-06-19", "TST* TWO RIVERS DINER TENINO WA", "64.20", "debit", None, None),
        (
            "2026-07-01",
            "WEWORK 1 SANSOME ST SAN FRANCISCO CA",
            "3200.00",
            "debit",
            "6100",
            "v-q-03",
        ),
        (
            "2026-07-03",
            "AMAZON WEB SERVICES AWS.AMAZON.CO WA",
            "5904.41",
            "debit",
            "5000",
            "v-q-01",
        ),
        ("2026-07-17", "SLACK T02H8K1 SAN FRANCISCO CA", "96.25", "debit", None, None),
        (
            "2026-08-03",
            "AMAZON WEB SERVICES AWS.AMAZON.CO WA",
            "6011.76",
            "debit",
            "5000",
            "v-q-01",
        ),
        ("2026-08-14", "SQ *BLUE BOTTLE COF 5678 SAN FRANCISCO CA", "41.00", "debit", None, None),
        (
            "2026-09-03",
            "AMAZON WEB SERVICES AWS.AMAZON.CO WA",
            "6250.02",
            "debit",
            "5000",
            "v-q-01",
        ),
    ],
    "t-brightsmile": [
        ("2026-04-02", "HENRY SCHEIN DENTAL 800-372-4346 NY", "1840.22", "debit", "5000", "v-b-01"),
        ("2026-04-09", "MOUNTAIN BELL DENTAL LAB KALISPELL MT", "1275.00", "debit", None, None),
        ("2026-04-14", "DELTA DENTAL INS PMT 0412", "6420.00", "credit", "4100", None),
        ("2026-04-20", "NORTHWESTERN ENERGY MT", "412.77", "debit", "6200", None),
        ("2026-05-04", "PATTERSON DENTAL SUPPLY ST PAUL MN", "960.00", "debit", "5000", "v-b-02"),
        ("2026-05-11", "BITTERROOT VALLEY PRINT HAMILTON MT", "145.60", "debit", None, None),
        ("2026-05-13", "MAIN STREET FLORIST STEVENSVILLE MT", "62.00", "debit", None, None),
        ("2026-05-22", "STAPLES 00456 MISSOULA MT", "88.10", "debit", "6400", "v-b-03"),
        ("2026-06-03", "HENRY SCHEIN DENTAL 800-372-4346 NY", "2215.48", "debit", "5000", "v-b-01"),
        ("2026-06-16", "GRANITE HARDWARE PHILIPSBURG MT", "37.89", "debit", None, None),
        ("2026-06-18", "DELTA DENTAL INS PMT 0617", "7110.50", "credit", "4100", None),
        ("2026-07-07", "MOUNTAIN BELL DENTAL LAB KALISPELL MT", "1490.00", "debit", None, None),
        ("2026-07-20", "NORTHWESTERN ENERGY MT", "398.04", "debit", "6200", None),
        ("2026-08-05", "HENRY SCHEIN DENTAL 800-372-4346 NY", "1702.91", "debit", "5000", "v-b-01"),
        ("2026-08-25", "COSTCO WHSE #0751 MISSOULA MT", "231.45", "debit", None, None),
        ("2026-09-08", "PATTERSON DENTAL SUPPLY ST PAUL MN", "1125.30", "debit", "5000", "v-b-02"),
    ],
}


def directory() -> list[Business]:
    """The shared business directory."""
    return [
        Business(
            business_id=b[0],
            name=b[1],
            website=b[2],
            phone=b[3],
            address=b[4],
            city=b[5],
            region=b[6],
            hours=b[7],
            mcc=b[8],
            mcc_description=_MCC[b[8]],
        )
        for b in _DIRECTORY
    ]


def accounts(tenant_id: str) -> list[Account]:
    """The tenant's chart of accounts, sorted by code."""
    rows = sorted(_COMMON_ACCOUNTS + _OWN_ACCOUNTS[tenant_id])
    return [Account(code=c, name=n, type=t) for c, n, t in rows]  # type: ignore[arg-type]


def vendors() -> list[Vendor]:
    return [
        Vendor(vendor_id=v, tenant_id=t, name=n, website=w, default_category=c, mcc=m)
        for v, t, n, w, c, m in _VENDORS
    ]


def transactions() -> list[Transaction]:
    out: list[Transaction] = []
    for tenant_id, rows in _TX.items():
        prefix = tenant_id.removeprefix("t-")[:1]
        for i, (day, descriptor, amount, direction, category, vendor_id) in enumerate(rows, 1):
            out.append(
                Transaction(
                    transaction_id=f"tx-{prefix}-{i:03d}",
                    tenant_id=tenant_id,
                    posted_on=date.fromisoformat(day),
                    descriptor=descriptor,
                    amount=Decimal(amount),
                    currency="USD",
                    direction=direction,  # type: ignore[arg-type]
                    category=category,
                    vendor_id=vendor_id,
                )
            )
    return out
