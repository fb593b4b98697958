"""Sweeps: a sweep file parses into its grid (tasks x models x scaffolds x hints x seeds) or fails
as one line naming the file and the field; --dry-run prints every cell with its runs, GPU-hours
and dollars (none for an unpriced model); each cell is an ordinary agent run, indexed in
sweep.json in the shape the leaderboard reads; a failing cell never stops the others; resuming
a sweep touches no finished cell, and a sweep killed mid-run resumes every cell's own run, so
every cell ends finished exactly once; cells that start at once on a fresh home share one
work repository."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.state import load_agent_state
from agent.sweep import load_sweep
from agent.sweep_spec import key_to_json, load_spec
from analysis import sweep_index
from replay import paths
from replay.cli.app import app
from replay.errors import SpeedrunError
from replay.records.add import add_record, init_records_repo

from toyrecords import write_toy_record

TESTS = Path(__file__).parent
SPEEDRUN = [sys.executable, "-c", "from replay.cli.app import main; main()"]

GRID = """
name = "toy grid"
track = "toy"
tasks = [1, 2]
models = ["scripted/agent_policies:tweaker", "openai/gpt-4o-mini"]
scaffolds = ["flat", "aide"]
hints = ["0", [2, 1]]
seeds = [0, 1, 2]
nodes = 3
replay_best = 1
"""


def write(tmp_path, text, name="sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_sweep_file_is_a_grid(tmp_path):
    spec = load_spec(write(tmp_path, GRID), [1, 2])
    cells = spec.cells()
    assert len(cells) == 2 * 2 * 2 * 2 * 3
    assert key_to_json(cells[0]) == {
        "track": "toy",
        "task": 1,
        "model": "scripted/agent_policies:tweaker",
        "scaffold": "flat",
        "hints": [],
        "seed": 0,
    }
    assert cells[3].hints == (1, 2) and cells[-1].task == 2 and cells[-1].seed == 2
    assert len({c for c in cells}) == len(cells)
    assert load_spec(write(tmp_path, GRID.replace("tasks = [1, 2]", 'tasks = "all"')), [1, 2, 3]).tasks == (1, 2, 3)


@pytest.mark.parametrize(
    "change, message",
    [
        (("nodes = 3", "nodes = 0"), "'nodes' must be at least 1, not 0"),
        (("nodes = 3", "nodes = 'many'"), "'nodes' must be a whole number, not 'many'"),
        (("nodes = 3", "node = 3"), "unknown field 'node'"),
        (('track = "toy"', ""), "'track' is missing"),
        (("tasks = [1, 2]", "tasks = [1, 9]"), "track 'toy' has no task 9"),
        (('"flat", "aide"', '"flat", "bfs"'), "unknown scaffold 'bfs'"),
        (('hints = ["0", [2, 1]]', 'hints = ["4"]'), "'hints' entry '4' is not 0 or levels from 1, 2, 3"),
        (("seeds = [0, 1, 2]", "seeds = [0, 0]"), "'seeds' lists a value twice"),
        (('"openai/gpt-4o-mini"', '"gpt-4o-mini"'), "model 'gpt-4o-mini' needs a provider"),
        (("nodes = 3", "nodes = 3\nedit_format = 'patch'"), "'edit_format' must be one of search-replace, diff, whole"),
        (("nodes = 3", "nodes = [3"), "not valid TOML"),
    ],
)
def test_a_bad_sweep_file_is_one_clear_line(tmp_path, change, message):
    path = write(tmp_path, GRID.replace(*change))
    with pytest.raises(SpeedrunError, match="^" + str(path).replace(".", r"\.") + ": ") as info:
        load_spec(path, [1, 2])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_cli_reports_a_bad_sweep_file_as_one_line(toy_store, tmp_path):
    out = subprocess.run(
        [*SPEEDRUN, "sweep", str(write(tmp_path, GRID.replace("nodes = 3", "nodes = 0")))],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
    assert "'nodes' must be at least 1" in out.stderr and not paths.sweeps_dir().exists()


def test_dry_run_prints_cells_with_gpu_hours_and_dollars(toy_store, tmp_path):
    result = CliRunner().invoke(app, ["sweep", str(write(tmp_path, GRID)), "--dry-run"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.startswith("c0")]
    assert len(rows) == 48 and not paths.sweeps_dir().exists()  # nothing is written
    runs = 3 + 2 + 3 * 1  # nodes, root and record i+1, replay of 3 sides
    for row in rows:
        task, model, runs_shown, hours, dollars = int(row[1]), row[2], int(row[6]), float(row[7]), row[8]
        official = toy_store.task("toy", task).start.meta.result.time_s  # 2.0 s (task 1), 1.6 s (task 2)
        assert runs_shown == runs and hours == pytest.approx(runs * official / 3600, abs=6e-4)
        assert (dollars == "-") == model.startswith("scripted/")
        if model.startswith("openai/"):
            assert 0 < float(dollars) < 1
    assert "48 cells, 384 runs" in result.output and "(+ 24 unpriced cells)" in result.output
    assert "assumptions: GPU-h = runs x record i's official time x nproc" in result.output


@pytest.fixture
def cli_env(home, monkeypatch):
    """Cells are processes of their own: they find the tests' scripted policies on PYTHONPATH."""
    monkeypatch.setenv("PYTHONPATH", f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return home


def sweep_ids() -> list[str]:
    return [p.parent.name for p in sorted(paths.sweeps_dir().glob("*/sweep.json"))]


def agent_runs() -> list[str]:
    return sorted(p.parent.name for p in paths.home().glob("agent-*/run.json"))


def test_a_failing_cell_never_stops_the_others_and_resume_touches_nothing_finished(toy_store, cli_env, tmp_path):
    text = GRID.replace('"openai/gpt-4o-mini"', '"scripted/agent_policies:refuses"').replace(
        "tasks = [1, 2]", "tasks = [1]"
    )
    text = text.replace('scaffolds = ["flat", "aide"]', 'scaffolds = ["flat"]').replace('hints = ["0", [2, 1]]', "")
    text = text.replace("seeds = [0, 1, 2]", "seeds = [0]").replace("nodes = 3", "nodes = 1")
    result = CliRunner().invoke(app, ["sweep", str(write(tmp_path, text)), "--cells", "2"])
    assert result.exit_code == 1 and "1 of 2 cells" in str(result.exception)
    (sweep_id,) = sweep_ids()
    on_disk = json.loads((paths.sweep_dir(sweep_id) / "sweep.json").read_text())
    assert set(on_disk) == {"schema", "id", "created", "spec", "cells", "executor"} and on_disk["id"] == sweep_id
    assert on_disk["executor"] == {"name": "local", "slurm": [], "constraint": None}
    read_back = sweep_index.load_sweep(sweep_id)  # the leaderboard's reader takes it as written
    assert [c.status for c in read_back.cells] == ["finished", "failed"] and read_back.cells[0].key.hints == ()
    good, bad = on_disk["cells"]
    assert set(good) == {"key", "run_id", "status", "error", "replay_run_id"}
    assert good["status"] == "finished" and good["error"] is None
    assert load_agent_state(good["run_id"]).status == "finished"
    replay = json.loads((paths.run_dir(good["replay_run_id"]) / "run.json").read_text())
    assert replay["status"] == "finished" and replay["request"]["branches"] == [f"agent/{good['run_id']}/n001"]
    assert bad["status"] == "failed" and "AuthenticationError" in bad["error"] and bad["replay_run_id"] is None
    shown = CliRunner().invoke(app, ["sweep", "show", sweep_id])
    assert "finished" in shown.output and "AuthenticationError" in shown.output
    assert sweep_id in CliRunner().invoke(app, ["sweep", "list"]).output

    before = {run: (paths.run_dir(run) / "run.json").stat().st_mtime_ns for run in agent_runs()}
    again = CliRunner().invoke(app, ["sweep", "resume", sweep_id])  # nothing unfinished: nothing runs
    assert again.exit_code == 1 and load_sweep(sweep_id).to_json()["cells"] == on_disk["cells"]
    assert {run: (paths.run_dir(run) / "run.json").stat().st_mtime_ns for run in agent_runs()} == before
    retried = CliRunner().invoke(app, ["sweep", "resume", sweep_id, "--retry-failed"])  # the same run, resumed
    assert retried.exit_code == 1 and agent_runs() == sorted(before)
    assert (paths.run_dir(good["run_id"]) / "run.json").stat().st_mtime_ns == before[good["run_id"]]


def slow_toy(home) -> None:
    store = init_records_repo(home / "records.git")
    for index, step_ms in ((1, 100.0), (2, 80.0)):
        add_record(store, "toy", write_toy_record(home / f"src{index}", index=index, step_ms=step_ms, sleep_s=0.05))


@pytest.mark.slow  # 18 s; resuming a sweep without re-running finished cells stays in the default suite
def test_a_killed_sweep_resumes_every_cell_exactly_once(home, cli_env, tmp_path):
    slow_toy(home)
    text = GRID.replace('"openai/gpt-4o-mini"', '"scripted/agent_policies:oracle"').replace(
        "tasks = [1, 2]", "tasks = [1]"
    )
    text = text.replace('scaffolds = ["flat", "aide"]', 'scaffolds = ["aide"]').replace('hints = ["0", [2, 1]]', "")
    text = text.replace("seeds = [0, 1, 2]", "seeds = [0]").replace("replay_best = 1", "cells_at_once = 2")
    proc = subprocess.Popen([*SPEEDRUN, "sweep", str(write(tmp_path, text))], stderr=subprocess.PIPE)
    deadline, replied = time.time() + 120, {}
    while time.time() < deadline and proc.poll() is None:  # kill once a cell's node n002 is executing
        states = [json.loads((paths.run_dir(r) / "run.json").read_text()) for r in agent_runs()]
        if any(n["id"] == "n002" and n["stage"] == "committed" for s in states for n in s["nodes"]):
            replied = {
                (s["run_id"], n["id"]): n["llm"]["response_sha256"] for s in states for n in s["nodes"] if n["llm"]
            }
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (sweep_id,) = sweep_ids()
    killed = load_sweep(sweep_id)
    assert replied and any(c.status == "running" for c in killed.cells)
    time.sleep(1)  # the cells' processes got SIGTERM with their controller: let them save
    out = subprocess.run([*SPEEDRUN, "sweep", "resume", sweep_id], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    resumed = load_sweep(sweep_id)
    assert all(c.status == "finished" for c in resumed.cells)
    assert all(k.run_id in (None, r.run_id) for k, r in zip(killed.cells, resumed.cells, strict=True))
    assert agent_runs() == sorted(c.run_id for c in resumed.cells)  # one run per cell, none twice
    for (run_id, node), sha in replied.items():  # what was asked before the kill is not asked again
        assert load_agent_state(run_id).node(node).llm.response_sha256 == sha
    for cell in resumed.cells:
        assert all(n.stage == "done" for n in load_agent_state(cell.run_id).nodes)


def test_cells_starting_at_once_on_a_fresh_home_share_one_work_repository(toy_store):
    opener = "from replay.records.workrepo import open_work_repo; open_work_repo()"
    procs = [subprocess.Popen([sys.executable, "-c", opener], stderr=subprocess.PIPE, text=True) for _ in range(6)]
    errors = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    assert (paths.work_repo() / "objects" / "info" / "alternates").read_text().strip().endswith("objects")
