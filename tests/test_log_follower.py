"""Progress of a cluster job is live: whoever waits on a Slurm job hears each step line of its
run's log once, in order, while the job still runs (its log is followed on the shared
filesystem); a line is reported only once complete; a missing log is no error; a requeued job's
fresh log is followed from its start; runs write their logs line by line so there is something
to follow."""

from pathlib import Path

from replay.run.executor import JobRef, LaunchSpec, run_process
from replay.run.log_follower import LogFollower
from replay.run.slurm import SlurmJob


def step(n: int, total: int = 5) -> str:
    return f"step:{n}/{total} train_loss:4.0 train_time:{n * 10}ms step_avg:10.0ms\n"


def test_each_complete_step_line_is_reported_once_in_order(tmp_path):
    log, seen = tmp_path / "run.txt", []
    follower = LogFollower(log, lambda s: seen.append(s.step))
    follower.poll()  # not written yet
    assert seen == []
    log.write_text("starting\n" + step(1) + step(2)[:20])
    follower.poll()
    assert seen == [1]
    with open(log, "a") as f:
        f.write(step(2)[20:] + step(3))
    follower.poll()
    follower.poll()
    assert seen == [1, 2, 3]


def test_a_log_started_afresh_is_followed_from_its_start(tmp_path):
    log, seen = tmp_path / "run.txt", []
    follower = LogFollower(log, lambda s: seen.append(s.step))
    log.write_text(step(1) + step(2) + step(3))
    follower.poll()
    log.write_text(step(1))  # a requeued job truncates its log
    follower.poll()
    assert seen == [1, 2, 3, 1]


class _Paths:
    def __init__(self, folder: Path):
        self.result_pickle = folder / "result.pkl"


class _SubmititJob:
    def __init__(self, folder: Path):
        self.paths = _Paths(folder)

    def result(self):
        return "outcome"


class _Queue:
    poll_s = 0.01

    def state(self, job_id):
        return "RUNNING"

    def forget(self, job_id):
        pass


def test_a_slurm_job_reports_its_steps_while_it_runs(tmp_path):
    log, seen = tmp_path / "run.txt", []
    submitit_job = _SubmititJob(tmp_path)
    job = SlurmJob(submitit_job, JobRef("slurm", "7", str(tmp_path)), _Queue(), LogFollower(log, seen.append))
    log.write_text(step(1) + step(2))
    assert not job.done()
    assert [s.step for s in seen] == [1, 2]  # heard before the job ended
    with open(log, "a") as f:
        f.write(step(3) + step(4) + step(5))
    submitit_job.paths.result_pickle.write_bytes(b"")
    assert job.result() == "outcome"
    assert [s.step for s in seen] == [1, 2, 3, 4, 5]


def test_a_run_writes_its_log_line_by_line(tmp_path):
    """While the run still runs, its first line is already in the log file (the script waits for it,
    at most 10 s, and fails if it never comes)."""
    log = tmp_path / "log.txt"
    (tmp_path / "slow.py").write_text(
        "import sys, time\n"
        f"print({step(1)!r}, end='', flush=True)\n"
        "for _ in range(200):\n"
        f"    if 'step:1/5' in open({str(log)!r}).read():\n"
        "        break\n"
        "    time.sleep(0.05)\n"
        "else:\n"
        "    sys.exit(3)\n"
        f"print({step(2)!r}, end='', flush=True)\n"
    )
    exit = run_process(LaunchSpec(workdir=tmp_path, entry="slow.py"), log, gpus=0)
    assert exit.returncode == 0 and "step:2/5" in log.read_text()
