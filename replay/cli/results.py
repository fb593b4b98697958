"""``speedrun runs ...``, ``leaderboard`` and ``view``: the runs on disk, aggregated and browsable
(help panel "Results"). The analysis modules are imported inside the commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from analysis.leaderboard_render import BoardFormat
from replay.cli.params import choice_option, number_option
from replay.errors import SpeedrunError

PANEL = "Results"

runs = typer.Typer(
    name="runs",
    no_args_is_help=True,
    help="Replays and agent runs under runs/ (their run logs, run.json).",
)
commands = typer.Typer()
groups = (runs,)

KINDS = ("replay", "agent")


@runs.command("list")
def list_runs(
    kind: str | None = typer.Option(None, "--kind", "-k", help="replay or agent."),
    track: str | None = typer.Option(None, "--track", "-t", help="Only this track."),
    task: int | None = number_option(None, "--task", "-i", minimum=1, help="Only this task number."),
    model: str | None = typer.Option(None, "--model", "-m", help="Only agent runs of this model."),
    status: str | None = typer.Option(None, "--status", "-s", help="started, running, finished, stopped, ..."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as a JSON list."),
):
    """List runs with their kind, task, model, status and FSR; filters combine.

    Examples:
      speedrun runs list
      speedrun runs list --kind agent --task 3 --status finished --json
    """
    from dataclasses import asdict

    from analysis.runs_index import RunFilter, scan

    if kind is not None and kind not in KINDS:
        raise SpeedrunError(f"--kind must be one of {', '.join(KINDS)}, not '{kind}'")
    wanted = RunFilter(kind, track, task, model, status)
    rows = [r for r, _ in scan() if r.kind is None or wanted.matches(r)]
    if as_json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return
    from rich.table import Table

    from replay.cli.console import console

    table = Table("run", "kind", "status", "task", "model", "scaffold", "hints", "seed", "FSR", "best")
    for r in rows:
        fsr = "—" if r.fsr is None else f"{r.fsr:.2f}" + (" (partial)" if r.partial else "")
        task_text = "—" if r.task is None else f"{r.track} {r.task}"
        table.add_row(
            r.run_id,
            r.kind or "?",
            r.status if r.error is None else f"damaged: {r.error}",
            task_text,
            r.model or "",
            r.scaffold or "",
            r.hint_label if r.kind == "agent" else "",
            "" if r.seed is None else str(r.seed),
            fsr,
            r.best or "",
        )
    console().print(table)
    print(f"{len(rows)} run(s)", file=sys.stderr)


@runs.command("show")
def show(
    run_id: str = typer.Argument(..., help="A run's id (a folder under runs/)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole run log (current schema) as JSON."),
):
    """Show one run: an agent run's tree and summary, or a replay's table.

    Examples:
      speedrun runs show agent-mini-t03-20261126-190000-ab12
      speedrun runs show replay-mini-t01-20261126-153000-ab12 --json
    """
    from replay.run.runlog import dump_run, load_run

    run = load_run(run_id)
    if as_json:
        print(json.dumps(dump_run(run), indent=2))
    elif run.kind == "agent":
        from agent.show import header_text, summary_text, tree_text

        print(header_text(run), tree_text(run), summary_text(run), sep="\n")
    else:
        from replay.cli.console import print_summary

        r = run.request
        print(f"run {run.run_id}: replay of {r.track} task {r.task}, {r.runs} run(s) per side, status {run.status}")
        if run.summary:
            print_summary(run.summary)


@runs.command("schema")
def schema(sweep: bool = typer.Option(False, "--sweep", help="The sweep index's schema instead (sweep.json).")):
    """Print the JSON Schema of the run log (kept in schemas/run-log.schema.json) or of a sweep index.

    Examples:
      speedrun runs schema > schemas/run-log.schema.json
      speedrun runs schema --sweep > schemas/sweep.schema.json
    """
    from analysis.sweep_index import sweep_json_schema
    from replay.run.runlog import run_log_json_schema

    print(json.dumps(sweep_json_schema() if sweep else run_log_json_schema(), indent=2))


def _inputs(runs_: list[str] | None, sweep: str | None):
    """(loaded run folders, leaderboard slots, a description, unreadable run ids) of RUNS... or --sweep ID
    (default: all runs)."""
    from analysis import leaderboard as board
    from analysis.runs_index import load_folder, scan
    from analysis.sweep_index import load_sweep
    from replay import paths

    if sweep and runs_:
        raise SpeedrunError("give run folders or --sweep ID, not both")
    if sweep:
        index = load_sweep(sweep)
        ids = [i for c in index.cells for i in (c.run_id, c.replay_run_id) if i]
        loaded = [load_folder(paths.run_dir(i)) for i in ids if (paths.run_dir(i) / paths.RUN_JSON).is_file()]
        return loaded, board.slots_from_sweep(index), f"sweep {sweep}", ()
    folders = [Path(r) if "/" in r else paths.run_dir(r) for r in runs_ or ()]
    missing = [f for f in folders if not (f / paths.RUN_JSON).is_file()]
    if missing:
        raise SpeedrunError(f"{missing[0]} holds no {paths.RUN_JSON}: give run ids or run folders")
    loaded = [load_folder(f) for f in folders] if folders else scan()
    unreadable = tuple(r.run_id for r, run in loaded if run is None)
    return loaded, board.slots_from_runs(loaded), f"{len(loaded)} run folder(s)", unreadable


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@commands.command("leaderboard")
def leaderboard(
    runs_: list[str] = typer.Argument(None, metavar="RUNS", help="Run ids or run folders (default: all under runs/)."),
    sweep: str | None = typer.Option(None, "--sweep", "-S", help="A sweep's id (runs/sweeps/ID/sweep.json)."),
    rows: str = typer.Option("model,scaffold", "--rows", "-r", help="Row dimensions: model, scaffold, hints, track."),
    columns: str = typer.Option("hints", "--columns", "-c", help="Column dimensions (may be empty: '')."),
    fmt: BoardFormat = choice_option(BoardFormat, BoardFormat.TERMINAL, "--format", "-f", help="Output format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the table here instead of stdout."),
    plots: Path | None = typer.Option(None, "--plots", "-p", help="Write the plots (PNG and SVG) into this folder."),
):
    """Mean FSR per model x scaffold x hint level over all tasks and seeds, with 95% intervals.

    Missing, unfinished and failed runs count as FSR 0 and are reported (README: "Results").

    Examples:
      speedrun leaderboard
      speedrun leaderboard --sweep mini-example --format html -o board.html --plots plots/
      speedrun leaderboard agent-mini-t01-... agent-mini-t02-... --rows model --columns hints,scaffold
    """
    from analysis import leaderboard as board
    from analysis import plots as plotting
    from analysis.leaderboard_render import render
    from replay.atomic import write_text_atomic

    _, slots, source, unreadable = _inputs(runs_, sweep)
    doc = board.build(slots, _split(rows), _split(columns), source, unreadable)
    rendered = plotting.render(doc) if plots or fmt == BoardFormat.HTML else None
    if plots:
        for path in plotting.write(rendered, plots):
            print(f"wrote {path}", file=sys.stderr)
    text = render(doc, fmt, rendered)
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_text_atomic(output, text)
        print(f"wrote {output}", file=sys.stderr)


@commands.command("view")
def view(
    runs_: list[str] = typer.Argument(None, metavar="RUNS", help="Run ids or folders (default: all in runs/)."),
    sweep: str | None = typer.Option(None, "--sweep", "-S", help="Show a sweep's runs and leaderboard."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Site folder (default: runs/site)."),
    serve: bool = typer.Option(False, "--serve", help="Serve the site on localhost after writing it."),
    port: int = number_option(8000, "--port", minimum=0, maximum=65535, help="Port for --serve (0: any free one)."),
):
    """Write runs as a static HTML site: agent trees with diffs, logs and attribution; replays; the leaderboard.

    Examples:
      speedrun view
      speedrun view --sweep mini-example -o site/ --serve
    """
    from analysis import leaderboard as board
    from analysis import plots as plotting
    from analysis import site
    from replay import paths

    loaded, slots, source, unreadable = _inputs(runs_, sweep)
    doc = board.build(slots, source=source, unreadable=unreadable) if slots else None
    index = site.build(output or paths.home() / "site", loaded, doc, plotting.render(doc) if doc else None)
    print(f"wrote {index}")
    if serve:
        site.serve(index.parent, port)
