"""The sandboxed probe worker as a process: started on demand inside the sandbox that confines every
run of untrusted code (:mod:`replay.run.sandbox`), asked one script at a time over its pipes
(:mod:`analysis.probe_worker` gives the protocol), replaced after a failure. A
:class:`~analysis.probes.Prober` holds one of its own, or asks the warm server
(:mod:`analysis.probe_server`) that holds one for many processes."""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analysis import probe_worker
from replay.run.machine_load import tree_cpu_seconds

# a request may use the CPU time the worker (its process tree) could use in REQUEST_TIMEOUT_S on an idle
# machine, every CPU busy, so that a busy machine, which gives it less of each second, does not turn a
# slow measurement into a failure; a worker that waits on nothing is given up after WALL_LIMIT_S (below
# the server's clients' own wait)
REQUEST_TIMEOUT_S = 30.0
CPUS = os.cpu_count() or 1
WALL_LIMIT_S = 3 * REQUEST_TIMEOUT_S
POLL_S = 1.0
# measurements are cached, and servers named, per version of the worker's code
WORKER_VERSION = hashlib.sha256(Path(probe_worker.__file__).read_bytes()).hexdigest()[:12]


class Worker:
    """The sandboxed worker process (:mod:`analysis.probe_worker`): started on demand, asked one script
    at a time, replaced after a failure."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.proc: subprocess.Popen | None = None
        self.workdir: Path | None = None
        self.sent_at = 0.0  # monotonic clock when the last request was sent

    def start(self) -> None:
        """Start the process unless it runs; it imports torch while the caller goes on."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.close()
        self.workdir = Path(tempfile.mkdtemp(prefix="speedrun-probe-"))
        shutil.copyfile(probe_worker.__file__, self.workdir / "probe_worker.py")
        # what a measured script may have written, emptied after each script: the scratch folder
        # always, the private /tmp and /dev/shm only inside the sandbox (unsandboxed they are the host's)
        scratch = [str(self.workdir)] + ([] if self.sandbox.allow_unsandboxed else ["/tmp", "/dev/shm"])
        command = self.sandbox.wrap([sys.executable, "probe_worker.py", *scratch], self.workdir)
        self.proc = subprocess.Popen(
            command,
            cwd=self.workdir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            env=self.sandbox.environment(interpreter=sys.executable),
            preexec_fn=lambda: self.sandbox.limit_resources(0),
        )

    def ask(self, text: str, probes: list[str]) -> dict[str, dict]:
        """probe -> {"value", "why"}; a failure of the process answers "probe worker: ..." for each."""
        self.send(text, probes)
        return self.receive(probes)

    def send(self, text: str, probes: list[str]) -> None:
        """The first half of :meth:`ask`: the worker measures while the caller goes on."""
        self.start()
        self.sent_at = time.monotonic()
        try:
            self.proc.stdin.write(json.dumps({"script": text, "probes": probes}) + "\n")
            self.proc.stdin.flush()
        except OSError:
            self.close()  # receive() answers the failure

    def receive(self, probes: list[str]) -> dict[str, dict]:
        """The answer to the request sent last."""
        try:
            if self.proc is None:
                raise EOFError("the probe worker ended")
            await_answer(self.proc, self.sent_at)
            line = self.proc.stdout.readline()
            if not line:
                raise EOFError("the probe worker ended")
            return json.loads(line)
        except (OSError, ValueError, TimeoutError, EOFError) as exc:
            self.close()  # a fresh worker for the next script
            return failed(probes, f"probe worker: {exc}")

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def await_answer(proc: subprocess.Popen, sent: float) -> None:
    """Wait until ``proc`` has a line to read. TimeoutError once its process tree has used
    REQUEST_TIMEOUT_S of every CPU's time since the request was sent (where that cannot be read,
    REQUEST_TIMEOUT_S of wall-clock time), or WALL_LIMIT_S of wall-clock time have passed. The
    process tree is read only once a poll goes unanswered (most answers come sooner): until then
    the wall-clock counts, an over-estimate of its CPU share."""
    first: tuple[float, float] | None = None  # (wall-clock waited, tree CPU) at the first unanswered poll
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not sel.select(POLL_S):
            waited = time.monotonic() - sent
            now = tree_cpu_seconds(proc.pid)
            if first is None and now is not None:
                first = (waited, now)
            used = first[0] + (now - first[1]) / CPUS if first is not None and now is not None else waited
            if used >= REQUEST_TIMEOUT_S:
                raise TimeoutError(f"no answer within {REQUEST_TIMEOUT_S * CPUS:.0f} s of CPU time")
            if waited >= WALL_LIMIT_S:
                raise TimeoutError(f"no answer within {WALL_LIMIT_S:.0f} s")


def failed(probes: list[str], why: str) -> dict[str, dict]:
    """The answer for probes that could not be measured at all."""
    return {p: {"value": None, "why": why} for p in probes}
