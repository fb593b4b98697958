"""Judging a node from its graded run, and scoring a finished agent run.

A node's outcome comes only from the deterministic log parser's grading and the harness's
rules: ``buggy`` (the run failed: a traceback, no final metrics, a diverged loss, a time
limit), ``invalid`` (it finished, but its timer is implausible against wall-clock), ``missed_target``
(it finished above the target loss), ``valid`` (it reached the target). In a ``--max-steps``
run no run reaches the end, so a node that ran its K steps cleanly is ``partial`` and the
ranking uses the time at step K — a smoke test of speed, not a result.

The run's summary scores the best node with single runs on this machine: FSR against the
human record, (t_start - t_best) / (t_start - t_target), and, for a cumulative run (``--from``),
the same speedup counted from the agent's own starting point, (t_root - t_best) /
(t_start - t_target). For statistics you can trust, replay the best branch with ``--runs N``.
"""

from __future__ import annotations

from agent import rules
from agent.scaffolds import best_node
from agent.state import AgentState, Execution
from replay.statuses import Failure, NodeOutcome, RunOutcome


def judge(
    execution: Execution, target: float, partial: bool, allowance_s: float
) -> tuple[NodeOutcome, str | None, str | None]:
    """(outcome, problem, detail) of one executed node."""
    if execution.failure == Failure.REFUSED:  # ran, but the harness could not trust its model
        return NodeOutcome.INVALID, Failure.REFUSED, execution.reason
    if execution.status == RunOutcome.FAILED:
        where = f"at step {execution.steps}" if execution.steps is not None else "before its first step line"
        return NodeOutcome.BUGGY, execution.failure, f"the run failed ({execution.failure}) {where}"
    clock = (
        rules.clock_violation(execution.time_s, execution.wall_s, allowance_s)
        if execution.status == RunOutcome.OK
        else None
    )
    if clock:
        return NodeOutcome.INVALID, "clock", clock
    if execution.status == RunOutcome.PARTIAL:
        return (
            (NodeOutcome.PARTIAL, None, None)
            if partial
            else (NodeOutcome.BUGGY, Failure.NO_METRICS, "the run stopped early")
        )
    if execution.val_loss is not None and execution.val_loss <= target:
        return NodeOutcome.VALID, None, None
    return (
        NodeOutcome.MISSED_TARGET,
        "missed_target",
        f"final val loss {execution.val_loss} is above the target {target}",
    )


def _fsr(start: float | None, target: float | None, candidate: float | None, origin: float | None) -> float | None:
    """The speedup from ``origin`` to ``candidate`` in units of the human speedup ``start`` -> ``target``."""
    if None in (start, target, candidate, origin) or start == target:
        return None
    return round((origin - candidate) / (start - target), 4)


def summarize(state: AgentState, attribution: dict | None) -> dict:
    """The summary stored in run.json and printed by ``speedrun agent show``."""
    best = best_node(state)
    root = state.root.execution
    start = state.references.get("record_start", root)
    target = state.references.get("record_target")
    partial = state.request.max_steps is not None
    t_best = best.execution.time_s if best else None
    times = {
        "record_start": start.time_s if start else None,
        "record_target": target.time_s if target else None,
        "agent_start": root.time_s if root else None,
        "best": t_best,
    }
    summary = {
        "best": best.id if best else None,
        "branch": best.branch if best else None,
        "times_s": times,
        "fsr_vs_record": None,
        "fsr_vs_own_start": None,
        "attribution": attribution,
        "nodes": {
            o: sum(1 for n in state.nodes[1:] if n.outcome == o)
            for o in (
                NodeOutcome.VALID,
                NodeOutcome.PARTIAL,
                NodeOutcome.MISSED_TARGET,
                NodeOutcome.BUGGY,
                NodeOutcome.INVALID,
            )
        },
        "note": "single runs on this machine; replay the best branch with --runs N for confidence intervals",
    }
    if partial:
        summary["note"] = f"--max-steps {state.request.max_steps}: times are at step K; no validity, no FSR"
    elif best:
        summary["fsr_vs_record"] = _fsr(times["record_start"], times["record_target"], t_best, times["record_start"])
        if state.request.from_run:
            summary["fsr_vs_own_start"] = _fsr(
                times["record_start"], times["record_target"], t_best, times["agent_start"]
            )
    return summary
