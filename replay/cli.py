"""The ``speedrun`` command line.

User mistakes (unknown track, task out of range, invalid record folder) print one line
``error: ...`` and exit 1, never a traceback. Heavy imports happen inside commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from agent import cli as agent_cli
from analysis import cli as analysis_cli
from replay.errors import SpeedrunError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Replay NanoGPT speedrun records, score agents' branches, and manage the record history.\n\n"
    "Example: speedrun replay 1 --track mini --runs 3",
)
records_app = typer.Typer(no_args_is_help=True, help="List, show, export and add records (commits of records.git).")
app.add_typer(records_app, name="records")
work_app = typer.Typer(no_args_is_help=True, help="Branches of the work repository (runs/work.git): candidates to replay and attribute.")
app.add_typer(work_app, name="work")
data_app = typer.Typer(no_args_is_help=True, help="Prepare datasets for replays.")
app.add_typer(data_app, name="data")
app.add_typer(agent_cli.app, name="agent")

# diff / attribute / blame are top-level commands defined in analysis/cli.py.
app.registered_commands += analysis_cli.app.registered_commands

TRACK = typer.Option("mini", "--track", "-t", help="Track (a branch of records.git).")


def _store():
    from replay.store import RecordsStore

    return RecordsStore()


def _console():
    from rich.console import Console

    # Tables stay readable when piped (a non-terminal defaults to 80 columns).
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


@records_app.command("list")
def records_list(track: Optional[str] = typer.Option(None, "--track", "-t", help="Only this track.")):
    """List records per track: index, date, official time, name.

    Example: speedrun records list --track mini
    """
    store = _store()
    for name in [track] if track else store.tracks():
        for record in store.records(name):
            m = record.meta
            print(f"{record.label:<14} {m.date}  {m.result.time_s:9.1f} s  {m.name}" + ("" if m.task else "  (no task)"))


@records_app.command("show")
def records_show(spec: str = typer.Argument(..., help="TRACK/N, e.g. mini/2")):
    """Show one record's metadata, innovations and files.

    Example: speedrun records show mini/2
    """
    store = _store()
    record = store.resolve(spec)
    m = record.meta
    print(f"{record.label}  {m.name}  ({m.date}, {', '.join(m.authors)})")
    print(f"commit {record.commit_id}")
    print(m.description)
    print(f"result: {m.result.time_s:.1f} s to val loss {m.result.val_loss:.4f} in {m.result.steps} steps on {m.result.hardware}")
    print(f"target val loss {m.target_val_loss}; launcher {m.launcher} x{m.nproc}; entry {m.entry}; data {m.data or '-'}")
    if m.notes:
        print(f"notes: {m.notes}")
    for innovation in m.innovations:
        print(f"innovation: {innovation.name}  [anchors: {', '.join(innovation.anchors)}]")
    if m.protected:
        print(f"protected: {', '.join(m.protected)}")
    print("files: " + " ".join(store.files(record)))


@records_app.command("export")
def records_export(
    spec: str = typer.Argument(..., help="TRACK/N, e.g. mini/2"),
    dest: Path = typer.Argument(..., help="A folder that does not exist yet."),
):
    """Write a record's files to a folder (to edit it into the next record).

    Example: speedrun records export mini/4 /tmp/r05
    """
    from replay.store import materialize

    store = _store()
    record = store.resolve(spec)
    if dest.exists():
        raise SpeedrunError(f"{dest} already exists: choose a new folder")
    materialize(store.repo, record.tree_id, dest)
    print(f"exported {record.label} to {dest}")


@records_app.command("add")
def records_add(
    path: Path = typer.Argument(..., help="Folder with record.toml, the entry script, optional hints/ and logs/."),
    track: str = typer.Option(..., "--track", "-t", help="Track to append the record to."),
):
    """Validate a record folder and append it to a track as exactly one commit and one tag.

    Example: speedrun records add --track mini /tmp/r05
    """
    from replay.add import add_record

    store = _store()
    commit = add_record(store, track, path)
    record = _store().records(track)[-1]
    print(f"added {record.label} ({record.meta.name}) as commit {commit}")


@records_app.command("import")
def records_import(
    checkout: Path = typer.Argument(..., help="A clone of KellerJordan/modded-nanogpt (full history; a bare mirror works too)."),
    track: str = typer.Option("nanogpt", "--track", "-t", help="Track to create or extend."),
    through: str = typer.Option("21", "--through", help="Last README record to import: a number, or 'all' for every logged record."),
    hints: Optional[Path] = typer.Option(None, "--hints", help="Use the paper's hint files (DIR/record_<i>/level_*.txt) instead of ours."),
):
    """Import the speedrun's records from a checkout: one commit per record, with labels and hints.

    The record list is the README's record table; code comes from each record's linked log
    (records 1-3: the root train_gpt2.py at the commits that set them). Re-running is a no-op;
    on a newer checkout only the new records are appended.

    Examples:
      speedrun records import ~/modded-nanogpt
      speedrun records import ~/modded-nanogpt --through all
    """
    from replay.importer import import_records

    if through != "all" and not (through.isdigit() and int(through) >= 1):
        raise SpeedrunError(f"--through must be a record number or 'all', got {through!r}")
    if hints is not None and not hints.is_dir():
        raise SpeedrunError(f"--hints {hints}: not a folder")
    report = import_records(
        checkout, _store(), track=track, through=None if through == "all" else int(through), hints_dir=hints,
        on_record=lambda label, c: print(f"added {label}  README #{c.row.number}  {c.row.description}", flush=True),
    )
    for note in report.skipped:
        print(f"note: {note}")
    print(f"{track}: {len(report.added)} added, {len(report.unchanged)} already present, {len(report.skipped)} rows skipped")


@records_app.command("init")
def records_init(path: Path = typer.Argument(..., help="Where to create the bare repository.")):
    """Create an empty records repository (for a new collection of tracks).

    Example: speedrun records init /tmp/my-records.git && SPEEDRUN_RECORDS=/tmp/my-records.git speedrun records add ...
    """
    from replay.add import init_records_repo

    init_records_repo(path)
    print(f"created {path}")


@app.command("tasks")
def tasks(track: Optional[str] = typer.Option(None, "--track", "-t", help="Only this track.")):
    """List tasks: record i -> record i+1, with the official times.

    Example: speedrun tasks --track mini
    """
    store = _store()
    for name in [track] if track else store.tracks():
        for task in store.tasks(name):
            a, b = task.start.meta.result.time_s, task.target.meta.result.time_s
            print(f"{name} task {task.number:>2}: r{task.start.index:02d} -> r{task.target.index:02d}  "
                  f"{a:8.1f} s -> {b:8.1f} s  ({task.target.meta.name})")


@app.command("replay")
def replay(
    task: Optional[int] = typer.Argument(None, help="Task number i (record i -> i+1)."),
    track: str = TRACK,
    branch: list[str] = typer.Option([], "--branch", "-b", help="Work-repo branch to replay as a candidate (repeatable)."),
    runs: int = typer.Option(1, "--runs", "-n", help="Runs per side, interleaved."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", "-k", help="Stop each run after step K (a partial smoke run)."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Seconds per run (default: max(600, 4x the record's time))."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run again even if a cached result exists."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue an interrupted replay by its run id."),
    python: Optional[str] = typer.Option(None, "--python", help="Interpreter that runs every side (default: each record's environment, see `speedrun env build`)."),
    nproc: Optional[int] = typer.Option(None, "--nproc", help="Processes (GPUs) per run, at most the record's nproc and the GPUs present."),
):
    """Replay task i: baseline, ground truth and branches, N runs each, interleaved; print the table.

    Examples:
      speedrun replay 1 --track mini --runs 3
      speedrun replay 2 --branch my-idea --max-steps 50
      speedrun replay --resume replay-mini-t01-20261126-153000-ab12
    """
    from replay.engine import Replayer, ReplayRequest, load_state
    from replay.progress import RichProgress

    replayer = Replayer()
    if resume:
        state = load_state(resume)
    elif task is None:
        raise SpeedrunError("give a task number (see `speedrun tasks`) or --resume RUN")
    else:
        request = ReplayRequest(
            track=track, task=task, branches=tuple(branch), runs=runs, max_steps=max_steps,
            time_limit_s=time_limit, use_cache=not no_cache, python=python,
            nproc=nproc,
        )
        state = replayer.start(request)
    print(f"run {state.run_id}", file=sys.stderr)
    with RichProgress() as progress:
        replayer.progress = progress.callbacks()
        state = replayer.run(state)
    _print_summary(state.summary)
    from replay import paths

    print(f"report: {paths.run_dir(state.run_id) / paths.REPORT_MD}")


@app.command("report")
def report(run_id: str = typer.Argument(..., help="A replay's run id (a folder under runs/).")):
    """Re-grade a replay from its saved logs and rewrite its reports (nothing is rerun).

    Example: speedrun report replay-mini-t01-20261126-153000-ab12
    """
    from replay import paths
    from replay.engine import load_state
    from replay.report import summarize, write_reports

    state = load_state(run_id)
    folder = paths.run_dir(run_id)
    summary = summarize(state, folder)
    write_reports(summary, folder)
    _print_summary(summary)


@work_app.command("new")
def work_new(
    branch: str = typer.Argument(..., help="Name of the new branch."),
    start: str = typer.Option(..., "--from", "-f", help="Record to start from, TRACK/N."),
):
    """Create a work-repo branch at a record.

    Example: speedrun work new my-idea --from mini/1
    """
    from replay.workrepo import create_branch, open_work_repo

    store = _store()
    record = store.resolve(start)
    create_branch(open_work_repo(store.path), branch, record.commit_id)
    print(f"branch {branch} at {record.label} ({record.commit_id[:10]})")


@work_app.command("commit")
def work_commit(
    branch: str = typer.Argument(..., help="Existing work-repo branch."),
    folder: Path = typer.Argument(..., help="Folder whose files become the branch's next commit (e.g. an edited `records export`)."),
    message: str = typer.Option("candidate", "--message", "-m", help="Commit message."),
):
    """Commit a folder's files as the next commit of a work-repo branch.

    Example: speedrun records export mini/1 /tmp/idea && (edit) && speedrun work commit my-idea /tmp/idea -m "try ReLU^2"
    """
    from replay.workrepo import commit_folder, open_work_repo

    if not folder.is_dir():
        raise SpeedrunError(f"{folder} is not a folder")
    commit = commit_folder(open_work_repo(_store().path), branch, folder, message)
    print(f"{branch} -> {commit[:10]}")


@work_app.command("list")
def work_list():
    """List work-repo branches and their tips.

    Example: speedrun work list
    """
    from replay.workrepo import open_work_repo

    repo = open_work_repo(_store().path)
    for name in sorted(repo.branches.local):
        commit = repo.branches.local[name].peel()
        print(f"{name:<30} {str(commit.id)[:10]}  {commit.message.splitlines()[0] if commit.message else ''}")


@data_app.command("mini")
def data_mini():
    """Generate the mini track's synthetic corpus (cached under runs/data).

    Example: speedrun data mini
    """
    from replay import corpus, paths

    print(corpus.ensure_mini_corpus(paths.data_dir()))


@data_app.command("synthetic")
def data_synthetic(
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the shards into (created)."),
    train_tokens: int = typer.Option(4_194_304, "--train-tokens", help="Training tokens in all."),
    val_tokens: int = typer.Option(10_485_760, "--val-tokens", help="Validation tokens (the real scripts evaluate 10,485,760)."),
    shard_tokens: int = typer.Option(2_097_152, "--shard-tokens", help="Training tokens per shard."),
    seed: int = typer.Option(0, "--seed", help="Generator seed."),
):
    """Write small FineWeb-format shards (valid headers, documents separated by token 50256) for smoke runs.

    The text is the mini track's synthetic language under FineWeb's file names
    (fineweb_train_000001.bin ..., fineweb_val_000000.bin), so real records can run a few steps
    without the real data. Example: speedrun data synthetic --out /tmp/fineweb10B
    """
    from replay import corpus

    if min(train_tokens, val_tokens, shard_tokens) <= 0:
        raise SpeedrunError("--train-tokens, --val-tokens and --shard-tokens must be positive")
    written = corpus.generate(out, n_train_tokens=train_tokens, n_val_tokens=val_tokens, seed=seed,
                              shard_tokens=shard_tokens, prefix="fineweb", eot=GPT2_EOT, first_train_index=1)
    for path in written:
        print(path)


@data_app.command("fineweb")
def data_fineweb(
    shards: int = typer.Option(8, "--shards", "-n", help="Training shards of 100M tokens (the real records read up to ~8-10)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder (default: $SPEEDRUN_FINEWEB or runs/data/fineweb10B)."),
):
    """Download the real FineWeb GPT-2 shards (needs network access; ~200 MB per shard).

    Replays of the nanogpt track read them from the same folder. On GPU nodes without network,
    download elsewhere and copy the folder, then set SPEEDRUN_FINEWEB.
    Example: speedrun data fineweb --shards 8
    """
    from replay import datasets, fineweb

    fineweb.download(out or datasets.fineweb_dir(), shards)


env_app = typer.Typer(no_args_is_help=True, help="Per-record Python environments built from record.toml pins.")
app.add_typer(env_app, name="env")


@env_app.command("build")
def env_build(
    spec: str = typer.Argument(..., help="TRACK/N, e.g. nanogpt/12"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the commands instead of running them."),
):
    """Build (or reuse) the virtual environment a record's pins ask for; replay then uses it.

    Environments are keyed by the hash of the pins, so records that share pins share one.
    Uses uv when installed (it can fetch the Python version too), else venv + pip.
    Example: speedrun env build nanogpt/12
    """
    from replay import envs

    env = _store().resolve(spec).meta.environment
    if dry_run:
        folder = envs.env_dir(env)
        for command in envs.install_commands(env, envs.env_python(folder), use_uv=True):
            print(" ".join(command))
        return
    print(envs.build(env))


GPT2_EOT = 50256  # GPT-2's <|endoftext|>, FineWeb's document separator


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    from replay.report import HEADERS, notes, table_rows

    table = Table(title=f"{summary['track']} task {summary['task']} — target val loss {summary['target_val_loss']}")
    for header in HEADERS:
        table.add_column(header)
    for row in table_rows(summary):
        table.add_row(*row)
    console = _console()
    console.print(table)
    for note in notes(summary):
        console.print(note)


def main() -> None:
    """Console entry point: one-line errors for user mistakes."""
    try:
        app()
    except SpeedrunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: resume with `speedrun replay --resume RUN` (see the run id above)", file=sys.stderr)
        sys.exit(130)
