"""Grading one run from its saved log and exit: metrics, status, and who is to blame.

Kept apart from execution so every report can be recomputed from the logs a replay kept.
Failures of the machine (out of memory, NCCL, missing data, harness time limit, a run the
user interrupted) are told apart from failures of the code under test (a traceback, no
final metrics, a diverged loss); neither is ever dropped from a denominator silently.
"""

from __future__ import annotations

import math
import re
import signal
from dataclasses import dataclass, replace

from replay.score.log_parser import parse_log
from replay.score.step_timing import observations, timing_violations, under_reported
from replay.statuses import Failure, Measure, RunOutcome

_PATTERNS = [
    (Failure.OOM, re.compile(r"OutOfMemoryError|CUDA out of memory|MemoryError|Cannot allocate memory")),
    (
        Failure.NCCL,
        re.compile(r"NCCL (?:error|WARN)|ncclInternalError|ncclSystemError|ProcessGroupNCCL.*(?:timeout|Timeout)"),
    ),
    (
        Failure.MISSING_DATA,
        re.compile(r"(?:FileNotFoundError|No such file or directory).*(?:\.bin|fineweb|data/)|did not find any files"),
    ),
]


@dataclass(frozen=True)
class Evaluation:
    """The harness's own measurement of the model a run left behind (replay/run/evaluator.py)."""

    val_loss: float | None  # mean validation loss the harness computed (None: it could not)
    problem: str | None  # why the model cannot be scored (None: it can); a reason, one line
    wall_s: float  # seconds the whole evaluation took
    load_s: float = 0.0  # seconds from the server's start to its first answer: loading counts as training time


@dataclass(frozen=True)
class Exit:
    """How a run's process ended, as the executor saw it: grading's input beside the log."""

    returncode: int | None
    wall_s: float
    stopped_at_max_steps: bool = False
    timed_out: bool = False
    command: tuple[str, ...] = ()
    cpu_s: float | None = None  # user + system CPU of the run and the children it waited for
    other_cpus: float | None = None  # CPUs' worth of other processes' work beside it (replay/run/machine_load.py)
    log_capped: bool = False  # the executor stopped the run: its log outgrew LaunchSpec.max_log_bytes
    evaluation: Evaluation | None = None  # harness-measured records only
    refused: str | None = None  # why the harness would not run it at all (a rule of the task), one line
    step_clock: tuple = ()  # step_timing.stamp of every step line as it arrived: the harness's own clock

    @classmethod
    def from_json(cls, data: dict) -> Exit:
        """The inverse of ``dataclasses.asdict`` (run.json, cache entries)."""
        evaluation = data.get("evaluation")
        return cls(
            **dict(
                data,
                command=tuple(data.get("command", ())),
                step_clock=tuple(tuple(stamp) for stamp in data.get("step_clock", ())),
                evaluation=Evaluation(**evaluation) if evaluation is not None else None,
            )
        )


@dataclass(frozen=True)
class RunResult:
    """The graded outcome of one run."""

    status: RunOutcome
    failure: Failure | None
    time_s: float | None  # train_time at the last step the run reached, seconds
    val_loss: float | None  # final validation loss (None if the run never finished)
    steps: int | None  # last step reached
    total_steps: int | None  # N of the step lines
    wall_s: float
    peak_memory_mib: int | None = None
    cpu_s: float | None = None  # CPU seconds the harness measured (None for runs recorded before it did)
    other_cpus: float | None = None  # CPUs' worth of other work on the machine while it ran (None: unknown)
    measured_by: Measure = Measure.SCRIPT  # who measured time_s and val_loss
    reported_time_s: float | None = None  # the script's own train_time (harness-measured runs: informational)
    reported_val_loss: float | None = None  # the script's own final val_loss, if it printed one
    reason: str | None = None  # why the harness refused the run's result (the evaluation's problem)
    clock_problems: tuple[str, ...] = ()  # where the harness's step stamps contradict the script's train_time

    @property
    def machine_failure(self) -> bool:
        return self.failure is not None and self.failure.machine


def classify_failure(log_text: str, exit: Exit) -> Failure | None:
    """Why a run that did not complete failed (``None`` if it did not fail)."""
    if exit.log_capped:  # before the signal it was stopped with: the code's fault, not the machine's
        return Failure.LOG_CAPPED
    if exit.timed_out:
        return Failure.TIMEOUT
    if exit.returncode == -signal.SIGKILL:
        return Failure.OOM  # the kernel's OOM killer; the harness itself kills only on timeout or max-steps
    tail = log_text[-20000:]
    for name, pattern in _PATTERNS:
        if pattern.search(tail):
            return name
    if exit.returncode in (-signal.SIGINT, -signal.SIGTERM, 130):
        return Failure.INTERRUPTED
    return Failure.CODE_ERROR if exit.returncode else None


def grade(log_text: str, exit: Exit, measure: Measure = Measure.SCRIPT, untrusted: bool = False) -> RunResult:
    """Grade a run from its complete log text and its exit.

    ``measure`` is how the run's record is measured: from the script's final step line
    (``Measure.SCRIPT``), or by the harness (``Measure.HARNESS``: time is the training process's
    wall-clock, the validation loss is the harness's evaluation in ``exit.evaluation``). A
    script's ``train_time`` is checked against the harness's stamps of its step lines
    (``clock_problems``); an ``untrusted`` run (a candidate) that claims less time than passed is
    refused, a trusted record is only flagged."""
    if exit.refused:
        return RunResult(RunOutcome.FAILED, Failure.REFUSED, None, None, None, None, exit.wall_s, reason=exit.refused)
    if measure == Measure.HARNESS:
        return _grade_measured(log_text, exit)
    result = _grade_scripted(log_text, exit)
    problems = tuple(timing_violations(observations(exit.step_clock)))
    if untrusted and under_reported(problems) and result.status != RunOutcome.FAILED:
        why = "the harness's clock contradicts the reported train_time: " + "; ".join(under_reported(problems))
        return replace(result, status=RunOutcome.FAILED, failure=Failure.REFUSED, reason=why, clock_problems=problems)
    return replace(result, clock_problems=problems)


def _grade_scripted(log_text: str, exit: Exit) -> RunResult:
    """A run graded from its own step lines: the final line's time and loss."""
    parsed = parse_log(log_text)
    final, last = parsed.final, parsed.last
    common = dict(
        wall_s=exit.wall_s,
        peak_memory_mib=parsed.peak_memory_mib,
        total_steps=parsed.total_steps,
        cpu_s=exit.cpu_s,
        other_cpus=exit.other_cpus,
    )
    if exit.stopped_at_max_steps:
        return RunResult(RunOutcome.PARTIAL, None, _seconds(last), None, last.step if last else None, **common)
    failure = classify_failure(log_text, exit)
    if final is None:
        return RunResult(
            RunOutcome.FAILED,
            failure or Failure.NO_METRICS,
            _seconds(last),
            None,
            last.step if last else None,
            **common,
        )
    if failure:
        return RunResult(RunOutcome.FAILED, failure, _seconds(final), final.val_loss, final.step, **common)
    if not math.isfinite(final.val_loss):
        return RunResult(RunOutcome.FAILED, Failure.DIVERGED, _seconds(final), final.val_loss, final.step, **common)
    return RunResult(RunOutcome.OK, None, _seconds(final), final.val_loss, final.step, **common)


def _grade_measured(log_text: str, exit: Exit) -> RunResult:
    """A harness-measured run: its step lines are informational; a partial run has no evaluation.

    Its time is the training process's wall-clock plus the model server's time to its first
    answer: whatever ``load_model`` does (more training, say) is paid for, and anything done later
    changes the answers to the first batch, which the evaluation's statelessness check refuses."""
    parsed = parse_log(log_text)
    last, final = parsed.last, parsed.final
    common = dict(
        wall_s=exit.wall_s,
        peak_memory_mib=parsed.peak_memory_mib,
        total_steps=parsed.total_steps,
        cpu_s=exit.cpu_s,
        other_cpus=exit.other_cpus,
        measured_by=Measure.HARNESS,
        reported_time_s=_seconds(last),
        reported_val_loss=final.val_loss if final else None,
    )
    steps = last.step if last else None
    if exit.stopped_at_max_steps:  # a smoke run: the script's clock at step K is all there is
        return RunResult(RunOutcome.PARTIAL, None, _seconds(last), None, steps, **common)
    failure = classify_failure(log_text, exit)
    evaluation = exit.evaluation
    time_s = exit.wall_s + evaluation.load_s if evaluation else None
    if failure or evaluation is None:
        return RunResult(RunOutcome.FAILED, failure or Failure.NO_METRICS, None, None, steps, **common)
    if evaluation.problem:
        refused = dict(reason=evaluation.problem, **common)
        return RunResult(RunOutcome.FAILED, Failure.REFUSED, time_s, evaluation.val_loss, steps, **refused)
    if not math.isfinite(evaluation.val_loss):
        return RunResult(RunOutcome.FAILED, Failure.DIVERGED, time_s, evaluation.val_loss, steps, **common)
    return RunResult(RunOutcome.OK, None, time_s, evaluation.val_loss, steps, **common)


def _seconds(line) -> float | None:
    return line.train_time_ms / 1000 if line is not None else None
