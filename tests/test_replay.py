"""Replays of toy records: interleaved runs, graded from kept logs, cached, stoppable from
outside (--max-steps, time limit), resumable after the replay process is killed, and
branches from the work repository scored by FSR."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pygit2
import pytest

from replay import paths
from replay.records.workrepo import commit_folder, create_branch, open_work_repo
from replay.run.executor import LocalExecutor
from replay.run.replayer import Replayer, ReplayRequest, load_state
from replay.score.replay_report import notes

from toyrecords import write_toy_record

SPEEDRUN = str(Path(sys.executable).parent / "speedrun")


def replay(store, **kwargs):
    replayer = Replayer(store, executor=LocalExecutor(gpus=0))
    return replayer.run(replayer.start(ReplayRequest(**{"track": "toy", "task": 1, **kwargs})))


def side(state, name):
    return next(s for s in state.summary["sides"] if s["name"] == name)


def test_replay_interleaves_grades_and_writes_reports(toy_store):
    state = replay(toy_store, runs=3)
    assert [(r["side"], r["replicate"]) for r in state.runs] == [
        ("baseline", 0),
        ("ground_truth", 0),
        ("ground_truth", 1),  # the order rotates by one place a round
        ("baseline", 1),
        ("baseline", 2),
        ("ground_truth", 2),
    ]
    base, truth = side(state, "baseline"), side(state, "ground_truth")
    assert base["time_s"]["mean"] == pytest.approx(2.0, abs=0.03)
    assert truth["time_s"]["mean"] == pytest.approx(1.6, abs=0.03)
    assert base["valid"] and truth["valid"] and truth["fsr"] == pytest.approx(1.0) and base["fsr"] == pytest.approx(0.0)
    assert state.summary["speedup"]["within_noise"] is False
    folder = paths.run_dir(state.run_id)
    saved = json.loads((folder / "run.json").read_text())
    assert saved["status"] == "finished" and saved["schema"] == 2 and len(saved["runs"]) == 6
    assert saved["provenance"]["hardware"]["cpu_count"] >= 1
    assert (folder / "report.md").read_text().count("| baseline |") == 1
    assert json.loads((folder / "report.json").read_text())["sides"][1]["name"] == "ground_truth"
    for run in saved["runs"]:
        assert "step:20/20 val_loss:" in (folder / run["log"]).read_text()


def test_cached_runs_are_reused_only_on_request_and_marked(toy_store, monkeypatch, tmp_path):
    """Times compared in one report are measured under its conditions: a replay times every run
    afresh; only when asked does it reuse identical cached runs, and then it says when, where and
    at what load they were timed."""
    counter = tmp_path / "count.txt"
    monkeypatch.setenv("TOY_COUNTER", str(counter))
    first = replay(toy_store, runs=2)
    assert len(counter.read_text().splitlines()) == 4
    again = replay(toy_store, runs=2)
    assert len(counter.read_text().splitlines()) == 8 and not any(r["cached"] for r in again.runs)
    reused = replay(toy_store, runs=2, use_cache=True)
    assert len(counter.read_text().splitlines()) == 8, "a replay that reuses the cache executes nothing"
    assert all(r["cached"] for r in reused.runs)
    assert [s["time_s"] for s in reused.summary["sides"]] == [s["time_s"] for s in first.summary["sides"]]
    marks = reused.summary["reused"]
    assert len(marks) == 4 and all({"date", "host", "load"} <= set(m) for m in marks)
    assert notes(reused.summary)[0].startswith("REUSED 4 run(s) from the cache")
    assert first.summary["reused"] == [] and not any(n.startswith("REUSED") for n in notes(first.summary))


def test_max_steps_stops_runs_from_outside_and_marks_them_partial(home):
    from replay.records.add import add_record, init_records_repo

    store = init_records_repo(home / "records.git")
    for index in (1, 2):
        add_record(store, "toy", write_toy_record(home / f"s{index}", index=index, steps=400, sleep_s=0.02))
    start = time.perf_counter()
    state = replay(store, runs=1, max_steps=5)
    assert time.perf_counter() - start < 6, "runs must be stopped, not left to finish 400 steps"
    for run in state.runs:
        assert run["status"] == "partial" and 5 <= run["steps"] < 50
    assert state.summary["partial"] and side(state, "baseline")["fsr"] is None


def test_time_limit_is_a_machine_failure_and_not_cached(home):
    from replay.records.add import add_record, init_records_repo

    store = init_records_repo(home / "records.git")
    for index in (1, 2):
        add_record(store, "toy", write_toy_record(home / f"s{index}", index=index, steps=400, sleep_s=0.05))
    state = replay(store, runs=1, time_limit_s=1.0)
    assert {r["failure"] for r in state.runs} == {"timeout"}
    assert side(state, "baseline")["completed"] == 0 and side(state, "baseline")["failures"] == {"timeout": 1}
    assert not any(paths.cache_dir().rglob("entry.json"))


def test_branches_are_scored_gold_null_and_broken(toy_store, home):
    work = open_work_repo(toy_store.path)
    record1, record2 = toy_store.record("toy", 1), toy_store.record("toy", 2)
    create_branch(work, "gold", record2.commit_id)
    create_branch(work, "null", record1.commit_id)
    create_branch(work, "half", record1.commit_id)
    commit_folder(work, "half", write_toy_record(home / "half", index=1, step_ms=90.0), "halfway")
    create_branch(work, "broken", record1.commit_id)
    broken = write_toy_record(home / "broken", index=1)
    (broken / "train_gpt.py").write_text("raise RuntimeError('agent bug')\n")
    commit_folder(work, "broken", broken, "broken")
    state = replay(toy_store, runs=3, branches=("gold", "null", "half", "broken"))
    assert side(state, "gold")["fsr"] == pytest.approx(1.0, abs=0.05)
    assert side(state, "null")["fsr"] == pytest.approx(0.0, abs=0.05)
    assert side(state, "half")["fsr"] == pytest.approx(0.5, abs=0.05)
    lo, hi = side(state, "half")["fsr_ci"]
    assert lo <= 0.5 <= hi
    b = side(state, "broken")
    # it removes the record's protected definitions: refused before running, as an agent's node would be
    assert b["completed"] == 0 and b["failures"] == {"refused": 3} and b["fsr"] is None
    # the records repository gained nothing: branches live in the work repo only
    assert set(pygit2.Repository(str(toy_store.path)).branches.local) == {"toy"}


def _slow_store(home):
    from replay.records.add import add_record, init_records_repo

    store = init_records_repo(home / "records.git")
    for index in (1, 2):
        add_record(store, "toy", write_toy_record(home / f"s{index}", index=index, steps=15, sleep_s=0.05))
    return store


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_replay_resumes_without_repeating_finished_runs(home, tmp_path, sig):
    _slow_store(home)
    counter = tmp_path / "count.txt"
    # the counter is written outside the run's folder, which a sandboxed run cannot do: unsandboxed here
    env = {**os.environ, "TOY_COUNTER": str(counter), "SPEEDRUN_UNSANDBOXED": "1"}
    proc = subprocess.Popen(
        [SPEEDRUN, "replay", "1", "--track", "toy", "--runs", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_json = None
    deadline = time.time() + 60
    while time.time() < deadline:
        found = list(paths.home().glob("replay-*/run.json"))
        if found and len(json.loads(found[0].read_text())["runs"]) >= 2:
            run_json = found[0]
            break
        time.sleep(0.05)
    assert run_json, "the replay never finished two runs"
    proc.send_signal(sig)
    proc.wait(timeout=30)
    time.sleep(0.3)
    state = json.loads(run_json.read_text())
    finished = len(state["runs"])
    assert 2 <= finished < 6 and state["status"] in ("interrupted", "running")
    executed_before = len(counter.read_text().splitlines())
    out = subprocess.run(
        [SPEEDRUN, "replay", "--resume", state["run_id"]], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    resumed = load_state(state["run_id"])
    assert resumed.status == "finished" and len(resumed.runs) == 6
    assert [(r["side"], r["replicate"]) for r in resumed.runs[:finished]] == [
        (r["side"], r["replicate"]) for r in state["runs"]
    ]
    executed_after = len(counter.read_text().splitlines())
    assert executed_after - executed_before == 6 - finished, "finished runs must not be repeated"
    assert "FSR" in out.stdout


def test_branch_without_record_files_is_rejected_before_running(toy_store, home):
    from replay.errors import SpeedrunError

    work = open_work_repo(toy_store.path)
    create_branch(work, "bare", toy_store.record("toy", 1).commit_id)
    (home / "only").mkdir()
    (home / "only" / "notes.txt").write_text("no script here\n")
    commit_folder(work, "bare", home / "only", "nothing runnable")
    with pytest.raises(SpeedrunError, match="branch 'bare' .* has no record.toml"):
        replay(toy_store, branches=("bare",))
