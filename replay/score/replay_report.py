"""Replay reports: grade every run from its saved log, aggregate per side, render JSON and Markdown.

Nothing here runs code: ``speedrun report RUN`` recomputes a report from the logs a replay
kept. Failed runs stay in every count; a side's times and losses come from its completed
runs only, and the report says how many that was.
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

from replay import paths
from replay.atomic import write_json_atomic, write_text_atomic
from replay.score.grading import Exit, grade
from replay.score.stats import difference_interval, fsr, fsr_interval, mean_sd, speedup_verdict, validity
from replay.statuses import Role, RunOutcome

REPORT_SCHEMA = 1


def _regrade(run: dict, folder: Path):
    exit = dict(run["exit"])
    exit["command"] = tuple(exit["command"])
    return grade((folder / run["log"]).read_text(errors="replace"), Exit(**exit))


def summarize(state, folder: Path) -> dict:
    """The graded summary of a replay (what report.json holds)."""
    graded = {side.name: [] for side in state.sides}
    for run in state.runs:
        graded[run["side"]].append(_regrade(run, folder))
    partial = state.request.max_steps is not None
    times = {
        name: [
            r.time_s
            for r in results
            if r.status == (RunOutcome.PARTIAL if partial else RunOutcome.OK) and r.time_s is not None
        ]
        for name, results in graded.items()
    }
    by_role = {side.role: side.name for side in state.sides}
    base, truth = times[by_role[Role.BASELINE]], times[by_role[Role.GROUND_TRUTH]]
    sides = []
    for side in state.sides:
        results = graded[side.name]
        ts = times[side.name]
        losses = [r.val_loss for r in results if r.status == RunOutcome.OK]
        entry = {
            "name": side.name,
            "role": side.role,
            "ref": side.ref,
            "commit": side.commit,
            "runs": len(results),
            "completed": len(ts),
            "failures": dict(Counter(r.failure for r in results if r.failure)),
            "time_s": _describe(ts),
            "wall_s": _describe([r.wall_s for r in results]),
            "val_loss": _describe(losses),
            "valid": None,
            "p_value": None,
            "fsr": None,
            "fsr_ci": None,
        }
        if losses and not partial:
            verdict = validity(losses, state.target_val_loss)
            entry.update(valid=verdict.valid, p_value=verdict.p_value)
        if not partial and ts and base and truth:
            entry["fsr"] = fsr(_mean(base), _mean(truth), _mean(ts))
            if side.role == Role.CANDIDATE:
                entry["fsr_ci"] = fsr_interval(base, truth, ts)
        sides.append(entry)
    return {
        "schema": REPORT_SCHEMA,
        "run_id": state.run_id,
        "track": state.request.track,
        "task": state.request.task,
        "target_val_loss": state.target_val_loss,
        "runs_per_side": state.request.runs,
        "partial": partial,
        "max_steps": state.request.max_steps,
        "speedup": _speedup(base, truth) if not partial else None,
        "sides": sides,
    }


def _mean(xs):
    return sum(xs) / len(xs)


def _describe(xs: list[float]) -> dict | None:
    if not xs:
        return None
    mean, sd = mean_sd(xs)
    return {"mean": mean, "sd": sd, "median": statistics.median(xs), "values": xs}


def _speedup(base: list[float], truth: list[float]) -> dict | None:
    """How much faster the ground truth is, and whether that is beyond run-to-run noise."""
    if not base or not truth:
        return None
    ci = difference_interval(base, truth)
    return {
        "difference_s": _mean(base) - _mean(truth),
        "ratio": _mean(base) / _mean(truth) if _mean(truth) > 0 else None,
        "ci": ci,
        # With one run a side there is no interval: the flag is then unknown, not "fine".
        "within_noise": None if ci is None else speedup_verdict(ci) != "faster",
    }


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "—" if x is None else format(x, spec)


def table_rows(summary: dict) -> list[list[str]]:
    """Rows of the human-readable table (shared by the terminal and Markdown reports)."""
    rows = []
    for side in summary["sides"]:
        t = side["time_s"]
        time = "—" if t is None else f"{t['mean']:.2f} ± {_fmt(t['sd'])}"
        losses = side["val_loss"]
        loss = (
            "—"
            if losses is None
            else f"{losses['mean']:.4f}" + ("" if losses["sd"] is None else f" ± {losses['sd']:.4f}")
        )
        if summary["partial"]:
            valid = "partial"
        else:
            valid = {True: "yes", False: "NO", None: "—"}[side["valid"]]
            if side["p_value"] is not None:
                valid += f" (p={side['p_value']:.3g})"
        if side["role"] == Role.GROUND_TRUTH and side["fsr"] is not None:
            fsr_text = "1 (reference)"
        else:
            fsr_text = _fmt(side["fsr"])
            if side["fsr_ci"]:
                fsr_text += f" [{side['fsr_ci'][0]:.2f}, {side['fsr_ci'][1]:.2f}]"
        failures = ", ".join(f"{k}×{v}" for k, v in side["failures"].items()) or ""
        wall = _fmt(side["wall_s"]["mean"] if side["wall_s"] else None, ".1f")
        rows.append(
            [
                side["name"],
                side["ref"],
                f"{side['completed']}/{side['runs']}",
                time,
                wall,
                loss,
                valid,
                fsr_text,
                failures,
            ]
        )
    return rows


HEADERS = [
    "side",
    "ref",
    "done",
    "time s (mean ± sd)",
    "wall s",
    "val loss (mean ± sd)",
    "valid",
    "FSR [95% CI]",
    "failures",
]


def notes(summary: dict) -> list[str]:
    """Warnings a reader must see next to the table."""
    out = []
    if summary["partial"]:
        out.append(
            f"Partial replay (--max-steps {summary['max_steps']}): times are train_time at the last step reached; "
            "no validity or FSR."
        )
    speedup = summary["speedup"]
    if speedup:
        if speedup["within_noise"]:
            lo, hi = speedup["ci"]
            what = (
                " is slower than the baseline beyond noise"
                if speedup_verdict((lo, hi)) == "slower"
                else "'s speedup is within noise"
            )
            out.append(
                f"WARNING: the ground truth{what} (95% CI of t_i - t_i+1: [{lo:.2f}, {hi:.2f}] s); FSR is "
                "meaningless for this task."
            )
        elif speedup["within_noise"] is None:
            out.append("One run per side: no confidence intervals; use --runs 3 or more for statistics.")
    return out


def render_markdown(summary: dict) -> str:
    lines = [
        f"# Replay {summary['run_id']}",
        "",
        f"Track `{summary['track']}`, task {summary['task']}; target val loss {summary['target_val_loss']}; "
        f"{summary['runs_per_side']} run(s) per side.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(summary)]
    speedup = summary["speedup"]
    if speedup:
        ci = speedup["ci"]
        ci_text = f" (95% CI [{ci[0]:.2f}, {ci[1]:.2f}] s)" if ci else ""
        lines += [
            "",
            f"Ground-truth speedup: {speedup['difference_s']:.2f} s{ci_text}, ratio {_fmt(speedup['ratio'])}x.",
        ]
    lines += [""] + [f"- {n}" for n in notes(summary)]
    return "\n".join(lines).rstrip() + "\n"


def write_reports(summary: dict, folder: Path) -> None:
    write_json_atomic(folder / paths.REPORT_JSON, summary)
    write_text_atomic(folder / paths.REPORT_MD, render_markdown(summary))
