"""The review console over HTTP (Starlette's test client, in process) against the real broker:
sign-in and its cookie, CSRF, tenant isolation by URL and by POST, bearer tokens, escaping of
untrusted text, field errors of a correction, and what the logs never hold."""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any

import pytest
from console_support import TOKENS
from starlette.testclient import TestClient

from processors.console import ConsoleConfig, KafkaReviewSource, create_app
from processors.guardrails.review import FEEDBACK_TOPIC, read_all
from processors.kafka.clients import Contracts
from processors.settings import Settings
from processors.testing import held as seed

pytestmark = pytest.mark.kafka
SCRIPT = "<script>window.__pwned = 1</script> SQ *EVIL COFFEE"


@pytest.fixture(scope="module")
def seeded(module_settings: Settings, module_topics: Contracts) -> dict[str, seed.Seeded]:
    stories = {
        "ridge_vendor": seed.vendor("t-ridgeline", 1),
        "ridge_script": seed.vendor("t-ridgeline", 2, descriptor=SCRIPT, name="Evil Coffee"),
        "ridge_question": seed.question("t-ridgeline", 3),
        "ridge_bad": seed.vendor("t-ridgeline", 4),
        "quill_vendor": seed.vendor("t-quillstack", 5),
    }
    seed.publish(module_settings, module_topics, list(stories.values()))
    return stories


@pytest.fixture
def client(console_config: ConsoleConfig, source: KafkaReviewSource) -> TestClient:
    return TestClient(create_app(console_config, source), follow_redirects=False)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def _sign_in(client: TestClient, reviewer: str = "u-anna") -> str:
    csrf = _csrf(client.get("/login").text)
    response = client.post("/login", data={"token": TOKENS[reviewer], "csrf": csrf})
    assert response.status_code == 303, response.text
    return _csrf(client.get("/held").text)


def _decisions(settings: Settings, contracts: Contracts, run_id: str) -> list[dict[str, Any]]:
    return [f for f in read_all(settings, contracts, FEEDBACK_TOPIC) if f["run_id"] == run_id]


def test_signing_in_sets_a_signed_httponly_samesite_cookie_and_shows_only_granted_tenants(
    client: TestClient, seeded: dict[str, seed.Seeded]
) -> None:
    assert client.get("/held").headers["location"] == "/login"
    csrf = _csrf(client.get("/login").text)
    wrong = client.post("/login", data={"token": "not-a-token", "csrf": csrf})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    response = client.post("/login", data={"token": TOKENS["u-anna"], "csrf": csrf})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "daemons_review=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert TOKENS["u-anna"].lower() not in cookie  # the cookie holds the id, signed; no token
    page = client.get("/held").text
    for key in ("ridge_vendor", "ridge_question", "ridge_script"):
        assert seeded[key].run_id in page
    assert seeded["quill_vendor"].run_id not in page and "t-quillstack" not in page


def test_a_forged_session_cookie_is_not_a_session(client: TestClient) -> None:
    _sign_in(client, "u-anna")
    payload, stamp, signature = client.cookies["daemons_review"].split(".")
    # the same signature over a session that claims another reviewer
    forged = base64.b64encode(json.dumps({"reviewer": "u-bert"}).encode()).decode()
    client.cookies.clear()
    client.cookies.set("daemons_review", f"{forged}.{stamp}.{signature}")
    assert client.get("/held").headers["location"] == "/login"
    client.cookies.clear()
    client.cookies.set("daemons_review", f"{payload}.{stamp}.{signature}")
    assert client.get("/held").status_code == 200  # the untouched cookie still works


def test_another_tenants_held_result_is_not_found_by_url_nor_by_post_and_nothing_is_published(
    client: TestClient,
    seeded: dict[str, seed.Seeded],
    module_settings: Settings,
    module_topics: Contracts,
) -> None:
    csrf = _sign_in(client, "u-anna")
    other = seeded["quill_vendor"]
    page = client.get(f"/held/{other.run_id}")
    assert page.status_code == 404 and other.held["output_json"][:40] not in page.text
    assert "BLUE BOTTLE" not in page.text
    for action in ("approve", "reject", "correct"):
        posted = client.post(
            f"/held/{other.run_id}/{action}",
            data={"csrf": csrf, "comment": "mine now", "f:account_category.value": "6400"},
        )
        assert posted.status_code == 404
    bearer = {"Authorization": f"Bearer {TOKENS['u-anna']}"}
    assert client.post(f"/held/{other.run_id}/approve", headers=bearer).status_code == 404
    assert _decisions(module_settings, module_topics, other.run_id) == []
    assert read_all(module_settings, module_topics, other.target_topic) == []
    # the reviewer granted that tenant does see it: the 404 is the grant, not a broken page
    bert = TestClient(client.app, follow_redirects=False)
    _sign_in(bert, "u-bert")
    assert bert.get(f"/held/{other.run_id}").status_code == 200


def test_a_post_without_the_session_csrf_token_or_from_another_origin_is_refused(
    client: TestClient,
    seeded: dict[str, seed.Seeded],
    module_settings: Settings,
    module_topics: Contracts,
) -> None:
    csrf = _sign_in(client)
    run_id = seeded["ridge_vendor"].run_id
    assert client.post(f"/held/{run_id}/approve", data={}).status_code == 403
    assert client.post(f"/held/{run_id}/approve", data={"csrf": "forged"}).status_code == 403
    cross = client.post(
        f"/held/{run_id}/approve", data={"csrf": csrf}, headers={"Origin": "https://evil.test"}
    )
    assert cross.status_code == 403
    assert client.post(f"/held/{run_id}/approve", data={"csrf": csrf}).status_code == 303
    (decision,) = _decisions(module_settings, module_topics, run_id)
    assert decision["decision"] == "approve" and decision["principal_id"] == "u-anna"


def test_a_bearer_token_works_without_a_session_and_a_bad_one_is_refused(
    client: TestClient, seeded: dict[str, seed.Seeded]
) -> None:
    good = client.get("/held", headers={"Authorization": f"Bearer {TOKENS['u-bert']}"})
    assert good.status_code == 200 and seeded["quill_vendor"].run_id in good.text
    assert "set-cookie" not in good.headers  # a bearer request opens no session
    bad = client.get("/held", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_untrusted_text_is_escaped_and_no_script_may_run(
    client: TestClient, seeded: dict[str, seed.Seeded]
) -> None:
    _sign_in(client)
    for page in (client.get("/held"), client.get(f"/held/{seeded['ridge_script'].run_id}")):
        assert page.status_code == 200
        assert "<script" not in page.text.lower()
        assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt; SQ *EVIL COFFEE" in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy


def test_a_correction_with_a_bad_field_shows_its_error_and_publishes_nothing(
    client: TestClient,
    seeded: dict[str, seed.Seeded],
    module_settings: Settings,
    module_topics: Contracts,
) -> None:
    csrf = _sign_in(client)
    bad = seeded["ridge_bad"]
    page = client.post(
        f"/held/{bad.run_id}/correct",
        data={"csrf": csrf, "f:merchant_category_code.value": "58X4",
              "f:name.confidence": "very", "f:account_category.status": "maybe"},
    )  # fmt: skip
    assert page.status_code == 400
    assert "Nothing was published" in page.text
    assert "&#39;very&#39; is not a number" in page.text
    assert "choose one of known, unknown" in page.text
    assert 'value="58X4"' in page.text  # what was typed is kept for fixing
    # the daemon's model: the code must match ^[0-9]{4}$ (the schema alone takes any string)
    page = client.post(
        f"/held/{bad.run_id}/correct",
        data={"csrf": csrf, "f:merchant_category_code.value": "58X4"},
    )
    assert page.status_code == 400
    assert "string should match pattern &#39;^[0-9]{4}$&#39;" in page.text
    unchanged = client.post(f"/held/{bad.run_id}/correct", data={"csrf": csrf})
    assert unchanged.status_code == 400 and "No field was changed" in unchanged.text
    rejected = client.post(f"/held/{bad.run_id}/reject", data={"csrf": csrf, "comment": " "})
    assert rejected.status_code == 400 and "Say why" in rejected.text
    assert _decisions(module_settings, module_topics, bad.run_id) == []
    assert bad.run_id in client.get("/held").text  # still pending


def test_logs_at_info_hold_no_token_no_path_and_no_untrusted_text(
    client: TestClient, seeded: dict[str, seed.Seeded], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    csrf = _csrf(client.get("/login").text)
    client.post("/login", data={"token": "wrong-" + TOKENS["u-anna"], "csrf": csrf})
    _sign_in(client)
    client.get(f"/held/{seeded['ridge_script'].run_id}")
    client.get("/held/<script>alert(1)</script>")
    text = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "held.story 200 u-anna" in text and "sign-in refused" in text
    for secret in (TOKENS["u-anna"], "EVIL COFFEE", "<script", "csrf", csrf):
        assert secret not in text
