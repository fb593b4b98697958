"""``speedrun runs list|show|schema``: every run under runs/ is listed (a damaged one as a row with
its error, never hiding the others), filters combine, ``--json`` gives the rows and the whole run
log, and a run log of the previous schema shows like a current one."""

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from replay import paths
from replay.cli.app import app
from replay.statuses import RunStatus

from runlogs import agent_run, replay_of

FIXTURES = Path(__file__).parent / "fixtures" / "runlog"


def speedrun(*args):
    return CliRunner().invoke(app, list(args))


def listed(*args) -> list[str]:
    out = speedrun("runs", "list", "--json", *args)
    assert out.exit_code == 0, out.output
    return [r["run_id"] for r in json.loads(out.stdout)]


def test_list_filters_and_json(home):
    agent_run("agent-a1", model="a", task=1)
    agent_run("agent-b2", model="b", task=2, status=RunStatus.RUNNING)
    replay_of("replay-1", "agent/agent-a1/n001")
    assert listed() == ["agent-a1", "agent-b2", "replay-1"]
    assert listed("--kind", "agent") == ["agent-a1", "agent-b2"]
    assert listed("--model", "b") == ["agent-b2"] and listed("--status", "running") == ["agent-b2"]
    assert listed("--task", "1", "--kind", "replay") == ["replay-1"] and listed("--track", "nope") == []
    rows = json.loads(speedrun("runs", "list", "--json", "-m", "a").stdout)
    assert rows[0]["fsr"] == 0.5 and rows[0]["best"] == "agent/agent-a1/n001"
    (paths.run_dir("agent-b2") / "run.json").write_text("{")
    out = speedrun("runs", "list", "--kind", "agent")
    assert out.exit_code == 0 and "agent-a1" in out.stdout and "damaged" in out.stdout
    assert speedrun("runs", "list", "--kind", "sweep").exit_code == 1


def test_show_both_kinds_and_a_schema_1_log(home):
    agent_run("agent-a1")
    out = speedrun("runs", "show", "agent-a1")
    assert out.exit_code == 0 and "n001 draft" in out.stdout and "FSR vs record" in out.stdout
    full = json.loads(speedrun("runs", "show", "agent-a1", "--json").stdout)
    assert full["schema"] == 2 and full["kind"] == "agent" and len(full["nodes"]) == 3
    folder = paths.run_dir("replay-old")
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / "replay-v1.json", folder / "run.json")
    out = speedrun("runs", "show", "replay-old")
    assert out.exit_code == 0 and "replay of toy task 1" in out.stdout and "ground_truth" in out.stdout


def test_schema_command_prints_the_exported_schemas():
    schemas = Path(__file__).parent.parent / "schemas"
    for args, name in ((("runs", "schema"), "run-log"), (("runs", "schema", "--sweep"), "sweep")):
        out = speedrun(*args)
        assert json.loads(out.stdout) == json.loads((schemas / f"{name}.schema.json").read_text()), (
            f"schemas/{name}.schema.json is stale: run `speedrun {' '.join(args)} > schemas/{name}.schema.json`"
        )
