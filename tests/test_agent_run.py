"""Agent runs on the toy track, driven offline by scripted models through litellm: every scaffold
builds its tree as commits (parent commit = parent node), run.json lists them; the oracle's best
node recovers FSR 1 and every innovation; broken edits give buggy nodes and debug steps; a rule
violation is not run; an unenforceable budget stops the run; cumulative runs score against both
starts; a run killed mid-node resumes to the same tree, and one killed while a fresh reference is
timed never runs its node again; `agent best` feeds replay and attribute."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pygit2
import pytest
from typer.testing import CliRunner

from agent.runner import AgentRunner
from agent.scaffolds import SCAFFOLDS
from agent.state import AgentRequest, load_agent_state
from replay import paths
from replay.cli.app import app
from replay.records.store import RecordsStore
from replay.run.lifecycle import Terminated
from replay.statuses import NodeAction, NodeOutcome

from toyrecords import write_toy_record

TESTS = Path(__file__).parent


def agent_run(store, policy, scaffold="aide", nodes=4, task=1, **options):
    runner = AgentRunner(store)
    request = AgentRequest(
        track="toy",
        task=task,
        model=f"scripted/agent_policies:{policy}",
        scaffold=scaffold,
        hints=(1, 2),
        nodes=nodes,
        **options,
    )
    return runner, runner.run(runner.start(request))


def check_commits(runner, state):
    """Each node is a commit whose first parent is its parent node's commit, on its own branch."""
    for node in state.nodes:
        assert runner.work.branches.local[node.branch].target == pygit2.Oid(hex=node.commit)
        if node.parent:
            commit = runner.work[node.commit]
            assert str(commit.parents[0].id) == state.node(node.parent).commit
            assert f"Speedrun-Node: {node.id}" in commit.message and f"Speedrun-Parent: {node.parent}" in commit.message


@pytest.mark.parametrize("name", sorted(SCAFFOLDS))
def test_every_scaffold_builds_its_tree(toy_store, name):
    runner, state = agent_run(toy_store, "tweaker", scaffold=name, nodes=5)
    assert state.status == "finished" and len(state.nodes) == 6 and state.root.action == NodeAction.ROOT
    assert all(n.stage == "done" and n.llm is not None for n in state.nodes[1:])
    check_commits(runner, state)
    actions = [n.action for n in state.nodes[1:]]
    scaffold = SCAFFOLDS[name]
    if name == "flat":
        assert actions == [NodeAction.DRAFT] * 5
    else:
        assert actions[: scaffold.initial] == [NodeAction.DRAFT] * scaffold.initial
        assert (
            set(actions[scaffold.initial :]) <= {NodeAction.IMPROVE, NodeAction.DEBUG} and actions[scaffold.initial :]
        )
        if scaffold.debug_prob == 0:
            assert NodeAction.DEBUG not in actions
    assert load_agent_state(state.run_id).nodes == state.nodes  # run.json round-trips


def test_oracle_recovers_the_speedup_and_every_innovation(toy_store):
    runner, state = agent_run(toy_store, "oracle", scaffold="flat", nodes=2)
    summary = state.summary
    best = state.node(summary["best"])
    target = toy_store.task("toy", 1).target
    assert runner._script(best.commit, "train_gpt.py") == toy_store.read_file(target, "train_gpt.py").decode()
    assert summary["fsr_vs_record"] == pytest.approx(1.0, abs=0.02)
    assert summary["attribution"]["reproduced"] == summary["attribution"]["innovations"] == ["faster steps 2"]


def test_broken_edits_give_buggy_nodes_and_debug_steps(toy_store):
    _, state = agent_run(toy_store, "broken", scaffold="aide", nodes=8)
    nodes = state.nodes[1:]
    assert all(n.outcome == NodeOutcome.BUGGY and n.execution is None for n in nodes)  # nothing broken is run
    assert {n.problem for n in nodes} == {"edit_error", "syntax_error"}
    debug = [n for n in nodes if n.action == NodeAction.DEBUG]
    assert debug and all(state.node(n.parent).outcome == NodeOutcome.BUGGY for n in debug)
    assert all(n.debug_depth == state.node(n.parent).debug_depth + 1 <= 5 for n in debug)
    assert state.summary["best"] is None
    not_found = next(n for n in nodes if n.problem == "edit_error")
    assert "were not found in the script" in not_found.detail


def test_rule_violation_is_judged_without_running(toy_store):
    _, state = agent_run(toy_store, "cheater", scaffold="aide", nodes=8)
    violations = [n for n in state.nodes[1:] if n.problem == "rule_violation"]
    assert len(violations) == 8 and all(n.execution is None for n in violations)
    assert all("`Hyperparameters.val_loss_every` was changed" in n.detail for n in violations)
    # debug children of a violating node start from its script, and are still checked against the root
    assert any(n.action == "debug" for n in violations)


def test_implausible_timer_is_invalid(toy_store):
    """The harness's stamps of the step lines refuse the node's reported train_time."""
    _, state = agent_run(toy_store, "stopped_clock", scaffold="flat", nodes=1)
    node = state.nodes[1]
    assert node.execution.failure == "refused" and node.execution.wall_s > 5  # it did run, and reported 0.02 s
    assert node.outcome == "invalid" and node.problem == "refused" and "paused or slow clock" in node.detail
    assert state.summary["best"] is None


def test_work_before_the_first_step_line_is_judged_against_a_fresh_reference(toy_store):
    """The clock rule's allowance comes from the untouched script timed again next to the node, not
    from the root timed at the start of the run; the reference run is kept with the run."""
    _, state = agent_run(toy_store, "slow_start", scaffold="flat", nodes=1)
    node = state.nodes[1]
    assert node.execution.status == "ok" and node.execution.wall_s > 12
    assert node.outcome == "invalid" and node.problem == "clock" and "inside the timer" in node.detail
    reference = state.references[f"{node.id}-reference"]
    assert reference.status == "ok" and reference.wall_s < 5


def test_a_run_killed_during_the_fresh_reference_resumes_without_running_the_node_again(toy_store, monkeypatch):
    """The node's run is saved before its reference is timed: a resume judges the saved run against a
    reference run, never runs the node a second time, and reaches the verdict of an unbroken run."""
    ran: list[str] = []
    original = AgentRunner._run_side

    def counted(self, state, name, *args, **kwargs):
        ran.append(name)
        if name.endswith("-reference") and ran.count(name) == 1:
            raise Terminated("killed while the reference runs")
        return original(self, state, name, *args, **kwargs)

    monkeypatch.setattr(AgentRunner, "_run_side", counted)
    runner = AgentRunner(toy_store)
    request = AgentRequest(
        track="toy", task=1, model="scripted/agent_policies:slow_start", scaffold="flat", hints=(1, 2), nodes=1
    )
    state = runner.start(request)
    with pytest.raises(Terminated):
        runner.run(state)
    interrupted = load_agent_state(state.run_id)
    node = interrupted.nodes[1]
    assert interrupted.status == "interrupted" and node.stage == "committed" and node.execution is not None
    assert node.outcome is None  # no verdict before the reference that decides it
    resumed = AgentRunner(toy_store).run(load_agent_state(state.run_id))
    assert ran.count(node.id) == 1 and ran.count(f"{node.id}-reference") == 2
    done = resumed.nodes[1]
    assert done.outcome == "invalid" and done.problem == "clock" and "inside the timer" in done.detail
    assert done.execution == node.execution and resumed.references[f"{node.id}-reference"].status == "ok"


def test_unpriced_model_with_a_cost_budget_stops(toy_store):
    _, state = agent_run(toy_store, "tweaker", scaffold="flat", nodes=5, budget_usd=1.0)
    assert state.status == "stopped" and "cannot be enforced" in state.stop_reason
    assert len(state.nodes) == 2  # the root and the one call that revealed the missing price


def test_cumulative_run_scores_against_record_and_own_start(toy_store):
    _, first = agent_run(toy_store, "tweaker", scaffold="flat", nodes=2, task=1)
    runner, state = agent_run(toy_store, "oracle", scaffold="flat", nodes=1, task=2, from_run=first.run_id)
    root = runner.work[state.root.commit]
    earlier_best = first.node(first.summary["best"])
    assert [str(p.id) for p in root.parents] == [toy_store.task("toy", 2).start.commit_id, earlier_best.commit]
    assert runner._script(state.root.commit, "train_gpt.py") == runner._script(earlier_best.commit, "train_gpt.py")
    s, times = state.summary, state.summary["times_s"]
    assert times["agent_start"] != times["record_start"]
    assert s["fsr_vs_record"] == pytest.approx(1.0, abs=0.02)
    expected_own = (times["agent_start"] - times["best"]) / (times["record_start"] - times["record_target"])
    assert (
        s["fsr_vs_own_start"] == pytest.approx(expected_own, abs=1e-3) and s["fsr_vs_own_start"] != s["fsr_vs_record"]
    )


def test_best_branch_feeds_replay_and_attribute(toy_store):
    _, state = agent_run(toy_store, "oracle", scaffold="flat", nodes=1)
    cli = CliRunner()
    best = cli.invoke(app, ["agent", "best", state.run_id])
    assert best.exit_code == 0 and best.output.strip() == state.summary["branch"]
    shown = cli.invoke(app, ["agent", "show", state.run_id])
    assert "n001 draft" in shown.output and "valid" in shown.output and "innovations reproduced: 1/1" in shown.output
    replay = cli.invoke(app, ["replay", "1", "--track", "toy", "--branch", best.output.strip()])
    assert replay.exit_code == 0, replay.output
    (replay_json,) = paths.home().glob("replay-*/run.json")
    assert json.loads(replay_json.read_text())["provenance"]["sandbox"]  # the candidate's confinement, stated
    attribution = cli.invoke(
        app, ["attribute", "1", "--track", "toy", "--branch", best.output.strip(), "--format", "json"]
    )
    assert json.loads(attribution.output)["summary"]["reproduced"] == 1


def slow_toy_store(home: Path) -> RecordsStore:
    from replay.records.add import add_record, init_records_repo

    store = init_records_repo(home / "records.git")
    for index, step_ms in ((1, 100.0), (2, 80.0)):
        add_record(store, "toy", write_toy_record(home / f"src{index}", index=index, step_ms=step_ms, sleep_s=0.03))
    return RecordsStore(home / "records.git")


def cli_env(home: Path) -> dict:
    return {
        **os.environ,
        "SPEEDRUN_HOME": str(home / "runs"),
        "SPEEDRUN_RECORDS": str(home / "records.git"),
        "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }


AGENT = [sys.executable, "-c", "from replay.cli.app import main; main()", "agent"]
RUN = ["run", "1", "--track", "toy", "--model", "scripted/agent_policies:tweaker", "--scaffold", "aide", "--nodes", "4"]


def tree_of(state):
    return [
        (
            n.id,
            n.parent,
            n.action,
            n.outcome,
            n.execution.time_s if n.execution else None,
            str(pygit2.Repository(str(paths.work_repo()))[n.commit].tree_id),
        )
        for n in state.nodes
    ]


@pytest.mark.slow  # 20 s; the resume after a kill during the fresh reference stays in the default suite
def test_killed_run_resumes_to_the_same_tree(tmp_path, monkeypatch):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    for home in (killed, clean):
        slow_toy_store(home)
    subprocess.run(AGENT + RUN, env=cli_env(clean), check=True, capture_output=True)
    proc = subprocess.Popen(AGENT + RUN, env=cli_env(killed), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    run_json = None
    while time.time() < deadline and proc.poll() is None:  # kill while node n002 is executing
        found = list((killed / "runs").glob("agent-*/run.json"))
        if found:
            run_json = found[0]
            data = json.loads(run_json.read_text())
            if any(n["id"] == "n002" and n["stage"] == "committed" for n in data["nodes"]):
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted = json.loads(run_json.read_text())
    assert interrupted["status"] == "running" and any(n["stage"] != "done" for n in interrupted["nodes"])
    replied = {n["id"]: n["llm"]["response_sha256"] for n in interrupted["nodes"] if n["llm"]}
    subprocess.run(AGENT + ["resume", interrupted["run_id"]], env=cli_env(killed), check=True, capture_output=True)
    for home in (killed, clean):
        monkeypatch.setenv("SPEEDRUN_HOME", str(home / "runs"))
        monkeypatch.setenv("SPEEDRUN_RECORDS", str(home / "records.git"))
        (run_id,) = [p.parent.name for p in (home / "runs").glob("agent-*/run.json")]
        state = load_agent_state(run_id)
        assert state.status == "finished"
        if home == killed:
            resumed = tree_of(state)
            assert {n.id: n.llm.response_sha256 for n in state.nodes if n.id in replied} == replied  # not asked again
        else:
            reference = tree_of(state)
    assert resumed == reference


def test_cli_runs_n_independent_runs_and_replays_the_best(toy_store):
    result = CliRunner().invoke(
        app,
        [
            "agent",
            "run",
            "1",
            "--track",
            "toy",
            "--model",
            "scripted/agent_policies:oracle",
            "--scaffold",
            "flat",
            "--nodes",
            "1",
            "--runs",
            "2",
            "--replay",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    states = [load_agent_state(p.parent.name) for p in sorted(paths.home().glob("agent-*/run.json"))]
    assert sorted(s.request.seed for s in states) == [0, 1]
    assert all(s.status == "finished" and s.summary["best"] == "n001" for s in states)
    assert all((paths.run_dir(s.run_id) / "attribution.md").is_file() for s in states)
    assert len(list(paths.home().glob("replay-*/report.md"))) == 2  # each run's best branch replayed
    assert all(s.summary["branch"] in result.output for s in states)
