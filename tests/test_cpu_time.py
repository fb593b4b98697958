"""The harness measures every run's CPU time itself (the run's process and the children it
waited for, from wait4) beside the script's train_time and the wall-clock; a replay flags a
complete run whose CPU time per second of train_time is far from what the records' own runs
show; and the time-measures benchmark compares the three measures' noise and drift."""

import importlib.util
import json
import sys

import pytest

from replay import paths
from replay.records.workrepo import commit_folder, create_branch, open_work_repo
from replay.run.executor import LaunchSpec, LocalExecutor
from replay.run.replayer import Replayer, ReplayRequest
from replay.score.replay_report import notes

WARM = """def _warm(seconds):
    end = os.times()[0] + seconds
    while os.times()[0] < end:
        pass
    return 0.0


"""
BUSY = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end:\n    pass\n"


def test_executor_records_cpu_time_next_to_wall_clock(tmp_path):
    (tmp_path / "burn.py").write_text(BUSY.format(seconds=0.6) + "print('step:1/1 val_loss:3.0 train_time:5ms')\n")
    out = LocalExecutor(gpus=0).run(LaunchSpec(tmp_path, "burn.py"), tmp_path / "log.txt")
    assert out.returncode == 0 and 0.6 <= out.cpu_s <= out.wall_s + 0.5
    (tmp_path / "idle.py").write_text("import time\ntime.sleep(0.6)\n")
    idle = LocalExecutor(gpus=0).run(LaunchSpec(tmp_path, "idle.py"), tmp_path / "log2.txt")
    assert idle.wall_s >= 0.6 and idle.cpu_s < 0.4  # sleeping is wall-clock, not CPU


def test_killed_run_is_reaped_once_with_its_cpu_time(tmp_path):
    script = (
        "import time\nfor s in range(1, 100):\n"
        "    print(f'step:{s}/99 train_time:{s}ms', flush=True)\n    time.sleep(0.05)\n"
    )
    (tmp_path / "loop.py").write_text(script)
    out = LocalExecutor(gpus=0).run(LaunchSpec(tmp_path, "loop.py", max_steps=3), tmp_path / "log.txt")
    assert out.stopped_at_max_steps and out.returncode is not None and out.cpu_s is not None


def test_a_run_working_outside_its_timer_is_flagged(toy_store, home):
    record = toy_store.record("toy", 2)
    folder = home / "cheat"
    from replay.records.store import materialize

    materialize(toy_store.repo, record.tree_id, folder)
    script = (folder / "train_gpt.py").read_text()
    # work the timer never sees, hidden in a hyperparameter's default where the static rules do not look
    warm = WARM
    script = script.replace("class Hyperparameters:\n", warm + "class Hyperparameters:\n")
    (folder / "train_gpt.py").write_text(script.replace("    step_ms = ", "    step_ms = _warm(1.5) + "))
    work = open_work_repo(toy_store.path)
    create_branch(work, "cheat", record.commit_id)
    commit_folder(work, "cheat", folder, "burn CPU before the clock starts")
    state = Replayer(toy_store).run(Replayer(toy_store).start(ReplayRequest("toy", 1, branches=("cheat",), runs=2)))
    flags = state.summary["timer_flags"]
    cheat = [f for f in flags if f["side"] == "cheat"]
    assert len(cheat) == 2 and all(f["cpu_s"] > 1.4 and f["ratio"] > 10 * f["reference"] for f in cheat)
    # a toy record's train_time is synthetic: its CPU seconds are the interpreter's start, which a busy
    # machine can stretch past the 1.5x margin for an honest run, never near the cheat's tenfold
    honest = [f for f in flags if f["side"] != "cheat"]
    assert all(f["reference"] / 3 < f["ratio"] < 3 * f["reference"] for f in honest), honest
    assert any(line.startswith("CHECK cheat run 1:") for line in notes(state.summary))
    sides = {s["name"]: s for s in state.summary["sides"]}
    assert sides["cheat"]["cpu_s"]["mean"] > 1.4 > sides["baseline"]["cpu_s"]["mean"]


@pytest.fixture
def measures(monkeypatch):
    bench = paths.PROJECT_ROOT / "bench"
    spec = importlib.util.spec_from_file_location("time_measures_under_test", bench / "time_measures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chain(tmp_path, name, scale, cpu_jitter):
    def run(t, k):
        return {
            "time_s": t * scale,
            "cpu_s": 2 * t + cpu_jitter[k],
            "wall_s": t * scale + 3,
            "val_loss": 3.7,
            "status": "ok",
        }

    results = {str(i): [run(100 / i + k, k) for k in range(3)] for i in (1, 2, 3)}
    path = tmp_path / name
    path.write_text(json.dumps({"track": "mini", "results": results}))
    return path


def test_time_measures_compare_noise_and_drift(measures, tmp_path):
    quiet = measures.runs_by_record(chain(tmp_path, "quiet.json", 1.0, [0.0, 0.0, 0.0]))
    loaded = measures.runs_by_record(chain(tmp_path, "loaded.json", 1.2, [0.0, 0.0, 0.0]))
    assert measures.disagreement(quiet, loaded, "time_s") == pytest.approx(0.2 / 1.1)
    assert measures.disagreement(quiet, loaded, "cpu_s") == 0.0  # CPU time does not care about the load
    assert measures.variation(quiet, "time_s") > 0
    text = measures.table([quiet, loaded])
    assert "| CPU time |" in text and "chains apart" in text
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"results": {"1": [{"time_s": 1.0, "val_loss": 3.7, "status": "ok"}]}}))
    with pytest.raises(SystemExit, match="carry no CPU time"):
        measures.runs_by_record(old)


def test_cli_of_time_measures(tmp_path):
    import subprocess

    path = chain(tmp_path, "one.json", 1.0, [0.0, 0.1, 0.2])
    out = subprocess.run(
        [sys.executable, str(paths.PROJECT_ROOT / "bench" / "time_measures.py"), str(path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "| official time |" in out.stdout and "chains apart" not in out.stdout
