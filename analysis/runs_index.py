"""The runs under runs/ as rows: what ``speedrun runs list|show`` prints and the leaderboard reads.

A row is read from a run log (:mod:`replay.run.runlog`), never from a report; a run whose
run.json cannot be read is a row with its error, so one damaged run never hides the others.
An agent run's FSR is its summary's single-run estimate against the human record; a
``--max-steps`` run has none, so its row carries the same ratio computed from the times at
step K and says ``partial`` (a smoke test of speed, not a result).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from replay import paths
from replay.errors import SpeedrunError
from replay.run.runlog import AgentState, ReplayState, load_run_file
from replay.score.stats import fsr
from replay.statuses import Role


@dataclass(frozen=True)
class RunRow:
    """One run as a row of ``speedrun runs list`` (and the leaderboard's input)."""

    run_id: str
    kind: str | None  # replay | agent; None: the run log could not be read
    status: str
    track: str | None = None
    task: int | None = None
    model: str | None = None  # agent runs only
    scaffold: str | None = None
    hints: tuple[int, ...] = ()
    seed: int | None = None
    created: str | None = None
    wall_s: float | None = None  # from created to the last write of run.json
    fsr: float | None = None  # agent: best node vs record i (single runs); replay: best candidate's FSR of means
    partial: bool = False  # --max-steps: FSR from times at step K
    best: str | None = None  # agent: best node's branch; replay: best candidate's side name
    error: str | None = None  # why run.json could not be read

    @property
    def hint_label(self) -> str:
        return "+".join(map(str, self.hints)) or "0"


def _seconds(start: str, end: str) -> float | None:
    try:
        return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


def agent_fsr(state: AgentState) -> tuple[float | None, bool]:
    """(FSR of the best node against record i, whether it is a --max-steps smoke estimate)."""
    summary = state.summary or {}
    partial = state.request.max_steps is not None
    if not partial:
        return summary.get("fsr_vs_record"), False
    times = summary.get("times_s") or {}
    start, target, best = times.get("record_start"), times.get("record_target"), times.get("best")
    return (None if None in (start, target, best) else fsr(start, target, best)), True


def replay_best_candidate(state: ReplayState) -> dict | None:
    """The candidate side of a finished replay with the highest FSR (None: no candidate with one)."""
    sides = [s for s in (state.summary or {}).get("sides", []) if s["role"] == Role.CANDIDATE and s["fsr"] is not None]
    return max(sides, key=lambda s: s["fsr"], default=None)


def row(run_id: str, run: AgentState | ReplayState) -> RunRow:
    wall_s = _seconds(run.created, run.updated)
    common = dict(run_id=run_id, kind=run.kind, status=str(run.status), created=run.created, wall_s=wall_s)
    if isinstance(run, AgentState):
        r = run.request
        value, partial = agent_fsr(run)
        return RunRow(
            **common,
            track=r.track,
            task=r.task,
            model=r.model,
            scaffold=r.scaffold,
            hints=tuple(r.hints),
            seed=r.seed,
            fsr=value,
            partial=partial,
            best=(run.summary or {}).get("branch"),
        )
    best = replay_best_candidate(run)
    return RunRow(
        **common,
        track=run.request.track,
        task=run.request.task,
        fsr=best["fsr"] if best else None,
        partial=run.request.max_steps is not None,
        best=best["name"] if best else None,
    )


def load_folder(folder: Path) -> tuple[RunRow, AgentState | ReplayState | None]:
    """A run folder's row and run log (None, with the row's error, when it cannot be read)."""
    try:
        run = load_run_file(folder / paths.RUN_JSON)
    except SpeedrunError as exc:
        return RunRow(folder.name, None, "damaged", error=str(exc)), None
    return row(folder.name, run), run


def scan(home: Path | None = None) -> list[tuple[RunRow, AgentState | ReplayState | None]]:
    """Every run under ``home`` (default: runs/), oldest id first."""
    root = home or paths.home()
    return [load_folder(p.parent) for p in sorted(root.glob(f"*/{paths.RUN_JSON}"))]


@dataclass(frozen=True)
class RunFilter:
    """``speedrun runs list`` filters; None matches anything."""

    kind: str | None = None
    track: str | None = None
    task: int | None = None
    model: str | None = None
    status: str | None = None

    def matches(self, r: RunRow) -> bool:
        wanted = {"kind": self.kind, "track": self.track, "task": self.task, "model": self.model, "status": self.status}
        return all(value is None or getattr(r, name) == value for name, value in wanted.items())
