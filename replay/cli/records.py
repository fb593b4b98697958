"""``speedrun records ...`` and ``speedrun tasks``: the record history (help panel "Records").

Every command that names a record takes the same reference: ``TRACK/N``, ``TRACK/rNN`` (its
tag) or the record's commit id.
"""

from __future__ import annotations

from pathlib import Path

import typer

from replay.cli.params import track_option
from replay.errors import SpeedrunError
from replay.records.store import RecordsStore

PANEL = "Records"
RECORD = typer.Argument(..., help="A record: TRACK/N, TRACK/rNN or its commit id, e.g. mini/2.")

records = typer.Typer(
    name="records", no_args_is_help=True, help="List, show, export, add and import records (commits of records.git)."
)
commands = typer.Typer()
groups = (records,)


@records.command("list")
def records_list(track: str | None = track_option(None, "Only this track.")):
    """List records per track: index, date, official time, name.

    Example: speedrun records list --track mini
    """
    store = RecordsStore()
    for name in [track] if track else store.tracks():
        for record in store.records(name):
            m = record.meta
            print(
                f"{record.label:<14} {m.date}  {m.result.time_s:9.1f} s  {m.name}" + ("" if m.task else "  (no task)")
            )


@records.command("show")
def records_show(spec: str = RECORD):
    """Show one record's metadata, innovations and files.

    Example: speedrun records show mini/2
    """
    store = RecordsStore()
    record = store.resolve(spec)
    m = record.meta
    print(f"{record.label}  {m.name}  ({m.date}, {', '.join(m.authors)})")
    print(f"commit {record.commit_id}")
    print(m.description)
    print(
        f"result: {m.result.time_s:.1f} s to val loss {m.result.val_loss:.4f} in {m.result.steps} steps on "
        f"{m.result.hardware}"
    )
    print(
        f"target val loss {m.target_val_loss}; launcher {m.launcher} x{m.nproc}; entry {m.entry}; data {m.data or '-'}"
    )
    if m.notes:
        print(f"notes: {m.notes}")
    if m.within_noise:
        print(f"within noise: {m.within_noise}")
    for innovation in m.innovations:
        print(f"innovation: {innovation.name}  [anchors: {', '.join(innovation.anchors)}]")
    if m.protected:
        print(f"protected: {', '.join(m.protected)}")
    print("files: " + " ".join(store.files(record)))


@records.command("export")
def records_export(
    spec: str = RECORD,
    dest: Path = typer.Argument(..., help="A folder that does not exist yet."),
):
    """Write a record's files to a folder (to edit it into the next record).

    Example: speedrun records export mini/4 /tmp/r05
    """
    from replay.records.store import materialize

    store = RecordsStore()
    record = store.resolve(spec)
    if dest.exists():
        raise SpeedrunError(f"{dest} already exists: choose a new folder")
    materialize(store.repo, record.tree_id, dest)
    print(f"exported {record.label} to {dest}")


@records.command("add")
def records_add(
    path: Path = typer.Argument(..., help="Folder with record.toml, the entry script, optional hints/ and logs/."),
    track: str = typer.Option(..., "--track", "-t", help="Track to append the record to."),
    allow_gap: bool = typer.Option(
        False, "--allow-gap", help="The index may skip numbers (a record whose code was never published)."
    ),
):
    """Validate a record folder and append it to a track as exactly one commit and one tag.

    Example: speedrun records add --track mini /tmp/r05
    """
    from analysis.probes import probe_exists
    from replay.records.add import add_record

    store = RecordsStore()
    commit = add_record(store, track, path, allow_gap=allow_gap, probe_known=probe_exists)
    record = store.records(track)[-1]
    print(f"added {record.label} ({record.meta.name}) as commit {commit}")


@records.command("import")
def records_import(
    checkout: Path = typer.Argument(
        ..., help="A clone of KellerJordan/modded-nanogpt (full history; a bare mirror works too)."
    ),
    track: str = track_option("nanogpt", "Track to create or extend."),
    through: str = typer.Option(
        "21", "--through", help="Last README record to import: a number, or 'all' for every logged record."
    ),
    hints: Path | None = typer.Option(
        None, "--hints", help="Use the paper's hint files (DIR/record_<i>/level_*.txt) instead of ours."
    ),
):
    """Import the speedrun's records from a checkout: one commit per record, with labels and hints.

    The record list is the README's record table; code comes from each record's linked log
    (records 1-3: the root train_gpt2.py at the commits that set them). Re-running is a no-op;
    on a newer checkout only the new records are appended. Records we have not labelled get
    one innovation from the README, anchored at the definitions their structural diff changes.

    Examples:
      speedrun records import ~/modded-nanogpt
      speedrun records import ~/modded-nanogpt --through all
    """
    from analysis.diff import changed_definitions
    from replay.importer.modded_nanogpt import import_records

    if through != "all" and not (through.isdigit() and int(through) >= 1):
        raise SpeedrunError(f"--through must be a record number or 'all', got {through!r}")
    if hints is not None and not hints.is_dir():
        raise SpeedrunError(f"--hints {hints}: not a folder")
    report = import_records(
        checkout,
        RecordsStore(),
        changed_definitions=changed_definitions,
        track=track,
        through=None if through == "all" else int(through),
        hints_dir=hints,
        on_record=lambda label, c: print(f"added {label}  README #{c.row.number}  {c.row.description}", flush=True),
    )
    for note in report.skipped:
        print(f"note: {note}")
    print(
        f"{track}: {len(report.added)} added, {len(report.unchanged)} already present, {len(report.skipped)} rows "
        "skipped"
    )


@records.command("renumber")
def records_renumber(track: str = track_option("nanogpt", "The imported track to renumber.")):
    """Give an imported track's records their README numbers (tracks imported before that rule).

    Rewrites the track from the first record whose index trails its README number; the old tip
    stays at refs/renumbered/TRACK, so nothing made from the old commits loses its objects.
    Example: speedrun records renumber --track nanogpt
    """
    from replay.importer.renumber import renumber

    done = renumber(RecordsStore(), track)
    if not done:
        print(f"{track}: every record already has its README number")
        return
    print(
        f"{track}: {len(done)} records renumbered, {done[0].old} -> {done[0].new} ... {done[-1].old} -> {done[-1].new}"
    )
    print(f"the old history stays at refs/renumbered/{track}")


@records.command("init")
def records_init(path: Path = typer.Argument(..., help="Where to create the bare repository.")):
    """Create an empty records repository (for a new collection of tracks).

    Example: speedrun records init /tmp/my-records.git && SPEEDRUN_RECORDS=/tmp/my-records.git speedrun records add ...
    """
    from replay.records.add import init_records_repo

    init_records_repo(path)
    print(f"created {path}")


@commands.command("tasks")
def tasks(track: str | None = track_option(None, "Only this track.")):
    """List tasks: record i -> record i+1, with the official times.

    Example: speedrun tasks --track mini
    """
    store = RecordsStore()
    for name in [track] if track else store.tracks():
        for task in store.tasks(name):
            a, b = task.start.meta.result.time_s, task.target.meta.result.time_s
            gap = f"  [spans {', '.join(f'#{n}' for n in task.skipped)}: no published code]" if task.skipped else ""
            print(
                f"{name} task {task.number:>2}: r{task.start.index:02d} -> r{task.target.index:02d}  "
                f"{a:8.1f} s -> {b:8.1f} s  ({task.target.meta.name}){gap}"
            )
