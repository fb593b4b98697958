"""The leaderboard: agent runs aggregated into the paper's table, every declared run counted.

Input is a set of run folders or a sweep (:mod:`analysis.sweep_index`). Each agent run fills
one **slot** of the grid (track, model, scaffold, hint levels, task, seed). For a sweep the
grid is its cells; for run folders it is completed per track: every (model, scaffold, hints)
configuration seen is expected on every task and seed seen on that track, and a slot nobody ran
is *missing*. Where one slot has several runs, the latest finished one counts (else the latest).

A slot's score is the FSR of its run's best node against record i (single runs; at step K,
marked partial, for ``--max-steps`` runs). A slot without one scores **0 and is counted**, by
reason: ``missing`` (no run), ``unfinished`` (pending, running, interrupted), ``failed`` (the run
failed or its log is damaged), ``no_valid_node`` (finished, nothing reached the target).

Slots are grouped into cells by the ``rows`` and ``columns`` dimensions (default: rows model x
scaffold, columns hint levels). Per cell: mean FSR and IQM with 95% intervals
(:mod:`analysis.intervals`); the share of slots whose best branch, replayed with N runs, is
faster than record i by its 95% interval (replays found by the sweep's ``replay_run_id`` or by
the branch they replayed); innovations reproduced (from the run's attribution); node outcomes;
tokens, dollars (and calls litellm could not price), compute and GPU hours, wall time.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from analysis.intervals import score_intervals
from analysis.runs_index import RunRow, agent_fsr, load_folder, row
from analysis.sweep_index import SweepIndex
from replay import paths
from replay.errors import SpeedrunError
from replay.run.runlog import AgentState, ReplayState
from replay.score.stats import speedup_verdict
from replay.statuses import NodeOutcome, RunStatus

DIMENSIONS = ("track", "model", "scaffold", "hints")
DEFAULT_ROWS = ("model", "scaffold")
DEFAULT_COLUMNS = ("hints",)
OUTCOMES = (NodeOutcome.BUGGY, NodeOutcome.INVALID, NodeOutcome.MISSED_TARGET, NodeOutcome.VALID, "improved")
ZERO_REASONS = ("missing", "unfinished", "failed", "no_valid_node")
UNFINISHED = ("pending", "running", RunStatus.STARTED, RunStatus.RUNNING, RunStatus.INTERRUPTED)


def hint_label(hints) -> str:
    return "+".join(map(str, hints)) or "0"


@dataclass
class Slot:
    """One (configuration, task, seed) of the grid and what its run gave."""

    track: str
    model: str
    scaffold: str
    hints: tuple[int, ...]
    task: int
    seed: int
    run_id: str | None = None
    fsr: float | None = None  # None: counted as 0, for zero_reason
    zero_reason: str | None = None
    partial: bool = False
    significant: bool | None = None  # None: the best branch was not replayed
    reproduced: int = 0
    innovations: int = 0
    reproduced_names: tuple[str, ...] = ()
    outcomes: Counter = field(default_factory=Counter)
    tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    compute_h: float = 0.0
    gpu_h: float = 0.0
    wall_h: float = 0.0

    @property
    def score(self) -> float:
        return self.fsr if self.fsr is not None else 0.0

    def value(self, dimension: str) -> str:
        return hint_label(self.hints) if dimension == "hints" else str(getattr(self, dimension))


def _improved(state: AgentState) -> int:
    """Valid nodes faster than their parent node (the paper's "improved")."""
    count = 0
    for node in state.nodes[1:]:
        parent = state.node(node.parent) if node.parent else None
        e, p = node.execution, parent.execution if parent else None
        if node.outcome == NodeOutcome.VALID and e and p and e.time_s is not None and p.time_s is not None:
            count += e.time_s < p.time_s
    return count


def fill(slot: Slot, state: AgentState | None, error: str | None = None) -> Slot:
    """Fill a slot from its agent run (None: the run could not be read; ``error`` says why)."""
    if state is None:
        slot.zero_reason = "failed" if error else "missing"
        return slot
    slot.outcomes = Counter(str(n.outcome) for n in state.nodes[1:] if n.outcome)
    slot.outcomes["improved"] = _improved(state)
    a = state.accounting
    slot.tokens, slot.cost_usd, slot.unpriced_calls = (
        a.prompt_tokens + a.completion_tokens,
        a.cost_usd,
        a.unpriced_calls,
    )
    executions = [n.execution for n in state.nodes if n.execution] + list(state.references.values())
    slot.compute_h = sum(e.wall_s for e in executions) / 3600
    slot.gpu_h = slot.compute_h * len((state.provenance.get("hardware") or {}).get("gpus") or ())
    slot.wall_h = (row(state.run_id, state).wall_s or 0.0) / 3600
    attribution = (state.summary or {}).get("attribution") or {}
    slot.reproduced_names = tuple(attribution.get("reproduced", ()))
    slot.reproduced, slot.innovations = len(slot.reproduced_names), len(attribution.get("innovations", ()))
    if state.status in UNFINISHED:
        slot.zero_reason = "unfinished"
    elif state.status == RunStatus.FAILED:
        slot.zero_reason = "failed"
    else:
        slot.fsr, slot.partial = agent_fsr(state)
        if slot.fsr is None:
            slot.zero_reason = "no_valid_node"
    return slot


def significance(state: AgentState, replay: ReplayState | None) -> bool | None:
    """Whether the run's best branch, replayed with N runs, is faster than record i by its 95% interval."""
    branch = (state.summary or {}).get("branch")
    if replay is None or branch is None or not replay.summary:
        return None
    side = next((s for s in replay.summary["sides"] if s["ref"] == branch or s["name"] == branch), None)
    if side is None or not side.get("vs_baseline") or side["vs_baseline"]["ci"] is None:
        return None
    return speedup_verdict(side["vs_baseline"]["ci"]) == "faster" and side["valid"] is not False


def _replays_by_branch(replays: list[ReplayState]) -> dict[str, ReplayState]:
    """The latest replay of each branch."""
    found: dict[str, ReplayState] = {}
    for replay in sorted(replays, key=lambda r: r.created):
        for branch in replay.request.branches:
            found[branch] = replay
    return found


def declare_innovations(slots: list[Slot]) -> list[Slot]:
    """Give every slot its task's count of innovations: a run without an attribution (no best node,
    missing, failed) reproduced none of them, and they stay in the denominator."""
    declared: dict[tuple[str, int], int] = {}
    for s in slots:
        declared[s.track, s.task] = max(declared.get((s.track, s.task), 0), s.innovations)
    for s in slots:
        s.innovations = declared[s.track, s.task]
    return slots


def slots_from_runs(loaded: list[tuple[RunRow, AgentState | ReplayState | None]]) -> list[Slot]:
    """Slots of the grid completed per track, from a set of run folders (agent runs and replays). A folder
    whose run.json cannot be read has no known slot: :func:`build` lists it (``unreadable``)."""
    agents = [(r, s) for r, s in loaded if isinstance(s, AgentState)]
    replays = _replays_by_branch([s for _, s in loaded if isinstance(s, ReplayState)])
    chosen: dict[tuple, AgentState] = {}
    for _, state in sorted(agents, key=lambda rs: (rs[1].status == RunStatus.FINISHED, rs[1].created)):
        r = state.request
        chosen[(r.track, r.model, r.scaffold, tuple(r.hints), r.task, r.seed)] = state  # the latest finished wins
    slots = []
    for track in sorted({k[0] for k in chosen}):
        keys = [k for k in chosen if k[0] == track]
        configs = sorted({k[1:4] for k in keys})
        tasks, seeds = sorted({k[4] for k in keys}), sorted({k[5] for k in keys})
        for model, scaffold, hints in configs:
            for task in tasks:
                for seed in seeds:
                    state = chosen.get((track, model, scaffold, hints, task, seed))
                    slot = fill(Slot(track, model, scaffold, hints, task, seed), state)
                    if state is not None:
                        slot.run_id = state.run_id
                        slot.significant = significance(state, replays.get((state.summary or {}).get("branch")))
                    slots.append(slot)
    return declare_innovations(slots)


def slots_from_sweep(sweep: SweepIndex) -> list[Slot]:
    """One slot per cell of the sweep, read from the cell's agent run (and its replay)."""
    slots = []
    for cell in sweep.cells:
        k = cell.key
        slot = Slot(k.track, k.model, k.scaffold, tuple(k.hints), k.task, k.seed, run_id=cell.run_id)
        state, error = None, None
        if cell.run_id is not None and (paths.run_dir(cell.run_id) / paths.RUN_JSON).is_file():
            read, state = load_folder(paths.run_dir(cell.run_id))
            error = read.error
        if cell.status in ("pending", "running") and state is None:
            slot.zero_reason = "unfinished" if cell.status == "running" or cell.run_id else "missing"
        elif cell.status == "failed" and state is None:
            slot.zero_reason = "failed"
        else:
            fill(slot, state if isinstance(state, AgentState) else None, error or cell.error)
        if isinstance(state, AgentState) and cell.replay_run_id:
            _, replay = load_folder(paths.run_dir(cell.replay_run_id))
            slot.significant = significance(state, replay if isinstance(replay, ReplayState) else None)
        slots.append(slot)
    return declare_innovations(slots)


def _label(slot: Slot, dims: tuple[str, ...]) -> str:
    return " · ".join(slot.value(d) for d in dims) or "all"


def _sort_key(label: str):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in label.replace("+", " ").split()]


def cell_stats(slots: list[Slot]) -> dict:
    """Every leaderboard figure of one cell."""
    by_task: dict[int, list[float]] = defaultdict(list)
    for s in slots:
        by_task[s.task].append(s.score)
    mean, iqm, method = score_intervals(by_task)
    replayed = [s for s in slots if s.significant is not None]
    # each task's best branch: the slot with the highest FSR over its seeds
    task_best = [max((s for s in slots if s.task == t), key=lambda s: s.score) for t in by_task]
    outcomes = Counter()
    for s in slots:
        outcomes.update(s.outcomes)
    innovations = sum(s.innovations for s in slots)
    return {
        "slots": len(slots),
        "tasks": len(by_task),
        "runs_per_task": max((len(v) for v in by_task.values()), default=0),
        "fsr": mean.as_dict(),
        "iqm": iqm.as_dict(),
        "interval": method,
        "partial": any(s.partial for s in slots),
        "zeros": {reason: sum(1 for s in slots if s.zero_reason == reason) for reason in ZERO_REASONS},
        "per_task": {str(t): sum(v) / len(v) for t, v in sorted(by_task.items())},
        "significant": {
            "faster": sum(1 for s in replayed if s.significant),
            "replayed": len(replayed),
            "share": sum(1 for s in replayed if s.significant) / len(slots) if slots else 0.0,
            "tasks_faster": sum(1 for s in task_best if s.significant),
            "task_share": sum(1 for s in task_best if s.significant) / len(task_best) if task_best else 0.0,
        },
        "innovations": {
            "reproduced": sum(s.reproduced for s in slots),
            "total": innovations,
            "share": sum(s.reproduced for s in slots) / innovations if innovations else None,
            "per_task": {
                str(t): sorted({n for s in slots if s.task == t for n in s.reproduced_names}) for t in sorted(by_task)
            },
        },
        "nodes": {str(o): outcomes.get(str(o), 0) for o in OUTCOMES},
        "tokens": sum(s.tokens for s in slots),
        "cost_usd": round(sum(s.cost_usd for s in slots), 6),
        "unpriced_calls": sum(s.unpriced_calls for s in slots),
        "compute_h": sum(s.compute_h for s in slots),
        "gpu_h": sum(s.gpu_h for s in slots),
        "wall_h": sum(s.wall_h for s in slots),
    }


def build(
    slots: list[Slot], rows=DEFAULT_ROWS, columns=DEFAULT_COLUMNS, source: str = "", unreadable: tuple[str, ...] = ()
) -> dict:
    """The leaderboard document (what ``--format json`` prints; every other format renders it)."""
    rows, columns = tuple(rows), tuple(columns)
    for dim in (*rows, *columns):
        if dim not in DIMENSIONS:
            raise SpeedrunError(f"cannot group by '{dim}': choose from {', '.join(DIMENSIONS)}")
    if not slots:
        raise SpeedrunError("no agent runs to rank: give run folders or a sweep with cells")
    grouped: dict[tuple[str, str], list[Slot]] = defaultdict(list)
    for s in slots:
        grouped[_label(s, rows), _label(s, columns)].append(s)
    row_labels = sorted({r for r, _ in grouped}, key=_sort_key)
    column_labels = sorted({c for _, c in grouped}, key=_sort_key)
    return {
        "schema": 1,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": source,
        "unreadable": list(unreadable),
        "rows_by": list(rows),
        "columns_by": list(columns),
        "rows": row_labels,
        "columns": column_labels,
        "cells": [
            {"row": r, "column": c, **cell_stats(grouped[r, c])}
            for r in row_labels
            for c in column_labels
            if (r, c) in grouped
        ],
        "slots": [
            {
                **asdict(s),
                "outcomes": dict(s.outcomes),
                "row": _label(s, tuple(rows)),
                "column": _label(s, tuple(columns)),
            }
            for s in slots
        ],
    }
