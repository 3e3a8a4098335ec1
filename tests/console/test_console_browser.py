"""The review console in a real headless Chromium (Debian's chromium + chromedriver, driven
by Selenium), served by uvicorn, over the real broker: a reviewer signs in, approves, rejects
with a reason and corrects a field, each read back from Kafka (the output topic and
``daemons.feedback``); a bad correction shows its field's error and publishes nothing; another
tenant's held result by URL is refused; a ``<script>`` in a descriptor is text.

One browser and one server for the module; every wait is explicit (no sleeps)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from console_support import TOKENS

from processors.console import ConsoleConfig, KafkaReviewSource, create_app
from processors.guardrails.review import FEEDBACK_TOPIC, read_all
from processors.kafka.clients import Contracts
from processors.settings import Settings
from processors.testing import held as seed
from processors.testing.browser import chromium_available, headless_chromium, serve

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(
        not chromium_available(), reason="chromium + chromedriver: make system-deps"
    ),
]
WAIT = 90  # seconds: a page reads its topics when loaded; on a slow day that is seconds


@pytest.fixture(scope="module")
def seeded(module_settings: Settings, module_topics: Contracts) -> dict[str, seed.Seeded]:
    stories = {
        "approve": seed.vendor("t-ridgeline", 11),
        "reject": seed.question("t-ridgeline", 12),
        "correct": seed.vendor("t-ridgeline", 13, descriptor="UBER *TRIP HELP.UBER.COM CA",
                               name="Uber", amount_minor=3412),
        "bad": seed.question("t-ridgeline", 14),
        "script": seed.vendor("t-ridgeline", 15, name="Evil Coffee",
                              descriptor="<script>window.__pwned = 1</script> SQ *EVIL COFFEE"),
        "other": seed.vendor("t-quillstack", 16),
    }  # fmt: skip
    seed.publish(module_settings, module_topics, list(stories.values()))
    return stories


@pytest.fixture(scope="module")
def base_url(console_config: ConsoleConfig, source: KafkaReviewSource) -> Iterator[str]:
    with serve(create_app(console_config, source)) as url:
        yield url


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[Any]:
    from selenium.webdriver.common.by import By

    with headless_chromium() as driver:
        driver.get(base_url + "/held")
        _wait(driver).until(lambda d: d.find_elements(By.ID, "token"))  # sent to sign in
        driver.find_element(By.ID, "token").send_keys(TOKENS["u-anna"])
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        _wait(driver).until(lambda d: d.find_elements(By.ID, "count"))
        yield driver


def _wait(driver: Any) -> Any:
    """Waits through a page being replaced: after a form's POST, an element found on the old
    page goes stale before the new page's is there (a race seen on a busy CI machine)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,))


def _open(browser: Any, base_url: str, story: seed.Seeded) -> None:
    """From the list, click the held result through to its story page."""
    from selenium.webdriver.common.by import By

    browser.get(base_url + "/held")
    _wait(browser).until(lambda d: d.find_elements(By.ID, "count"))
    browser.find_element(By.CSS_SELECTOR, f'tr[data-run="{story.run_id}"] a.subject').click()
    _wait(browser).until(lambda d: d.find_elements(By.ID, "decide"))
    assert story.run_id in browser.current_url


def _status_is(browser: Any, status: str) -> None:
    from selenium.webdriver.common.by import By

    # .text is the text as rendered: the badge is in capitals on the page
    _wait(browser).until(lambda d: d.find_element(By.ID, "status").text.lower() == status)


def _feedback(settings: Settings, contracts: Contracts, run_id: str) -> list[dict[str, Any]]:
    return [f for f in read_all(settings, contracts, FEEDBACK_TOPIC) if f["run_id"] == run_id]


def _published(settings: Settings, contracts: Contracts, story: seed.Seeded) -> list[Any]:
    return [
        v for v in read_all(settings, contracts, story.target_topic) if v["run_id"] == story.run_id
    ]


def test_a_reviewer_approves_in_the_browser_and_it_is_published_once_with_its_feedback(
    browser: Any, base_url: str, seeded: dict[str, seed.Seeded],
    module_settings: Settings, module_topics: Contracts,
) -> None:  # fmt: skip
    from selenium.webdriver.common.by import By

    story = seeded["approve"]
    _open(browser, base_url, story)
    assert "needs review" in browser.find_element(By.ID, "verdict").text.lower()
    assert "6400 (Meals) is likelier" in browser.find_element(By.ID, "verdict").text
    assert story.held["trace_id"] in browser.find_element(By.ID, "trace-id").text
    assert "untrusted" in browser.find_element(By.ID, "input").text.lower()
    browser.find_element(By.ID, "approve-comment").send_keys("checked the receipt")
    browser.find_element(By.ID, "approve").click()
    _status_is(browser, "approved")
    assert "u-anna" in browser.find_element(By.ID, "decision").text
    (published,) = _published(module_settings, module_topics, story)
    assert published["output_id"] == story.held["output_id"]
    assert published["account_category"]["value"] == "6600"  # as held
    (feedback,) = _feedback(module_settings, module_topics, story.run_id)
    assert feedback["decision"] == "approve" and feedback["principal_id"] == "u-anna"
    assert feedback["comment"] == "checked the receipt"


def test_a_reviewer_rejects_with_a_reason_and_nothing_is_published(
    browser: Any, base_url: str, seeded: dict[str, seed.Seeded],
    module_settings: Settings, module_topics: Contracts,
) -> None:  # fmt: skip
    from selenium.webdriver.common.by import By

    story = seeded["reject"]
    _open(browser, base_url, story)
    browser.find_element(By.ID, "reject-reason").send_keys("the 1 July record belongs to Q3")
    browser.find_element(By.ID, "reject").click()
    _status_is(browser, "rejected")
    (feedback,) = _feedback(module_settings, module_topics, story.run_id)
    assert feedback["decision"] == "reject"
    assert feedback["comment"] == "the 1 July record belongs to Q3"
    assert _published(module_settings, module_topics, story) == []


def test_a_reviewer_corrects_a_field_and_the_corrected_result_is_published(
    browser: Any, base_url: str, seeded: dict[str, seed.Seeded],
    module_settings: Settings, module_topics: Contracts,
) -> None:  # fmt: skip
    from selenium.webdriver.common.by import By

    story = seeded["correct"]
    _open(browser, base_url, story)
    browser.find_element(By.CSS_SELECTOR, "#correct-details summary").click()
    account = browser.find_element(By.ID, "f:account_category.value")
    _wait(browser).until(lambda _d: account.is_displayed())
    account.clear()
    account.send_keys("6400")
    browser.find_element(By.ID, "correct-comment").send_keys("a ride is travel, not supplies")
    browser.find_element(By.ID, "correct").click()
    _status_is(browser, "corrected")
    (published,) = _published(module_settings, module_topics, story)
    assert published["account_category"]["value"] == "6400"
    assert published["name"]["value"] == "Uber"  # what was not corrected is as held
    assert published["output_id"] == story.held["output_id"]
    (feedback,) = _feedback(module_settings, module_topics, story.run_id)
    assert feedback["decision"] == "correct" and feedback["principal_id"] == "u-anna"
    assert feedback["comment"] == "a ride is travel, not supplies"
    corrected = json.loads(feedback["corrected_output_json"])
    assert corrected["account_category"]["value"] == "6400"
    changes = browser.find_element(By.CSS_SELECTOR, "#decision table.changes").text
    assert changes.splitlines()[1:] == ["account category value 6600 6400"]


def test_a_bad_amount_in_a_correction_shows_its_error_and_publishes_nothing(
    browser: Any, base_url: str, seeded: dict[str, seed.Seeded],
    module_settings: Settings, module_topics: Contracts,
) -> None:  # fmt: skip
    from selenium.webdriver.common.by import By

    story = seeded["bad"]
    _open(browser, base_url, story)
    browser.find_element(By.CSS_SELECTOR, "#correct-details summary").click()
    amount = browser.find_element(By.ID, "f:figures[0].amount_minor")
    _wait(browser).until(lambda _d: amount.is_displayed())
    assert amount.get_attribute("value") == "5605.50"  # typed as an accountant writes it
    amount.clear()
    amount.send_keys("5,100.005")
    browser.find_element(By.ID, "correct").click()
    _wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".field-error"))
    error = browser.find_element(
        By.CSS_SELECTOR, '.field-error[data-field="figures[0].amount_minor"]'
    )
    assert error.text == "at most 2 decimal places"
    assert "Nothing was published" in browser.find_element(By.ID, "error").text
    assert browser.find_element(By.ID, "status").text.lower() == "pending"
    assert _feedback(module_settings, module_topics, story.run_id) == []
    assert _published(module_settings, module_topics, story) == []


def test_another_tenants_held_result_by_url_is_refused_in_the_browser(
    browser: Any, base_url: str, seeded: dict[str, seed.Seeded],
    module_settings: Settings, module_topics: Contracts,
) -> None:  # fmt: skip
    from selenium.webdriver.common.by import By

    other = seeded["other"]
    browser.get(f"{base_url}/held")
    _wait(browser).until(lambda d: d.find_elements(By.ID, "count"))
    assert other.run_id not in browser.page_source
    browser.get(f"{base_url}/held/{other.run_id}")
    _wait(browser).until(lambda d: d.find_elements(By.ID, "refused"))
    assert "yours to review" in browser.find_element(By.ID, "refused").text
    assert not browser.find_elements(By.ID, "decide")
    assert "BLUE BOTTLE" not in browser.page_source
    assert _feedback(module_settings, module_topics, other.run_id) == []


def test_a_script_in_a_descriptor_is_shown_as_text_and_never_runs(
    browser: Any, base_url: str, seeded: dict[str, seed.Seeded]
) -> None:
    from selenium.webdriver.common.by import By

    story = seeded["script"]
    _open(browser, base_url, story)
    shown = browser.find_element(By.ID, "subject").text
    assert shown == "<script>window.__pwned = 1</script> SQ *EVIL COFFEE"
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert browser.find_elements(By.TAG_NAME, "script") == []
