"""The labels this project ships for imported records: innovations, protected names, hints.

``replay/importer/labels/<track>/rNN/labels.toml`` holds what record NN introduced (innovations with
anchors) and what an agent may not change (``protected``); ``hints/level{1,2,3}.md`` beside it
are our hints for the task that ends at record NN; ``official.toml`` gives the official result of
a record whose log does not. A user may instead bring the paper's own
hint files (``--hints DIR``, laid out ``record_<i>/level_1_pseudo.txt`` ... for task i).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from replay.errors import SpeedrunError

LABELS_DIR = Path(__file__).parent / "labels"
HINT_LEVELS = (1, 2, 3)
# The paper's data names its hint files by kind; level 3 (a mini-paper) has had two names.
PAPER_HINT_FILES = {
    1: ("level_1_pseudo.txt",),
    2: ("level_2_description.txt",),
    3: ("level_3_paper.txt", "level_5_paper.txt"),
}


@dataclass(frozen=True)
class Labels:
    """What we know about one record beyond its code."""

    innovations: tuple[dict, ...] = ()  # {"name", "description", "anchors"[, "probes"]} as record.toml wants them
    protected: tuple[str, ...] = ()
    hints: dict[int, str] = field(default_factory=dict)  # level -> markdown


def load_labels(track: str, index: int, root: Path = LABELS_DIR) -> Labels | None:
    """The shipped labels of record ``index`` of ``track``, or None if we have none."""
    folder = root / track / f"r{index:02d}"
    path = folder / "labels.toml"
    if not path.is_file():
        return None
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SpeedrunError(f"{path}: not valid TOML ({exc})") from None
    innovations = tuple(
        {"name": i["name"], "description": i.get("description", ""), "anchors": list(i.get("anchors", []))}
        | ({"probes": list(i["probes"])} if i.get("probes") else {})
        for i in raw.get("innovations", [])
    )
    hints = {
        level: (folder / "hints" / f"level{level}.md").read_text()
        for level in HINT_LEVELS
        if (folder / "hints" / f"level{level}.md").is_file()
    }
    return Labels(innovations, tuple(raw.get("protected", [])), hints)


def official_result(track: str, index: int, root: Path = LABELS_DIR) -> dict:
    """Official figures (val_loss, steps) for a record without a usable log, from ``official.toml``."""
    path = root / track / "official.toml"
    if not path.is_file():
        return {}
    return dict(tomllib.loads(path.read_text()).get(f"r{index:02d}", {}))


def paper_hints(hints_dir: Path, task: int) -> dict[int, str]:
    """Hints for task ``task`` from a copy of the paper's data (``record_<task>/level_*.txt``)."""
    folder = Path(hints_dir) / f"record_{task}"
    hints = {}
    for level, names in PAPER_HINT_FILES.items():
        for name in names:
            if (folder / name).is_file():
                hints[level] = (folder / name).read_text()
                break
    return hints
