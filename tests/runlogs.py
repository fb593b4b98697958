"""Synthetic run logs for the results layer's tests: agent runs, replays and sweep indexes written
through the real typed models (replay/run/runlog.py), with the times, outcomes and attribution a
test chooses, so a leaderboard's figures can be checked against numbers computed by hand."""

from __future__ import annotations

import json

from replay import paths
from replay.run.runlog import (
    AgentRequest,
    AgentState,
    Execution,
    LLMCall,
    Node,
    ReplayRequest,
    ReplayState,
    Side,
)
from replay.statuses import Failure, NodeAction, NodeOutcome, NodeStage, Role, RunOutcome, RunStatus

T_START, T_TARGET = 10.0, 8.0  # record i and record i+1: FSR = (10 - t) / 2


def _execution(time_s: float | None, log: str, failed: bool = False) -> Execution:
    if failed:
        return Execution(RunOutcome.FAILED, Failure.CODE_ERROR, None, None, 3, 1.0, log, False)
    return Execution(RunOutcome.OK, None, time_s, 3.2, 100, time_s + 0.5, log, False)


def _call(tokens: int, cost: float | None) -> LLMCall:
    return LLMCall("m", tokens, tokens // 10, cost, 0.1, "r" * 64, "s" * 64)


def agent_run(
    run_id: str,
    model: str = "scripted/a:oracle",
    task: int = 1,
    seed: int = 0,
    best_time: float | None = 9.0,
    scaffold: str = "aide",
    hints: tuple[int, ...] = (),
    status: RunStatus = RunStatus.FINISHED,
    reproduced: tuple[str, ...] = ("muon",),
    cost: float | None = 0.01,
    max_steps: int | None = None,
) -> AgentState:
    """An agent run on the toy track: a root at T_START, one draft at ``best_time`` (None: it failed) and
    one buggy debug step; its summary as agent/judge.py writes it."""
    request = AgentRequest("toy", task, model, scaffold, hints, nodes=2, seed=seed, max_steps=max_steps)
    state = AgentState(
        run_id, request, f"toy/r{task:02d}", f"toy/r{task + 1:02d}", 3.28, (), "train.py", "none", status=status
    )
    root = Node("n000", None, NodeAction.ROOT, stage=NodeStage.DONE, commit="a" * 40, branch=f"agent/{run_id}/n000")
    root.execution, root.outcome = _execution(T_START, "logs/n000-0.txt"), NodeOutcome.VALID
    good = Node("n001", "n000", NodeAction.DRAFT, stage=NodeStage.DONE, branch=f"agent/{run_id}/n001")
    good.llm, good.execution = _call(1000, cost), _execution(best_time, "logs/n001-0.txt", best_time is None)
    good.outcome = NodeOutcome.BUGGY if best_time is None else NodeOutcome.VALID
    bad = Node("n002", "n001", NodeAction.DEBUG, stage=NodeStage.DONE, branch=f"agent/{run_id}/n002")
    bad.llm, bad.outcome, bad.problem, bad.detail = _call(500, cost), NodeOutcome.BUGGY, "edit_error", "no edit"
    state.nodes = [root, good, bad]
    state.references["record_target"] = _execution(T_TARGET, "logs/record_target-0.txt")
    best = None if best_time is None else "n001"  # as agent/scaffolds.best_node: the root never counts
    if status in (RunStatus.FINISHED, RunStatus.STOPPED):
        state.summary = {
            "best": best,
            "branch": best and f"agent/{run_id}/{best}",
            "times_s": {"record_start": T_START, "record_target": T_TARGET, "agent_start": T_START, "best": best_time},
            "fsr_vs_record": None if max_steps or best is None else (T_START - best_time) / (T_START - T_TARGET),
            "fsr_vs_own_start": None,
            "attribution": {"reproduced": list(reproduced), "innovations": ["muon", "value_embeds"]} if best else None,
            "nodes": {"valid": 1 if best else 0, "buggy": 2 if best is None else 1},
        }
    state.save(_folder(run_id))
    return state


def replay_of(run_id: str, branch: str, task: int = 1, ci: tuple[float, float] = (0.5, 1.5)) -> ReplayState:
    """A finished replay of ``branch`` whose difference from the baseline has the 95% interval ``ci``."""
    sides = [
        Side("baseline", Role.BASELINE, f"toy/r{task:02d}", "a" * 40, "b" * 40),
        Side("ground_truth", Role.GROUND_TRUTH, f"toy/r{task + 1:02d}", "c" * 40, "d" * 40),
        Side(branch, Role.CANDIDATE, branch, "e" * 40, "f" * 40),
    ]
    state = ReplayState(run_id, ReplayRequest("toy", task, (branch,), runs=3), sides, 3.28, status=RunStatus.FINISHED)
    candidate = {"name": branch, "role": Role.CANDIDATE, "ref": branch, "fsr": 0.5, "valid": True}
    state.summary = {
        "sides": [
            {"name": "baseline", "role": Role.BASELINE, "ref": sides[0].ref, "fsr": None, "valid": True},
            {"name": "ground_truth", "role": Role.GROUND_TRUTH, "ref": sides[1].ref, "fsr": 1.0, "valid": True},
            {**candidate, "vs_baseline": {"difference_s": sum(ci) / 2, "ci": list(ci)}},
        ]
    }
    state.save(_folder(run_id))
    return state


def sweep_index(sweep_id: str, cells: list[dict], spec: dict | None = None) -> None:
    """Write ``runs/sweeps/<id>/sweep.json`` with ``cells`` (key fields flat: track defaults to toy)."""
    folder = paths.home() / "sweeps" / sweep_id
    folder.mkdir(parents=True, exist_ok=True)
    keys = ("track", "task", "model", "scaffold", "hints", "seed")
    data = {
        "schema": 1,
        "id": sweep_id,
        "created": "2026-11-28T00:00:00+00:00",
        "spec": spec or {},
        "cells": [
            {
                "key": {"track": "toy", "scaffold": "aide", "hints": [], **{k: c[k] for k in keys if k in c}},
                "run_id": c.get("run_id"),
                "status": c["status"],
                "error": c.get("error"),
                "replay_run_id": c.get("replay_run_id"),
            }
            for c in cells
        ],
    }
    (folder / "sweep.json").write_text(json.dumps(data, indent=2))


def _folder(run_id: str):
    folder = paths.run_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
