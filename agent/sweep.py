"""A sweep: the cells of a grid (agent/sweep_spec.py) run as ordinary agent runs, and an index of them.

``runs/sweeps/<sweep-id>/sweep.json`` (schema 1, written atomically)::

    {"schema": 1, "id": ..., "created": ISO time, "spec": <the parsed grid>,
     "cells": [{"key": {"track", "task", "model", "scaffold", "hints": [ints], "seed": int},
                "run_id": str | null, "status": "pending" | "running" | "finished" | "failed",
                "error": str | null, "replay_run_id": str | null}]}

Each cell is one agent run (``runs/<run-id>/``) made by a process of its own (``speedrun sweep
cell``), so a cell that fails, crashes or runs out of memory never stops the others. The
controller alone writes sweep.json; it names a cell's run before starting its process, so a
sweep killed at any moment resumes each cell's own run (an agent run resumes without
repeating what it finished) and never starts a second run for a cell. A cell's process dies
with the controller (it gets SIGTERM, saves its run as interrupted and stops its training
runs). What a cell reports back (its replay's run id) goes to ``cells/cNNN.json``, its output
to ``cells/cNNN.log``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.state import load_agent_state
from agent.sweep_spec import CellKey, SweepSpec, key_from_json, key_to_json
from replay import paths
from replay.atomic import read_json, write_json_atomic
from replay.errors import SpeedrunError
from replay.run.lifecycle import die_with_parent, new_run_id, run_lock, sigterm_as_interrupt
from replay.statuses import CellStatus, RunStatus

SWEEP_SCHEMA = 1
POLL_S = 0.2


@dataclass
class Cell:
    key: CellKey
    run_id: str | None = None
    status: CellStatus = CellStatus.PENDING
    error: str | None = None
    replay_run_id: str | None = None

    def to_json(self) -> dict:
        return {
            "key": key_to_json(self.key),
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error,
            "replay_run_id": self.replay_run_id,
        }

    @classmethod
    def from_json(cls, data: dict) -> Cell:
        return cls(
            key_from_json(data["key"]),
            data["run_id"],
            CellStatus(data["status"]),
            data["error"],
            data["replay_run_id"],
        )


@dataclass
class Sweep:
    """The content of sweep.json."""

    id: str
    spec: SweepSpec
    cells: list[Cell]
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    # where the cells' runs go, as `sweep run` was told (--executor, --slurm, --constraint); a resume keeps it
    executor: dict = field(default_factory=lambda: {"name": "local"})

    def to_json(self) -> dict:
        return {
            "schema": SWEEP_SCHEMA,
            "id": self.id,
            "created": self.created,
            "spec": self.spec.to_json(),
            "cells": [c.to_json() for c in self.cells],
            "executor": self.executor,
        }

    @classmethod
    def from_json(cls, data: dict) -> Sweep:
        if data.get("schema") != SWEEP_SCHEMA:
            raise SpeedrunError(f"sweep {data.get('id')}: not a sweep.json of schema {SWEEP_SCHEMA}")
        return cls(
            data["id"],
            SweepSpec.from_json(data["spec"]),
            [Cell.from_json(c) for c in data["cells"]],
            data["created"],
            data.get("executor") or {"name": "local"},  # sweeps from before it was recorded ran locally
        )

    def save(self) -> None:
        write_json_atomic(paths.sweep_dir(self.id) / paths.SWEEP_JSON, self.to_json())

    def counts(self) -> dict[CellStatus, int]:
        return {status: sum(1 for c in self.cells if c.status == status) for status in CellStatus}


def new_sweep(spec: SweepSpec, executor: dict | None = None) -> Sweep:
    """Create a sweep's folder and its sweep.json, every cell pending (``executor``: where its runs go)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^A-Za-z0-9._-]", "-", spec.name)[:60]
    sweep = Sweep(
        f"sweep-{name}-{stamp}-{os.urandom(4).hex()}",
        spec,
        [Cell(key) for key in spec.cells()],
        executor=executor or {"name": "local"},
    )
    paths.sweep_dir(sweep.id).mkdir(parents=True)
    sweep.save()
    return sweep


def load_sweep(sweep_id: str) -> Sweep:
    path = paths.sweep_dir(sweep_id) / paths.SWEEP_JSON
    if not path.is_file():
        raise SpeedrunError(f"no sweep '{sweep_id}' under {paths.sweeps_dir()} (see `speedrun sweep list`)")
    return read_json(path, Sweep.from_json)


def list_sweeps() -> list[Path]:
    return sorted(paths.sweeps_dir().glob(f"*/{paths.SWEEP_JSON}"))


# --- the controller -------------------------------------------------------------------------


def run_sweep(
    sweep: Sweep,
    cell_command: Callable[[str, int], list[str]],
    cells_at_once: int | None = None,
    retry_failed: bool = False,
    on_event: Callable[[str], None] = lambda line: None,
) -> Sweep:
    """Run every cell that is not finished (failed ones too with ``retry_failed``), up to
    ``cells_at_once`` at a time, each as the process ``cell_command(sweep_id, index)``."""
    limit = cells_at_once or sweep.spec.cells_at_once
    wanted = {CellStatus.PENDING, CellStatus.RUNNING} | ({CellStatus.FAILED} if retry_failed else set())
    todo = [i for i, cell in enumerate(sweep.cells) if cell.status in wanted]
    folder = paths.sweep_dir(sweep.id)
    (folder / paths.SWEEP_CELLS_DIR).mkdir(exist_ok=True)
    running: dict[int, subprocess.Popen] = {}
    with run_lock(folder, sweep.id), sigterm_as_interrupt():
        try:
            while todo or running:
                while todo and len(running) < limit:
                    index = todo.pop(0)
                    running[index] = _launch(sweep, index, cell_command(sweep.id, index))
                    on_event(
                        f"c{index:03d} started: {_describe_key(sweep.cells[index].key)} -> {sweep.cells[index].run_id}"
                    )
                time.sleep(POLL_S)
                for index, proc in list(running.items()):
                    if proc.poll() is not None:
                        del running[index]
                        _collect(sweep, index, proc.returncode)
                        cell = sweep.cells[index]
                        on_event(f"c{index:03d} {cell.status}" + (f": {cell.error}" if cell.error else ""))
        except KeyboardInterrupt:
            for proc in running.values():  # each saves its run as interrupted; `sweep resume` continues them
                proc.terminate()
            for proc in running.values():
                proc.wait()
            sweep.save()
            raise
    return sweep


def _launch(sweep: Sweep, index: int, command: list[str]) -> subprocess.Popen:
    cell = sweep.cells[index]
    if cell.run_id and not _has_run_json(cell.run_id) and paths.run_dir(cell.run_id).exists():
        cell.run_id = None  # its start was cut off before run.json: begin again under a new id
    if cell.run_id is None or cell.status == CellStatus.FAILED and _failed_for_good(cell.run_id):
        cell.run_id = new_run_id(cell.key.track, cell.key.task, kind="agent")
        cell.replay_run_id = None
        paths.sweep_cell_file(sweep.id, index, ".json").unlink(missing_ok=True)
    cell.status, cell.error = CellStatus.RUNNING, None
    sweep.save()  # the run's id is on disk before its process starts
    log = open(paths.sweep_cell_file(sweep.id, index, ".log"), "a")  # noqa: SIM115 (the child holds it)
    with log:
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent
        )


def _collect(sweep: Sweep, index: int, returncode: int) -> None:
    """Record how a cell's process ended: its run's status decides, else its last error line."""
    cell = sweep.cells[index]
    report = paths.sweep_cell_file(sweep.id, index, ".json")
    if report.is_file():
        cell.replay_run_id = read_json(report, lambda data: data.get("replay_run_id"))
    status = load_agent_state(cell.run_id).status if _has_run_json(cell.run_id) else None
    if returncode == 0 and status in (RunStatus.FINISHED, RunStatus.STOPPED):
        cell.status, cell.error = CellStatus.FINISHED, None
    else:
        cell.status = CellStatus.FAILED
        cell.error = _last_error(paths.sweep_cell_file(sweep.id, index, ".log")) or f"exit status {returncode}"
    sweep.save()


def _has_run_json(run_id: str) -> bool:
    return (paths.run_dir(run_id) / paths.RUN_JSON).is_file()


def _failed_for_good(run_id: str) -> bool:
    """A failed cell's run that cannot be resumed (its starting script failed): retried as a new run."""
    return _has_run_json(run_id) and not load_agent_state(run_id).status.resumable


def _last_error(log: Path) -> str | None:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or [None])[-1]


def _describe_key(key: CellKey) -> str:
    hints = ",".join(map(str, key.hints)) or "0"
    return f"task {key.task} {key.model} {key.scaffold} hints {hints} seed {key.seed}"


# --- one cell (in its own process) ------------------------------------------------------------


def agent_request(spec: SweepSpec, key: CellKey):
    """The agent run of one cell: the cell's key and the sweep-wide settings."""
    from agent.edits import EditFormat
    from agent.state import AgentRequest

    return AgentRequest(
        track=key.track,
        task=key.task,
        model=key.model,
        scaffold=key.scaffold,
        hints=key.hints,
        nodes=spec.nodes,
        node_timeout_s=spec.node_timeout_s,
        budget_usd=spec.budget_usd,
        max_steps=spec.max_steps,
        seed=key.seed,
        edit_format=EditFormat(spec.edit_format),
        use_cache=spec.cache,
    )


def run_cell(sweep_id: str, index: int, runner, replayer) -> None:
    """Run, or resume, cell ``index``'s agent run under the id the controller chose, then replay
    its best branch if the sweep asks to (resuming that replay too)."""
    sweep = load_sweep(sweep_id)
    if not 0 <= index < len(sweep.cells) or sweep.cells[index].run_id is None:
        raise SpeedrunError(f"sweep {sweep_id} has no started cell {index}: use `speedrun sweep resume {sweep_id}`")
    cell, spec = sweep.cells[index], sweep.spec
    if _has_run_json(cell.run_id):
        state = load_agent_state(cell.run_id)
        if state.status.resumable:
            state = runner.run(state)
    else:
        state = runner.run(runner.start(agent_request(spec, cell.key), run_id=cell.run_id))
    if state.status == RunStatus.FAILED:
        raise SpeedrunError(f"agent run {state.run_id} failed: {state.stop_reason}")
    branch = (state.summary or {}).get("branch")
    if spec.replay_best and branch:
        _replay_best(sweep_id, index, spec, cell.key, branch, replayer)


def _replay_best(sweep_id: str, index: int, spec: SweepSpec, key: CellKey, branch: str, replayer) -> None:
    from replay.run.replayer import ReplayRequest, load_state

    report = paths.sweep_cell_file(sweep_id, index, ".json")
    replay_id = read_json(report, lambda data: data.get("replay_run_id")) if report.is_file() else None
    if replay_id and (paths.run_dir(replay_id) / paths.RUN_JSON).is_file():
        state = load_state(replay_id)
        if state.status.resumable:
            replayer.run(state)
        return
    request = ReplayRequest(
        track=key.track, task=key.task, branches=(branch,), runs=spec.replay_best, max_steps=spec.max_steps
    )
    state = replayer.start(request)
    write_json_atomic(report, {"replay_run_id": state.run_id})  # before it runs: a killed cell resumes it
    replayer.run(state)
