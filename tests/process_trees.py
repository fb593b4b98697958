"""A Python program run as the child of a shell in a session of its own (as the probe worker runs
inside the sandbox's process), its whole group killed when the test is done with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys


@contextlib.contextmanager
def program_under_shell(program: str, then: str = "exit"):
    """Popen of ``sh -c 'python -c PROGRAM; THEN'`` (stdout a text pipe); the shell stays the parent."""
    proc = subprocess.Popen(
        ["sh", "-c", f'{sys.executable} -c "{program}"; {then}'],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
