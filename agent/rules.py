"""The rules an agent's script must keep, checked by the harness rather than trusted to a prompt.

* **Protected definitions.** ``record.toml`` lists ``protected.names`` (the timer, the
  validation loop, the step-line printing, the validation data and token count). Every
  definition of each name — a class or function with its decorators, or a module- or
  class-level assignment such as ``Hyperparameters.val_tokens`` — must stay byte-identical,
  and none may be added (a second ``def evaluate`` further down would silently win). A node
  that breaks this is not run; the reason goes back to the model. The check is
  :func:`replay.records.script_rules.protected_violations`, the one replays use; where a
  track's scripts report their own score the whole script is held as well
  (:func:`~replay.records.script_rules.whole_script_violations`).
* **Plausible timer.** The script reports ``train_time`` itself, so it could stop its clock
  while training continues. The harness measures wall-clock; a complete run whose
  ``train_time`` is less than half of its wall-clock minus a start-up allowance is flagged.
  The allowance is 1.5 times what the untouched starting script itself spends outside its
  timer (its wall-clock minus its ``train_time``: imports, data loading, validation),
  measured in the same agent run, and at least :data:`MIN_STARTUP_S`; the margin absorbs the
  start-up jitter of a busy machine. Smoke runs (``--max-steps``) are not checked: a few steps
  of training are too short against start-up for the rule to mean anything.
"""

from __future__ import annotations

# The rules on a script's text apply on every path (a replayed branch, an agent's node), so they
# live in the records layer; the agent checks its nodes with the same functions.
from replay.records.script_rules import (  # noqa: F401  (re-exported for the agent's callers)
    protected_definitions,
    protected_violations,
    syntax_error,
    whole_script_violations,
)

MIN_STARTUP_S = 5.0
STARTUP_MARGIN = 1.5
CLOCK_FRACTION = 0.5


def startup_allowance(reference_wall_s: float | None, reference_time_s: float | None) -> float:
    """Seconds a run may spend outside its timer, from the untouched starting script's run."""
    if reference_wall_s is None or reference_time_s is None:
        return MIN_STARTUP_S
    return max(MIN_STARTUP_S, STARTUP_MARGIN * (reference_wall_s - reference_time_s))


def clock_violation(time_s: float | None, wall_s: float, allowance_s: float) -> str | None:
    """Why a run's reported ``train_time`` is implausible against wall-clock (None if it is not)."""
    if time_s is None:
        return None
    untimed_budget = CLOCK_FRACTION * (wall_s - allowance_s)
    if time_s < untimed_budget:
        return (
            f"train_time {time_s:.2f} s is less than {CLOCK_FRACTION:.0%} of the wall-clock {wall_s:.2f} s minus a "
            f"start-up allowance of {allowance_s:.2f} s (measured on the starting script): training must run inside "
            "the timer"
        )
    return None
