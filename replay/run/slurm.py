"""The Slurm executor: one job per training run (and the harness's evaluation of it), through submitit.

A job runs the same :class:`~replay.run.executor.RunTask` the local executor runs, on a node: the
scratch folder is filled there from the work repository, the record's launcher (``torchrun
--nproc_per_node`` on the GPUs Slurm allocated) runs inside the same sandbox, the harness
evaluates the saved model, and the job hands back the exit and where it ran. Everything lives on
the shared filesystem under the run's folder (``runs/<run-id>/``): logs, scratch, and submitit's
own files in ``jobs/<job-id>/``. The job id goes into run.json when the job is submitted, so
another process can re-attach to it (:meth:`SlurmExecutor.attach`).

Whether a job is done is read from its result file and from ``squeue`` (one call for every job
this process watches, at most every few seconds): clusters without an accounting database have
no ``sacct``, and a job that left the queue without a result is *lost* (its node died, or it was
cancelled outside speedrun): the replayer runs it again. A preempted job (or one that reaches its
time limit) is requeued by submitit; its run starts again from scratch, since a timed run is one
uninterrupted run. Cluster settings come from a ``[slurm]`` table (:mod:`replay.run.cluster_config`),
never from code.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import submitit

from replay.errors import SpeedrunError
from replay.run.cluster_config import SlurmConfig
from replay.run.executor import JobLost, JobRef, LaunchSpec, Outcome, RunTask
from replay.run.log_follower import LogFollower
from replay.run.provenance import gpu_names
from replay.run.sandbox import Sandbox, default_memory_bytes
from replay.score.log_parser import StepLine

JOBS_DIR = "jobs"
EVALUATION_MARGIN_S = 600  # the harness's evaluation after training (its own limit, replay/run/evaluator.py)


def sbatch_parameters(config: SlurmConfig, spec: LaunchSpec, name: str) -> dict:
    """submitit's SlurmExecutor parameters for one run: one task on one node, the record's GPUs (at most
    ``gpus_per_node``), the config's settings; a setting not made is left to the cluster's defaults."""
    minutes = config.time or math.ceil(((spec.time_limit_s or 600) + EVALUATION_MARGIN_S) / 60) + 5
    wanted = {
        "job_name": f"speedrun-{name}",
        "nodes": 1,
        "ntasks_per_node": 1,
        "time": minutes,
        "gpus_per_node": min(spec.nproc, config.gpus_per_node) or None,
        "cpus_per_task": config.cpus_per_task,
        "partition": config.partition,
        "account": config.account,
        "qos": config.qos,
        "mem": config.mem,
        "constraint": config.constraint,
        "setup": list(config.setup) or None,
    }
    return {key: value for key, value in wanted.items() if value is not None}


class SlurmRun(submitit.helpers.Checkpointable):
    """What a Slurm job calls. Checkpointable: preempted or timed out, it is requeued with the same task
    (which starts the run afresh)."""

    def __init__(self, task: RunTask, sandbox: Sandbox | None, gpus: int):
        self.task, self.sandbox, self.gpus = task, sandbox, gpus

    def __call__(self) -> Outcome:
        sandbox = self.sandbox
        if sandbox is not None and sandbox.memory_bytes:  # the cap follows the node's memory, not the login node's
            sandbox = replace(sandbox, memory_bytes=default_memory_bytes())
        return self.task.execute(min(self.gpus, len(gpu_names())), sandbox)


class _Queue:
    """The states ``squeue`` reports for the jobs this process watches, asked at most every ``poll_s``."""

    def __init__(self, poll_s: float):
        self.poll_s = poll_s
        self.watched: set[str] = set()
        self.states: dict[str, str] | None = None
        self.asked = -math.inf
        self.lock = threading.Lock()

    def state(self, job_id: str) -> str | None:
        """The job's queue state (PENDING, RUNNING, ...), '' when it is not in the queue, or None
        when the queue cannot be read now (the controller is down): then nothing is concluded."""
        with self.lock:
            if job_id not in self.watched:
                self.watched.add(job_id)
                self.asked = -math.inf
            if time.monotonic() - self.asked >= self.poll_s:
                self.states = self._ask()
                self.asked = time.monotonic()
            return None if self.states is None else self.states.get(job_id, "")

    def forget(self, job_id: str) -> None:
        """Stop asking about a job that has ended."""
        with self.lock:
            self.watched.discard(job_id)

    def _ask(self) -> dict[str, str] | None:
        ids = ",".join(sorted(self.watched))
        try:
            out = subprocess.run(["squeue", "-h", "-o", "%i %T", "-j", ids], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if out.returncode != 0:
            return {} if "Invalid job id" in out.stderr else None
        return dict(line.split(maxsplit=1) for line in out.stdout.splitlines() if line.strip())


class SlurmJob:
    """A submitted Slurm job (see :class:`~replay.run.executor.Job`)."""

    def __init__(self, job: submitit.SlurmJob, ref: JobRef, queue: _Queue, follower: LogFollower | None = None):
        self.job, self.ref, self.queue = job, ref, queue
        self.poll_s = queue.poll_s
        self.follower = follower  # reports the run's step lines as its node writes them

    def _has_result(self) -> bool:
        return self.job.paths.result_pickle.exists()

    def state(self) -> str | None:
        """'DONE' (a result is there), the queue's state, '' (gone without a result) or None (unknown)."""
        if self._has_result():
            return "DONE"
        state = self.queue.state(self.ref.job_id)
        return "DONE" if state == "" and self._has_result() else state  # it may have finished just now

    def done(self) -> bool:
        if self.follower is not None:
            self.follower.poll()  # whoever waits on the job sees its progress, however it waits
        return self.state() in ("DONE", "")

    def result(self) -> Outcome:
        while not self.done():
            time.sleep(self.poll_s)
        if self.follower is not None:
            self.follower.poll()  # the lines written just before the end
        if not self._has_result():
            raise JobLost(f"Slurm job {self.ref.job_id} left the queue without a result (cancelled or its node failed)")
        self.queue.forget(self.ref.job_id)
        try:
            return self.job.result()
        except submitit.core.utils.FailedJobError as failed:
            lines = [line for line in str(failed).splitlines() if line.strip() and not line.startswith("-")]
            raise SpeedrunError(f"Slurm job {self.ref.job_id} failed on its node: {lines[-4:]}") from None

    def cancel(self) -> None:
        subprocess.run(["scancel", self.ref.job_id], capture_output=True, timeout=60)


def _follower(task: RunTask, on_step: Callable[[StepLine], None] | None) -> LogFollower | None:
    return LogFollower(task.log_path, on_step) if on_step else None


class SlurmExecutor:
    """Submits each task as one Slurm job with the settings of a :class:`SlurmConfig`."""

    name = "slurm"
    jobs_outlive_process = True

    def __init__(self, config: SlurmConfig, sandbox: Sandbox | None = None, poll_s: float = 2.0):
        if not shutil.which("sbatch"):
            raise SpeedrunError(
                "--executor slurm: no sbatch on PATH; run speedrun on a Slurm login node (a test machine: .ci/slurm-up)"
            )
        self.config = config
        self.sandbox = sandbox
        self.gpus = config.gpus_per_node
        self.queue = _Queue(poll_s)

    def submit(self, task: RunTask, on_step: Callable[[StepLine], None] | None = None) -> SlurmJob:
        """Submit one job; ``on_step`` hears its step lines, read from its log on the shared filesystem
        while the job is waited for."""
        folder = Path(task.folder or task.log_path.parent) / JOBS_DIR / "%j"
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=3)
        executor.update_parameters(**sbatch_parameters(self.config, task.spec, task.log_path.stem))
        try:
            job = executor.submit(SlurmRun(task, self.sandbox, min(task.spec.nproc, self.gpus)))
        except submitit.core.utils.FailedJobError as exc:
            detail = [line for line in str(exc).splitlines() if line.strip()]
            raise SpeedrunError(f"sbatch refused the job: {detail[-1] if detail else exc}") from None
        return SlurmJob(job, JobRef(self.name, str(job.job_id), str(folder)), self.queue, _follower(task, on_step))

    def attach(
        self, ref: JobRef, task: RunTask | None = None, on_step: Callable[[StepLine], None] | None = None
    ) -> SlurmJob | None:
        """The saved job if it is still queued or running, or finished with a result; None if it is lost.
        Given the job's task, ``on_step`` hears its step lines as :meth:`submit`'s does."""
        if not ref.folder:
            return None
        job = submitit.SlurmJob(folder=ref.folder, job_id=ref.job_id)
        handle = SlurmJob(job, ref, self.queue, _follower(task, on_step) if task else None)
        state = handle.state()
        return None if state == "" else handle

    def describe(self) -> dict:
        return {"name": self.name, "slurm": self.config.to_json()}

    def hardware(self) -> dict:
        """The nodes a job may get: its partition and constraint, and the GPUs it may ask for."""
        config = self.config
        return {"slurm": {"partition": config.partition, "constraint": config.constraint, "gpus": config.gpus_per_node}}
