"""Where things live: file-name constants and the paths derived from them, in one place.

The project root holds the tracked records repository (``records.git``). Runtime state
lives under ``runs/`` (git-ignored), or wherever ``SPEEDRUN_HOME`` points; the records
repository can be overridden with ``SPEEDRUN_RECORDS`` (tests use throwaway copies).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from replay.errors import SpeedrunError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

RECORD_TOML = "record.toml"
HINTS_DIR = "hints"
LOGS_DIR = "logs"
RUN_JSON = "run.json"
REPORT_MD = "report.md"
REPORT_JSON = "report.json"
SWEEPS_DIR = "sweeps"
SWEEP_JSON = "sweep.json"
SWEEP_CELLS_DIR = "cells"  # per cell: the log of its process and what it reports back
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def records_repo() -> Path:
    """The bare records repository (tracked in this project)."""
    return Path(os.environ.get("SPEEDRUN_RECORDS", PROJECT_ROOT / "records.git"))


def home() -> Path:
    """Root of all runtime state (git-ignored ``runs/`` by default)."""
    return Path(os.environ.get("SPEEDRUN_HOME", PROJECT_ROOT / "runs"))


def work_repo() -> Path:
    """The work repository: agent branches; shares records.git's objects via alternates."""
    return home() / "work.git"


def data_dir() -> Path:
    """Generated and downloaded datasets (``SPEEDRUN_DATA`` overrides, to share them between homes)."""
    return Path(os.environ.get("SPEEDRUN_DATA", home() / "data"))


def cache_dir() -> Path:
    """The replay result cache."""
    return home() / "cache"


def run_dir(run_id: str) -> Path:
    """The folder of one replay or agent run; a run id is one plain name, never a path."""
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise SpeedrunError(f"'{run_id}' is not a run id: one name of letters, digits, '.', '_' and '-' (see runs/)")
    return home() / run_id


def sweeps_dir() -> Path:
    """Where sweep indexes live: ``runs/sweeps/<sweep-id>/sweep.json`` (the cells are ordinary runs)."""
    return home() / SWEEPS_DIR


def sweep_dir(sweep_id: str) -> Path:
    """The folder of one sweep (its id is one plain name, like a run id)."""
    if not RUN_ID.fullmatch(sweep_id) or ".." in sweep_id:
        raise SpeedrunError(f"'{sweep_id}' is not a sweep id: one name of letters, digits, '.', '_' and '-'")
    return sweeps_dir() / sweep_id


def sweep_cell_file(sweep_id: str, index: int, suffix: str) -> Path:
    """A file of one cell of a sweep: ``.log`` (its process's output) or ``.json`` (what it reports)."""
    return sweep_dir(sweep_id) / SWEEP_CELLS_DIR / f"c{index:03d}{suffix}"
