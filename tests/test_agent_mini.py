"""Agents on the real mini track, offline: every scaffold completes a run (with --max-steps, so
nodes are partial smoke runs); the oracle's best branch is record i+1's code and attribution
credits every innovation; in the slow suite, replaying the oracle's best branch of task 2 in
full (three rounds) recovers FSR near 1."""

import pytest

from agent.runner import AgentRunner
from agent.scaffolds import SCAFFOLDS
from agent.state import AgentRequest
from replay import paths
from replay.records.store import RecordsStore
from replay.run.replayer import Replayer, ReplayRequest
from replay.statuses import NodeOutcome

TASK = 3


@pytest.fixture(scope="module")
def mini_home(tmp_path_factory):
    """One runtime home for the module, so identical node scripts hit the result cache."""
    home = tmp_path_factory.mktemp("agent-mini")
    patch = pytest.MonkeyPatch()
    patch.setenv("SPEEDRUN_RECORDS", str(paths.PROJECT_ROOT / "records.git"))
    patch.setenv("SPEEDRUN_HOME", str(home / "runs"))
    patch.setenv("SPEEDRUN_DATA", str(tmp_path_factory.getbasetemp() / "shared-data"))
    yield RecordsStore(paths.PROJECT_ROOT / "records.git")
    patch.undo()


SLOW_MACHINE_S = 3600  # per run: a shared 2-core CPU can be 5x slower than the records' official times


def run_agent(store, policy, scaffold, nodes, max_steps, task=TASK):
    runner = AgentRunner(store)
    request = AgentRequest(
        track="mini",
        task=task,
        model=f"scripted/agent_policies:{policy}",
        scaffold=scaffold,
        hints=(1, 2, 3),
        nodes=nodes,
        max_steps=max_steps,
        node_timeout_s=SLOW_MACHINE_S,
    )
    return runner, runner.run(runner.start(request))


@pytest.mark.slow  # about 4 distinct mini scripts per scaffold, 10-50 s each on a shared 2-core CPU
@pytest.mark.parametrize("name", sorted(SCAFFOLDS))
def test_every_scaffold_runs_on_the_mini_track(mini_home, name):
    _, state = run_agent(mini_home, "tweaker", name, nodes=5, max_steps=1)
    assert state.status == "finished" and len(state.nodes) == 6
    assert state.root.outcome == NodeOutcome.PARTIAL
    assert all(n.stage == "done" for n in state.nodes)
    partial = [n for n in state.nodes[1:] if n.outcome == NodeOutcome.PARTIAL]
    assert partial and all(n.execution.steps == 1 for n in partial)
    actions = {n.action for n in state.nodes[1:]}
    if name == "flat":
        assert actions == {"draft"}
    else:
        assert actions - {"draft"}  # the scaffold went past its drafts: improve or debug nodes
    assert state.summary["note"].startswith("--max-steps 1")


def test_oracle_best_branch_is_the_next_record_and_reproduces_every_innovation(mini_home):
    runner, state = run_agent(mini_home, "oracle", "flat", nodes=1, max_steps=1)
    task = mini_home.task("mini", TASK)
    assert state.summary["best"], [(n.id, n.outcome, n.problem, n.detail) for n in state.nodes]
    best = state.node(state.summary["best"])
    assert runner._script(best.commit, "train_gpt.py") == mini_home.read_file(task.target, "train_gpt.py").decode()
    attribution = state.summary["attribution"]
    assert attribution["reproduced"] == attribution["innovations"] == [i.name for i in task.target.meta.innovations]


FSR_TASK = 2  # r02 -> r03 saves about a third (task 3 saves 3%)
# Three rounds: each side runs once in each place of the rotated order, so a machine that speeds up
# or slows down during the replay moves every side alike. One run per side read 1.52 on a CI host
# whose runs varied by ~10%: a third of the speedup is then within single-run noise.
FSR_ROUNDS = 3


@pytest.mark.slow
def test_oracle_replay_recovers_the_speedup(mini_home):
    _, state = run_agent(mini_home, "oracle", "flat", nodes=1, max_steps=None, task=FSR_TASK)
    assert state.node(state.summary["best"]).outcome == "valid"
    replayer = Replayer(mini_home)
    replay = replayer.run(
        replayer.start(
            ReplayRequest(
                track="mini",
                task=FSR_TASK,
                branches=(state.summary["branch"],),
                runs=FSR_ROUNDS,
                time_limit_s=SLOW_MACHINE_S,
            )
        )
    )
    candidate = next(s for s in replay.summary["sides"] if s["role"] == "candidate")
    # The mean of three rounds: sd of FSR ~0.05 on a quiet machine, ~0.25 at 10% run-to-run
    # variation; 0.5 still separates "recovered" from "not" (the null candidate scores ~0).
    assert candidate["fsr"] == pytest.approx(1.0, abs=0.5)
