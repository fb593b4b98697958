"""The harness's per-step observation of time, against the ``train_time`` a script reports.

Where a track's scripts time themselves (the real speedrun's records as written), the executor
timestamps every step line as it arrives: ``observed_s``, seconds on the harness's own clock
since it started the process, next to the parsed :class:`~replay.score.log_parser.StepLine`.
Both clocks are wall clocks, so on an honest run they advance together: the script reads its
clock, prints, and the harness stamps the line a moment later. The only honest difference is
that moment — how long the line waits in the pipe and for the harness's reader, which a busy
machine can stretch — and it does not accumulate: it shifts single stamps, so over any stretch
of lines the two clocks differ by at most twice the largest lag.

What :func:`timing_violations` compares, over *training intervals* — from one step line to the
next training line (a training line s+1 after the validation line s counts: the script
restarts its clock right after printing that line), never an interval that ends in a
validation line (the speedrun's clock is stopped while validation runs, the harness's is not):

* **paused or scaled clock**: over some run of consecutive training intervals the observed
  time exceeds the reported time by more than the slack (``2 * lag_s`` plus ``tolerance`` of
  the observed time). A clock stopped around part of each step, or running at 0.8x, falls
  behind the harness's steadily, and the stretch grows with the run.
* **burst**: over some run of intervals the reported time exceeds the observed by more than
  the slack — lines printed at once with large reported increments: fake lines written after
  the work, or before it.
* **time going backwards**: a reported ``train_time`` smaller than the one before it (by more
  than 1 ms of rounding), except one reset near the start (records 4-21 restart their clock at
  step 10, after the compilation steps: allowed once at a step up to ``reset_max_step``).
* **steps going backwards**: a training line whose step is not after the previous line's.
* **nothing to observe**: a run with validation lines but no training interval (no training
  lines), whose clock the harness therefore cannot check.

Thresholds (keyword arguments): ``lag_s`` = 0.25 s, ``tolerance`` = 0.02. On this project's
2-core machine the largest honest gap over any stretch of a mini run (timestamped the way the
executor does, ``bench/step_timing.py``) was 0.006 s idle, 0.028 s with two CPU-bound
processes competing, 0.042 s while other sessions trained on the same cores — the slack of
0.5 s is more than 10 times that. A clock running at ``1 - f`` of the true rate (or paused for
a fraction ``f`` of each step) is flagged once the training lasts longer than
``2 * lag_s / (f - tolerance)`` seconds: at 0.9x after 6.3 s, at 0.95x after 17 s; a clock a
couple of percent slow is not told from noise. A burst is flagged once it claims more than
0.5 s (+2%) that did not pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from replay.score.log_parser import StepLine

LAG_S = 0.25
TOLERANCE = 0.02
RESET_MAX_STEP = 11
ROUNDING_MS = 1.0
BURST = "burst of step lines"

Observation = tuple[float, StepLine]
StepStamp = tuple[float, int, int, float, "float | None"]  # observed s, step, total, train_time ms, val_loss


def stamp(observed_s: float, line: StepLine) -> StepStamp:
    """What the executor keeps of a step line as it arrives (``Exit.step_clock``)."""
    return (round(observed_s, 4), line.step, line.total, line.train_time_ms, line.val_loss)


def observations(step_clock: Sequence[Sequence]) -> list[Observation]:
    """The observations of a run's saved ``step_clock`` (lists once read back from JSON)."""
    return [(seen, StepLine(step, total, ms, val_loss)) for seen, step, total, ms, val_loss in step_clock]


def under_reported(problems: Sequence[str]) -> list[str]:
    """The findings where the script claims less time than passed, or hides its clock: the ones a
    candidate could profit from. A burst claims more time than passed, which never pays (and is
    how synthetic test scripts print); it is flagged, not refused."""
    return [problem for problem in problems if not problem.startswith(BURST)]


def training_intervals(
    observations: Sequence[Observation], reset_max_step: int = RESET_MAX_STEP
) -> list[tuple[float, float, int]]:
    """(observed seconds, reported seconds, step) of every training interval, in order: from a
    step line to the next training line, skipping the one interval where an allowed reset
    restarts the reported clock."""
    intervals = []
    for (seen_a, a), (seen_b, b) in zip(observations, observations[1:], strict=False):
        if b.is_validation:
            continue
        reported = (b.train_time_ms - a.train_time_ms) / 1000
        if reported < -ROUNDING_MS / 1000 and b.step <= reset_max_step:
            continue  # the clock restarted (checked by the backwards rule)
        intervals.append((seen_b - seen_a, reported, b.step))
    return intervals


def _worst_window(values: list[float]) -> tuple[float, int, int]:
    """The largest sum over consecutive values, and where it starts and ends (Kadane)."""
    best, best_start, best_end = float("-inf"), 0, -1
    running, start = 0.0, 0
    for index, value in enumerate(values):
        if running <= 0:
            running, start = value, index
        else:
            running += value
        if running > best:
            best, best_start, best_end = running, start, index
    return best, best_start, best_end


def timing_violations(
    observations: Sequence[Observation],
    *,
    lag_s: float = LAG_S,
    tolerance: float = TOLERANCE,
    reset_max_step: int = RESET_MAX_STEP,
) -> list[str]:
    """Why the reported ``train_time`` of a run is contradicted by the harness's observation of
    its step lines (empty: it is not), one line per finding. ``observations``: (seconds since the
    harness started the process, the parsed step line), in the order the lines arrived."""
    problems = _order_problems(observations, reset_max_step)
    intervals = training_intervals(observations, reset_max_step)
    if not intervals:
        if any(line.is_validation for _, line in observations) and len(observations) > 1:
            problems.append("no training step lines between the validation lines: the harness cannot observe the clock")
        return problems
    slack = 2 * lag_s
    behind = [observed - reported for observed, reported, _ in intervals]
    worst, first, last = _worst_window(behind)
    observed_window = sum(i[0] for i in intervals[first : last + 1])
    if worst > slack + tolerance * observed_window:
        reported_window = observed_window - worst
        problems.append(
            f"paused or slow clock: steps {intervals[first][2]}-{intervals[last][2]} report {reported_window:.2f} s of "
            f"training where the harness observed {observed_window:.2f} s (allowed gap {slack:.2f} s + "
            f"{tolerance:.0%})"
        )
    ahead = [reported - observed for observed, reported, _ in intervals]
    worst, first, last = _worst_window(ahead)
    reported_window = sum(i[1] for i in intervals[first : last + 1])
    if worst > slack + tolerance * reported_window:
        observed_window = reported_window - worst
        problems.append(
            f"{BURST}: steps {intervals[first][2]}-{intervals[last][2]} report {reported_window:.2f} s of "
            f"training that arrived within {observed_window:.2f} s (allowed gap {slack:.2f} s + {tolerance:.0%})"
        )
    return problems


def _order_problems(observations: Sequence[Observation], reset_max_step: int) -> list[str]:
    problems = []
    reset_used = False
    for (_, a), (_, b) in zip(observations, observations[1:], strict=False):
        if b.train_time_ms < a.train_time_ms - ROUNDING_MS:
            if not reset_used and not b.is_validation and b.step <= reset_max_step:
                reset_used = True
            else:
                problems.append(
                    f"train_time goes backwards at step {b.step}: {b.train_time_ms:.0f} ms after "
                    f"{a.train_time_ms:.0f} ms at step {a.step}"
                )
        if b.step < a.step or (b.step == a.step and not b.is_validation):
            problems.append(f"step numbers go backwards: step {b.step} after step {a.step}")
    return problems
