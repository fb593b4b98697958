"""The replay result cache: every finished run is kept, so an identical run can be reused.

A run is keyed by everything that can change its result: the git tree id of the code, the
environment (interpreter and package versions), the hardware, the launch arguments (entry,
launcher, processes, data, max steps) and the seed. An entry keeps the run's exit, its raw log
and when, where and at what load it was timed; grading is recomputed from the log. Failures of
the machine are never cached, so they are retried. A cached run's loss and log are as good as
a new one's, but its time was measured under other conditions: replays reuse entries only
when asked (``--cache``), and reports mark what they reused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import tempfile
from dataclasses import asdict
from pathlib import Path

from replay.score.grading import Exit

LOG_NAME = "log.txt"
ENTRY_NAME = "entry.json"


def cache_key(**parts) -> str:
    """A stable hash of the key parts (any JSON-serialisable values)."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def measured_now() -> dict:
    """When, on which host and at what load a run was timed: a reused timing carries it."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "load": round(os.getloadavg()[0], 2),
    }


class ResultCache:
    """A folder of ``<key>/entry.json`` + ``<key>/log.txt``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> tuple[Exit, Path, dict] | None:
        """The cached exit, log path and when/where the run was timed, or ``None``: a missing or
        damaged entry is a miss (the run is done again and its fresh result replaces the entry)."""
        folder = self._dir(key)
        try:
            entry = json.loads((folder / ENTRY_NAME).read_text())
            exit = Exit.from_json(entry["exit"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if entry.get("key_hash") not in (None, key) or not (folder / LOG_NAME).is_file():
            return None
        return exit, folder / LOG_NAME, entry.get("measured") or {}

    def put(self, key: str, exit: Exit, log_path: Path, parts: dict) -> None:
        """Store a run atomically: an entry is built in a folder of its own, then renamed into
        place in one step. Writers of one key race harmlessly (one key, one result): whoever
        renames first wins; a damaged entry is replaced."""
        folder = self._dir(key)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
        try:
            shutil.copyfile(log_path, tmp / LOG_NAME)
            entry = {"schema": 1, "key_hash": key, "key": parts, "exit": asdict(exit), "measured": measured_now()}
            (tmp / ENTRY_NAME).write_text(json.dumps(entry, indent=1, default=str))
            if folder.exists() and self.get(key) is None:  # damaged: move it aside, then take its place
                shutil.rmtree(folder.rename(folder.with_name(tmp.name + ".old")), ignore_errors=True)
            try:
                os.rename(tmp, folder)
            except OSError:
                if self.get(key) is None:  # not another writer's finished entry: a real failure
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
