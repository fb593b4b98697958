"""What replays and agent runs share as owners of a run folder: a unique, sortable run id, one
process at a time per run (a lock), SIGTERM handled like Ctrl-C, so a killed run saves its
state before it stops, job submissions that a SIGTERM waits for, and children that die with the
process that started them."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from replay.errors import SpeedrunError

LOCK_NAME = ".lock"


def new_run_id(track: str, task: int, kind: str = "replay") -> str:
    """A unique, sortable run id such as ``replay-mini-t01-20261126-153000-ab12cd34`` (4 random bytes:
    with 2, runs started in the same second collided now and then)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^A-Za-z0-9._-]", "-", track)  # a track is a branch name and may hold '/'
    return f"{kind}-{name}-t{task:02d}-{stamp}-{os.urandom(4).hex()}"


class Terminated(KeyboardInterrupt):
    """SIGTERM: the process is stopped from outside (its parent died, its session ended), not by
    Ctrl-C. Jobs on a cluster are left to run then, for a resume to re-attach to."""


class _SubmissionGate:
    """The job submissions in flight in this process (in any thread), a SIGTERM held back while
    there are some, and whether the process is stopping (then no submission starts)."""

    def __init__(self):
        self.lock = threading.RLock()  # re-entrant: the SIGTERM handler runs on a thread that may hold it
        self.in_flight = 0
        self.held: int | None = None
        self.closed = False


_gate = _SubmissionGate()


@contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt), so a killed run
    saves its state first; one that arrives during a :func:`job_submission` is raised once every
    submission in flight has ended."""

    def interrupt(signum, frame):
        with _gate.lock:
            if _gate.in_flight:
                _gate.held = signum
                return
            _gate.closed = True
        raise Terminated(f"signal {signum}")

    with _gate.lock:
        _gate.held, _gate.closed = None, False
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def job_submission():
    """Submitting a job and noting its id where a resume finds it. On a cluster the job outlives
    this process, so a SIGTERM between the two would leave a job that no run knows, and a resume
    would submit it again: a SIGTERM that arrives meanwhile, in any thread, is raised only when
    every submission in flight has ended, and once the process is stopping none starts."""
    with _gate.lock:
        if _gate.closed:
            raise Terminated("the process is stopping: no job is submitted")
        _gate.in_flight += 1
    try:
        yield
    finally:
        with _gate.lock:
            _gate.in_flight -= 1
            held = _gate.held if not _gate.in_flight else None
            if held:
                _gate.held = None
        if held:
            os.kill(os.getpid(), held)  # the main thread's handler raises it now


@contextmanager
def run_lock(folder: Path, run_id: str):
    """Hold a run folder while this process runs it: a second process that tries to run or resume
    the same run gets one clear error instead of writing beside it. The lock is the kernel's
    (``flock``), so it is released when the holder exits, however it exits."""
    with open(Path(folder) / LOCK_NAME, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise SpeedrunError(f"run {run_id} is being run by another process (pid {holder}); let it finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def die_with_parent() -> None:
    """In the child: get SIGTERM if the harness dies (even by SIGKILL), so no run is orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
