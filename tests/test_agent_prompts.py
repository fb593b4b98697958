"""Prompts are deterministic, assemble hints in level order, carry the node's history (parent's
metrics, failed attempts with their log tails), and never contain record i+1's code, diff or
record.toml — only its hint files (the ground-truth leak test, on every mini task)."""

import pytest

from agent import prompts
from agent.hints import hint_texts, parse_hints
from agent.runner import AgentRunner
from agent.state import AgentRequest, Execution, Node
from replay import paths
from replay.errors import SpeedrunError
from replay.records.store import RecordsStore
from replay.statuses import NodeOutcome, NodeStage


@pytest.fixture
def mini(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEEDRUN_RECORDS", str(paths.PROJECT_ROOT / "records.git"))
    monkeypatch.setenv("SPEEDRUN_HOME", str(tmp_path / "runs"))
    return RecordsStore(paths.PROJECT_ROOT / "records.git")


def test_hint_levels():
    assert parse_hints("0") == () and parse_hints("2,1") == (1, 2) and parse_hints("1,2,3") == (1, 2, 3)
    for bad in ("4", "1,1", "", "0,1", "one"):
        with pytest.raises(SpeedrunError, match="--hints"):
            parse_hints(bad)


def first_prompt(store, task_number, levels):
    runner = AgentRunner(store)
    state = runner.start(
        AgentRequest(
            track="mini", task=task_number, model="scripted/agent_policies:oracle", scaffold="aide", hints=levels
        )
    )
    task = store.task("mini", task_number)
    script = store.read_file(task.start, task.start.meta.entry).decode()
    hints = hint_texts(store, task, levels)
    return (
        state,
        script,
        hints,
        "\n".join(
            m["content"]
            for m in prompts.build_messages(state, "draft", state.root, script, hints, paths.run_dir(state.run_id))
        ),
    )


def test_prompt_is_deterministic_with_hints_in_level_order(mini):
    state, script, hints, text = first_prompt(mini, 1, (1, 2, 3))
    again = "\n".join(
        m["content"]
        for m in prompts.build_messages(state, "draft", state.root, script, hints, paths.run_dir(state.run_id))
    )
    assert text == again
    positions = [text.index(body) for _, body in hints]
    assert positions == sorted(positions) and len(positions) == 3
    assert script.rstrip() in text and "3.8" in text and "`TrainingClock`" in text
    assert "SEARCH" in text  # the edit format is explained


def test_history_shows_parent_metrics_and_failed_attempts_with_log_tails(mini, tmp_path):
    state, script, hints, _ = first_prompt(mini, 2, ())
    folder = paths.run_dir(state.run_id)
    (folder / "logs").mkdir()
    (folder / "logs" / "n001-0.txt").write_text(
        f'step:0/10 val_loss:5.0 train_time:0ms\n  File "{folder}/scratch/n001-0/train_gpt.py", line 7, in <module>\n'
        "NameError: name 'muon' is not defined\n"
    )
    state.root.execution = Execution("ok", None, 55.3, 3.67, 125, 60.0, "logs/n000-0.txt", False)
    state.root.outcome, state.root.stage = "valid", NodeStage.DONE
    state.nodes.append(
        Node(
            "n001",
            "n000",
            "draft",
            stage=NodeStage.DONE,
            outcome=NodeOutcome.BUGGY,
            problem="code_error",
            detail="the run failed (code_error) at step 0",
            execution=Execution("failed", "code_error", 0.0, None, 0, 4.0, "logs/n001-0.txt", False),
        )
    )
    text = prompts.build_messages(state, "improve", state.root, script, hints, folder)[1]["content"]
    assert "train_time 55.30 s, val loss 3.6700 (valid)" in text
    assert "n001 (draft): buggy: code_error" in text and "NameError: name 'muon' is not defined" in text
    assert 'File "train_gpt.py", line 7' in text and state.run_id not in text  # no run-specific paths


def test_no_prompt_contains_the_ground_truth(mini):
    """The prompt builder adds nothing of record i+1 but its hint files; and a hint may hold a short
    statement of pseudocode, but never a copied block (3 consecutive new lines) or a long line."""
    for task in mini.tasks("mini"):
        start = mini.read_file(task.start, task.start.meta.entry).decode()
        truth = mini.read_file(task.target, task.target.meta.entry).decode()
        start_lines = {line.strip() for line in start.splitlines()}
        # every added line of the diff record i -> i+1 that is not also a line of record i
        added = [
            line.strip() if len(line.strip()) >= 12 and line.strip() not in start_lines else None
            for line in truth.splitlines()
        ]
        new_code = [line for line in added if line]
        assert len(new_code) >= 3, task.number
        toml = mini.read_file(task.target, paths.RECORD_TOML).decode()
        toml_lines = [line.strip() for line in toml.splitlines() if len(line.strip()) >= 30]
        for levels in ((), (1,), (2,), (3,), (1, 2), (1, 2, 3)):
            _, _, hints, text = first_prompt(mini, task.number, levels)
            for _, body in hints:
                text = text.replace(body, "")
                hint_lines = {line.strip() for line in body.splitlines()}
                blocks = [
                    added[i : i + 3]
                    for i in range(len(added) - 2)
                    if all(line and line in hint_lines for line in added[i : i + 3])
                ]
                long_lines = [line for line in new_code if len(line) >= 40 and line in hint_lines]
                assert not blocks and not long_lines, (task.number, levels, blocks[:1], long_lines[:2])
            prompt_lines = {line.strip() for line in text.splitlines()}
            leaked = [line for line in new_code + toml_lines if line in prompt_lines]
            assert not leaked, (task.number, levels, leaked[:3])
