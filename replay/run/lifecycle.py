"""What replays and agent runs share as owners of a run folder: a unique, sortable run id,
and SIGTERM handled like Ctrl-C, so a killed run saves its state before it stops."""

from __future__ import annotations

import datetime as dt
import os
import signal
from contextlib import contextmanager


def new_run_id(track: str, task: int, kind: str = "replay") -> str:
    """A unique, sortable run id such as ``replay-mini-t01-20261126-153000-ab12``."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{kind}-{track}-t{task:02d}-{stamp}-{os.urandom(2).hex()}"


@contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises KeyboardInterrupt, so a killed run saves its state first."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
