"""Replay reports: grade every run from its saved log, aggregate per side, render JSON and Markdown.

Nothing here runs code: ``speedrun report RUN`` recomputes a report from the logs a replay
kept. Failed runs stay in every count; a side's times and losses come from its completed
runs only, and the report says how many that was. Every time claim is about means (see
:mod:`replay.score.stats`): a side's mean time, its difference from the baseline's mean with
the paired and the Welch 95% interval, the ratio of means, FSR of means with Fieller's interval.
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

from replay import paths
from replay.atomic import write_json_atomic, write_text_atomic
from replay.errors import SpeedrunError
from replay.score.grading import Exit, grade
from replay.score.stats import Difference, difference, fsr, fsr_interval, mean_sd, speedup_verdict, validity
from replay.statuses import Measure, Role, RunOutcome

REPORT_SCHEMA = 2  # 2: sides compare with the baseline paired and unpaired (vs_baseline); FSR by Fieller
CPU_RATIO_MARGIN = 1.5
# Other processes' work beside a run (replay/run/machine_load.py) above this many CPUs flags its time:
# a fifth of one CPU busy throughout (0.18-0.27 measured) slowed the mini records by a median 17% here,
# while runs on the quiet machine measured 0.01-0.08 (bench/results/loads/).
OTHER_CPUS_LIMIT = 0.1
ESTIMATOR = (
    "Means over completed runs. Differences of means with 95% t intervals, paired over the "
    "interleaved rounds when they are complete (else Welch's), Wilcoxon signed-rank p beside them; "
    "FSR of means with Fieller's 95% interval."
)


MEASURED_BY = {
    Measure.HARNESS: "Measured by the harness: time is the training process's wall-clock, val loss the harness's "
    "evaluation of the model the run saved (causality probed); the script's step lines are informational.",
    Measure.SCRIPT: "Measured by the script: time and val loss from its final step line (train_time), "
    "cross-checked against the harness's wall-clock and CPU time.",
}
CLAIM_SLACK_S = 1.0  # a script's clock may run ahead of the harness's by rounding and start-up order only


def _regrade(run: dict, folder: Path, untrusted: bool):
    try:
        log = (folder / run["log"]).read_text(errors="replace")
    except OSError:
        raise SpeedrunError(f"{folder / run['log']} is missing: this run's report cannot be recomputed") from None
    return grade(log, Exit.from_json(run["exit"]), Measure(run.get("measured_by", Measure.SCRIPT)), untrusted)


def summarize(state, folder: Path) -> dict:
    """The graded summary of a replay (what report.json holds)."""
    measure = Measure(state.provenance.get("measured_by", Measure.SCRIPT))
    graded = {side.name: [] for side in state.sides}
    untrusted = {side.name: side.role == Role.CANDIDATE for side in state.sides}
    for run in state.runs:
        graded[run["side"]].append((run["replicate"], _regrade(run, folder, untrusted[run["side"]])))
    partial = state.request.max_steps is not None
    counted = RunOutcome.PARTIAL if partial else RunOutcome.OK
    times = {
        name: {k: r.time_s for k, r in results if r.status == counted and r.time_s is not None}
        for name, results in graded.items()
    }
    by_role = {side.role: side.name for side in state.sides}
    base, truth = times[by_role[Role.BASELINE]], times[by_role[Role.GROUND_TRUTH]]
    rounds = state.request.runs
    sides = []
    for side in state.sides:
        results = [r for _, r in graded[side.name]]
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
            "time_s": _describe(list(ts.values())),
            "wall_s": _describe([r.wall_s for r in results]),
            "cpu_s": _describe([r.cpu_s for r in results if r.status == counted and r.cpu_s is not None]),
            "val_loss": _describe(losses),
            "valid": None,
            "p_value": None,
            "vs_baseline": None,
            "fsr": None,
            "fsr_ci": None,
        }
        entry["identical_replicates"] = len(losses) > 1 and len(set(losses)) == 1
        if losses and not partial:
            verdict = validity(losses, state.target_val_loss)
            # Runs with different seeds that end identically ignore their seed: the t-test of
            # validity would see no spread and pass anything below the target. Not valid.
            valid = verdict.valid and not entry["identical_replicates"]
            entry.update(valid=valid, p_value=None if entry["identical_replicates"] else verdict.p_value)
        if side.role != Role.BASELINE and ts and base:
            entry["vs_baseline"] = _comparison(difference(base, ts, rounds))
        if not partial and ts and base and truth:
            entry["fsr"] = fsr(_mean(base), _mean(truth), _mean(ts))
            if side.role == Role.CANDIDATE:
                paired = all(len(x) == rounds for x in (base, truth, ts))
                entry["fsr_ci"] = fsr_interval(base, truth, ts, paired=paired)
        sides.append(entry)
    truth_entry = next(s for s in sides if s["role"] == Role.GROUND_TRUTH)
    return {
        "schema": REPORT_SCHEMA,
        "run_id": state.run_id,
        "track": state.request.track,
        "task": state.request.task,
        "target_val_loss": state.target_val_loss,
        "runs_per_side": rounds,
        "partial": partial,
        "max_steps": state.request.max_steps,
        "estimator": ESTIMATOR,
        "speedup": truth_entry["vs_baseline"] if not partial else None,
        "sides": sides,
        "timer_flags": [] if partial else timer_flags(state.sides, graded),
        "busy_machine": [
            {"side": name, "replicate": k, "other_cpus": r.other_cpus}
            for name, rs in graded.items()
            for k, r in rs
            if r.other_cpus is not None and r.other_cpus > OTHER_CPUS_LIMIT
        ],
        "reused": reused_runs(state.runs),
        "sandbox": state.provenance.get("sandbox"),  # the confinement the runs had (replay/run/sandbox.py)
        "measured_by": MEASURED_BY[measure],
        "refused": [
            {"side": name, "replicate": k, "reason": r.reason} for name, rs in graded.items() for k, r in rs if r.reason
        ],
        "claims_contradicted": [
            {"side": name, "replicate": k, "reported_time_s": r.reported_time_s, "wall_s": r.wall_s}
            for name, rs in graded.items()
            for k, r in rs
            if r.measured_by == Measure.HARNESS and (r.reported_time_s or 0) > r.wall_s + CLAIM_SLACK_S
        ],
        "clock_contradicted": [
            {"side": name, "replicate": k, "problems": list(r.clock_problems)}
            for name, rs in graded.items()
            for k, r in rs
            if r.clock_problems and not r.reason
        ],
    }


def reused_runs(runs: list[dict]) -> list[dict]:
    """The runs taken from the cache, with when, where and at what load they were timed."""
    return [
        {"side": r["side"], "replicate": r["replicate"], **(r.get("cached_from") or {})} for r in runs if r["cached"]
    ]


def timer_flags(sides, graded: dict[str, list]) -> list[dict]:
    """Complete runs whose CPU time per second of ``train_time`` is far from what the records'
    own runs show: a timer that does not cover the work, or a run disturbed by the machine.

    The reference is the median ratio over the baseline's and the ground truth's runs (the
    records, trusted code); a run is flagged beyond CPU_RATIO_MARGIN times it either way."""
    ratios = {
        (name, k): r.cpu_s / r.time_s
        for name, results in graded.items()
        for k, r in results
        if r.status == RunOutcome.OK and r.cpu_s is not None and r.time_s
    }
    trusted = {side.name for side in sides if side.role != Role.CANDIDATE}
    reference = [ratio for (name, _), ratio in ratios.items() if name in trusted]
    if not reference:
        return []
    middle = statistics.median(reference)
    times = {(name, k): r for name, results in graded.items() for k, r in results}
    return [
        {
            "side": name,
            "replicate": k,
            "time_s": times[name, k].time_s,
            "cpu_s": times[name, k].cpu_s,
            "ratio": round(ratio, 3),
            "reference": round(middle, 3),
        }
        for (name, k), ratio in ratios.items()
        if ratio > CPU_RATIO_MARGIN * middle or ratio < middle / CPU_RATIO_MARGIN
    ]


def _comparison(d: Difference) -> dict:
    """A side against the baseline, as report.json holds it."""
    ci = d.interval
    return {
        "difference_s": d.estimate,
        "ratio": d.ratio,
        "ci": ci,
        "method": d.method,
        "paired_ci": d.paired,
        "unpaired_ci": d.unpaired,
        "wilcoxon_p": d.wilcoxon_p,
        "rounds": d.rounds,
        "complete_rounds": d.complete,
        # With one run a side there is no interval: the flag is then unknown, not "fine".
        "within_noise": None if ci is None else speedup_verdict(ci) != "faster",
    }


def _mean(xs: dict[int, float]) -> float:
    return sum(xs.values()) / len(xs)


def _describe(xs: list[float]) -> dict | None:
    if not xs:
        return None
    mean, sd = mean_sd(xs)
    return {"mean": mean, "sd": sd, "median": statistics.median(xs), "values": xs}


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "—" if x is None else format(x, spec)


def _span(ci: tuple[float, float] | None) -> str:
    return "—" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


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
        vs = side["vs_baseline"]
        faster = "—" if vs is None else f"{vs['difference_s']:.2f} {_span(vs['ci'])}"
        if side["role"] == Role.GROUND_TRUTH and side["fsr"] is not None:
            fsr_text = "1 (reference)"
        else:
            fsr_text = _fmt(side["fsr"])
            if side["fsr_ci"]:
                fsr_text += f" {_span(side['fsr_ci'])}"
        failures = ", ".join(f"{k}×{v}" for k, v in side["failures"].items()) or ""
        wall = _fmt(side["wall_s"]["mean"] if side["wall_s"] else None, ".1f")
        cpu = _fmt(side["cpu_s"]["mean"] if side.get("cpu_s") else None, ".1f")
        rows.append(
            [
                side["name"],
                side["ref"],
                f"{side['completed']}/{side['runs']}",
                time,
                wall,
                cpu,
                loss,
                valid,
                faster,
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
    "cpu s",
    "val loss (mean ± sd)",
    "valid",
    "faster than baseline s [95% CI]",
    "FSR [95% CI]",
    "failures",
]


def comparison_lines(summary: dict) -> list[str]:
    """One line per side against the baseline: both intervals, the check beside them, the verdict."""
    out = []
    for side in summary["sides"]:
        vs = side["vs_baseline"]
        if vs is None:
            continue
        ratio = f", {vs['ratio']:.2f}x" if vs["ratio"] else ""
        wilcoxon = f", Wilcoxon p={vs['wilcoxon_p']:.3g}" if vs["wilcoxon_p"] is not None else ""
        verdict = "" if vs["ci"] is None else f"; {speedup_verdict(vs['ci'])} by the {vs['method']} interval"
        paired = f"paired {_span(vs['paired_ci'])} s ({vs['rounds']} rounds)"
        out.append(
            f"{side['name']} vs baseline: {vs['difference_s']:.2f} s faster by mean{ratio}; 95% CI {paired}, "
            f"Welch {_span(vs['unpaired_ci'])} s{wilcoxon}{verdict}."
        )
    return out


def notes(summary: dict) -> list[str]:
    """Warnings a reader must see next to the table."""
    reused = summary.get("reused", [])
    out = (
        [
            f"REUSED {len(reused)} run(s) from the cache ("
            + "; ".join(
                f"{r['side']} run {r['replicate'] + 1} timed {r.get('date', '?')} on {r.get('host', '?')} at load "
                f"{r.get('load', '?')}"
                for r in reused
            )
            + "): their times were not measured under this replay's conditions."
        ]
        if reused
        else []
    )
    if str(summary.get("sandbox") or "").startswith("NOT sandboxed"):
        out.append(f"UNSANDBOXED: {summary['sandbox']}; the results are not protected from the code under test.")
    out += [
        f"CHECK {s['name']}: its {s['completed']} runs have different seeds but end at the same val loss "
        f"{s['val_loss']['mean']:.4f}: the script ignores SPEEDRUN_SEED, so validity cannot be tested; not valid."
        for s in summary["sides"]
        if s.get("identical_replicates")
    ]
    out += [
        f"REFUSED {r['side']} run {r['replicate'] + 1}: {r['reason']}; the run counts as failed."
        for r in summary.get("refused", [])
    ]
    out += [
        f"CHECK {c['side']} run {c['replicate'] + 1}: the script reports {c['reported_time_s']:.2f} s of train_time "
        f"but its process lived {c['wall_s']:.2f} s by the harness's clock: its own timer is not to be believed."
        for c in summary.get("claims_contradicted", [])
    ]
    out += [
        f"CHECK {c['side']} run {c['replicate'] + 1}: the harness's stamps of its step lines contradict its "
        f"train_time: {'; '.join(c['problems'])}."
        for c in summary.get("clock_contradicted", [])
    ]
    out += [
        f"CHECK {f['side']} run {f['replicate'] + 1}: {f['cpu_s']:.2f} s of CPU for {f['time_s']:.2f} s of train_time "
        f"({f['ratio']:.2f} per second; the records' runs show {f['reference']:.2f}): a timer that does not cover "
        "the work, another use of threads, or a disturbed machine."
        for f in summary.get("timer_flags", [])
    ]
    out += [
        f"CHECK {b['side']} run {b['replicate'] + 1}: other processes kept {b['other_cpus']:.2f} CPUs busy beside it; "
        "its time does not compare with runs on a quiet machine."
        for b in summary.get("busy_machine", [])
    ]
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
                f"WARNING: the ground truth{what} (95% {speedup['method']} CI of t_i - t_i+1: [{lo:.2f}, {hi:.2f}] s); "
                "FSR is meaningless for this task."
            )
        elif speedup["within_noise"] is None:
            out.append("One run per side: no confidence intervals; use --runs 3 or more for statistics.")
    return out


def render_markdown(summary: dict) -> str:
    lines = [
        f"# Replay {summary['run_id']}",
        "",
        f"Track `{summary['track']}`, task {summary['task']}; target val loss {summary['target_val_loss']}; "
        f"{summary['runs_per_side']} run(s) per side. {summary.get('measured_by', '')} {summary['estimator']}",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(summary)]
    lines += [""] + [f"- {line}" for line in comparison_lines(summary) + notes(summary)]
    return "\n".join(lines).rstrip() + "\n"


def write_reports(summary: dict, folder: Path) -> None:
    write_json_atomic(folder / paths.REPORT_JSON, summary)
    write_text_atomic(folder / paths.REPORT_MD, render_markdown(summary))
