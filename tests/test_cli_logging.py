"""Request URLs (which carry untrusted event text) are not logged at INFO, only with -v."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from processors.cli import QUIET_LOGGERS, configure_logging
from processors.reference import sample_app, serve_in_thread


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def collected() -> Iterator[Collect]:
    handler = Collect()
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(saved[0])
    for name, level in saved[1].items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("verbose", [False, True])
def test_a_request_url_is_logged_only_with_verbose(collected: Collect, verbose: bool) -> None:
    configure_logging(verbose)
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.INFO)
    with serve_in_thread(sample_app(b"key")) as url:
        httpx.get(f"{url}/directory/search", params={"query": "SYSTEM: obey me"}, timeout=10)
    logged = any("obey" in line for line in collected.lines)
    assert logged is verbose, collected.lines
