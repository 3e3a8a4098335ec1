"""The review console's page load times (issue 18's benchmark: "the console's page load times").

    flock /tmp/heavy.lock .venv/bin/python benchmarks/console.py [--held 100] [--loads 50]
    .venv/bin/python benchmarks/console.py --screenshots docs/img   # also save the pages as PNGs

A local broker (started here unless ``KAFKA_BOOTSTRAP_SERVERS`` is set) gets N held results
(half vendor-enrichment, half question-answering, over 2 tenants) with their input events,
run records and guardrail outcomes; ``daemons review serve``'s app is served by uvicorn in
this process. Then, for the list page (``/held``: every held result of the reviewer's tenant)
and a story page (``/held/RUN``):

- ``server``: the time to the whole response over HTTP (httpx, signed in with a bearer token),
  p50/p95 over ``--loads`` loads: what the page costs the server (the Kafka reads are most of it);
- ``browser``: in headless Chromium, signed in with the session cookie, navigation start to
  the load event (the Navigation Timing API), p50/p95 over ``--loads`` loads.

Each page reads its topics to their end when asked (nothing cached), so the list's time grows
with the held results and decisions kept, and the story's with the run records kept.
Prints a line per figure and, as its LAST line, one JSON object with every figure. It also
prints the machine's raw speed (a fixed numpy matmul) so a slow day reads as a slow day.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from processors.console import ConsoleConfig, KafkaReviewSource, Reviewers, create_app, hash_token
from processors.kafka.admin import apply_topics
from processors.kafka.clients import Contracts, admin_client
from processors.settings import Settings
from processors.testing import held as seed
from processors.testing.broker import session_broker
from processors.testing.browser import headless_chromium, screenshot, serve
from processors.testing.speed import matmul_speed

TOKEN = "bench-token-" + uuid.uuid4().hex


raw_speed = matmul_speed


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(times_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(times_ms), 1),
        "p95_ms": round(quantile(times_ms, 0.95), 1),
        "loads": len(times_ms),
    }


def seed_held(settings: Settings, contracts: Contracts, n: int) -> list[seed.Seeded]:
    stories = []
    descriptors = [
        ("SQ *BLUE BOTTLE COF 1234 OAKLAND CA", "Blue Bottle Coffee", 2250),
        ("AMZN MKTP US*2K4RT0LL3 SEATTLE WA", "Amazon Marketplace", 18999),
        ("UBER *TRIP HELP.UBER.COM CA", "Uber", 3412),
        ("PADDLE.NET* ZVKRT LABS 8847 LONDON", "Zvkrt Labs", 4900),
        ("COSTCO WHSE #0481 EMERYVILLE CA", "Costco Wholesale", 41275),
    ]
    for i in range(n):
        tenant = "t-ridgeline" if i % 4 < 3 else "t-quillstack"
        if i % 2 == 0:
            descriptor, name, amount = descriptors[(i // 2) % len(descriptors)]
            stories.append(
                seed.vendor(tenant, i, descriptor=descriptor, name=name, amount_minor=amount)
            )
        else:
            stories.append(seed.question(tenant, i))
    seed.publish(settings, contracts, stories)
    return stories


def reviewers_file(folder: Path) -> Path:
    path = folder / "reviewers.toml"
    path.write_text(
        '[[reviewer]]\nid = "u-anna"\nname = "Anna Berg"\n'
        f'token_sha256 = "{hash_token(TOKEN)}"\ntenants = ["t-ridgeline", "t-quillstack"]\n',
        encoding="utf-8",
    )
    return path


def server_times(base: str, path: str, loads: int) -> list[float]:
    times = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        client.get(path).raise_for_status()  # warm
        for _ in range(loads):
            start = time.perf_counter()
            client.get(path).raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
    return times


def browser_times(driver: Any, base: str, path: str, loads: int) -> list[float]:
    times = []
    driver.get(base + path)  # warm
    for _ in range(loads):
        driver.get(base + path)  # returns once the page has loaded
        timing = driver.execute_script(
            "const t = performance.getEntriesByType('navigation')[0];"
            "return [t.startTime, t.loadEventEnd, t.responseEnd];"
        )
        times.append(float(timing[1]) - float(timing[0]))
    return times


def sign_in(driver: Any, base: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/login")
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, "#login button").click()
    driver.find_element(By.ID, "count")  # the list is there


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--held", type=int, default=100, help="held results on the topics")
    parser.add_argument("--loads", type=int, default=50,
                        help="loads per page and measure (0: screenshots only)")  # fmt: skip
    parser.add_argument("--screenshots", type=Path, default=None, help="save the pages here")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    figures: dict[str, Any] = {
        "commit": commit,
        "machine": raw_speed() | {"cpus": os.cpu_count()},
        "held": args.held,
    }
    print(f"machine: {figures['machine']}  commit {commit}")
    with session_broker() as base_settings, tempfile.TemporaryDirectory() as folder:
        settings = base_settings.model_copy(update={"topic_prefix": f"b{uuid.uuid4().hex[:8]}."})
        contracts = Contracts.load(settings)
        apply_topics(admin_client(settings), contracts.catalog)
        stories = seed_held(settings, contracts, args.held)
        config = ConsoleConfig(Reviewers.load(reviewers_file(Path(folder))), uuid.uuid4().hex)
        app = create_app(config, KafkaReviewSource(settings, contracts))
        story = next(s for s in stories if s.daemon == "vendor-enrichment")
        pages = {"list": "/held", "story": f"/held/{story.run_id}"}
        with serve(app) as base:
            for page, path in pages.items() if args.loads else ():
                figures.setdefault("server", {})[page] = summary(
                    server_times(base, path, args.loads)
                )
                print(f"server  {page:5s} {figures['server'][page]}")
            with headless_chromium() as driver:
                sign_in(driver, base)
                for page, path in pages.items() if args.loads else ():
                    figures.setdefault("browser", {})[page] = summary(
                        browser_times(driver, base, path, args.loads)
                    )
                    print(f"browser {page:5s} {figures['browser'][page]}")
                if args.screenshots:
                    save_screenshots(driver, base, stories, args.screenshots)
    print(json.dumps(figures))


def save_screenshots(driver: Any, base: str, stories: list[seed.Seeded], folder: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/held?tenant=t-ridgeline")
    print("saved", screenshot(driver, folder / "review-console-list.png"))
    vendor = next(s for s in stories if s.daemon == "vendor-enrichment")
    driver.set_window_size(1360, 1000)
    driver.get(f"{base}/held/{vendor.run_id}")
    driver.find_element(By.CSS_SELECTOR, "#correct-details summary").click()
    print("saved", screenshot(driver, folder / "review-console-story.png"))
    driver.set_window_size(1360, 1000)


if __name__ == "__main__":
    main()
