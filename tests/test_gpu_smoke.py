"""On a CUDA machine, an imported real record trains for a few steps on synthetic shards.

Guards the whole real-track path end to end — import, FineWeb-format data, the working-directory
data link, torchrun launch, step-line parsing and the partial-run grade — without network or the
real dataset. Needs a GPU and a modded-nanogpt checkout (``SPEEDRUN_NANOGPT_CHECKOUT``); skipped
otherwise. ``SPEEDRUN_SMOKE_TASK`` picks the task (default 12: FlexAttention, PyTorch >= 2.6).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu
SPEEDRUN = str(Path(sys.executable).parent / "speedrun")


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")
@pytest.mark.skipif(not os.environ.get("SPEEDRUN_NANOGPT_CHECKOUT"), reason="needs SPEEDRUN_NANOGPT_CHECKOUT")
def test_real_record_runs_a_few_steps_on_synthetic_shards(home, tmp_path, monkeypatch):
    shards = tmp_path / "fineweb10B"
    monkeypatch.setenv("SPEEDRUN_FINEWEB", str(shards))
    task = os.environ.get("SPEEDRUN_SMOKE_TASK", "12")

    def speedrun(*args: str) -> str:
        out = subprocess.run([SPEEDRUN, *args], capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    speedrun("records", "init", str(home / "records.git"))
    speedrun("records", "import", os.environ["SPEEDRUN_NANOGPT_CHECKOUT"])
    speedrun("data", "synthetic", "--out", str(shards))
    speedrun(
        "replay",
        task,
        "--track",
        "nanogpt",
        "--max-steps",
        "5",
        "--nproc",
        "1",
        "--python",
        sys.executable,
        "--no-cache",
    )
    run = next((home / "runs").glob("replay-nanogpt-*/run.json"))
    state = json.loads(run.read_text())
    assert {r["side"] for r in state["runs"]} == {"baseline", "ground_truth"}
    for record in state["runs"]:
        assert record["status"] == "partial", record
        assert record["steps"] >= 5 and record["wall_s"] > 0
