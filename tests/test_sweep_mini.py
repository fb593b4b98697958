"""The example sweep shipped with the project (examples/mini-sweep.toml: three scripted policies
of different skill x two scaffolds x two mini tasks x two seeds; here with its first seed only, 12
cells, so that CI stays well within its time) runs end to end from the CLI,
through Slurm where one is up (always in CI: `.ci/slurm-up`), else on this machine; killed once
while cells are running and resumed (which keeps the sweep's executor), every cell ends finished
with exactly one agent run of its own, and the policies rank as their skill says (the vandal
never has a best node; on the leaderboard of the sweep the oracle reproduces the most
innovations and no vandal node is valid)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from replay import paths

EXAMPLE = paths.PROJECT_ROOT / "examples" / "mini-sweep.toml"
SPEEDRUN = [sys.executable, "-c", "from replay.cli.app import main; main()"]


def slurm_is_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    states = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True).stdout.split()
    return any(s in ("idle", "mixed", "allocated") for s in states)


def one_seed_example(tmp_path) -> Path:
    """The example with its first seed only (the grid's other axes as shipped)."""
    text = EXAMPLE.read_text()
    assert "seeds = [0, 1]" in text
    path = tmp_path / EXAMPLE.name
    path.write_text(text.replace("seeds = [0, 1]", "seeds = [0]"))
    return path


@pytest.mark.slow  # 12 cells of smoke-sized mini runs: about ten minutes on a shared 2-core CPU
def test_example_sweep_survives_a_kill_and_finishes_every_cell_once(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SPEEDRUN_RECORDS", "SPEEDRUN_DATA")}
    env["SPEEDRUN_HOME"] = str(tmp_path / "runs")
    index = tmp_path / "runs" / "sweeps"
    executor = "slurm" if slurm_is_up() else "local"
    command = [*SPEEDRUN, "sweep", str(one_seed_example(tmp_path)), "--executor", executor]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 1800
    while time.time() < deadline and proc.poll() is None:  # kill once some cells finished and others run
        found = list(index.glob("*/sweep.json"))
        cells = json.loads(found[0].read_text())["cells"] if found else []
        statuses = [c["status"] for c in cells]
        if statuses.count("finished") >= 2 and "running" in statuses:
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (sweep_json,) = index.glob("*/sweep.json")
    before = json.loads(sweep_json.read_text())
    assert "pending" in [c["status"] for c in before["cells"]]  # it was killed mid-sweep
    time.sleep(2)  # the cells' processes got SIGTERM with their controller: let them save
    out = subprocess.run(
        [*SPEEDRUN, "sweep", "resume", before["id"]], env=env, capture_output=True, text=True, timeout=3600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    after = json.loads(sweep_json.read_text())
    assert len(after["cells"]) == 12 and all(c["status"] == "finished" for c in after["cells"])
    run_ids = [c["run_id"] for c in after["cells"]]
    on_disk = sorted(p.parent.name for p in (tmp_path / "runs").glob("agent-*/run.json"))
    assert sorted(run_ids) == on_disk and len(set(run_ids)) == 12  # exactly one run per cell
    for old, new in zip(before["cells"], after["cells"], strict=True):
        assert old["run_id"] in (None, new["run_id"])  # a started cell kept its run
    best = {}
    for cell in after["cells"]:
        state = json.loads((tmp_path / "runs" / cell["run_id"] / "run.json").read_text())
        assert state["status"] == "finished" and all(n["stage"] == "done" for n in state["nodes"])
        assert state["executor"]["name"] == executor and state["jobs"] == {}
        best.setdefault(cell["key"]["model"].rpartition(":")[2], []).append(state["summary"]["best"])
    assert not any(best["vandal"]) and all(best["tinkerer"])
    leaderboard_ranks_the_policies_by_skill(before["id"], env, tmp_path)


def leaderboard_ranks_the_policies_by_skill(sweep_id: str, env: dict, tmp_path) -> None:
    """The example's leaderboard counts every cell (2 tasks x 1 seed per model x scaffold), the
    oracle reproduces more of record i+1's innovations than either other policy, no vandal node is
    valid (they are buggy or miss the target), and the plots are written as PNG and SVG."""
    out = subprocess.run(
        [*SPEEDRUN, "leaderboard", "--sweep", sweep_id, "--format", "json", "--plots", str(tmp_path / "plots")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    board = json.loads(out.stdout)
    cells = {(c["row"], c["column"]): c for c in board["cells"]}
    assert len(cells) == 6 and all(c["tasks"] == 2 and c["runs_per_task"] == 1 for c in cells.values())
    by_policy: dict[str, list[dict]] = {}
    for (row, _), cell in cells.items():
        by_policy.setdefault(next(p for p in ("oracle", "tinkerer", "vandal") if p in row), []).append(cell)
    reproduced = {p: sum(c["innovations"]["reproduced"] for c in cs) for p, cs in by_policy.items()}
    assert reproduced["oracle"] > max(reproduced["tinkerer"], reproduced["vandal"]), reproduced
    vandal_nodes = [c["nodes"] for c in by_policy["vandal"]]
    assert all(n["buggy"] > 0 and n["valid"] == n["improved"] == 0 for n in vandal_nodes), vandal_nodes
    written = sorted(p.suffix for p in (tmp_path / "plots").iterdir())
    assert written and written.count(".png") == written.count(".svg")
