"""Grading tells machine failures from code failures and never turns a failure into a time;
the executor's launch command follows the record's launcher and the GPUs present."""

import signal
from pathlib import Path

from replay.run.executor import Exit, LaunchSpec, launch_command
from replay.score.grading import grade

COMPLETE = (
    "step:0/2 val_loss:nan train_time:0ms\n"
    "step:2/2 train_time:200ms step_avg:100ms\n"
    "step:2/2 val_loss:3.2000 train_time:200ms step_avg:100ms\n"
)
HALF = "step:0/2 val_loss:nan train_time:0ms\nstep:1/2 train_time:100ms step_avg:100ms\n"


def exit_(rc=0, **kw):
    return Exit(returncode=rc, wall_s=1.0, **kw)


def test_complete_run_is_ok_with_train_time():
    r = grade(COMPLETE, exit_())
    assert (r.status, r.failure, r.time_s, r.val_loss, r.steps) == ("ok", None, 0.2, 3.2, 2)


def test_partial_when_stopped_at_max_steps():
    r = grade(HALF, exit_(-15, stopped_at_max_steps=True))
    assert (r.status, r.failure, r.steps, r.val_loss) == ("partial", None, 1, None)


def test_machine_failures():
    assert grade(HALF + "torch.OutOfMemoryError: CUDA out of memory.\n", exit_(1)).failure == "oom"
    assert grade(HALF, exit_(-signal.SIGKILL)).failure == "oom"
    assert grade(HALF + "RuntimeError: NCCL error in: ...\n", exit_(1)).failure == "nccl"
    assert (
        grade("FileNotFoundError: [Errno 2] No such file or directory: 'data/fineweb10B/x.bin'\n", exit_(1)).failure
        == "missing_data"
    )
    assert grade(HALF, exit_(-15, timed_out=True)).failure == "timeout"
    r = grade(HALF, exit_(-15, timed_out=True))
    assert r.machine_failure and r.status == "failed"


def test_code_failures():
    assert grade(HALF + "Traceback (most recent call last):\nValueError: bad\n", exit_(1)).failure == "code_error"
    assert grade(HALF, exit_(0)).failure == "no_metrics"
    diverged = grade(COMPLETE.replace("val_loss:3.2000", "val_loss:nan"), exit_(0))
    assert diverged.failure == "diverged" and not diverged.machine_failure
    crashed_after_final = grade(COMPLETE + "Traceback (most recent call last):\nRuntimeError: x\n", exit_(1))
    assert crashed_after_final.status == "failed" and crashed_after_final.failure == "code_error"


def test_launch_command_python_vs_torchrun():
    cpu = LaunchSpec(workdir=Path("."), entry="train_gpt.py", launcher="python", python="py")
    assert launch_command(cpu, gpus=8) == ["py", "-u", "train_gpt.py"]
    gpu = LaunchSpec(workdir=Path("."), entry="train_gpt.py", launcher="torchrun", nproc=8, python="py")
    assert launch_command(gpu, gpus=0) == ["py", "-u", "train_gpt.py"]
    assert launch_command(gpu, gpus=4) == [
        "py",
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=4",
        "train_gpt.py",
    ]
