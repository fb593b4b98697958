"""The run log is one typed, versioned format for replays and agent runs: files of schema 1 (as
the code before it wrote them) load as the typed models, every version round-trips, keys an
executor adds to a run entry survive, damage is one clear error, and the JSON Schema in the
repository is the one the models define."""

import json
from pathlib import Path

import pytest

from replay.errors import SpeedrunError
from replay.run.runlog import (
    RUN_LOG_SCHEMA,
    AgentState,
    Execution,
    ReplayState,
    Side,
    dump_run,
    parse_run,
    run_log_json_schema,
)
from replay.statuses import Measure, NodeAction, NodeOutcome, Role, RunOutcome, RunStatus

FIXTURES = Path(__file__).parent / "fixtures" / "runlog"
SCHEMA_FILE = Path(__file__).parent.parent / "schemas" / "run-log.schema.json"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_a_schema_1_replay_loads_typed_and_upgraded():
    data = fixture("replay-v1.json")
    assert data["schema"] == 1
    run = parse_run(data)
    assert isinstance(run, ReplayState) and run.schema == RUN_LOG_SCHEMA == 2
    assert run.status is RunStatus.FINISHED and run.request.runs == 2 and run.request.branches == ()
    assert [type(s) for s in run.sides] == [Side, Side] and run.sides[0].role is Role.BASELINE
    assert len(run.runs) == 4 and {r["side"] for r in run.runs} == {"baseline", "ground_truth"}
    assert all(isinstance(r["status"], RunOutcome) and r["measured_by"] in tuple(Measure) for r in run.runs)
    assert run.summary["sides"][0]["name"] == "baseline"


def test_the_oldest_schema_1_files_get_the_fields_their_readers_defaulted():
    replay, agent = fixture("replay-v1.json"), fixture("agent-v1.json")
    for entry in replay["runs"]:
        for key in ("measured_by", "cpu_s", "reason", "reported_time_s", "reported_val_loss", "cached_from"):
            entry.pop(key, None)
    del agent["measure"]
    run = parse_run(replay)
    assert all(r["measured_by"] == Measure.SCRIPT and r["cpu_s"] is None for r in run.runs)
    assert parse_run(agent).measure is Measure.SCRIPT


def test_a_schema_1_agent_run_loads_typed():
    run = parse_run(fixture("agent-v1.json"))
    assert isinstance(run, AgentState) and run.status is RunStatus.FINISHED
    assert run.root.action is NodeAction.ROOT and run.root.parent is None and len(run.nodes) == 4
    assert all(isinstance(n.outcome, NodeOutcome) for n in run.nodes)
    assert isinstance(run.references["record_target"], Execution) and run.request.hints == (1,)
    assert run.nodes[1].llm.retried_errors == () and run.accounting.calls == 3
    assert run.children(run.root.id) and run.node(run.nodes[1].id) is run.nodes[1]


@pytest.mark.parametrize("name", ["replay-v1.json", "agent-v1.json"])
def test_every_kind_round_trips(name):
    run = parse_run(fixture(name))
    dumped = dump_run(run)
    assert dumped["schema"] == 2 and dumped["kind"] == run.kind
    assert parse_run(json.loads(json.dumps(dumped))) == run


def test_a_run_entry_declares_every_field_grading_writes():
    from dataclasses import fields

    from replay.run.runlog import RunEntry
    from replay.score.grading import RunResult

    assert {f.name for f in fields(RunResult)} <= set(RunEntry.__annotations__)


def test_keys_an_executor_adds_to_a_run_entry_are_kept():
    data = fixture("replay-v1.json")
    data["runs"][0]["job_id"] = "12345"
    run = parse_run(data)
    assert run.runs[0]["job_id"] == "12345" and dump_run(run)["runs"][0]["job_id"] == "12345"


def test_damage_and_unknown_versions_are_one_clear_error():
    with pytest.raises(SpeedrunError, match="schema 7; this speedrun reads 1..2"):
        parse_run({**fixture("agent-v1.json"), "schema": 7})
    bad = fixture("agent-v1.json")
    bad["nodes"][1]["outcome"] = "excellent"
    with pytest.raises(ValueError, match=r"agent\.nodes\.1\.outcome: Input should be"):
        parse_run(bad)


def test_the_json_schema_in_the_repository_is_current():
    assert json.loads(SCHEMA_FILE.read_text()) == run_log_json_schema(), (
        "schemas/run-log.schema.json is stale: run `speedrun runs schema > schemas/run-log.schema.json`"
    )


def test_the_json_schema_accepts_what_the_models_write_and_describes_fields():
    jsonschema = pytest.importorskip("jsonschema")
    schema = run_log_json_schema()
    for name in ("replay-v1.json", "agent-v1.json"):
        jsonschema.validate(dump_run(parse_run(fixture(name))), schema)
    node = schema["$defs"]["Node"]["properties"]
    assert node["outcome"]["description"].startswith("The verdict")
