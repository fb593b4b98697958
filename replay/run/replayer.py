"""A replay: baseline, ground truth and candidate branches of one task, N times each, interleaved.

Runs go in rounds, A B C, B C A, C A B ..., on the same machine, so drift in machine speed hits
every side alike and no side holds one place in every round.
``run.json`` (the run log, :mod:`replay.run.runlog`) is written with status ``started`` before
the first run, after every run, and with the graded summary last; an interrupted replay
resumes from it (and from the result cache) without repeating finished runs. Candidate
branches are untrusted code: they run in the sandbox of :mod:`replay.run.sandbox` (no network,
nothing visible but their scratch folder, their data files and a read-only interpreter;
``--unsandboxed`` runs them as they are).
"""

from __future__ import annotations

import glob
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pygit2

from replay import paths
from replay.data import datasets
from replay.errors import SpeedrunError
from replay.records.schema import RecordMeta, parse_record_toml
from replay.records.script_rules import protected_violations, whole_record_violations
from replay.records.store import Record, RecordsStore, Task, python_files
from replay.records.workrepo import open_work_repo, resolve_branch
from replay.run import venvs
from replay.run.executor import (
    Checkout,
    Executor,
    HarnessEvaluation,
    Job,
    JobLost,
    JobRef,
    LaunchSpec,
    LocalExecutor,
    Outcome,
    RunTask,
    as_completed,
    leave_running,
)
from replay.run.lifecycle import job_submission, new_run_id, run_lock, sigterm_as_interrupt
from replay.run.provenance import provenance, python_environment
from replay.run.result_cache import ResultCache, cache_key
from replay.run.runlog import ReplayRequest, ReplayState, RunEntry, Side, load_run
from replay.run.sandbox import untrusted_sandbox
from replay.score.grading import Exit, grade
from replay.score.log_parser import StepLine
from replay.score.replay_report import OTHER_CPUS_LIMIT, summarize, write_reports
from replay.statuses import Measure, Role, RunStatus

MODEL_OUT_VARIABLE = "SPEEDRUN_MODEL_OUT"  # where a harness-measured script saves its trained model
MODEL_FILE = "model.pt"
LOST_JOB_RETRIES = 2  # a job that leaves the queue without a result is submitted again this many times


@dataclass
class Progress:
    """Callbacks for a progress display; the default shows nothing."""

    start_run: Callable[[str, int, int], None] = lambda side, replicate, runs: None
    step: Callable[[str, int, StepLine], None] = lambda side, replicate, step: None
    end_run: Callable[[dict], None] = lambda record: None


def load_state(run_id: str) -> ReplayState:
    return load_run(run_id, "replay")


def round_order(sides: list[Side], replicate: int) -> list[Side]:
    """The order of round ``replicate``: the sides rotated by one place per round, so that no side
    always runs first (after the previous round's last run) or last. With as many rounds as sides
    every side holds every position once, and an order effect of the machine (warm caches, a
    neighbour's load that fades) cancels in the paired differences instead of biasing them."""
    shift = replicate % len(sides) if sides else 0
    return sides[shift:] + sides[:shift]


def plan_sides(store: RecordsStore, work: pygit2.Repository, task: Task, branches: tuple[str, ...]) -> list[Side]:
    """Baseline (record i), ground truth (record i+1), then each branch, pinned to commits."""
    sides = [
        Side(Role.BASELINE, Role.BASELINE, task.start.label, task.start.commit_id, task.start.tree_id),
        Side(Role.GROUND_TRUTH, Role.GROUND_TRUTH, task.target.label, task.target.commit_id, task.target.tree_id),
    ]
    for branch in branches:
        commit = resolve_branch(work, branch)
        for needed in (paths.RECORD_TOML, task.start.meta.entry):
            if needed not in commit.tree:
                raise SpeedrunError(
                    f"branch '{branch}' ({str(commit.id)[:10]}) has no {needed}: branch from {task.start.label}"
                )
        sides.append(Side(branch, Role.CANDIDATE, branch, str(commit.id), str(commit.tree_id)))
    names = [s.name for s in sides]
    if len(set(names)) != len(names):
        raise SpeedrunError(f"each side must be named once; got {', '.join(names)}")
    return sides


class Replayer:
    """Executes a replay's runs through an executor and the result cache."""

    def __init__(
        self,
        store: RecordsStore | None = None,
        executor: Executor | None = None,
        progress: Progress | None = None,
        unsandboxed: bool = False,
    ):
        self.store = store or RecordsStore()
        self.work = open_work_repo(self.store.path)
        # Every side runs confined alike (replay/run/sandbox.py): candidates are untrusted code, and
        # records must pay the same overheads and see no more data than the candidates they are compared with.
        self.executor = executor or LocalExecutor(sandbox=untrusted_sandbox(allow_unsandboxed=unsandboxed))
        self.progress = progress or Progress()
        self.cache = ResultCache(paths.cache_dir())
        self._metas: dict[str, RecordMeta] = {}
        self._interpreters: dict[tuple[str, str | None], tuple[str, dict]] = {}
        self._refusals: dict[str, str | None] = {}

    def start(self, request: ReplayRequest) -> ReplayState:
        """Plan a new replay and write its run.json (status ``started``)."""
        if request.runs < 1:
            raise SpeedrunError("--runs must be at least 1")
        if request.python:
            venvs.interpreter(request.python)  # before anything is written
        task = self.store.task(request.track, request.task)
        sides = plan_sides(self.store, self.work, task, request.branches)
        state = ReplayState(
            new_run_id(request.track, request.task),
            request,
            sides,
            task.target.meta.target_val_loss,
            provenance=provenance(),
        )
        sandbox = getattr(self.executor, "sandbox", None)  # what confinement runs get here (or why none)
        if sandbox is not None:
            sandbox.check()  # no sandbox here and no --unsandboxed: refused before anything is written
        state.provenance["sandbox"] = sandbox.describe(self.executor.gpus) if sandbox else "none"
        state.provenance["measured_by"] = task.start.meta.measure
        state.executor = self.executor.describe()
        folder = paths.run_dir(state.run_id)
        folder.mkdir(parents=True)
        state.save(folder)
        return state

    def run(self, state: ReplayState) -> ReplayState:
        """Execute every missing run, a round (one run of every side) submitted together, then
        grade. Resumable: jobs still queued or running are re-attached to, finished ones collected."""
        folder = paths.run_dir(state.run_id)
        done = {(r["side"], r["replicate"]) for r in state.runs}
        with run_lock(folder, state.run_id):
            try:
                with sigterm_as_interrupt():  # before the status says running, so a SIGTERM is never lost
                    state.status = RunStatus.RUNNING
                    state.save(folder)
                    for replicate in range(state.request.runs):
                        todo = [s for s in round_order(state.sides, replicate) if (s.name, replicate) not in done]
                        self._run_round(state, folder, replicate, todo)
            except KeyboardInterrupt:
                state.status = RunStatus.INTERRUPTED
                state.save(folder)
                raise
            state.summary = summarize(state, folder)
            state.summary["placement"] = placement(state.runs)
            write_reports(state.summary, folder)
            state.status = RunStatus.FINISHED
            state.save(folder)
            return state

    def _run_round(self, state: ReplayState, folder: Path, replicate: int, sides: list[Side]) -> None:
        """Submit the round's runs in its order (re-attaching to saved jobs), then record each as it ends.
        A job lost on the way (it left the queue without a result) is submitted again, up to
        ``LOST_JOB_RETRIES`` times. Ctrl-C cancels the round's jobs; they are then forgotten, so a
        resume runs them afresh; a job that failed is forgotten too, so a resume submits it again."""
        saved = {(j["side"], j["replicate"]): JobRef.from_json(j) for j in state.jobs}
        running: dict[int, tuple[PendingRun, Job]] = {}
        try:
            for side in sides:
                pending = self.prepare(state.request, side, replicate, folder)
                if pending.task is None:
                    state.runs.append(self.record(pending))
                    state.save(folder)
                    continue
                job = self._attach_or_submit(
                    pending, saved.get((side.name, replicate)), self._noter(state, folder, pending)
                )
                running[id(job)] = (pending, job)
            lost = Counter()
            while running:
                for job in as_completed([job for _, job in running.values()]):
                    pending, _ = running.pop(id(job))
                    try:
                        outcome = job.result()
                    except JobLost:
                        lost[pending.side.name] += 1
                        if lost[pending.side.name] > LOST_JOB_RETRIES:
                            raise
                        job = self._attach_or_submit(pending, None, self._noter(state, folder, pending))
                        running[id(job)] = (pending, job)
                        continue
                    except Exception:
                        self._forget(state, folder, [job])
                        raise
                    state.runs.append(self.record(pending, outcome, job.ref))
                    self._forget(state, folder, [job])
        except KeyboardInterrupt as interrupt:
            if leave_running(interrupt, self.executor):
                raise  # their ids stay in run.json: a resume re-attaches to them
            for _, job in running.values():
                job.cancel()
            self._forget(state, folder, [job for _, job in running.values()])
            raise

    def _attach_or_submit(self, pending: PendingRun, saved: JobRef | None, on_submit: Callable[[JobRef], None]) -> Job:
        """Re-attach to the run's saved job if it is still there, else submit its task (and tell
        ``on_submit`` its reference before a SIGTERM may stop this process)."""
        on_step = self._on_step(pending.side.name, pending.replicate)
        job = None
        if saved and saved.executor == self.executor.name:
            job = self.executor.attach(saved, pending.task, on_step)
        if job is None:
            with job_submission():
                job = self.executor.submit(pending.task, on_step=on_step)
                on_submit(job.ref)
        return job

    @staticmethod
    def _noter(state: ReplayState, folder: Path, pending: PendingRun) -> Callable[[JobRef], None]:
        """Puts a newly submitted job's id into run.json, before anything waits for it."""
        key = (pending.side.name, pending.replicate)

        def note(ref: JobRef) -> None:
            state.jobs = [j for j in state.jobs if (j["side"], j["replicate"]) != key]
            state.jobs.append({"side": key[0], "replicate": key[1], **asdict(ref)})
            state.save(folder)

        return note

    @staticmethod
    def _forget(state: ReplayState, folder: Path, jobs: list[Job]) -> None:
        ids = {job.ref.job_id for job in jobs}
        state.jobs = [j for j in state.jobs if j["job_id"] not in ids]
        state.save(folder)

    def _on_step(self, side: str, replicate: int) -> Callable[[StepLine], None]:
        return lambda step: self.progress.step(side, replicate, step)

    def _meta_for(self, side: Side) -> RecordMeta:
        """A record side's launch metadata, from its own (trusted) record.toml. A candidate is untrusted
        code, launched exactly as its start record is (entry, launcher, processes, data, environment,
        time limit): nothing in its own record.toml decides how it runs or is judged."""
        if side.tree not in self._metas:
            blob = self.work[side.tree] / paths.RECORD_TOML
            self._metas[side.tree] = parse_record_toml(blob.data.decode(), where=f"{side.ref}:{paths.RECORD_TOML}")
        return self._metas[side.tree]

    def _refusal(self, start: Record, side: Side) -> str | None:
        """Why a candidate may not run (None: it may): it changes a protected definition of its start
        record, or, where scripts measure themselves, anything that measures the run."""
        if side.name not in self._refusals:
            before, after = python_files(self.work, start.tree_id), python_files(self.work, side.tree)
            entry = start.meta.entry
            problems = protected_violations(before.get(entry, ""), after.get(entry, ""), start.meta.protected)
            if start.meta.measure == Measure.SCRIPT:
                problems += whole_record_violations(before, after, entry)
            self._refusals[side.name] = "; ".join(dict.fromkeys(problems)) or None
        return self._refusals[side.name]

    def _interpreter_for(self, meta: RecordMeta, override: str | None) -> tuple[str, dict]:
        """The interpreter that runs a record and its versions (for the cache key), found once per
        environment: probing another interpreter's versions starts a process."""
        key = (venvs.env_key(meta.environment), override)
        if key not in self._interpreters:
            python = venvs.resolve_python(meta.environment, override, where=f"{meta.track}/{meta.index}")
            fingerprint = {k: v for k, v in python_environment(python).items() if k != "executable"}
            self._interpreters[key] = (python, fingerprint)
        return self._interpreters[key]

    def run_side(
        self,
        request: ReplayRequest,
        side: Side,
        replicate: int,
        folder: Path,
        saved: JobRef | None = None,
        on_submit: Callable[[JobRef], None] = lambda ref: None,
    ) -> RunEntry:
        """Run (or fetch from the cache) replicate ``replicate`` of one side and wait; return its run
        record. ``saved``: a job submitted for it earlier (by a process that died), re-attached to if
        it is still there; ``on_submit`` is told a new job's reference before anything waits for it."""
        pending = self.prepare(request, side, replicate, folder)
        if pending.task is None:
            return self.record(pending)
        job = self._attach_or_submit(pending, saved, on_submit)
        try:
            outcome = job.result()
        except KeyboardInterrupt as interrupt:
            if not leave_running(interrupt, self.executor):
                job.cancel()
            raise
        return self.record(pending, outcome, job.ref)

    def prepare(self, request: ReplayRequest, side: Side, replicate: int, folder: Path) -> PendingRun:
        """Decide one run before anything executes: refused, found in the cache (only with
        ``--cache``), or a task for the executor."""
        start = self.store.task(request.track, request.task).start
        meta = start.meta if side.role == Role.CANDIDATE else self._meta_for(side)
        measure = start.meta.measure  # every side alike
        time_limit = request.time_limit_s or max(600.0, 4 * meta.result.time_s)
        env = {**datasets.prepare(meta.data), "SPEEDRUN_SEED": str(replicate)}
        if measure == Measure.HARNESS:  # the training process never sees the validation data
            env = {**datasets.training_only(env), MODEL_OUT_VARIABLE: MODEL_FILE}
        python, env_fingerprint = self._interpreter_for(meta, request.python)
        nproc = min(meta.nproc, request.nproc or meta.nproc)
        parts = dict(
            tree=side.tree,
            entry=meta.entry,
            args=list(meta.args),
            launcher=meta.launcher,
            nproc=nproc,
            data=meta.data,
            environment=env_fingerprint,
            hardware=self.executor.hardware(),
            max_steps=request.max_steps,
            seed=replicate,
            measure=measure,
        )
        key = cache_key(**parts)
        name = f"{side.name.replace('/', '_')}-{replicate}"
        log_rel = f"logs/{name}.txt"
        log_path = folder / log_rel
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.progress.start_run(side.name, replicate, request.runs)
        pending = PendingRun(side, replicate, key, parts, log_rel, log_path, measure)
        refusal = self._refusal(start, side) if side.role == Role.CANDIDATE else None
        hit = self.cache.get(key) if request.use_cache and not refusal else None
        if hit and (hit[0].other_cpus or 0) > OTHER_CPUS_LIMIT:
            hit = None  # timed beside other work: its time would mislead; run it again (the new entry replaces it)
        if refusal:  # not run at all: the same rules as an agent's node, on every path
            log_path.write_text(f"[speedrun] refused before running: {refusal}\n")
            pending.known = Exit(returncode=None, wall_s=0.0, refused=refusal)
        elif hit:
            pending.known, cached_log, pending.cached_from = hit
            shutil.copyfile(cached_log, log_path)
        else:
            spec = LaunchSpec(
                workdir=folder / "scratch" / name,
                entry=meta.entry,
                args=meta.args,
                launcher=meta.launcher,
                nproc=nproc,
                env=env,
                python=python,
                max_steps=request.max_steps,
                time_limit_s=time_limit,
                readable=data_files(env),
            )
            evaluation = HarnessEvaluation(MODEL_FILE, meta.data) if measure == Measure.HARNESS else None
            checkout = Checkout(Path(self.work.path).resolve(), side.tree, meta.data)
            pending.task = RunTask(spec, log_path, checkout, evaluation, folder)
        return pending

    def record(self, pending: PendingRun, outcome: Outcome | None = None, job: JobRef | None = None) -> RunEntry:
        """Grade a decided or finished run, cache it, and return its run record."""
        exit = outcome.exit if outcome else pending.known
        untrusted = pending.side.role == Role.CANDIDATE
        result = grade(pending.log_path.read_text(errors="replace"), exit, pending.measure, untrusted=untrusted)
        if outcome and not result.machine_failure:  # stored for a replay that asks to reuse it
            self.cache.put(pending.key, exit, pending.log_path, pending.parts)
        record: RunEntry = {
            "side": pending.side.name,
            "replicate": pending.replicate,
            "seed": pending.replicate,
            "cache_key": pending.key,
            "cached": pending.cached_from is not None,
            "cached_from": pending.cached_from,  # when, where and at what load a reused run was timed
            "log": pending.log_rel,
            "exit": asdict(exit),
            "node": outcome.node if outcome else None,  # where it ran (hardware provenance of this run)
            "job": asdict(job) if job else None,
            **asdict(result),
        }
        self.progress.end_run(record)
        return record


@dataclass
class PendingRun:
    """One run decided and not yet recorded: ``known`` (refused, or from the cache) or a ``task`` to run."""

    side: Side
    replicate: int
    key: str
    parts: dict
    log_rel: str
    log_path: Path
    measure: Measure
    known: Exit | None = None
    cached_from: dict | None = None
    task: RunTask | None = None


def placement(runs: list[dict]) -> dict:
    """How a replay's runs were placed: the nodes that ran them (runs per node) and their GPUs."""
    executed = [r["node"] for r in runs if r.get("node")]
    nodes = Counter(n["node"] for n in executed)
    hardware_kinds = {(n.get("gpus"), n.get("gpu_model"), n.get("driver")) for n in executed}
    return {"nodes": dict(sorted(nodes.items())), "identical_hardware": len(hardware_kinds) <= 1}


def data_files(env: dict[str, str]) -> tuple[Path, ...]:
    """The data files a run's variables point to (``NANOGPT_*_FILES`` globs): all it may read
    outside its scratch folder in the sandbox."""
    return tuple(
        Path(f)
        for name, pattern in sorted(env.items())
        if name.startswith("NANOGPT_") and name.endswith("_FILES")
        for f in sorted(glob.glob(pattern))
    )
