"""The streaming runtime: each daemon is a consumer group with per-key ordered concurrency.

- ``daemon.py``   what a daemon is (name, inputs, handler, outputs) and what a handler sees
- ``policy.py``   the one error policy: retry with backoff, or dead-letter
- ``offsets.py``  per-partition commit watermarks (never past an unfinished event)
- ``keyed.py``    at most one event per key in flight, in offset order
- ``runner.py``   the consume → handle → produce → commit loop (at-least-once or exactly-once)
"""

from processors.runtime.daemon import Daemon, EventContext, Output

__all__ = ["Daemon", "EventContext", "Output"]
