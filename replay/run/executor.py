"""Executors: place jobs (one training run and what the harness does after it), run them, stop them.

An executor takes a :class:`RunTask` and returns a job at once (:meth:`submit`): a handle with
``done``, ``result`` and ``cancel`` and a :class:`JobRef` (executor and job id, saved in run.json)
from which a later process may re-attach (:meth:`attach`). ``run`` is the blocking form. A task is
one job wherever it runs: its scratch folder is filled from the work repository, the record's
launcher runs, then (harness-measured records) the harness evaluates the model the run saved,
and the scratch folder is removed; the job also says where it ran (:func:`where_it_ran`).

The local executor runs a subprocess (``python`` on CPU, ``torchrun --nproc_per_node`` when
the record uses torchrun and GPUs exist); the Slurm executor (:mod:`replay.run.slurm`) runs the
same task on a node. Neither edits the script: ``max_steps`` ends a
run by watching its step lines and terminating the process group once step K is printed
(the run is then *partial*), ``time_limit_s`` ends it from a timer, and ``max_log_bytes`` ends a run
whose log grows past it (``Exit.log_capped``; graded as failed). The harness measures
wall-clock and CPU time (user + system of the run and the children it waited for) itself,
next to the ``train_time`` the script reports.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import pygit2

from replay.data import datasets
from replay.errors import SpeedrunError
from replay.records.store import materialize
from replay.run.evaluator import evaluate_model
from replay.run.lifecycle import Terminated, die_with_parent
from replay.run.machine_load import busy_cpu_seconds, other_cpus
from replay.run.provenance import gpu_names, hardware, nvidia_driver
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


@dataclass(frozen=True)
class Checkout:
    """The code a job runs: a tree of the work repository, and the dataset its scratch folder links to."""

    work_repo: Path
    tree: str
    data: str | None = None


@dataclass(frozen=True)
class HarnessEvaluation:
    """After training, the harness evaluates the model the run saved (harness-measured records)."""

    model_file: str
    data: str | None


@dataclass(frozen=True)
class Outcome:
    """What a job hands back: the run's exit and where it ran."""

    exit: Exit
    node: dict


@dataclass(frozen=True)
class RunTask:
    """One job: fill the scratch folder (``checkout``), launch, evaluate (``evaluation``), clean up.
    Picklable, so a cluster node can run it."""

    spec: LaunchSpec
    log_path: Path
    checkout: Checkout | None = None  # None: spec.workdir is ready and stays
    evaluation: HarnessEvaluation | None = None
    folder: Path | None = None  # the run's folder, where an executor may keep its own files

    def execute(
        self,
        gpus: int,
        sandbox: Sandbox | None,
        on_step: Callable[[StepLine], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> Outcome:
        scratch = self.spec.workdir
        if self.checkout is not None:  # afresh: a requeued job never sees what an earlier attempt left
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.parent.mkdir(parents=True, exist_ok=True)
            materialize(pygit2.Repository(str(self.checkout.work_repo)), self.checkout.tree, scratch)
            datasets.link_into(self.checkout.data, scratch)
        try:
            exit = run_process(self.spec, self.log_path, gpus, sandbox, on_step, cancel)
            wanted = self.evaluation
            if wanted and exit.returncode == 0 and not exit.stopped_at_max_steps and not (cancel and cancel.cancelled):
                evaluated = evaluate_model(
                    scratch,
                    self.spec.entry,
                    wanted.model_file,
                    self.spec.python,
                    datasets.validation(wanted.data),
                    self.log_path.with_suffix(".eval.txt"),
                    env={**os.environ, **self.spec.env},
                    sandbox=sandbox,
                )
                exit = replace(exit, evaluation=evaluated)
            return Outcome(exit, where_it_ran(gpus))
        finally:
            if self.checkout is not None:
                shutil.rmtree(scratch, ignore_errors=True)


def where_it_ran(gpus: int) -> dict:
    """The hardware a job ran on (saved with each run): node, GPU model and count, driver, Slurm job."""
    names = gpu_names()
    return {
        "node": socket.gethostname(),
        "gpus": gpus,
        "gpu_model": names[0] if names and gpus else None,
        "driver": nvidia_driver() if names and gpus else None,
        "slurm_job": os.environ.get("SLURM_JOB_ID"),
    }


@dataclass(frozen=True)
class JobRef:
    """What run.json keeps of a submitted job, to re-attach to it from another process."""

    executor: str
    job_id: str
    folder: str | None = None  # where the executor keeps the job's own files (Slurm: submitit's folder)

    @classmethod
    def from_json(cls, data: dict) -> JobRef:
        try:
            return cls(str(data["executor"]), str(data["job_id"]), data.get("folder"))
        except (KeyError, TypeError):
            raise SpeedrunError(f"a job entry in run.json is damaged: {data!r}") from None


class Job(Protocol):
    """A submitted task: poll it, wait for it, or cancel it."""

    ref: JobRef
    poll_s: float  # how often it is worth asking whether it is done

    def done(self) -> bool: ...

    def result(self) -> Outcome: ...  # waits; raises if the job failed, was cancelled or was lost

    def cancel(self) -> None: ...


class Executor(Protocol):
    """The interface every executor (local, Slurm) implements."""

    name: str
    gpus: int  # GPUs a run gets where this executor places it (described in run.json)
    sandbox: Sandbox | None
    jobs_outlive_process: bool  # its jobs keep running when the process that submitted them dies

    def submit(self, task: RunTask, on_step: Callable[[StepLine], None] | None = None) -> Job: ...

    def attach(  # None: the job is gone (resubmit it); given its task, on_step hears its step lines
        self, ref: JobRef, task: RunTask | None = None, on_step: Callable[[StepLine], None] | None = None
    ) -> Job | None: ...

    def describe(self) -> dict: ...  # for run.json: enough to build the same executor again

    def hardware(self) -> dict: ...  # what decides the hardware a run gets here (part of the cache key)


def leave_running(interrupt: KeyboardInterrupt, executor: Executor) -> bool:
    """Whether an interrupted run leaves its jobs running rather than cancelling them: a cluster's
    jobs, when the process is stopped from outside (SIGTERM), so that a resume re-attaches to
    them; Ctrl-C cancels them, and local runs end with their process either way."""
    return isinstance(interrupt, Terminated) and executor.jobs_outlive_process


def as_completed(jobs: Iterable[Job]) -> Iterator[Job]:
    """Yield jobs as they finish, polling each no more often than it asks."""
    waiting = list(jobs)
    while waiting:
        finished = [job for job in waiting if job.done()]
        for job in finished:
            waiting.remove(job)
            yield job
        if waiting and not finished:
            time.sleep(min(job.poll_s for job in waiting))


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


def run_process(
    spec: LaunchSpec,
    log_path: Path,
    gpus: int,
    sandbox: Sandbox | None = None,
    on_step: Callable[[StepLine], None] | None = None,
    cancel: CancelToken | None = None,
) -> Exit:
    """Run ``spec`` to its end as a child process group on this machine, keeping its log."""
    command = launch_command(spec, gpus)
    if sandbox is not None:  # refuses (SandboxUnavailable) where it cannot confine and may not skip
        command = sandbox.wrap(command, spec.workdir, readable=spec.readable, env=spec.env)
    env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    parser = LogParser()
    stopped = threading.Event()
    timed_out = threading.Event()
    capped = False
    written = 0
    step_clock = []
    start = time.perf_counter()

    def prepare_child() -> None:
        die_with_parent()
        if sandbox is not None:
            sandbox.limit_resources(gpus)

    busy_before = busy_cpu_seconds()
    with open(log_path, "w", buffering=1) as log:  # line by line: a cluster job's log is followed live
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
            preexec_fn=prepare_child,
        )
        group = _Group(proc)
        if cancel is not None:
            cancel.attach(group.kill)
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
    wall_s = time.perf_counter() - start
    return Exit(
        returncode=sandbox.returncode(proc.returncode) if sandbox else proc.returncode,
        wall_s=wall_s,
        stopped_at_max_steps=stopped.is_set(),
        timed_out=timed_out.is_set() and not stopped.is_set() and not capped,
        command=tuple(command),
        log_capped=capped,
        cpu_s=round(cpu_s, 3),
        # only CPU runs: a GPU run's time is the GPUs', and a multi-GPU node's other jobs use its CPUs by design
        other_cpus=other_cpus(busy_before, busy_cpu_seconds(), cpu_s, wall_s) if gpus == 0 else None,
        step_clock=tuple(step_clock),
    )


class CancelToken:
    """Cancels one job from another thread: a job not started never starts, a running one has its
    process group killed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._kill: Callable[[], None] | None = None
        self.cancelled = False

    def attach(self, kill: Callable[[], None]) -> None:
        with self._lock:
            self._kill = kill
            if self.cancelled:
                kill()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._kill is not None:
                self._kill()


class JobLost(SpeedrunError):
    """The job left its queue without a result (its node failed, or it was cancelled from outside)."""


class JobCancelled(SpeedrunError):
    """The job was cancelled before it finished: it has no result."""


class LocalJob:
    """A job of the local executor: a thread that runs one task when a slot is free."""

    poll_s = 0.05

    def __init__(self, ref: JobRef, task: RunTask, on_step: Callable[[StepLine], None] | None, executor: LocalExecutor):
        self.ref = ref
        self.task = task
        self.on_step = on_step
        self.executor = executor
        self.token = CancelToken()
        self.started_at: float | None = None  # time.monotonic() when the job got its slot; None while queued
        self._done = threading.Event()
        self._outcome: Outcome | None = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> Outcome:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._outcome

    def cancel(self, wait_s: float = 10.0) -> None:
        """Stop the job: a queued one is dropped, a running one's process group killed; returns once
        it has ended (or after ``wait_s``), so no run outlives the replay that cancelled it."""
        self.token.cancel()
        self.executor._drop(self)
        self._done.wait(wait_s)

    def _finish(self, outcome: Outcome | None = None, error: BaseException | None = None) -> None:
        self._outcome, self._error = outcome, error
        self._done.set()


class LocalExecutor:
    """Runs jobs on this machine, each as a child process group, at most ``jobs`` at a time.

    Jobs start in the order they were submitted. On a GPU machine each job gets GPUs of its own
    (``CUDA_VISIBLE_DEVICES``; as many as the record's nproc, at most all of them) and waits until
    that many are free, so by default as many jobs run at once as the GPUs allow. Without GPUs a
    run's PyTorch uses every core, and runs that shared the cores would time each other: one job
    at a time unless ``jobs`` asks for more."""

    name = "local"
    jobs_outlive_process = False  # its runs get SIGTERM when this process dies

    def __init__(self, gpus: int | None = None, sandbox: Sandbox | None = None, jobs: int | None = None):
        self.gpus = len(gpu_names()) if gpus is None else gpus
        self.sandbox = sandbox  # confinement for untrusted code (replay/run/sandbox.py); None runs as is
        if jobs is not None and jobs < 1:
            raise SpeedrunError(f"--jobs must be at least 1, not {jobs}")
        self.jobs = jobs or max(1, self.gpus)
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        self._free_gpus = visible.split(",")[: self.gpus] if visible else [str(i) for i in range(self.gpus)]
        self._lock = threading.Lock()
        self._queue: deque[LocalJob] = deque()
        self._running = 0
        self._ids = itertools.count(1)

    def submit(self, task: RunTask, on_step: Callable[[StepLine], None] | None = None) -> LocalJob:
        job = LocalJob(JobRef(self.name, f"{os.getpid()}.{next(self._ids)}"), task, on_step, self)
        with self._lock:
            self._queue.append(job)
            self._dispatch()
        return job

    def attach(
        self, ref: JobRef, task: RunTask | None = None, on_step: Callable[[StepLine], None] | None = None
    ) -> None:
        """Local jobs end with the process that ran them (their runs get SIGTERM with it): nothing to re-attach."""
        return None

    def run(self, spec: LaunchSpec, log_path: Path, on_step: Callable[[StepLine], None] | None = None) -> Exit:
        """Run one launch to its end (submit, then wait; Ctrl-C kills it)."""
        job = self.submit(RunTask(spec, log_path), on_step)
        try:
            return job.result().exit
        except BaseException:
            job.cancel()
            raise

    def describe(self) -> dict:
        return {"name": self.name, "jobs": self.jobs, "gpus": self.gpus}

    def hardware(self) -> dict:
        return asdict(hardware())

    def _drop(self, job: LocalJob) -> None:
        """Take a cancelled job out of the queue if it has not started."""
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)
                job._finish(error=JobCancelled(f"job {job.ref.job_id} was cancelled before it started"))

    def _dispatch(self) -> None:
        """Start queued jobs while slots and GPUs are free (called with the lock held)."""
        while self._queue and self._running < self.jobs:
            job = self._queue[0]
            wanted = min(job.task.spec.nproc, self.gpus)
            if len(self._free_gpus) < wanted:
                return
            self._queue.popleft()
            job.started_at = time.monotonic()
            devices = [self._free_gpus.pop(0) for _ in range(wanted)]
            self._running += 1
            threading.Thread(target=self._work, args=(job, devices), daemon=True).start()

    def _work(self, job: LocalJob, devices: list[str]) -> None:
        try:
            task = job.task
            if devices:
                task = replace(
                    task, spec=replace(task.spec, env={**task.spec.env, "CUDA_VISIBLE_DEVICES": ",".join(devices)})
                )
            outcome = task.execute(len(devices) if self.gpus else 0, self.sandbox, job.on_step, job.token)
            if job.token.cancelled:
                job._finish(error=JobCancelled(f"job {job.ref.job_id} was cancelled"))
            else:
                job._finish(outcome)
        except BaseException as exc:  # handed to whoever waits for the result
            job._finish(error=exc)
        finally:
            with self._lock:
                self._free_gpus.extend(devices)
                self._running -= 1
                self._dispatch()


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
