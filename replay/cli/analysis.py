"""``speedrun diff``, ``attribute``, ``blame`` and ``probes``: structural diffs, innovation attribution,
lineage and the warm probe server attribution uses (help panel "Analysis"). The analysis modules are
imported inside the commands."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer

from replay.atomic import write_text_atomic
from replay.cli.params import choice_option, track_option
from replay.errors import SpeedrunError
from replay.records.store import RecordsStore

PANEL = "Analysis"


class ReportFormat(StrEnum):
    """The formats an attribution report is written in."""

    JSON = "json"
    MARKDOWN = "md"
    HTML = "html"


commands = typer.Typer()
probes = typer.Typer(
    name="probes", no_args_is_help=True, help="The warm probe server behind attribution: status, stop."
)
groups = (probes,)


@commands.command("diff")
def diff(
    a: str = typer.Argument(
        ..., help="Old side: a record (mini/2, mini/r02 or its commit id), work-repo branch, commit id or file."
    ),
    b: str = typer.Argument(..., help="New side: same kinds as A."),
):
    """Structural diff of two scripts: changed, added, removed and renamed definitions, with lines.

    Example: speedrun diff mini/1 mini/2
    """
    from analysis.diff import diff_versions, load
    from analysis.report import diff_text
    from analysis.sources import resolve_any
    from analysis.syntax import Cache

    cache = Cache()
    old = load(*reversed(resolve_any(a)), cache=cache)
    new = load(*reversed(resolve_any(b)), cache=cache)
    text = diff_text(diff_versions(old, new))
    if sys.stdout.isatty():
        colours = {"  -": "red", "  +": "green", "~ ": "yellow", "+ ": "green", "- ": "red"}
        text = "".join(
            typer.style(line, fg=next((c for p, c in colours.items() if line.startswith(p)), None))
            if line.strip()
            else line
            for line in text.splitlines(keepends=True)
        )
    typer.echo(text, nl=False)


@commands.command("attribute")
def attribute(
    task: int = typer.Argument(..., help="Task number (record i -> i+1)."),
    track: str = track_option(),
    branch: str | None = typer.Option(None, "--branch", "-b", help="Candidate: a work-repo branch."),
    commit: str | None = typer.Option(
        None, "--commit", "-c", help="Candidate: a commit id (work repo or records.git) or a record tag."
    ),
    file: Path | None = typer.Option(None, "--file", "-f", help="Candidate: a script on disk."),
    fmt: ReportFormat = choice_option(ReportFormat, ReportFormat.MARKDOWN, "--format", help="Report format."),
    out: Path | None = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    judge: str | None = typer.Option(
        None,
        "--judge",
        help="Also ask this model (litellm name, e.g. openai/gpt-4o; key from the environment) the same "
        "question and show its verdicts beside ours, never in the score.",
    ),
):
    """Which of record i+1's innovations a candidate reproduced, with evidence and novel edits.

    Examples: speedrun attribute 1 --track mini --commit mini/r02 ;
    speedrun attribute 3 --branch agent/run1/n05 --format html -o report.html ;
    speedrun attribute 1 --track mini --branch my-idea --judge openai/gpt-4o
    """
    # the scoring modules load after the probe worker has the candidate (analysis.task): their import
    # then overlaps its measurement
    from analysis.sources import commit_script, file_script, work_repo_commit
    from analysis.task import attribute_task

    given = [x for x in (branch, commit, file) if x is not None]
    if len(given) != 1:
        raise SpeedrunError("give exactly one candidate: --branch B, --commit SHA or --file PATH")
    client = None
    if judge is not None:
        from agent.idea_judge import judge_client

        client = judge_client(judge)  # a missing key fails here, before any work
    store = RecordsStore()
    entry = store.task(track, task).start.meta.entry
    if file is not None:
        label, text = file_script(file)
        info = {"kind": "file", "spec": str(file)}
    else:
        kind, spec = ("branch", branch) if branch is not None else ("commit", commit)
        repo, obj = work_repo_commit(spec, kind)
        label, text = commit_script(repo, obj, entry, f"{spec} ({str(obj.id)[:10]})")
        info = {"kind": kind, "spec": spec, "commit": str(obj.id)}
    res, doc = attribute_task(store, track, task, label, text, info)
    if client is not None:
        from agent.idea_judge import second_opinion

        pair = store.task(track, task)
        base, target = (store.read_file(r, entry).decode(errors="replace") for r in (pair.start, pair.target))
        ours = {g["name"]: g["reproduced"] for g in doc["innovations"]}
        doc["judge"] = second_opinion(client, pair.target.meta.innovations, base, target, text, entry, ours)
    if fmt == ReportFormat.JSON:
        report = json.dumps(doc, indent=2) + "\n"
    elif fmt == ReportFormat.MARKDOWN:
        from analysis.report import to_markdown

        report = to_markdown(doc)
    else:
        from analysis.html import to_html

        report = to_html(res, doc)
    if out is None:
        typer.echo(report, nl=False)
    else:
        write_text_atomic(out, report)
        typer.echo(
            f"wrote {out}: {doc['summary']['reproduced']}/{doc['summary']['innovations']} innovations reproduced"
            + (f" (fallback: {doc['fallback']})" if doc["fallback"] else "")
        )


@commands.command("blame")
def blame(spec: str = typer.Argument(..., help="A record: TRACK/N, TRACK/rNN or its commit id, e.g. mini/4.")):
    """For each definition of record N, the record that introduced or last changed it.

    Example: speedrun blame mini/4
    """
    from analysis.blame import blame as run_blame
    from analysis.blame import blame_text

    store = RecordsStore()
    record = store.resolve(spec)
    typer.echo(blame_text(run_blame(store, record.track, record.index)), nl=False)


def _probe_server():
    """The client of this configuration's server; None, after saying why, where no server is used."""
    import os

    from analysis.probe_server import ServerClient
    from analysis.probes import SERVER_VARIABLE
    from replay.run.sandbox import untrusted_sandbox

    sandbox = untrusted_sandbox()
    if os.environ.get(SERVER_VARIABLE) == "0":
        why = f"{SERVER_VARIABLE}=0 (every process starts a probe worker of its own)"
    elif missing := sandbox.unavailable():
        why = f"no sandbox here ({missing}), so no probes run"
    elif (client := ServerClient.for_sandbox(sandbox)) is not None:
        return client
    else:
        why = "the socket folder is not this user's alone (each process starts a worker)"
    print(f"probe server: not used: {why}")
    return None


@probes.command("status")
def probes_status():
    """Whether this configuration's probe server runs (its pid, socket and idle limit).

    Example: speedrun probes status
    """
    from analysis.probe_server import idle_seconds, running_pid

    if (client := _probe_server()) is None:
        return
    if (pid := running_pid(client)) is None:
        print(f"probe server: none running (the next attribution that needs a probe starts one at {client.path})")
        return
    print(f"probe server: running, pid {pid}, socket {client.path}; ends after {idle_seconds():g} s without a request")


@probes.command("stop")
def probes_stop():
    """Stop this configuration's probe server now (it also ends by itself when idle).

    Example: speedrun probes stop
    """
    from analysis.probe_server import stop

    if (client := _probe_server()) is not None:
        print("probe server: stopped" if stop(client) else "probe server: none running")
