"""Reading a sweep's index, ``runs/sweeps/<sweep-id>/sweep.json`` (schema 1), as typed records.

A sweep is an index of ordinary agent runs: its ``spec`` declares the grid (tracks, tasks,
models, scaffolds, hint levels, seeds) and each ``cell`` is one point of it with the run made
for it (``run_id``, null until started), the cell's ``status`` and, where the best branch was
replayed with N runs, that replay (``replay_run_id``). The leaderboard counts every cell,
finished or not; this module only reads the file (the sweep runner writes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter, with_config

from replay import paths
from replay.atomic import read_json
from replay.errors import SpeedrunError
from replay.run.runlog import DOCUMENTED, json_schema_of, validated

SWEEP_SCHEMA = 1


@with_config(DOCUMENTED)
@dataclass(frozen=True)
class CellKey:
    """One point of the sweep's grid."""

    track: str
    """The track."""
    task: int
    """Task i."""
    model: str
    """The model (litellm name, or scripted/MODULE:FN)."""
    scaffold: str
    """The search scaffold."""
    hints: tuple[int, ...]
    """Hint levels shown; empty: none."""
    seed: int
    """The run's seed."""


@with_config(DOCUMENTED)
@dataclass(frozen=True)
class SweepCell:
    """One agent run of the sweep, made or still to make."""

    key: CellKey
    """Where in the grid."""
    status: Literal["pending", "running", "finished", "failed"]
    """Where the cell stands."""
    run_id: str | None = None
    """The agent run made for it (None: not started)."""
    error: str | None = None
    """Why it failed."""
    replay_run_id: str | None = None
    """The replay of its best branch with N runs, if one was made."""


@with_config(DOCUMENTED)
@dataclass(frozen=True)
class SweepIndex:
    """A sweep: its declared grid and its cells."""

    id: str
    """The sweep's id (its folder under runs/sweeps/)."""
    created: str
    """When it was planned."""
    spec: dict[str, Any]
    """The grid as declared (tracks, tasks, models, scaffolds, hints, seeds, run options)."""
    cells: list[SweepCell] = field(default_factory=list)
    """Every cell of the grid."""
    executor: dict[str, Any] = field(default_factory=lambda: {"name": "local"})
    """Where its cells' runs go, as ``sweep run`` was told: ``name`` (local or slurm), ``slurm``
    (KEY=VALUE settings) and ``constraint``; ``sweep resume`` keeps them unless told otherwise."""
    schema: Literal[1] = SWEEP_SCHEMA
    """Version of the index's format."""


SWEEP = TypeAdapter(SweepIndex)


def parse_sweep(data: dict) -> SweepIndex:
    return validated(SWEEP, data)


def load_sweep(sweep_id: str) -> SweepIndex:
    path = paths.sweep_dir(sweep_id) / paths.SWEEP_JSON
    if not path.is_file():
        raise SpeedrunError(f"no sweep '{sweep_id}' under {paths.sweeps_dir()} (no {path})")
    return read_json(path, parse_sweep)


def sweep_json_schema() -> dict:
    """The JSON Schema of a sweep index (``schemas/sweep.schema.json``)."""
    return json_schema_of(SWEEP, f"speedrun sweep index, schema {SWEEP_SCHEMA}")
