"""``speedrun sweep ...``: a grid of agent runs from a sweep file, run, resumed, listed and shown
(help panel "Agent"). ``speedrun sweep SWEEP.toml`` is ``speedrun sweep run SWEEP.toml``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from typer.core import TyperGroup

from replay.cli.agent import jobs_option, llm_jobs_option
from replay.cli.console import resumable
from replay.cli.params import (
    constraint_option,
    executor_from_options,
    executor_option,
    number_option,
    slurm_option,
    unsandboxed_option,
)
from replay.errors import SpeedrunError

PANEL = "Agent"


class _RunByDefault(TyperGroup):
    """A group whose first argument, when it names no command, is the sweep file of ``run``."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


sweep = typer.Typer(
    name="sweep",
    cls=_RunByDefault,
    no_args_is_help=True,
    help="Sweeps: tasks x models x scaffolds x hints x seeds, each cell an ordinary agent run. "
    "`speedrun sweep SWEEP.toml` runs one (`--dry-run`: the cells and what they cost).",
)
groups = (sweep,)


def cells_option() -> typer.Option:
    return number_option(
        None,
        "--cells",
        "-c",
        minimum=1,
        maximum=1024,
        help="Cells running at once (default: the file's cells_at_once).",
    )


def cell_command(jobs: int, llm_jobs: int, unsandboxed: bool, executor=None, slurm=(), constraint=None):
    """The process that runs one cell. The one place where the options of a sweep's agent runs pass
    through to its cells: ``--jobs``, ``--llm-jobs``, ``--unsandboxed``, ``--executor``,
    ``--slurm`` and ``--constraint``."""
    passed = ["--jobs", str(jobs), "--llm-jobs", str(llm_jobs), *(["--unsandboxed"] if unsandboxed else [])]
    passed += ["--executor", executor] if executor else []
    passed += [arg for setting in slurm for arg in ("--slurm", setting)]
    passed += ["--constraint", constraint] if constraint else []
    entry = [sys.executable, "-c", "from replay.cli.app import main; main()"]
    return lambda sweep_id, index: [*entry, "sweep", "cell", sweep_id, str(index), *passed]


def _print_event(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _execute(sweep_index, cells, command, retry_failed=False) -> None:
    from agent.sweep import run_sweep
    from replay.statuses import CellStatus

    print(f"sweep {sweep_index.id}: {len(sweep_index.cells)} cells", file=sys.stderr, flush=True)
    with resumable(f"speedrun sweep resume {sweep_index.id}"):
        run_sweep(sweep_index, command, cells, retry_failed, _print_event)
    _print_table(sweep_index)
    failed = sweep_index.counts()[CellStatus.FAILED]
    if failed:
        raise SpeedrunError(
            f"{failed} of {len(sweep_index.cells)} cells of sweep {sweep_index.id} failed "
            f"(see `speedrun sweep show {sweep_index.id}`; `speedrun sweep resume {sweep_index.id} --retry-failed`)"
        )


@sweep.command("run")
def run(
    sweep_file: Path = typer.Argument(..., help="A sweep file (TOML): the grid and the settings of its agent runs."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Print the cells with estimated GPU-hours and $."),
    cells: int | None = cells_option(),
    jobs: int = jobs_option(),
    llm_jobs: int = llm_jobs_option(),
    unsandboxed: bool = unsandboxed_option(),
    executor: str | None = executor_option(),
    slurm: list[str] = slurm_option(),
    constraint: str | None = constraint_option(),
):
    """Run every cell of a sweep file as an agent run; a cell that fails never stops the others.

    Examples:
      speedrun sweep examples/mini-sweep.toml --dry-run
      speedrun sweep examples/mini-sweep.toml --cells 2
    """
    from agent.sweep import new_sweep
    from agent.sweep_spec import load_spec
    from replay.records.store import RecordsStore

    store = RecordsStore()
    spec = load_spec(sweep_file, _task_numbers(store, sweep_file))
    if dry_run:
        _print_estimate(spec, store)
        return
    where = {"name": executor or "local", "slurm": list(slurm), "constraint": constraint}
    command = cell_command(jobs, llm_jobs, unsandboxed, where["name"], slurm, constraint)
    _execute(new_sweep(spec, where), cells, command)


def _task_numbers(store, sweep_file: Path) -> list[int] | None:
    """The tasks of the file's track (None when the file names no track: the parser says so)."""
    import tomllib

    try:
        track = tomllib.loads(Path(sweep_file).read_text()).get("track")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None  # the parser reports it, naming the file
    if not isinstance(track, str):
        return None
    if track not in store.tracks():
        raise SpeedrunError(f"{sweep_file}: no track '{track}' in {store.path} (tracks: {', '.join(store.tracks())})")
    return [task.number for task in store.tasks(track)]


@sweep.command("resume")
def resume(
    sweep_id: str = typer.Argument(..., help="A sweep's id (see `speedrun sweep list`)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run failed cells again too."),
    cells: int | None = cells_option(),
    jobs: int = jobs_option(),
    llm_jobs: int = llm_jobs_option(),
    unsandboxed: bool = unsandboxed_option(),
    executor: str | None = executor_option(),
    slurm: list[str] = slurm_option(),
    constraint: str | None = constraint_option(),
):
    """Continue a killed or interrupted sweep: unfinished cells resume their own runs; finished ones are untouched.

    Its cells run where the sweep ran before unless --executor, --slurm or --constraint say otherwise.

    Example: speedrun sweep resume sweep-mini-example-20261128-170000-ab12
    """
    from agent.sweep import load_sweep

    index = load_sweep(sweep_id)
    recorded = index.executor  # where it ran: options given now replace those they name
    index.executor = {
        "name": executor or recorded.get("name") or "local",
        "slurm": list(slurm) or list(recorded.get("slurm") or []),
        "constraint": constraint or recorded.get("constraint"),
    }
    index.save()
    where = index.executor
    command = cell_command(jobs, llm_jobs, unsandboxed, where["name"], where["slurm"], where["constraint"])
    _execute(index, cells, command, retry_failed)


@sweep.command("list")
def list_sweeps():
    """List sweeps with how many cells are finished, failed, running and pending.

    Example: speedrun sweep list
    """
    from agent.sweep import list_sweeps as sweep_files
    from agent.sweep import load_sweep

    for path in sweep_files():
        try:
            counts = load_sweep(path.parent.name).counts()
        except SpeedrunError as exc:  # one damaged index does not hide the others
            print(f"{path.parent.name:<50} damaged  {exc}")
            continue
        print(f"{path.parent.name:<50} " + "  ".join(f"{n} {status}" for status, n in counts.items()))


@sweep.command("show")
def show(
    sweep_id: str = typer.Argument(..., help="A sweep's id."),
    as_json: bool = typer.Option(False, "--json", help="Print sweep.json as it is."),
):
    """Print a sweep's cells: key, status, agent run, best node and its single-run FSR, error.

    Example: speedrun sweep show sweep-mini-example-20261128-170000-ab12
    """
    from agent.sweep import load_sweep

    index = load_sweep(sweep_id)
    if as_json:
        print(json.dumps(index.to_json(), indent=1))
        return
    _print_table(index)


@sweep.command("cell", hidden=True)
def cell(
    sweep_id: str = typer.Argument(...),
    index: int = typer.Argument(...),
    jobs: int = jobs_option(),
    llm_jobs: int = llm_jobs_option(),
    unsandboxed: bool = unsandboxed_option(),
    executor: str | None = executor_option(),
    slurm: list[str] = slurm_option(),
    constraint: str | None = constraint_option(),
):
    """Run one cell of a sweep (the controller starts this process; not for direct use)."""
    from agent.runner import AgentRunner
    from agent.sweep import run_cell
    from replay.run.replayer import Replayer

    chosen = executor_from_options(executor, jobs, slurm, constraint, unsandboxed)
    runner = AgentRunner(on_event=_print_event, unsandboxed=unsandboxed, jobs=jobs, llm_jobs=llm_jobs, executor=chosen)
    with resumable(f"speedrun sweep resume {sweep_id}"):
        run_cell(sweep_id, index, runner, Replayer(runner.store, executor=runner.replayer.executor))


KEY_HEADER = f"{'cell':<5} {'task':>4} {'model':<34} {'scaffold':<10} {'hints':<6} {'seed':>4}"


def _key_columns(number: int, key) -> str:
    hints = ",".join(map(str, key.hints)) or "0"
    return f"c{number:03d}  {key.task:>4} {key.model[-34:]:<34} {key.scaffold:<10} {hints:<6} {key.seed:>4}"


def _print_table(index) -> None:
    from agent.state import load_agent_state

    print(f"sweep {index.id} ({index.created}): " + ", ".join(f"{n} {s}" for s, n in index.counts().items()))
    print(f"{KEY_HEADER} {'status':<9} {'run':<40} {'best':<5} {'fsr':>6}  error")
    for number, cell in enumerate(index.cells):
        best, fsr = "-", "-"
        if cell.run_id and cell.status == "finished":
            summary = load_agent_state(cell.run_id).summary or {}
            best = summary.get("best") or "-"
            fsr = f"{summary['fsr_vs_record']:.2f}" if summary.get("fsr_vs_record") is not None else "-"
        run_id = cell.run_id or "-"
        print(f"{_key_columns(number, cell.key)} {cell.status:<9} {run_id:<40} {best:<5} {fsr:>6}  {cell.error or ''}")


def _print_estimate(spec, store) -> None:
    from agent.sweep_estimate import ASSUMPTIONS, estimate

    cells = estimate(spec, store)
    print(f"{KEY_HEADER} {'runs':>5} {'GPU-h':>8} {'$':>9}")
    for number, cell in enumerate(cells):
        dollars = f"{cell.dollars:.4f}" if cell.dollars is not None else "-"
        print(f"{_key_columns(number, cell.key)} {cell.runs:>5} {cell.gpu_hours:>8.3f} {dollars:>9}")
    priced = [c.dollars for c in cells if c.dollars is not None]
    unpriced = len(cells) - len(priced)
    total = f"${sum(priced):.4f}" if priced else "$ unknown"
    total += (
        f" (+ {unpriced} unpriced cells)"
        if priced and unpriced
        else f" ({unpriced} unpriced cells)"
        if unpriced
        else ""
    )
    runs, hours = sum(c.runs for c in cells), sum(c.gpu_hours for c in cells)
    print(f"{len(cells)} cells, {runs} runs, {hours:.2f} GPU-h, {total}")
    print(f"assumptions: {ASSUMPTIONS}")
