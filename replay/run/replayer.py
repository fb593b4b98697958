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
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pygit2

from replay import paths
from replay.data import datasets
from replay.errors import SpeedrunError
from replay.records.schema import RecordMeta, parse_record_toml
from replay.records.script_rules import protected_violations, whole_record_violations
from replay.records.store import Record, RecordsStore, Task, materialize, python_files
from replay.records.workrepo import open_work_repo, resolve_branch
from replay.run import venvs
from replay.run.evaluator import evaluate_model
from replay.run.executor import LaunchSpec, LocalExecutor
from replay.run.lifecycle import new_run_id, run_lock, sigterm_as_interrupt
from replay.run.provenance import hardware, provenance, python_environment
from replay.run.result_cache import ResultCache, cache_key
from replay.run.runlog import ReplayRequest, ReplayState, RunEntry, Side, load_run
from replay.run.sandbox import untrusted_sandbox
from replay.score.grading import Exit, grade
from replay.score.log_parser import StepLine
from replay.score.replay_report import summarize, write_reports
from replay.statuses import Measure, Role, RunStatus

MODEL_OUT_VARIABLE = "SPEEDRUN_MODEL_OUT"  # where a harness-measured script saves its trained model
MODEL_FILE = "model.pt"


@dataclass
class Progress:
    """Callbacks for a progress display; the default shows nothing."""

    start_run: Callable[[str, int, int], None] = lambda side, replicate, runs: None
    step: Callable[[StepLine], None] = lambda step: None
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
        executor=None,
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
        folder = paths.run_dir(state.run_id)
        folder.mkdir(parents=True)
        state.save(folder)
        return state

    def run(self, state: ReplayState) -> ReplayState:
        """Execute every missing run, interleaved, then grade. Resumable."""
        folder = paths.run_dir(state.run_id)
        done = {(r["side"], r["replicate"]) for r in state.runs}
        with run_lock(folder, state.run_id):
            try:
                with sigterm_as_interrupt():  # before the status says running, so a SIGTERM is never lost
                    state.status = RunStatus.RUNNING
                    state.save(folder)
                    for replicate in range(state.request.runs):
                        for side in round_order(state.sides, replicate):
                            if (side.name, replicate) not in done:
                                state.runs.append(self.run_side(state.request, side, replicate, folder))
                                state.save(folder)
            except KeyboardInterrupt:
                state.status = RunStatus.INTERRUPTED
                state.save(folder)
                raise
            state.summary = summarize(state, folder)
            write_reports(state.summary, folder)
            state.status = RunStatus.FINISHED
            state.save(folder)
            return state

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

    def run_side(self, request: ReplayRequest, side: Side, replicate: int, folder: Path) -> RunEntry:
        """Run (or fetch from the cache) replicate ``replicate`` of one side; return its run record."""
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
            hardware=asdict(hardware()),
            max_steps=request.max_steps,
            seed=replicate,
            measure=measure,
        )
        key = cache_key(**parts)
        log_rel = f"logs/{side.name.replace('/', '_')}-{replicate}.txt"
        log_path = folder / log_rel
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.progress.start_run(side.name, replicate, request.runs)
        refusal = self._refusal(start, side) if side.role == Role.CANDIDATE else None
        hit = self.cache.get(key) if request.use_cache and not refusal else None
        if refusal:  # not run at all: the same rules as an agent's node, on every path
            log_path.write_text(f"[speedrun] refused before running: {refusal}\n")
            exit = Exit(returncode=None, wall_s=0.0, refused=refusal)
        elif hit:
            exit, cached_log, measured = hit
            shutil.copyfile(cached_log, log_path)
        else:
            spec = LaunchSpec(
                workdir=folder / "scratch" / f"{side.name.replace('/', '_')}-{replicate}",
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
            exit = self._execute(side.tree, meta.data, spec, log_path, measure)
        result = grade(log_path.read_text(errors="replace"), exit, measure, untrusted=side.role == Role.CANDIDATE)
        if not hit and not refusal and not result.machine_failure:  # stored for a replay that asks to reuse it
            self.cache.put(key, exit, log_path, parts)
        record: RunEntry = {
            "side": side.name,
            "replicate": replicate,
            "seed": replicate,
            "cache_key": key,
            "cached": bool(hit),
            "cached_from": measured if hit else None,  # when, where and at what load a reused run was timed
            "log": log_rel,
            "exit": asdict(exit),
            **asdict(result),
        }
        self.progress.end_run(record)
        return record

    def _execute(self, tree: str, data: str | None, spec: LaunchSpec, log_path: Path, measure: Measure) -> Exit:
        """Run ``spec`` in a fresh scratch folder holding ``tree``; evaluate its model if the harness measures it."""
        scratch = spec.workdir
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.parent.mkdir(parents=True, exist_ok=True)
        materialize(self.work, tree, scratch)
        datasets.link_into(data, scratch)
        try:
            exit = self.executor.run(spec, log_path, on_step=self.progress.step)
            if measure == Measure.HARNESS and exit.returncode == 0 and not exit.stopped_at_max_steps:
                evaluated = evaluate_model(
                    scratch,
                    spec.entry,
                    MODEL_FILE,
                    spec.python,
                    datasets.validation(data),
                    log_path.with_suffix(".eval.txt"),
                    env={**os.environ, **spec.env},
                    sandbox=getattr(self.executor, "sandbox", None),
                )
                exit = replace(exit, evaluation=evaluated)
            return exit
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def data_files(env: dict[str, str]) -> tuple[Path, ...]:
    """The data files a run's variables point to (``NANOGPT_*_FILES`` globs): all it may read
    outside its scratch folder in the sandbox."""
    return tuple(
        Path(f)
        for name, pattern in sorted(env.items())
        if name.startswith("NANOGPT_") and name.endswith("_FILES")
        for f in sorted(glob.glob(pattern))
    )
