"""The shipped scripted policies (agent/policies.py) answer as their skill says, from the prompt
and the run's seed alone: the oracle applies a seeded subset of the hunks that lead to record
i+1 (all of them, over enough attempts); the tinkerer scales one unprotected float setting by at
most 10%; the vandal's edits never make a script that parses, keeps the rules and trains as
many steps; the same prompt and seed give the same reply; the seed reaches a policy through
litellm as `--model scripted/agent.policies:NAME`."""

from pathlib import Path

import pytest

from agent import policies, prompts, rules
from agent.edits import apply_reply
from agent.llm import LLMClient
from agent.state import AgentRequest, AgentState, Node
from replay.records.store import RecordsStore

TASK = 3


@pytest.fixture(scope="module")
def mini():
    store = RecordsStore()  # the project's records: the policies read record i+1 from it, as in a run
    task = store.task("mini", TASK)
    script = store.read_file(task.start, "train_gpt.py").decode()
    truth = store.read_file(task.target, "train_gpt.py").decode()
    request = AgentRequest(track="mini", task=TASK, model="scripted/agent.policies:oracle", scaffold="flat")
    state = AgentState(
        run_id="r",
        request=request,
        start_label=task.start.label,
        target_label=task.target.label,
        target_val_loss=task.target.meta.target_val_loss,
        protected=tuple(task.start.meta.protected),
        entry="train_gpt.py",
        sandbox="none",
    )
    state.nodes.append(Node("n000", None, "root"))
    return state, script, truth


def prompt(state, script, attempt=1):
    return prompts.build_messages(state, "draft", state.root, script, [], Path("."), (attempt, 3))


def edited(script, reply):
    return apply_reply(script, reply).text


def test_oracle_applies_a_seeded_share_of_the_true_change(mini):
    state, script, truth = mini
    results = {seed: edited(script, policies.oracle(prompt(state, script), seed=seed)) for seed in range(8)}
    assert len(set(results.values())) > 1 and script not in results.values()  # noise, but always an edit
    assert policies.oracle(prompt(state, script), seed=1) == policies.oracle(prompt(state, script), seed=1)
    current = script  # improve steps from its own script reach record i+1
    for step in range(10):
        current = edited(current, policies.oracle(prompt(state, current, step % 3 + 1), seed=0))
        if current == truth:
            break
    assert current == truth


def test_tinkerer_scales_one_unprotected_float_by_at_most_ten_percent(mini):
    state, script, _ = mini
    for seed in range(6):
        new = edited(script, policies.tinkerer(prompt(state, script), seed=seed))
        changed = [(a, b) for a, b in zip(script.splitlines(), new.splitlines(), strict=True) if a != b]
        assert len(changed) == 1 and rules.protected_violations(script, new, state.protected) == []
        (before, after) = changed[0]
        value = lambda line: float(line.split("=")[1].split("#")[0])  # noqa: E731
        assert before.split("=")[0] == after.split("=")[0] and ": float" in before
        assert 0.9 <= value(after) / value(before) <= 1.1 and value(after) != value(before)


def test_vandal_always_breaks_something(mini):
    state, script, _ = mini
    kinds = set()
    for seed in range(12):
        new = edited(script, policies.vandal(prompt(state, script), seed=seed))
        if rules.syntax_error(new):
            kinds.add("syntax")
        elif rules.protected_violations(script, new, state.protected):
            kinds.add("violation")
        elif "raise SystemExit" in new:
            kinds.add("crash")
        else:
            assert "num_iterations: int = 1 " in new
            kinds.add("one_step")
    assert kinds == {"syntax", "violation", "crash", "one_step"}


def test_the_run_seed_reaches_a_scripted_policy(mini):
    state, script, _ = mini
    messages = prompt(state, script)
    for seed in (0, 1):
        reply = LLMClient("scripted/agent.policies:tinkerer", seed=seed).complete(messages).text
        assert reply == policies.tinkerer(messages, seed=seed)
    assert policies.tinkerer(messages, seed=0) != policies.tinkerer(messages, seed=1)
