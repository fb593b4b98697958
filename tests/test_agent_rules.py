"""The harness, not the prompt, enforces the rules: a protected definition (timer, evaluation,
step-line printing, validation data) must stay byte-identical and defined once; a run whose
train_time is implausibly small against its wall-clock is flagged."""

import pytest

from agent.rules import clock_violation, protected_definitions, protected_violations, startup_allowance, syntax_error

SCRIPT = """import time


class Hyperparameters:
    val_tokens = 1000
    lr = 0.1


class TrainingClock:
    def __init__(self):
        self.t = time.perf_counter()


@staticmethod
def evaluate(model):
    return 3.0


def train():
    return evaluate(None)
"""
PROTECTED = ("Hyperparameters.val_tokens", "TrainingClock", "evaluate")


def test_unrelated_edits_keep_protected_definitions():
    edited = SCRIPT.replace("lr = 0.1", "lr = 0.2").replace("return evaluate(None)", "return evaluate(None) * 1")
    assert protected_violations(SCRIPT, edited, PROTECTED) == []
    assert protected_definitions(SCRIPT, PROTECTED)["evaluate"][0].startswith("@staticmethod")


@pytest.mark.parametrize(
    "edit, message",
    [
        (("val_tokens = 1000", "val_tokens = 10"), "`Hyperparameters.val_tokens` was changed"),
        (("return 3.0", "return 2.0"), "`evaluate` was changed"),
        (("@staticmethod\n", ""), "`evaluate` was changed"),  # decorators belong to the definition
        (("class TrainingClock:", "class Clock:"), "`TrainingClock` was removed"),
        (("def train():", "def evaluate(model):\n    return 0.0\n\n\ndef train():"), "`evaluate` was defined again"),
    ],
)
def test_protected_changes_are_violations(edit, message):
    edited = SCRIPT.replace(*edit)
    assert edited != SCRIPT
    assert any(message in v for v in protected_violations(SCRIPT, edited, PROTECTED))


def test_syntax_error_is_one_line():
    assert syntax_error(SCRIPT) is None
    assert syntax_error(SCRIPT + "\ndef broken(:\n").startswith("SyntaxError:")


def test_clock_rule():
    allowance = startup_allowance(reference_wall_s=12.0, reference_time_s=4.0)  # the starting script: 8 s untimed
    assert allowance == 12.0  # with the 1.5x margin for start-up jitter
    assert startup_allowance(None, None) == 5.0 and startup_allowance(3.0, 2.9) == 5.0
    assert clock_violation(time_s=4.5, wall_s=16.0, allowance_s=allowance) is None  # start-up 40% slower: fine
    assert clock_violation(time_s=30.0, wall_s=50.0, allowance_s=allowance) is None
    assert "less than 50%" in clock_violation(time_s=1.0, wall_s=50.0, allowance_s=allowance)  # 40 s of untimed work
    assert clock_violation(time_s=None, wall_s=50.0, allowance_s=allowance) is None


def test_judge_checks_the_timer_of_complete_runs_only():
    from agent.judge import judge
    from agent.state import Execution

    smoke = Execution("partial", None, 0.5, None, 1, 60.0, "logs/n001-0.txt", False)
    assert judge(smoke, target=3.28, partial=True, allowance_s=5.0)[0] == "partial"
    finished = Execution("ok", None, 0.5, 3.1, 100, 60.0, "logs/n001-0.txt", False)
    assert judge(finished, target=3.28, partial=False, allowance_s=5.0)[:2] == ("invalid", "clock")
    honest = Execution("ok", None, 50.0, 3.1, 100, 60.0, "logs/n001-0.txt", False)
    assert judge(honest, target=3.28, partial=False, allowance_s=5.0)[0] == "valid"
    assert judge(Execution("ok", None, 50.0, 3.3, 100, 60.0, "l", False), 3.28, False, 5.0)[0] == "missed_target"
