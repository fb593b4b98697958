"""``speedrun replay``, ``report``, ``work ...`` and ``env ...``: running records and branches
side by side (help panel "Replay")."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from replay import paths
from replay.cli.console import RichProgress, print_summary, resumable
from replay.cli.params import (
    cache_option,
    constraint_option,
    executor_from_options,
    executor_option,
    jobs_option,
    number_option,
    slurm_option,
    track_option,
    unsandboxed_option,
)
from replay.errors import SpeedrunError
from replay.records.store import RecordsStore

PANEL = "Replay"

work = typer.Typer(
    name="work",
    no_args_is_help=True,
    help="Branches of the work repository (runs/work.git): candidates to replay and attribute.",
)
env = typer.Typer(name="env", no_args_is_help=True, help="Per-record Python environments built from record.toml pins.")
commands = typer.Typer()
groups = (work, env)


@commands.command("replay")
def replay(
    task: int | None = typer.Argument(None, help="Task number i (record i -> i+1)."),
    track: str = track_option(),
    branch: list[str] = typer.Option(
        [], "--branch", "-b", help="Work-repo branch to replay as a candidate (repeatable)."
    ),
    runs: int = number_option(1, "--runs", "-n", minimum=1, maximum=1000, help="Runs per side, interleaved."),
    max_steps: int | None = number_option(
        None, "--max-steps", "-k", minimum=1, help="Stop each run after step K (a partial smoke run)."
    ),
    time_limit: float | None = number_option(
        None,
        "--time-limit",
        minimum=1,
        maximum=7 * 24 * 3600,
        kind=float,
        help="Seconds per run (default: max(600, 4x the record's time)).",
    ),
    cache: bool = cache_option(),
    resume: str | None = typer.Option(None, "--resume", help="Continue an interrupted replay by its run id."),
    python: str | None = typer.Option(
        None,
        "--python",
        help="Interpreter that runs every side (default: each record's environment, see `speedrun env build`).",
    ),
    nproc: int | None = number_option(
        None,
        "--nproc",
        minimum=1,
        maximum=1024,
        help="Processes (GPUs) per run, at most the record's nproc and the GPUs present.",
    ),
    unsandboxed: bool = unsandboxed_option(),
    executor: str | None = executor_option(),
    jobs: int | None = jobs_option(),
    slurm: list[str] = slurm_option(),
    constraint: str | None = constraint_option(),
):
    """Replay task i: baseline, ground truth and branches, N runs each, interleaved; print the table.

    Each round (one run of every side) is submitted together; with --executor slurm every run is
    one Slurm job, its id saved in run.json, and --resume re-attaches to jobs still queued or running.

    Examples:
      speedrun replay 1 --track mini --runs 3
      speedrun replay 2 --branch my-idea --max-steps 50
      speedrun replay 1 --runs 5 --executor slurm --constraint h100 --slurm time=30
      speedrun replay --resume replay-mini-t01-20261126-153000-ab12
    """
    from replay.run.replayer import Replayer, ReplayRequest, load_state

    state = load_state(resume) if resume else None
    chosen = executor_from_options(executor, jobs, slurm, constraint, unsandboxed, state.executor if state else None)
    replayer = Replayer(executor=chosen)
    if state is None and task is None:
        raise SpeedrunError("give a task number (see `speedrun tasks`) or --resume RUN")
    if state is None:
        request = ReplayRequest(
            track=track,
            task=task,
            branches=tuple(branch),
            runs=runs,
            max_steps=max_steps,
            time_limit_s=time_limit,
            use_cache=cache,
            python=python,
            nproc=nproc,
        )
        state = replayer.start(request)
    print_replay(replayer, state)


def print_replay(replayer, state) -> None:
    """Run a started (or resumed) replay with a progress bar, then print its table and report path."""
    print(f"run {state.run_id}", file=sys.stderr)
    with resumable(f"speedrun replay --resume {state.run_id}"), RichProgress() as progress:
        replayer.progress = progress.callbacks()
        state = replayer.run(state)
    print_summary(state.summary)
    print(f"report: {paths.run_dir(state.run_id) / paths.REPORT_MD}")


@commands.command("report")
def report(run_id: str = typer.Argument(..., help="A replay's run id (a folder under runs/).")):
    """Re-grade a replay from its saved logs and rewrite its reports (nothing is rerun).

    Example: speedrun report replay-mini-t01-20261126-153000-ab12
    """
    from replay.run.replayer import load_state
    from replay.score.replay_report import summarize, write_reports

    state = load_state(run_id)
    folder = paths.run_dir(run_id)
    summary = summarize(state, folder)
    write_reports(summary, folder)
    print_summary(summary)


@work.command("new")
def work_new(
    branch: str = typer.Argument(..., help="Name of the new branch."),
    start: str = typer.Option(..., "--from", "-f", help="Record to start from: TRACK/N, TRACK/rNN or its commit id."),
):
    """Create a work-repo branch at a record.

    Example: speedrun work new my-idea --from mini/1
    """
    from replay.records.workrepo import create_branch, open_work_repo

    store = RecordsStore()
    record = store.resolve(start)
    create_branch(open_work_repo(store.path), branch, record.commit_id)
    print(f"branch {branch} at {record.label} ({record.commit_id[:10]})")


@work.command("commit")
def work_commit(
    branch: str = typer.Argument(..., help="Existing work-repo branch."),
    folder: Path = typer.Argument(
        ..., help="Folder whose files become the branch's next commit (e.g. an edited `records export`)."
    ),
    message: str = typer.Option("candidate", "--message", "-m", help="Commit message."),
):
    """Commit a folder's files as the next commit of a work-repo branch.

    Example: speedrun records export mini/1 /tmp/idea && (edit) &&
    speedrun work commit my-idea /tmp/idea -m "try ReLU^2"
    """
    from replay.records.workrepo import commit_folder, open_work_repo

    if not folder.is_dir():
        raise SpeedrunError(f"{folder} is not a folder")
    commit = commit_folder(open_work_repo(RecordsStore().path), branch, folder, message)
    print(f"{branch} -> {commit[:10]}")


@work.command("list")
def work_list():
    """List work-repo branches and their tips.

    Example: speedrun work list
    """
    from replay.records.workrepo import open_work_repo

    repo = open_work_repo(RecordsStore().path)
    for name in sorted(repo.branches.local):
        commit = repo.branches.local[name].peel()
        print(f"{name:<30} {str(commit.id)[:10]}  {commit.message.splitlines()[0] if commit.message else ''}")


@env.command("build")
def env_build(
    spec: str = typer.Argument(..., help="A record: TRACK/N, TRACK/rNN or its commit id, e.g. nanogpt/12."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the commands instead of running them."),
):
    """Build (or reuse) the virtual environment a record's pins ask for; replay then uses it.

    Environments are keyed by the hash of the pins, so records that share pins share one.
    Uses uv when installed (it can fetch the Python version too), else venv + pip.
    Example: speedrun env build nanogpt/12
    """
    from replay.run import venvs

    pins = RecordsStore().resolve(spec).meta.environment
    if dry_run:
        folder = venvs.env_dir(pins)
        for command in venvs.install_commands(pins, venvs.env_python(folder), use_uv=True):
            print(" ".join(command))
        return
    print(venvs.build(pins))
