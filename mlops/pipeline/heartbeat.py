"""The heartbeat of a running run: while its driver trains, the run says every few seconds that it is alive, so
that a reader can tell a run whose driver is gone (``interrupted``, continued by the same command)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: Seconds between two heartbeats of a running run.
RUN_HEARTBEAT_S = 10.0


@contextmanager
def keep_alive(beat: Callable[[], None], every: float = RUN_HEARTBEAT_S) -> Iterator[None]:
    """Call ``beat`` every ``every`` seconds in the background while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                beat()
            except Exception:  # a missed heartbeat is retried at the next tick; the run goes on
                continue

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
