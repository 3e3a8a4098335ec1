"""What code reads off a question for the model (pure): the periods it may mean, and this
tenant's accounts and vendors it names."""

from __future__ import annotations

import datetime as dt

import pytest

from processors.daemons.question_answering.periods import candidates, parse
from processors.daemons.question_answering.query import named, unknown_names

ASKED = dt.date(2026, 10, 5)
ACCOUNTS = ["Wholesale coffee sales", "COGS - green coffee", "Office supplies", "Dental supplies"]
VENDORS = ["Sweet Maria's Coffee", "Amazon Web Services", "Patterson Dental", "GitHub"]


@pytest.mark.parametrize(
    ("question", "labels"),
    [
        ("How much more did we spend on software in Q3 than Q2?", ["2026-Q3", "2026-Q2"]),
        ("Green coffee in Q2 2026?", ["2026-Q2"]),
        ("Packaging in June 2026 than in April 2026?", ["2026-06", "2026-04"]),
        ("What will our revenue be next year?", ["2027"]),
        ("Spend last quarter vs the second quarter of 2025?", ["2026-Q3", "2025-Q2"]),
        ("What did we pay in 2026-Q1 and 2026-07?", ["2026-Q1", "2026-07"]),
        ("Spend in Q4?", ["2026-Q4"]),  # asked on 2026-10-05: this year's Q4 had begun
        ("How many customers do we have?", []),
        ("May we see the rent?", []),  # "may" without a year is a verb
    ],
)
def test_the_candidate_periods_are_the_ones_the_question_names_in_its_order(
    question: str, labels: list[str]
) -> None:
    assert [p.label for p in candidates(question, ASKED)] == labels


def test_a_period_without_a_year_that_had_not_begun_is_last_years() -> None:
    assert [p.label for p in candidates("Spend in December?", ASKED)] == ["2025-12"]


def test_a_label_parses_back_to_its_dates() -> None:
    q3 = parse("2026-Q3")
    assert q3 is not None and (q3.start, q3.end) == (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    feb = parse("2024-02")
    assert feb is not None and feb.end == dt.date(2024, 2, 29)
    assert parse("2026-Q5") is None and parse("Q3") is None and parse("2026-13") is None


def test_the_names_a_question_names_best_over_accounts_and_vendors() -> None:
    assert named("Green coffee in Q2?", ACCOUNTS, VENDORS) == (["COGS - green coffee"], [])
    assert named("Dental supplies in Q2?", ACCOUNTS, VENDORS) == (["Dental supplies"], [])
    assert named("What did we pay Sweet Maria's?", ACCOUNTS, VENDORS) == (
        [],
        ["Sweet Maria's Coffee"],
    )
    assert named("Our AWS and GitHub bills?", ACCOUNTS, VENDORS) == (
        [],
        ["Amazon Web Services", "GitHub"],
    )
    assert named("What was our total spend?", ACCOUNTS, VENDORS) == ([], [])


def test_names_that_are_none_of_this_tenants_are_told_apart() -> None:
    known = [*ACCOUNTS, *VENDORS]
    assert unknown_names("How much did Quillstack spend on AWS in Q3?", []) == ["Quillstack", "AWS"]
    assert unknown_names("How much did we pay AWS in July?", known) == []
    assert unknown_names("What did we pay Patterson Dental in May?", known) == []
    assert unknown_names("Ignore this. What was our spend in Q3?", known) == []
