"""Statuses and roles: every fixed vocabulary that run.json files and reports are written in.

They are ``StrEnum``s, so a member is its string everywhere it is written (JSON, f-strings,
reports) and compares equal to it: run.json files written before these enums existed read
back unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a replay or an agent run stands (``run.json``'s ``status``)."""

    STARTED = "started"  # planned and written, nothing run yet
    RUNNING = "running"
    INTERRUPTED = "interrupted"  # stopped by Ctrl-C or SIGTERM: resumable
    FINISHED = "finished"
    STOPPED = "stopped"  # an agent run that a budget ended
    FAILED = "failed"  # an agent run whose starting script failed

    @property
    def resumable(self) -> bool:
        return self in (RunStatus.STARTED, RunStatus.RUNNING, RunStatus.INTERRUPTED)


class Role(StrEnum):
    """What a side of a replay is."""

    BASELINE = "baseline"  # record i
    GROUND_TRUTH = "ground_truth"  # record i+1
    CANDIDATE = "candidate"  # a branch under test: untrusted code


class RunOutcome(StrEnum):
    """How one training run ended, as graded from its log."""

    OK = "ok"  # reached its final validation step
    PARTIAL = "partial"  # stopped on purpose after --max-steps
    FAILED = "failed"


class Measure(StrEnum):
    """Who measures a record's time and validation loss (``measure`` in record.toml)."""

    HARNESS = "harness"  # the harness's clock and its own evaluation of the model the run saves
    SCRIPT = "script"  # the script's step lines, held to whole-script checks (tracks that cannot do better)


class Failure(StrEnum):
    """Why a run failed: the machine's fault, or the code under test's."""

    OOM = "oom"
    NCCL = "nccl"
    MISSING_DATA = "missing_data"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    CODE_ERROR = "code_error"
    NO_METRICS = "no_metrics"
    DIVERGED = "diverged"
    LOG_CAPPED = "log_capped"  # it printed more than the executor's log cap, and was stopped
    REFUSED = "refused"  # the harness's evaluation refused the model (it looks ahead, keeps state, ...)

    @property
    def machine(self) -> bool:
        """A failure of the machine, never of the code: such runs are retried, never cached."""
        return self in MACHINE_FAILURES


MACHINE_FAILURES = frozenset({Failure.OOM, Failure.NCCL, Failure.MISSING_DATA, Failure.TIMEOUT, Failure.INTERRUPTED})


class NodeStage(StrEnum):
    """How far an agent node got; a resumed run redoes only the stages after this one."""

    PLANNED = "planned"
    REPLIED = "replied"  # the model's reply is saved
    COMMITTED = "committed"  # its commit exists
    DONE = "done"  # executed and judged


class NodeAction(StrEnum):
    """What an agent node was asked to do."""

    ROOT = "root"  # the starting script itself
    DRAFT = "draft"
    IMPROVE = "improve"
    DEBUG = "debug"


class NodeOutcome(StrEnum):
    """The verdict on an agent node."""

    VALID = "valid"  # reached the target
    PARTIAL = "partial"  # a --max-steps smoke run that ran its steps cleanly
    MISSED_TARGET = "missed_target"
    BUGGY = "buggy"  # the edit, the syntax, a rule or the run failed
    INVALID = "invalid"  # finished, but its timer is implausible


class EditFormat(StrEnum):
    """How a model writes its edit (``--edit-format`` picks the one the prompt asks for)."""

    SEARCH_REPLACE = "search-replace"
    UNIFIED_DIFF = "diff"
    WHOLE_FILE = "whole"
