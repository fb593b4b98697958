"""Executors hand back jobs at once and keep their promises without a cluster: the local executor
runs at most ``jobs`` runs at a time, in the order they were submitted, each with GPUs of its own;
a job's result is its run's exit; a cancelled job that has not started never starts and a running
one is killed; Slurm settings come from the config file with command-line overrides on top, and a
bad setting is one ``error:`` line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from replay.errors import SpeedrunError
from replay.run.cluster_config import SlurmConfig, minutes, parse_overrides, slurm_config
from replay.run.executor import JobCancelled, LaunchSpec, LocalExecutor, RunTask, as_completed
from replay.run.executor_choice import build_executor
from replay.run.slurm import sbatch_parameters

SPEEDRUN = str(Path(sys.executable).parent / "speedrun")

SLEEPER = """\
import os, sys, time
name = sys.argv[1]
with open("events.txt", "a") as f:
    f.write(f"start {name} {time.monotonic()} {os.environ.get('CUDA_VISIBLE_DEVICES', '')}\\n")
time.sleep(float(sys.argv[2]))
with open("events.txt", "a") as f:
    f.write(f"end {name} {time.monotonic()}\\n")
print("step:1/1 val_loss:3.0 train_time:1ms step_avg:1ms", flush=True)
"""


def sleeper(tmp_path: Path, name: str, seconds: float) -> RunTask:
    script = tmp_path / "sleep.py"
    if not script.exists():  # written once: rewriting it could truncate it under a job already starting
        script.write_text(SLEEPER)
    spec = LaunchSpec(tmp_path, "sleep.py", args=(name, str(seconds)))
    return RunTask(spec, tmp_path / "logs" / f"{name}.txt")


def events(tmp_path: Path) -> list[list[str]]:
    return [line.split() for line in (tmp_path / "events.txt").read_text().splitlines()]


def most_at_once(tmp_path: Path) -> int:
    running = peak = 0
    for event in sorted(events(tmp_path), key=lambda e: float(e[2])):
        running += 1 if event[0] == "start" else -1
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("limit", [pytest.param(1, marks=pytest.mark.slow), 2])  # one at a time: 12 s
def test_local_executor_runs_at_most_jobs_at_once_in_submission_order(tmp_path, limit):
    executor = LocalExecutor(gpus=0, jobs=limit)
    jobs = [executor.submit(sleeper(tmp_path, f"r{k}", 3)) for k in range(4)]
    assert not any(job.done() for job in jobs), "submit returns at once; nothing has finished yet"
    assert len({job.ref.job_id for job in jobs}) == 4
    finished = list(as_completed(jobs))
    assert sorted(j.ref.job_id for j in finished) == sorted(j.ref.job_id for j in jobs)
    assert all(job.result().exit.returncode == 0 for job in jobs)
    assert most_at_once(tmp_path) == limit
    # Slots go out in submission order. (The scripts' own start lines may race each other: a
    # process launched second can write first on a loaded machine, so order is the executor's.)
    started = [job.started_at for job in jobs]
    assert started == sorted(started)
    # A job beyond the first ``limit`` gets its slot only after an earlier run has ended.
    ends = sorted(float(e[2]) for e in events(tmp_path) if e[0] == "end")
    for k, job in enumerate(jobs[limit:]):
        assert job.started_at >= ends[k]
    assert jobs[0].result().node["node"] and jobs[0].result().node["gpus"] == 0


def test_cpu_machine_runs_one_job_at_a_time_by_default():
    assert LocalExecutor(gpus=0).jobs == 1
    assert LocalExecutor(gpus=8).jobs == 8


def test_each_local_job_gets_gpus_of_its_own(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    executor = LocalExecutor(gpus=2)
    jobs = [executor.submit(sleeper(tmp_path, f"g{k}", 1.5)) for k in range(4)]
    for job in jobs:
        job.result()
    devices = [e[3] for e in events(tmp_path) if e[0] == "start"]
    # At most two at once; whether two did overlap depends on how fast a loaded machine starts them.
    assert sorted(devices) == ["0", "0", "1", "1"] and most_at_once(tmp_path) <= 2


def test_cancel_kills_a_running_job_and_a_queued_one_never_starts(tmp_path):
    executor = LocalExecutor(gpus=0, jobs=1)
    running = executor.submit(sleeper(tmp_path, "long", 60))
    queued = executor.submit(sleeper(tmp_path, "never", 0))
    deadline = time.monotonic() + 20
    while not (tmp_path / "events.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    queued.cancel()
    running.cancel()
    for job in (running, queued):
        with pytest.raises(JobCancelled):
            job.result()
    assert time.monotonic() - started < 10
    assert [e[:2] for e in events(tmp_path)] == [["start", "long"]]


def test_blocking_run_is_submit_and_result(tmp_path):
    task = sleeper(tmp_path, "once", 0)
    exit = LocalExecutor(gpus=0).run(task.spec, task.log_path)
    assert exit.returncode == 0 and "step:1/1" in task.log_path.read_text()


def test_slurm_config_file_then_overrides(tmp_path, monkeypatch):
    config = tmp_path / "speedrun.toml"
    config.write_text(
        '[slurm]\npartition = "gpu"\ntime = "01:30:00"\ngpus_per_node = 8\nsetup = ["module load cuda"]\n'
    )
    monkeypatch.setenv("SPEEDRUN_CONFIG", str(config))
    assert slurm_config() == SlurmConfig(partition="gpu", time=90, gpus_per_node=8, setup=("module load cuda",))
    overridden = slurm_config(parse_overrides(["partition=h100", "cpus-per-task=16", "time=20"]))
    assert (overridden.partition, overridden.cpus_per_task, overridden.time, overridden.gpus_per_node) == (
        "h100",
        16,
        20,
        8,
    )


def test_user_config_folder_is_read_when_the_project_has_none(tmp_path, monkeypatch):
    from replay import paths

    monkeypatch.delenv("SPEEDRUN_CONFIG", raising=False)
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path / "project")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert slurm_config() == SlurmConfig()
    (tmp_path / "xdg" / "speedrun").mkdir(parents=True)
    (tmp_path / "xdg" / "speedrun" / "config.toml").write_text('[slurm]\naccount = "lab"\n')
    assert slurm_config().account == "lab"


@pytest.mark.parametrize(
    ("value", "expected"), [("45", 45), (45, 45), ("10:30", 11), ("02:00:00", 120), ("1-00:00:00", 1440)]
)
def test_time_takes_slurm_forms(value, expected):
    assert minutes(value, "t") == expected


def test_sbatch_parameters_ask_for_the_records_gpus_and_leave_the_rest_to_the_cluster(tmp_path):
    spec = LaunchSpec(tmp_path, "train.py", nproc=8, time_limit_s=600)
    on_gpus = sbatch_parameters(SlurmConfig(gpus_per_node=4, constraint="h100"), spec, "baseline-0")
    assert on_gpus["gpus_per_node"] == 4 and on_gpus["constraint"] == "h100" and on_gpus["time"] == 25
    assert "partition" not in on_gpus and "account" not in on_gpus
    on_cpus = sbatch_parameters(SlurmConfig(time=7), spec, "x")
    assert "gpus_per_node" not in on_cpus and on_cpus["time"] == 7


@pytest.mark.parametrize(
    ("toml", "args", "named"),
    [
        ('[slurm]\npartion = "gpu"\n', [], "unknown key 'partion'"),
        ("[slurm]\ngpus_per_node = -1\n", [], "gpus_per_node"),
        ("[slurm\n", [], "not a readable TOML file"),
        ('[slurm]\ntime = "soon"\n', [], "time must be"),
        ("", ["--slurm", "partition"], "--slurm expects KEY=VALUE"),
        ("", ["--slurm", "cpus_per_task=many"], "cpus_per_task"),
        ("", ["--executor", "cloud"], "--executor must be one of local, slurm"),
    ],
)
def test_bad_settings_are_one_clear_line(toy_store, tmp_path, toml, args, named):
    config = tmp_path / "speedrun.toml"
    config.write_text(toml)
    env = {**os.environ, "SPEEDRUN_CONFIG": str(config)}
    extra = [] if "--executor" in args else ["--executor", "slurm"]
    out = subprocess.run(
        [SPEEDRUN, "replay", "1", "--track", "toy", *extra, *args], capture_output=True, text=True, env=env, timeout=60
    )
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], out.stderr


def test_unknown_executor_name_in_code_is_refused():
    with pytest.raises(SpeedrunError, match="--executor must be one of"):
        build_executor("cloud")
