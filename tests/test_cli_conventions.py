"""Every command follows the same conventions: help in panels (Records, Replay, Analysis, Results, Agent,
Data), ``-h`` as well as ``--help`` at every level, ``--version``; fixed choices shown in the help
and a wrong one rejected as one ``error:`` line naming the choices; one record reference
(``TRACK/N``, ``TRACK/rNN`` or the record's commit id) accepted by every command that takes a
record; and an interrupted run that ends with exit status 130 and names the command that
resumes it."""

import json
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from replay import paths
from replay.records.add import add_record, init_records_repo

from toyrecords import write_toy_record

SPEEDRUN = str(Path(sys.executable).parent / "speedrun")
TESTS = Path(__file__).parent


def speedrun(*args):
    # A wide terminal, so help tables print choices on one line.
    return subprocess.run(
        [SPEEDRUN, *args], capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"}
    )


def one_line_error(out, message: str) -> None:
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith("error: ") and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_help_shows_panels_and_every_level_takes_dash_h():
    top = speedrun("-h")
    assert top.returncode == 0
    panels = [line.strip("╭─ ").split(" ")[0] for line in top.stdout.splitlines() if line.startswith("╭─")]
    assert panels == ["Options", "Records", "Replay", "Analysis", "Results", "Agent", "Data"]
    for args in (["records", "-h"], ["records", "show", "-h"], ["agent", "run", "-h"], ["data", "-h"], ["diff", "-h"]):
        out = speedrun(*args)
        assert out.returncode == 0 and "Usage" in out.stdout, args
    assert speedrun("--help").stdout == top.stdout


def test_version_names_the_installed_toolkit():
    out = speedrun("--version")
    assert out.returncode == 0 and out.stdout.startswith(f"speedrun {metadata.version('speedrun')}")


def test_fixed_choices_are_listed_and_a_wrong_one_is_one_line(toy_store):
    shown = speedrun("agent", "run", "-h").stdout
    assert "[flat|tree|forest|aide|multi-aide]" in shown and "[search-replace|diff|whole]" in shown
    assert "[json|md|html]" in speedrun("attribute", "-h").stdout
    run = ["agent", "run", "1", "--track", "toy", "--model", "scripted/agent_policies:oracle"]
    one_line_error(
        speedrun(*run, "--scaffold", "beam"), "--scaffold must be one of flat, tree, forest, aide, multi-aide"
    )
    one_line_error(speedrun(*run, "--edit-format", "patch"), "--edit-format must be one of search-replace, diff, whole")
    assert not list(paths.home().glob("agent-*")), "a rejected choice starts nothing"


def test_one_record_reference_everywhere(toy_store, home):
    record = toy_store.record("toy", 2)
    for spec in ("toy/2", "toy/r02", record.commit_id, record.commit_id[:8].upper()):
        out = speedrun("records", "show", spec)
        assert out.returncode == 0 and out.stdout.startswith("toy/r02 "), (spec, out.stderr)
    short = record.commit_id[:10]
    assert speedrun("blame", short).stdout == speedrun("blame", "toy/2").stdout
    assert (
        speedrun("env", "build", short, "--dry-run").stdout == speedrun("env", "build", "toy/r02", "--dry-run").stdout
    )
    assert (
        speedrun("diff", "toy/1", short).stdout.splitlines()[2:]
        == speedrun("diff", "toy/1", "toy/2").stdout.splitlines()[2:]
    )
    made = speedrun("work", "new", "from-commit", "--from", short)
    assert made.returncode == 0 and "at toy/r02" in made.stdout
    exported = speedrun("records", "export", short, str(home / "exported"))
    assert exported.returncode == 0 and (home / "exported" / "record.toml").is_file()
    one_line_error(speedrun("records", "show", "0123abcd"), "commit '0123abcd' is not a record of any track")
    one_line_error(speedrun("records", "show", "toy"), "is not a record name")


def slow_store(home: Path):
    store = init_records_repo(home / "records.git")
    for index in (1, 2):
        add_record(store, "toy", write_toy_record(home / f"s{index}", index=index, steps=15, sleep_s=0.05))


def executing(data: dict) -> bool:
    """A run.json that is running and, for an agent run, has a node between commit and done."""
    if data["status"] != "running":
        return False
    nodes = data.get("nodes")  # a replay's run.json has none
    return nodes is None or any(n["stage"] == "committed" for n in nodes)


def interrupt_once_running(command: list[str], pattern: str, env: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """Start ``command``, send SIGTERM once it is executing a run, return how it ended."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, found = time.time() + 60, []
    while time.time() < deadline:
        found = list(paths.home().glob(pattern))
        if found and executing(json.loads(found[0].read_text())):
            break
        time.sleep(0.05)
    assert found, f"{command} never started running"
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    state = json.loads(found[0].read_text())
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr), state


def test_interrupted_replay_names_its_resume_command(home):
    slow_store(home)
    out, state = interrupt_once_running(
        [SPEEDRUN, "replay", "1", "--track", "toy", "--runs", "3"], "replay-*/run.json", dict(os.environ)
    )
    assert out.returncode == 130 and state["status"] == "interrupted"
    assert (
        out.stderr.strip().splitlines()[-1] == f"interrupted: resume with `speedrun replay --resume {state['run_id']}`"
    )


@pytest.mark.parametrize("resume", [False, True])
def test_interrupted_agent_run_names_its_resume_command(home, resume):
    slow_store(home)
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [
        SPEEDRUN,
        *"agent run 1 --track toy --model scripted/agent_policies:tweaker --scaffold flat --nodes 12".split(),
    ]
    out, state = interrupt_once_running(command, "agent-*/run.json", env)
    assert out.returncode == 130 and state["status"] == "interrupted"
    if resume:  # a resumed run, interrupted again, names the same command
        out, state = interrupt_once_running([SPEEDRUN, "agent", "resume", state["run_id"]], "agent-*/run.json", env)
    assert out.returncode == 130 and state["status"] == "interrupted"
    assert out.stderr.strip().splitlines()[-1] == f"interrupted: resume with `speedrun agent resume {state['run_id']}`"
