"""Shared fixtures: throwaway records repositories and runtime homes for every test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# Attribution in tests (in process or through the CLI) starts a probe worker of its own instead of a
# warm server that would outlive the session; set before any fixture, module-scoped ones included,
# builds the process's prober. tests/test_analysis_probe_server.py starts its servers explicitly.
os.environ["SPEEDRUN_PROBE_SERVER"] = "0"

from toyrecords import write_toy_record  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty SPEEDRUN_HOME and an empty records repository path, both throwaway."""
    monkeypatch.setenv("SPEEDRUN_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("SPEEDRUN_RECORDS", str(tmp_path / "records.git"))
    return tmp_path


@pytest.fixture
def toy_store(home):
    """A records repository with track 'toy': 3 records, each faster than the last."""
    from replay.records.add import add_record, init_records_repo

    store = init_records_repo(home / "records.git")
    for index, step_ms in ((1, 100.0), (2, 80.0), (3, 60.0)):
        folder = write_toy_record(home / f"src{index}", index=index, step_ms=step_ms)
        add_record(store, "toy", folder)
    from replay.records.store import RecordsStore

    return RecordsStore(home / "records.git")


@pytest.fixture(autouse=True)
def _unsandboxed_without_bubblewrap(monkeypatch):
    """Where bubblewrap is missing, replays and agent runs in tests (in process or through the CLI)
    run their code unsandboxed, as ``--unsandboxed`` would, instead of refusing; tests/test_sandbox.py
    skips what needs the sandbox."""
    from replay.run import sandbox

    if sandbox.sandbox_unavailable() is not None:
        monkeypatch.setenv(sandbox.UNSANDBOXED_VARIABLE, "1")
