"""A sweep file (``SWEEP.toml``): the grid of agent runs a sweep makes, parsed and checked.

::

    schema = 1
    name = "mini-example"                  # optional; part of the sweep's id
    track = "mini"
    tasks = [3, 5]                         # or "all": every task of the track
    models = ["scripted/agent.policies:oracle", "openai/gpt-4o-mini"]
    scaffolds = ["flat", "aide"]           # default ["aide"]
    hints = ["0", "1,2"]                   # hint levels per cell: "0" (none), "1", "1,2", [1, 2], ...
    seeds = [0, 1]                         # default [0]
    nodes = 20                             # node budget of each run
    budget_usd = 2.0                       # optional cost budget of each run
    edit_format = "search-replace"         # or "diff", "whole"
    max_steps = 10                         # optional: smoke runs (every node stopped at step K)
    node_timeout_s = 600                   # optional: seconds per node run
    replay_best = 3                        # optional: replay each cell's best branch N times
    cells_at_once = 2                      # optional: cells running at once (default 1)
    cache = false                          # optional: reuse cached identical runs (the agent's --cache)

The grid is tasks × models × scaffolds × hints × seeds, one ordinary agent run per cell. Every
mistake is one line naming the file and the field; unknown fields are refused.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from agent.edits import EditFormat
from agent.hints import parse_hints
from agent.scaffolds import SCAFFOLDS
from analysis.sweep_index import CellKey  # the index's one typed key, shared with its reader
from replay.errors import SpeedrunError

SPEC_SCHEMA = 1


def key_to_json(key: CellKey) -> dict:
    """A cell's key as ``sweep.json`` holds it (``hints`` a list; [] for level 0)."""
    return dict(asdict(key), hints=list(key.hints))


def key_from_json(data: dict) -> CellKey:
    return CellKey(**dict(data, hints=tuple(data["hints"])))


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, checked sweep file (``sweep.json``'s ``spec``)."""

    track: str
    tasks: tuple[int, ...]
    models: tuple[str, ...]
    scaffolds: tuple[str, ...] = ("aide",)
    hints: tuple[tuple[int, ...], ...] = ((),)
    seeds: tuple[int, ...] = (0,)
    nodes: int = 20
    budget_usd: float | None = None
    edit_format: str = EditFormat.SEARCH_REPLACE.value
    max_steps: int | None = None
    node_timeout_s: float | None = None
    replay_best: int = 0
    cells_at_once: int = 1
    cache: bool = False
    name: str = "sweep"
    schema: int = SPEC_SCHEMA

    def cells(self) -> list[CellKey]:
        """Every cell of the grid, task by task (then model, scaffold, hints, seed)."""
        return [
            CellKey(self.track, task, model, scaffold, hints, seed)
            for task, model, scaffold, hints, seed in itertools.product(
                self.tasks, self.models, self.scaffolds, self.hints, self.seeds
            )
        ]

    def to_json(self) -> dict:
        data = asdict(self)
        data["hints"] = [list(h) for h in self.hints]
        return data

    @classmethod
    def from_json(cls, data: dict) -> SweepSpec:
        return _build(dict(data), "sweep.json", all_tasks=None)


def load_spec(path: Path, all_tasks: list[int]) -> SweepSpec:
    """Parse and check a sweep file; ``all_tasks`` are the track's task numbers (for "all" and checks)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpeedrunError(f"{path}: no such sweep file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpeedrunError(f"{path}: not valid TOML: {exc}") from None
    return _build(raw, str(path), all_tasks)


def _build(raw: dict, where: str, all_tasks: list[int] | None) -> SweepSpec:
    known = {f.name for f in fields(SweepSpec)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SpeedrunError(f"{where}: unknown field '{unknown[0]}' (fields: {', '.join(sorted(known))})")
    for required in ("track", "tasks", "models"):
        if required not in raw:
            raise SpeedrunError(f"{where}: '{required}' is missing")
    if raw.get("schema", SPEC_SCHEMA) != SPEC_SCHEMA:
        raise SpeedrunError(f"{where}: schema {raw['schema']} is not supported (this toolkit reads {SPEC_SCHEMA})")

    def field(name, kind, minimum=None):
        return None if raw.get(name) is None else _value(where, name, raw[name], kind, minimum)

    def listed(name, kind, minimum=None):
        values = raw.get(name)
        if values is None:
            return None
        if not isinstance(values, list) or not values:
            raise SpeedrunError(f"{where}: '{name}' must be a non-empty list")
        checked = tuple(_value(where, name, value, kind, minimum) for value in values)
        if len(set(checked)) != len(checked):
            raise SpeedrunError(f"{where}: '{name}' lists a value twice")
        return checked

    spec = {"track": field("track", str), "models": listed("models", str)}
    if raw["tasks"] == "all" and all_tasks is not None:
        spec["tasks"] = tuple(all_tasks)
    else:
        spec["tasks"] = listed("tasks", int, 1)
        missing = [t for t in spec["tasks"] if all_tasks is not None and t not in all_tasks]
        if missing:
            raise SpeedrunError(
                f"{where}: track '{spec['track']}' has no task {missing[0]} (tasks: {', '.join(map(str, all_tasks))})"
            )
    scaffolds = listed("scaffolds", str)
    if scaffolds:
        bad = [s for s in scaffolds if s not in SCAFFOLDS]
        if bad:
            raise SpeedrunError(f"{where}: unknown scaffold '{bad[0]}' (known: {', '.join(SCAFFOLDS)})")
        spec["scaffolds"] = scaffolds
    if raw.get("hints") is not None:
        spec["hints"] = _hint_levels(raw["hints"], where)
    for name, kind, minimum in (
        ("seeds", int, 0),
        ("nodes", int, 1),
        ("budget_usd", float, 0),
        ("max_steps", int, 1),
        ("node_timeout_s", float, 1),
        ("replay_best", int, 0),
        ("cells_at_once", int, 1),
        ("cache", bool, None),
        ("name", str, None),
    ):
        value = listed(name, kind, minimum) if name == "seeds" else field(name, kind, minimum)
        if value is not None:
            spec[name] = value
    if "edit_format" in raw:
        edit_format = field("edit_format", str)
        if edit_format not in tuple(EditFormat):
            raise SpeedrunError(f"{where}: 'edit_format' must be one of {', '.join(EditFormat)}, not '{edit_format}'")
        spec["edit_format"] = edit_format
    bad_model = next((m for m in spec["models"] if "/" not in m), None)
    if bad_model:
        raise SpeedrunError(f"{where}: model '{bad_model}' needs a provider: openai/..., anthropic/..., scripted/...")
    return SweepSpec(**spec)


def _hint_levels(values, where: str) -> tuple[tuple[int, ...], ...]:
    if not isinstance(values, list) or not values:
        raise SpeedrunError(f'{where}: \'hints\' must be a non-empty list of hint levels such as "0" or "1,2"')
    levels = []
    for value in values:
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        try:
            levels.append(parse_hints(text or "0"))
        except SpeedrunError:
            raise SpeedrunError(
                f"{where}: 'hints' entry {value!r} is not 0 or levels from 1, 2, 3 (e.g. \"1,2\")"
            ) from None
    if len(set(levels)) != len(levels):
        raise SpeedrunError(f"{where}: 'hints' lists a value twice")
    return tuple(levels)


_KIND_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


def _value(where: str, name: str, value, kind: type, minimum=None):
    """``value`` checked to be of ``kind`` (a whole number counts as a number) and at least ``minimum``."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SpeedrunError(f"{where}: '{name}' must be {_KIND_NAMES[kind]}, not {value!r}")
    if minimum is not None and value < minimum:
        raise SpeedrunError(f"{where}: '{name}' must be at least {minimum}, not {value!r}")
    return value
