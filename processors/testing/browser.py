"""A real headless Chromium (Selenium over the system's chromedriver) and an ASGI app served
by uvicorn on a free loopback port: for the review console's browser tests, benchmark and
screenshots. Debian's ``chromium`` and ``chromium-driver`` (``make system-deps``); nothing is
downloaded (no Selenium Manager)."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from processors.testing.broker import free_port

BROWSERS = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome")
DRIVERS = ("/usr/lib/chromium/chromedriver", "chromedriver")


def _which(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = name if os.path.isabs(name) and os.access(name, os.X_OK) else shutil.which(name)
        if found:
            return found
    return None


def chromium_available() -> bool:
    return _which(BROWSERS) is not None and _which(DRIVERS) is not None


@contextlib.contextmanager
def headless_chromium(width: int = 1360, height: int = 1000) -> Iterator[Any]:
    """A Selenium ``WebDriver`` on a headless Chromium with a fresh profile; quit after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = _which(BROWSERS), _which(DRIVERS)
    if browser is None or driver_path is None:
        raise RuntimeError("chromium and chromedriver are needed (make system-deps)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--disable-extensions", "--no-first-run", "--hide-scrollbars",
                 f"--window-size={width},{height}", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def serve(app: Any, *, timeout: float = 30.0) -> Iterator[str]:
    """``app`` served by uvicorn in a thread; yields its base URL, stops it after."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, access_log=False, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="console-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the console did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


def screenshot(driver: Any, path: Path) -> Path:
    """The whole page (its full height) as a PNG."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, max(600, int(height) + 140))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path
