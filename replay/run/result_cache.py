"""The replay result cache: replaying unchanged code on an unchanged machine costs nothing.

A run is keyed by everything that can change its result: the git tree id of the code, the
environment (interpreter and package versions), the hardware, the launch arguments (entry,
launcher, processes, data, max steps) and the seed. An entry keeps the run's exit and its
raw log; grading is recomputed from the log. Failures of the machine are never cached, so
they are retried.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from replay.score.grading import Exit

LOG_NAME = "log.txt"
ENTRY_NAME = "entry.json"


def cache_key(**parts) -> str:
    """A stable hash of the key parts (any JSON-serialisable values)."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResultCache:
    """A folder of ``<key>/entry.json`` + ``<key>/log.txt``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> tuple[Exit, Path] | None:
        """The cached exit and log path, or ``None``."""
        folder = self._dir(key)
        try:
            entry = json.loads((folder / ENTRY_NAME).read_text())
        except (OSError, ValueError):
            return None
        exit = entry["exit"]
        exit["command"] = tuple(exit["command"])
        return Exit(**exit), folder / LOG_NAME

    def put(self, key: str, exit: Exit, log_path: Path, parts: dict) -> None:
        """Store a run (atomically: a half-written entry is never visible)."""
        folder = self._dir(key)
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copyfile(log_path, tmp / LOG_NAME)
        (tmp / ENTRY_NAME).write_text(
            json.dumps({"schema": 1, "key": parts, "exit": asdict(exit)}, indent=1, default=str)
        )
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
