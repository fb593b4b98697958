"""Executors: launch a record's entry script, stream and keep its log, stop it from outside.

The local executor runs a subprocess (``python`` on CPU, ``torchrun --nproc_per_node`` when
the record uses torchrun and GPUs exist). It never edits the script: ``max_steps`` ends a
run by watching its step lines and terminating the process group once step K is printed
(the run is then *partial*), ``time_limit_s`` ends it from a timer, and ``max_log_bytes`` ends a run
whose log grows past it (``Exit.log_capped``; graded as failed). The harness measures
wall-clock and CPU time (user + system of the run and the children it waited for) itself,
next to the ``train_time`` the script reports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from replay.run.provenance import gpu_names
from replay.run.sandbox import Sandbox
from replay.score.grading import Exit
from replay.score.log_parser import LogParser, StepLine
from replay.score.step_timing import stamp

DEFAULT_MAX_LOG_BYTES = 64 * 2**20
_READ_CHARS = 2**20  # a line longer than this is read (and logged) in pieces: memory stays bounded


@dataclass(frozen=True)
class LaunchSpec:
    """How to launch one run. Everything that changes the result belongs here (it is cached)."""

    workdir: Path
    entry: str
    args: tuple[str, ...] = ()
    launcher: str = "python"
    nproc: int = 1
    env: dict[str, str] = field(default_factory=dict)
    python: str = sys.executable
    max_steps: int | None = None
    time_limit_s: float | None = None
    readable: tuple[Path, ...] = ()  # data files or folders a sandboxed run may read (nothing else outside scratch)
    max_log_bytes: int | None = DEFAULT_MAX_LOG_BYTES  # a run printing more is stopped (Exit.log_capped)


class Executor(Protocol):
    """The interface every executor (local, Slurm) implements."""

    def run(self, spec: LaunchSpec, log_path: Path, on_step: Callable[[StepLine], None] | None = None) -> Exit: ...


def launch_command(spec: LaunchSpec, gpus: int) -> list[str]:
    """The command line for a spec on a machine with ``gpus`` GPUs."""
    if spec.launcher == "torchrun" and gpus > 0:
        nproc = min(spec.nproc, gpus)
        return [
            spec.python,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            spec.entry,
            *spec.args,
        ]
    return [spec.python, "-u", spec.entry, *spec.args]


class LocalExecutor:
    """Runs on this machine as a child process group."""

    def __init__(self, gpus: int | None = None, sandbox: Sandbox | None = None):
        self.gpus = len(gpu_names()) if gpus is None else gpus
        self.sandbox = sandbox  # confinement for untrusted code (replay/run/sandbox.py); None runs as is

    def run(self, spec: LaunchSpec, log_path: Path, on_step: Callable[[StepLine], None] | None = None) -> Exit:
        command = launch_command(spec, self.gpus)
        if self.sandbox is not None:  # refuses (SandboxUnavailable) where it cannot confine and may not skip
            command = self.sandbox.wrap(command, spec.workdir, readable=spec.readable, env=spec.env)
        env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
        log_path.parent.mkdir(parents=True, exist_ok=True)
        parser = LogParser()
        stopped = threading.Event()
        timed_out = threading.Event()
        capped = False
        written = 0
        step_clock = []
        start = time.perf_counter()
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                command,
                cwd=spec.workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                start_new_session=True,
                preexec_fn=self._prepare_child,
            )
            group = _Group(proc)
            timer = None
            if spec.time_limit_s:
                timer = threading.Timer(spec.time_limit_s, lambda: (timed_out.set(), group.kill()))
                timer.daemon = True
                timer.start()
            try:
                while line := proc.stdout.readline(_READ_CHARS):
                    if capped:
                        continue  # drained, not kept, until the stopped run's output ends
                    written += len(line.encode(errors="replace"))
                    if spec.max_log_bytes is not None and written > spec.max_log_bytes and not stopped.is_set():
                        capped = True
                        log.write(f"\n[speedrun] log exceeded {spec.max_log_bytes} bytes: run stopped\n")
                        log.flush()
                        group.kill()
                        continue
                    log.write(line)
                    step = parser.feed(line)
                    if step is None:
                        continue
                    step_clock.append(stamp(time.perf_counter() - start, step))
                    if on_step:
                        on_step(step)
                    if spec.max_steps is not None and step.step >= spec.max_steps and not stopped.is_set():
                        log.flush()
                        stopped.set()
                        group.kill()
                cpu_s = group.reap()
            except BaseException:
                group.kill()
                group.reap()
                raise
            finally:
                if timer:
                    timer.cancel()
                proc.stdout.close()
        return Exit(
            returncode=self.sandbox.returncode(proc.returncode) if self.sandbox else proc.returncode,
            wall_s=time.perf_counter() - start,
            stopped_at_max_steps=stopped.is_set(),
            timed_out=timed_out.is_set() and not stopped.is_set() and not capped,
            command=tuple(command),
            log_capped=capped,
            cpu_s=round(cpu_s, 3),
            step_clock=tuple(step_clock),
        )

    def _prepare_child(self) -> None:
        """In the child, before exec."""
        _die_with_parent()
        if self.sandbox is not None:
            self.sandbox.limit_resources(self.gpus)


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the harness dies (even by SIGKILL), so no run is orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class _Group:
    """A run's process group: signalled as a whole, its leader reaped exactly once.

    Only :meth:`reap` collects the leader's exit (with ``wait4``, which also reports the CPU time
    it and every child it waited for used); the checks before signalling look without reaping,
    so no other thread can take the exit status or signal a recycled pid."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.reaped = threading.Event()

    def exited(self) -> bool:
        if self.reaped.is_set():
            return True
        try:
            return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def reap(self) -> float:
        """Wait for the leader and set its return code; return its CPU seconds (user + system)."""
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.reaped.set()
        return usage.ru_utime + usage.ru_stime

    def kill(self, grace_s: float = 5.0) -> None:
        """Terminate the whole group (torchrun workers too), then kill what is left after grace_s."""
        if self.exited():
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return

        def escalate():
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline:
                if self.exited():
                    return
                time.sleep(0.05)
            if not self.reaped.is_set():
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        threading.Thread(target=escalate, daemon=True).start()
