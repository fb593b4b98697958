"""Replays, agent runs and sweeps on a real Slurm (``.ci/slurm-up`` starts one; CI always runs
these): every run is one job, its id saved in run.json; a replay or agent run whose speedrun
process is killed while its jobs are queued or running, then resumed, re-attaches to them:
nothing finished is lost and nothing runs twice, and so does a sweep whose controller is killed
(its cells, stopped by SIGTERM, leave their jobs running); a preempted job is requeued under its
id and its run done again from the start; Ctrl-C cancels a replay's or an agent run's jobs and
marks the run interrupted.

Skipped only outside CI on a machine without ``sinfo``; in CI a Slurm that is missing fails them."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from replay import paths
from replay.records.add import add_record, init_records_repo
from replay.run.lifecycle import LOCK_NAME

from toyrecords import write_toy_record

pytestmark = pytest.mark.slurm

SPEEDRUN = str(Path(sys.executable).parent / "speedrun")


@pytest.fixture(autouse=True)
def _slurm():
    """A Slurm whose node is up (CI: required)."""
    if subprocess.run(["which", "sinfo"], capture_output=True).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("no sinfo on PATH: .ci/slurm-up must start Slurm before the slurm tests")
        pytest.skip("no Slurm here (start one with .ci/slurm-up)")
    states = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True).stdout.split()
    assert any(s in ("idle", "mixed", "allocated") for s in states), f"Slurm has no node up: {states}"


@pytest.fixture
def slow_toy(home, monkeypatch):
    """Track 'toy' whose runs take about ``2 s`` each (20 steps of 0.1 s) and count their executions
    in a file (outside any sandbox: the test that counts runs them unsandboxed)."""
    store = init_records_repo(home / "records.git")
    for index, step_ms in ((1, 100.0), (2, 80.0)):
        add_record(store, "toy", write_toy_record(home / f"src{index}", index=index, step_ms=step_ms, sleep_s=0.1))
    counter = home / "executions.txt"
    monkeypatch.setenv("TOY_COUNTER", str(counter))
    return counter


def start_replay(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [SPEEDRUN, "replay", "1", "--track", "toy", "--executor", "slurm", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_json(run_id: str) -> dict:
    return json.loads((paths.run_dir(run_id) / "run.json").read_text())


def wait_for_jobs(proc: subprocess.Popen, count: int, timeout_s: float = 60) -> tuple[str, list[dict]]:
    """The run id and the jobs saved in run.json, once at least ``count`` are."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for folder in paths.home().glob("replay-*"):
            try:
                jobs = json.loads((folder / "run.json").read_text())["jobs"]
            except (OSError, ValueError, KeyError):
                continue
            if len(jobs) >= count:
                return folder.name, jobs
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError(f"no {count} jobs in run.json after {timeout_s} s")


def in_queue(job_ids: list[str]) -> set[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(job_ids)], capture_output=True, text=True)
    return set(out.stdout.split())


def test_mini_replay_through_slurm(tmp_path, monkeypatch):
    """The real mini track, two records, --max-steps: each run one job, placed and described."""
    monkeypatch.setenv("SPEEDRUN_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("SPEEDRUN_DATA", str(paths.PROJECT_ROOT / "runs" / "data"))  # the mini corpus, shared
    out = subprocess.run(
        [SPEEDRUN, "replay", "1", "--track", "mini", "--max-steps", "3", "--executor", "slurm"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    run_id = next(line.split()[1] for line in out.stderr.splitlines() if line.startswith("run "))
    saved = run_json(run_id)
    assert saved["status"] == "finished" and saved["jobs"] == [] and saved["executor"]["name"] == "slurm"
    assert [r["status"] for r in saved["runs"]] == ["partial", "partial"]
    assert all(r["job"]["executor"] == "slurm" and r["node"]["slurm_job"] == r["job"]["job_id"] for r in saved["runs"])
    assert sum(saved["summary"]["placement"]["nodes"].values()) == 2


def test_progress_of_a_slurm_job_is_live(home):
    """Each step of a job's run is heard while the job runs, not in one burst when it ends: the
    waiting process follows the run's log on the shared filesystem."""
    from replay.records.store import RecordsStore
    from replay.run.executor_choice import build_executor
    from replay.run.replayer import Progress, Replayer, ReplayRequest

    store = init_records_repo(home / "records.git")
    for index, step_ms in ((1, 100.0), (2, 80.0)):
        folder = write_toy_record(home / f"src{index}", index=index, step_ms=step_ms, steps=30, sleep_s=0.15)
        add_record(store, "toy", folder)
    heard: dict[str, list[tuple[float, int]]] = {}
    progress = Progress()
    progress.step = lambda side, replicate, step: (
        None if step.is_validation else heard.setdefault(side, []).append((time.monotonic(), step.step))
    )
    replayer = Replayer(RecordsStore(home / "records.git"), executor=build_executor("slurm"), progress=progress)
    state = replayer.run(replayer.start(ReplayRequest(track="toy", task=1, runs=1)))
    assert [r["status"] for r in state.runs] == ["ok", "ok"]
    for side, steps in heard.items():
        assert [n for _, n in steps] == list(range(1, 31)), side  # each step once, in order
        spread = steps[-1][0] - steps[0][0]
        assert spread >= 1.5, f"{side}: every step heard within {spread:.2f} s: not live"


def test_killed_replay_resumes_by_reattaching_to_its_jobs(slow_toy):
    proc = start_replay("--runs", "2", "--unsandboxed")
    run_id, jobs = wait_for_jobs(proc, 2)  # round 0: both sides submitted together
    proc.kill()
    proc.communicate()
    first_round = {j["job_id"] for j in jobs}
    resume = [SPEEDRUN, "replay", "--resume", run_id, "--unsandboxed"]
    out = subprocess.run(resume, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    saved = run_json(run_id)
    assert saved["status"] == "finished" and saved["jobs"] == []
    done = sorted((r["side"], r["replicate"]) for r in saved["runs"])
    assert done == [("baseline", 0), ("baseline", 1), ("ground_truth", 0), ("ground_truth", 1)]
    collected = {r["job"]["job_id"] for r in saved["runs"] if r["replicate"] == 0}
    assert collected == first_round, "the resumed replay collected the jobs it had submitted, not new ones"
    submitted = [p for p in (paths.run_dir(run_id) / "jobs").iterdir() if p.is_dir()]  # a folder per job id
    assert len(submitted) == 4, submitted  # one job per run, none submitted twice
    executions = slow_toy.read_text().splitlines()
    assert len(executions) == 4, executions  # and each run executed once


def test_ctrl_c_cancels_the_jobs_and_marks_the_replay_interrupted(home, monkeypatch):
    store = init_records_repo(home / "records.git")
    for index in (1, 2):  # runs of a minute: still running when the replay is interrupted
        add_record(store, "toy", write_toy_record(home / f"src{index}", index=index, sleep_s=3.0))
    proc = start_replay()
    run_id, jobs = wait_for_jobs(proc, 2)
    ids = [j["job_id"] for j in jobs]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and f"speedrun replay --resume {run_id}" in err
    saved = run_json(run_id)
    assert saved["status"] == "interrupted" and saved["jobs"] == [] and saved["runs"] == []
    deadline = time.monotonic() + 60
    while in_queue(ids) and time.monotonic() < deadline:
        time.sleep(1)
    assert not in_queue(ids), "the interrupted replay's jobs were cancelled"


def test_a_preempted_job_is_requeued_and_its_run_done_again(home):
    store = init_records_repo(home / "records.git")
    for index in (1, 2):  # runs of 10 s: preempted while running
        add_record(store, "toy", write_toy_record(home / f"src{index}", index=index, sleep_s=0.5))
    proc = start_replay()
    run_id, jobs = wait_for_jobs(proc, 2)
    preempted = jobs[0]["job_id"]
    deadline = time.monotonic() + 60
    while (
        "RUNNING"
        not in subprocess.run(["squeue", "-h", "-o", "%T", "-j", preempted], capture_output=True, text=True).stdout
    ):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.5)
    time.sleep(2)
    # What Slurm does to a job it preempts (submitit's signal): the job requeues itself.
    subprocess.run(["scancel", "--signal=USR2", preempted], check=True)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    saved = run_json(run_id)
    assert saved["status"] == "finished" and [r["status"] for r in saved["runs"]] == ["ok", "ok"]
    again = next(r for r in saved["runs"] if r["job"]["job_id"] == preempted)
    assert "step:20/20 val_loss" in (paths.run_dir(run_id) / again["log"]).read_text()
    log = (paths.run_dir(run_id) / "jobs" / preempted / f"{preempted}_0_log.err").read_text()
    assert "preempted" in log


def test_resume_submits_again_only_the_jobs_that_were_lost(home):
    store = init_records_repo(home / "records.git")
    for index in (1, 2):  # runs of 10 s
        add_record(store, "toy", write_toy_record(home / f"src{index}", index=index, sleep_s=0.5))
    proc = start_replay()
    run_id, jobs = wait_for_jobs(proc, 2)
    proc.kill()
    proc.communicate()
    lost, kept = jobs[0], jobs[1]
    subprocess.run(["scancel", lost["job_id"]], check=True)  # cancelled from outside: no result will come
    out = subprocess.run([SPEEDRUN, "replay", "--resume", run_id], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    saved = run_json(run_id)
    by_side = {r["side"]: r for r in saved["runs"]}
    assert saved["status"] == "finished" and [r["status"] for r in saved["runs"]] == ["ok", "ok"]
    assert by_side[kept["side"]]["job"]["job_id"] == kept["job_id"], "the job still running was re-attached to"
    assert by_side[lost["side"]]["job"]["job_id"] not in (lost["job_id"], kept["job_id"]), "the lost one ran again"
    assert len([p for p in (paths.run_dir(run_id) / "jobs").iterdir() if p.is_dir()]) == 3


AGENT_RUN = ["agent", "run", "1", "--track", "toy", "--model", "scripted/agent_policies:tweaker", "--scaffold", "aide"]


def with_test_policies() -> dict:
    """The environment with tests/ importable, for the scripted policies of tests/agent_policies.py."""
    return {**os.environ, "PYTHONPATH": f"{Path(__file__).parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def wait_for_agent_runs(proc: subprocess.Popen, ready, timeout_s: float = 120) -> list[dict]:
    """The agent runs' run.json contents once ``ready`` says so (the process must still be running)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        saved = [json.loads(p.read_text()) for p in paths.home().glob("agent-*/run.json")]
        if saved and ready(saved):
            return saved
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError(f"the agent runs never got there in {timeout_s} s")


def test_killed_agent_run_resumes_by_reattaching_to_its_node_jobs(slow_toy):
    """An agent run's speedrun process killed while a node's job is queued or running: the resume
    (which keeps the run's Slurm executor) waits for that job instead of submitting it again."""
    env = with_test_policies()
    command = [SPEEDRUN, *AGENT_RUN, "--nodes", "3", "--executor", "slurm", "--unsandboxed"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # kill once a node's job (not only the root's) is saved
    saved = wait_for_agent_runs(proc, lambda runs: any(name != "n000" for name in runs[0]["jobs"]))
    proc.kill()
    proc.communicate()
    run_id, jobs = saved[0]["run_id"], saved[0]["jobs"]
    assert saved[0]["executor"]["name"] == "slurm" and all(j["executor"] == "slurm" for j in jobs.values())
    out = subprocess.run(
        [SPEEDRUN, "agent", "resume", run_id, "--unsandboxed"], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    state = run_json(run_id)
    assert state["status"] == "finished" and state["jobs"] == {}
    assert all(n["stage"] == "done" for n in state["nodes"]) and len(state["nodes"]) == 4
    runs = executed(state)
    submitted = [p for p in (paths.run_dir(run_id) / "jobs").iterdir() if p.is_dir()]
    assert {p.name for p in submitted} >= {j["job_id"] for j in jobs.values()}
    assert len(submitted) == runs, "one job per run: the saved jobs were re-attached to, not submitted again"
    assert_each_run_executed_once(slow_toy)


def test_ctrl_c_cancels_an_agent_runs_jobs(home):
    """Ctrl-C on an agent run whose node runs are on Slurm: its jobs are cancelled and forgotten,
    the run is interrupted (a resume runs those nodes afresh)."""
    store = init_records_repo(home / "records.git")
    for index in (1, 2):  # runs of a minute: still running when the run is interrupted
        add_record(store, "toy", write_toy_record(home / f"src{index}", index=index, sleep_s=3.0))
    command = [SPEEDRUN, *AGENT_RUN, "--nodes", "2", "--executor", "slurm", "--unsandboxed"]
    env = with_test_policies()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    saved = wait_for_agent_runs(proc, lambda runs: runs[0]["jobs"])
    ids = [j["job_id"] for j in saved[0]["jobs"].values()]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    state = run_json(saved[0]["run_id"])
    assert state["status"] == "interrupted" and state["jobs"] == {}
    deadline = time.monotonic() + 60
    while in_queue(ids) and time.monotonic() < deadline:
        time.sleep(1)
    assert not in_queue(ids), "the interrupted run's jobs were cancelled"


SMALL_SWEEP = """\
schema = 1
name = "slurm-2x2"
track = "toy"
tasks = [1]
models = ["scripted/agent_policies:tweaker", "scripted/agent_policies:broken"]
scaffolds = ["aide"]
hints = ["0"]
seeds = [0, 1]
nodes = 1
cells_at_once = 4
cache = false
"""


def test_a_2x2_sweep_on_slurm_survives_a_kill_and_finishes_every_cell_once(slow_toy, tmp_path):
    """Two scripted policies x two seeds through Slurm: the controller killed once some cell's jobs
    are submitted (its cells get SIGTERM and leave their jobs running), resumed; every cell
    finishes with one agent run of its own, re-attached to its jobs, and no run executes twice."""
    spec = tmp_path / "sweep.toml"
    spec.write_text(SMALL_SWEEP)
    env = with_test_policies()
    proc = subprocess.Popen(
        [SPEEDRUN, "sweep", str(spec), "--executor", "slurm", "--unsandboxed"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_agent_runs(proc, lambda runs: any(run["jobs"] for run in runs), timeout_s=180)
    proc.kill()
    proc.communicate()
    (index,) = paths.home().glob("sweeps/*/sweep.json")
    sweep_id = json.loads(index.read_text())["id"]
    wait_until_no_process_holds(paths.home().glob("agent-*"))  # the cells got SIGTERM with their controller
    # stopped from outside, the cells left their Slurm jobs running and in their run.json
    left_running = {p.parent.name: json.loads(p.read_text())["jobs"] for p in paths.home().glob("agent-*/run.json")}
    assert any(left_running.values())
    out = subprocess.run(
        [SPEEDRUN, "sweep", "resume", sweep_id, "--unsandboxed"], env=env, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-2000:]
    cells = json.loads(index.read_text())["cells"]
    assert len(cells) == 4 and all(c["status"] == "finished" for c in cells)
    run_ids = [c["run_id"] for c in cells]
    assert sorted(run_ids) == sorted(p.parent.name for p in paths.home().glob("agent-*/run.json"))
    for run_id in run_ids:
        state = run_json(run_id)
        assert state["status"] == "finished" and state["jobs"] == {} and state["executor"]["name"] == "slurm"
        submitted = {p.name for p in (paths.run_dir(run_id) / "jobs").iterdir() if p.is_dir()}
        assert submitted >= {j["job_id"] for j in left_running.get(run_id, {}).values()}
        assert len(submitted) == executed(state), "one job per run: those left running were re-attached to"
    assert_each_run_executed_once(slow_toy)


def wait_until_no_process_holds(run_folders, timeout_s: float = 60) -> None:
    """Wait for the processes that ran these runs to end (each holds its run's lock until it exits)."""
    deadline = time.monotonic() + timeout_s
    for folder in run_folders:
        with open(folder / LOCK_NAME, "a+") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    assert time.monotonic() < deadline, f"{folder.name} is still being run"
                    time.sleep(0.1)


def assert_each_run_executed_once(counter: Path) -> None:
    """Each toy script that got to its first line wrote its scratch folder (one per run) to the counter."""
    lines = counter.read_text().splitlines()
    assert lines and len(lines) == len(set(lines)), lines


def executed(state: dict) -> int:
    """How many runs an agent run made (not taken from the result cache): its nodes' and references'."""
    executions = [n["execution"] for n in state["nodes"] if n["execution"]] + list(state["references"].values())
    return sum(not e["cached"] for e in executions)
