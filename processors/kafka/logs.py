"""librdkafka's log lines, through Python logging and bounded.

Left to itself librdkafka writes to stderr, and a broker outage makes every client repeat
"Connect to ... failed: Connection refused" at each reconnect attempt of each connection
(about 700 lines in a 30 s outage of one daemon). :func:`client_logger` is the ``logger``
a client is given instead: its lines go to the ``processors.kafka.librdkafka`` logger, and a
line that repeats (the same facility and text, numbers aside) is let through once per
``every`` seconds, the next one saying how many were held back.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

LOGGER = "processors.kafka.librdkafka"
_NUMBERS = re.compile(r"\d+")


class Repeats(logging.Filter):
    """Lets a repeating line through once per ``every`` seconds (numbers in it ignored, so
    "after 3ms" and "after 5ms" are one line), with the count of those held back since."""

    def __init__(self, every: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every, self._clock = every, clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = _NUMBERS.sub("#", f"{record.name} {record.getMessage()}")[:300]
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.every:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
            if len(self._last) > 1000:  # many distinct lines: forget the oldest
                for old in sorted(self._last, key=self._last.__getitem__)[:500]:
                    self._last.pop(old, None)
        if held:
            record.msg = f"{record.getMessage()} ({held} like it held back)"
            record.args = None
        return True


def client_logger(every: float = 30.0) -> logging.Logger:
    """The logger to give librdkafka clients (``"logger"`` in their configuration)."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(f, Repeats) for f in logger.filters):
        logger.addFilter(Repeats(every))
    return logger
