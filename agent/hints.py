"""Hint levels: ``--hints 0|1|2|3|1,2|1,2,3`` and the hint texts of a task.

Level 1 is pseudocode of the change, level 2 a text description (what / why / impact),
level 3 a mini-paper; 0 means no hint. Hints for task i live in record i+1's commit under
``hints/level{1,2,3}.md`` — the only part of record i+1 an agent ever sees. Chosen levels
are always assembled in level order, whatever order the user typed them in.
"""

from __future__ import annotations

from replay import paths
from replay.errors import SpeedrunError

LEVELS = {1: "pseudocode of the change", 2: "description: what, why, impact", 3: "mini-paper"}


def parse_hints(spec: str) -> tuple[int, ...]:
    """``"0"`` -> ``()``; ``"2,1"`` -> ``(1, 2)``; anything else is an error naming the choices."""
    parts = [p.strip() for p in str(spec).split(",") if p.strip()]
    if parts == ["0"]:
        return ()
    if not parts or not all(p in ("1", "2", "3") for p in parts) or len(set(parts)) != len(parts):
        raise SpeedrunError(f"--hints must be 0, or levels from 1, 2, 3 separated by commas (e.g. 1,2); got '{spec}'")
    return tuple(sorted(int(p) for p in parts))


def hint_texts(store, task, levels: tuple[int, ...]) -> list[tuple[int, str]]:
    """(level, text) of each chosen level, in level order, from record i+1's commit."""
    return [
        (level, store.read_file(task.target, f"{paths.HINTS_DIR}/level{level}.md").decode().strip())
        for level in sorted(levels)
    ]
