"""Attribution benchmark: how often `reproduced` is right, how sure it is, and how fast.

Independent suite (issue 18): candidates written by hand from record i and the level-2 hint
(``tests/independent/*.cands``: full re-implementations, partial ones, decoys that edit the same
places for another idea, hyperparameter-only edits), in sets kept apart: ``dev`` (what
attribution was tuned on), ``heldout1`` (written before the re-design, measured once, tuned on
since), ``heldout2`` (written after that tuning), ``heldout3`` (written in another style before
the behavioural probes, measured once before them), ``heldout4`` (three more hands and styles,
written after attribution's then last change, measured once, tuned on since), ``heldout5``
(three more, committed before its first measurement, tuned on since), ``heldout6``, ``heldout7``
and ``heldout8`` (real track only, three more hands each, likewise), ``heldout9`` (real track, one writer
per task, so no writer saw a later record), ``heldout10`` and ``heldout11`` (likewise, seven more writers
and styles each), ``heldout12`` (likewise, eight more), ``heldout13`` (likewise, eight more, written
after the fixes ``heldout12`` led to), ``heldout14`` (likewise, eight more, written after those
``heldout13`` led to), ``heldout15`` (likewise, eight more, written after those ``heldout14`` led to),
``heldout16`` (likewise, eight more, written after those ``heldout15`` led to), ``heldout17``
(likewise, eight more, written after those ``heldout16`` led to), ``heldout18`` (likewise, eight
more, written after those ``heldout17`` led to), ``heldout19`` (likewise, eight more, written after
those ``heldout18`` led to), ``heldout20`` (likewise, eight more, written after those ``heldout19`` led
to), ``heldout21`` (likewise, eight more, written after those ``heldout20`` led to), ``heldout22``
(likewise, eight more, written after those ``heldout21`` led to), ``heldout23`` (likewise, eight more,
written after those ``heldout22`` led to), ``heldout24`` (likewise, eight more, written after those ``heldout23``
led to), ``heldout25`` (likewise, eight more, written after those ``heldout24`` led to), and ``seen`` (real
track: candidates whose writers had seen record i+1, neither held out nor tuned on when first measured). Per set and
track: precision and recall of
`reproduced` with Wilson 95% intervals (scipy), accuracy per class, the decoys' credit rate
(verdicts on innovations a decoy must not reproduce that say "reproduced"), the margin of every
score from the threshold, which layer decided (how many verdicts the behavioural probes decided,
and how many static verdicts they turned right or wrong), and for comparison the static layers
alone (no probes) and the statement layer alone (attribution before issue 18). The real track is
included when a modded-nanogpt clone is given (``--nanogpt-checkout`` or
``SPEEDRUN_NANOGPT_CHECKOUT``; a bare mirror works): it is imported into a temporary records
repository.

Perturbation suite: for every task of every track in records.git (mini, and the real track when
imported), plus the test suite's fixture track, candidates whose truth is known — gold (record
i+1), null (record i), each innovation alone, all but one innovation (tasks with 3+) — each as
is, reformatted, with locals and one class renamed, with definitions reordered, and with
unrelated edits added. A partial candidate whose innovations' edits do not stand alone as Python
(a ground-truth replacement split between two innovations can leave an ``if`` without a body) is
not built, and the report lists it.

Speed: the whole ``speedrun attribute`` command as a process (interpreter start, imports, records
store, three parses, two diffs, the idea comparison, JSON out) on the longest task of each
track, and on the longest task where a behavioural probe decides (the first call starts the
sandboxed probe worker; later calls find the candidate's measurements cached), candidate = record
i+1 reformatted (``--time-tasks 15,18``: those real-track tasks' probed calls too); and, in
process, attribution and the structural diff on a ~600-line pair against `git diff --no-index`.

Usage: python bench/attribution.py [--suite dev|heldout1|...|heldout25|seen|all] [--nanogpt-checkout PATH]
       [--skip-perturbations] [--time-tasks N,...] [--track T ...] [--records PATH] [--repeat N] [--json OUT]
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import independent  # noqa: E402

from analysis.attribute import THRESHOLD, attribute  # noqa: E402
from analysis.diff import diff_versions, load  # noqa: E402
from analysis.probes import SERVER_VARIABLE, behaviour, innovation_probes, shared_prober  # noqa: E402
from analysis.report import diff_text  # noqa: E402
from analysis.syntax import Cache  # noqa: E402
from analysis.task import load_task  # noqa: E402

from candidates import add_unrelated, partial, reformat, rename, reorder  # noqa: E402

TARGET_LINES = 600


def written_order(kind: str) -> float:
    """dev first, then the held-out sets in the order they were written, then seen."""
    fixed = {"dev": 0, "seen": math.inf}
    return fixed[kind] if kind in fixed else int(kind.removeprefix("heldout"))


SETS = tuple(sorted({kind for kind, _track in independent.sets()}, key=written_order))


def first_class(text: str) -> str | None:
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef):
            return node.name
    return None


def new_class(base: str, target: str) -> str | None:
    """A class the target adds (renamed by the `renamed` perturbation), else any class."""
    old = {n.name for n in ast.parse(base).body if isinstance(n, ast.ClassDef)}
    for node in ast.parse(target).body:
        if isinstance(node, ast.ClassDef) and node.name not in old:
            return node.name
    return first_class(target)


def perturbations(base: str, target: str):
    cls = new_class(base, target)
    return {
        "as is": lambda t: t,
        "reformatted": reformat,
        "renamed": lambda t: rename(t, cls if cls and f"class {cls}" in t else None),
        "reordered": reorder,
        "unrelated edits": add_unrelated,
    }


def cases(base, target, innovations):
    names = [i.name for i in innovations]
    yield "gold", target.text, set(names)
    yield "null", base.text, set()
    subsets = [{n} for n in names] if len(names) > 1 else []
    if len(names) >= 3:
        subsets += [set(c) for c in combinations(names, len(names) - 1)]
    for keep in subsets:
        yield "partial " + "+".join(sorted(keep)), partial(base, target, innovations, keep), keep


def parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


def accuracy(store, track: str, counts, failures, gold_null, unbuilt):
    for task in store.tasks(track):
        base, target, innovations = load_task(store, track, task.number)
        if not innovations:
            continue
        for label, text, expected in cases(base, target, innovations):
            if not parses(text):  # the chosen innovations' edits alone leave, e.g., an if without a body
                unbuilt.append(f"{track} task {task.number} {label}")
                continue
            if label.startswith("partial") and text.strip() == base.text.strip():
                unbuilt.append(f"{track} task {task.number} {label} (its edits only move a statement: no change)")
                continue
            for pname, perturb in perturbations(base.text, target.text).items():
                cand = load(perturb(text), f"{label} {pname}")
                res = attribute(base, target, cand, innovations)
                got = {g.name for g in res.innovations if g.reproduced}
                for inv in innovations:
                    key = (track, task.number, inv.name)
                    truth, said = inv.name in expected, inv.name in got
                    counts[key]["tp" if truth and said else "fp" if said else "fn" if truth else "tn"] += 1
                if got != expected:
                    failures.append(
                        f"{track} task {task.number} {label} ({pname}): expected {sorted(expected)}, got {sorted(got)}"
                    )
                if label in ("gold", "null") and pname == "as is":
                    gold_null.append((track, task.number, label, len(got), len(innovations)))


def padding(text: str, lines: int) -> str:
    """Renamed copies of ``text``'s top-level definitions, about ``lines`` lines of them (the same
    block is appended to both sides of the timed pair: unchanged code, as in a real record)."""
    defs = [n for n in ast.parse(text).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    out, k = "", 0
    while out.count("\n") < lines and defs and lines > 0:
        node = defs[k % len(defs)]
        copy = ast.parse(ast.unparse(node)).body[0]
        copy.name = f"{node.name}_pad{k}"
        out += "\n\n\n" + ast.unparse(copy)
        k += 1
    return out + "\n"


def timing(store, tracks, repeat: int):
    best = None
    for track in tracks:
        for task in store.tasks(track):
            base, target, innovations = load_task(store, track, task.number)
            size = len(base.lines) + len(target.lines)
            if best is None or size > best[0]:
                best = (size, base.text, target.text, innovations, f"{track} task {task.number}")
    _, base_text, target_text, innovations, label = best
    block = padding(base_text, TARGET_LINES - max(base_text.count("\n"), target_text.count("\n")))
    base_text, target_text = base_text.rstrip("\n") + block, target_text.rstrip("\n") + block
    cand_text = reformat(target_text)

    def run_attribute():  # a fresh cache each time: nothing carries over between runs
        cache = Cache()
        b, t, c = (
            load(base_text, "base", cache),
            load(target_text, "target", cache),
            load(cand_text, "candidate", cache),
        )
        return attribute(b, t, c, innovations)

    def run_diff():
        cache = Cache()
        return diff_text(diff_versions(load(base_text, "a", cache), load(target_text, "b", cache)))

    def run_attribute_gold():
        cache = Cache()
        return attribute(
            load(base_text, "base", cache),
            load(target_text, "target", cache),
            load(target_text, "candidate", cache),
            innovations,
        )

    run_attribute(), run_diff()  # warm caches (parser, query)
    att, att_cpu = zip(*[_both(run_attribute) for _ in range(repeat)], strict=True)
    gold, gold_cpu = zip(*[_both(run_attribute_gold) for _ in range(repeat)], strict=True)
    ours, ours_cpu = zip(*[_both(run_diff) for _ in range(repeat)], strict=True)
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp, "a.py"), Path(tmp, "b.py")
        a.write_text(base_text)
        b.write_text(target_text)
        git = [
            _clock(
                lambda: subprocess.run(["git", "diff", "--no-index", "--no-color", str(a), str(b)], capture_output=True)
            )
            for _ in range(repeat)
        ]
    return {
        "pair": label,
        "lines": [base_text.count("\n"), target_text.count("\n")],
        "attribute_ms_median": round(statistics.median(att) * 1000, 1),
        "attribute_cpu_ms_median": round(statistics.median(att_cpu) * 1000, 1),
        "attribute_gold_ms_median": round(statistics.median(gold) * 1000, 1),
        "attribute_gold_cpu_ms_median": round(statistics.median(gold_cpu) * 1000, 1),
        "diff_cpu_ms_median": round(statistics.median(ours_cpu) * 1000, 1),
        "load_average": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "diff_ms_median": round(statistics.median(ours) * 1000, 1),
        "git_diff_ms_median": round(statistics.median(git) * 1000, 1),
        "diff_vs_git_ratio": round(statistics.median(ours) / statistics.median(git), 2),
    }


def _both(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def _clock(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def wilson(k: int, n: int) -> tuple[float, float] | None:
    """Wilson 95% interval of a proportion k/n (scipy), None for n = 0."""
    if not n:
        return None
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return round(ci.low, 3), round(ci.high, 3)


def suite_figures(verdicts: list, statements: bool = False, layers: str = "all") -> dict:
    """Precision, recall, accuracy (with Wilson intervals), decoy credit and margins of one set."""
    t = independent.tally(verdicts, statements, layers)
    credited, decoys = independent.decoy_credit(verdicts, statements, layers)
    scores = [v.statement_score if statements else v.score for v in verdicts]
    margins = sorted(abs(x - THRESHOLD) for x in scores)
    out = {
        "verdicts": t.n,
        "tp": t.tp,
        "fp": t.fp,
        "fn": t.fn,
        "tn": t.tn,
        "precision": t.precision,
        "precision_ci": wilson(t.tp, t.tp + t.fp),
        "recall": t.recall,
        "recall_ci": wilson(t.tp, t.tp + t.fn),
        "accuracy": t.accuracy,
        "decoy_credit": [credited, decoys],
        "decoy_credit_rate": credited / decoys if decoys else None,
        "decoy_credit_ci": wilson(credited, decoys),
        "margin_median": round(statistics.median(margins), 3) if margins else None,
        "within_0.15": round(sum(m < 0.15 for m in margins) / len(margins), 3) if margins else None,
        "within_0.05": round(sum(m < 0.05 for m in margins) / len(margins), 3) if margins else None,
    }
    if not statements:
        out["per_class"] = {}
        for cls in independent.CLASSES:
            sub = [v for v in verdicts if v.candidate.cls == cls]
            ct = independent.tally(sub)
            out["per_class"][cls] = {
                "candidates": len({v.candidate.id for v in sub}),
                "verdicts": ct.n,
                "precision": ct.precision,
                "recall": ct.recall,
                "accuracy": ct.accuracy,
            }
        out["decided_by_statements"] = sum(v.decided_by == "statements" for v in verdicts)
        probed = [v for v in verdicts if v.decided_by == "probe"]
        out["decided_by_probes"] = len(probed)
        out["probes_righted"] = sum(v.reproduced == v.expected != v.static_reproduced for v in probed)
        out["probes_wronged"] = sum(v.static_reproduced == v.expected != v.reproduced for v in probed)
    return out


def run_independent(stores: dict, kinds: list[str]) -> dict:
    results = {}
    for kind in kinds:
        for track, store in stores.items():
            candidates = independent.load(kind, track)
            if not candidates:
                continue
            t0 = time.perf_counter()
            verdicts = independent.evaluate(store, track, candidates)
            elapsed = time.perf_counter() - t0
            results[f"{kind}/{track}"] = {
                "candidates": len(candidates),
                "tasks": sorted({c.task for c in candidates}),
                "ideas": suite_figures(verdicts),
                "statements": suite_figures(verdicts, statements=True),
                "static": suite_figures(verdicts, layers="static"),
                "wrong": [
                    f"{v.candidate.id} ({v.candidate.cls}) {v.innovation}: expected "
                    f"{'yes' if v.expected else 'no'}, score {v.score:.2f}"
                    for v in verdicts
                    if v.reproduced != v.expected
                ],
                "in_process_s_per_candidate": round(elapsed / len(candidates), 3),
            }
    return results


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _ci(ci) -> str:
    return "" if not ci else f" [{ci[0]:.2f}, {ci[1]:.2f}]"


def _brief(f: dict) -> str:
    c, d = f["decoy_credit"]
    return f"{_pct(f['precision'])} / {_pct(f['recall'])} / {c}/{d}"


def print_independent(results: dict) -> None:
    print("## Independent suite\n")
    print(
        "| set | candidates | tasks | precision [95% CI] | recall [95% CI] | accuracy | decoy credit | within 0.15 "
        "| static layers alone (no probes): P / R / decoy credit | statement layer alone: P / R / decoy credit |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key, r in results.items():
        f, sa, st = r["ideas"], r["static"], r["statements"]
        c, d = f["decoy_credit"]
        print(
            f"| {key} | {r['candidates']} | {len(r['tasks'])} | {_pct(f['precision'])}{_ci(f['precision_ci'])} | "
            f"{_pct(f['recall'])}{_ci(f['recall_ci'])} | {_pct(f['accuracy'])} | {c}/{d} | {_pct(f['within_0.15'])} "
            f"| {_brief(sa)} | {_brief(st)} |"
        )
    print("\n| set | class | candidates | verdicts | precision | recall | accuracy |")
    print("|---|---|---|---|---|---|---|")
    for key, r in results.items():
        for cls, x in r["ideas"]["per_class"].items():
            print(
                f"| {key} | {cls} | {x['candidates']} | {x['verdicts']} | {_pct(x['precision'])} | "
                f"{_pct(x['recall'])} | {_pct(x['accuracy'])} |"
            )
    for key, r in results.items():
        f = r["ideas"]
        print(
            f"\n{key}: {f['verdicts']} verdicts, median margin {f['margin_median']}, "
            f"{f['within_0.05']} within 0.05 of the threshold; decided by statements (no idea signature): "
            f"{f['decided_by_statements']}; by probes: {f['decided_by_probes']} (static verdict righted "
            f"{f['probes_righted']}, wronged {f['probes_wronged']})"
        )
        for line in r["wrong"]:
            print("  wrong:", line)


def _probe_decides(store, track: str, number: int) -> bool:
    base, target, innovations = load_task(store, track, number)
    if not any(innovation_probes(i) for i in innovations):
        return False
    verdicts = behaviour(shared_prober(), base.text, target.text, target.text, innovations)
    return any(v.decided is not None for v in verdicts.values())


def process_timing(
    records: Path, track: str, store, repeat: int, probed: bool = False, server: bool = True, task: int | None = None
) -> dict | None:
    """Wall time of ``speedrun attribute`` as a whole process on the track's longest task.

    ``probed``: the longest task where a behavioural probe decides, so the candidate is measured in
    the sandbox. Its first call finds nothing cached (every script of the task is measured); each
    later call brings a new candidate (a comment added), as an agent's next branch would, so only the
    candidate is measured. ``server``: the calls share the warm probe server (the default; the first
    call starts it), else each starts a worker of its own (``SPEEDRUN_PROBE_SERVER=0``). ``task``: that
    task instead of the longest. None where no probe decides (none of the task's probes tells its records
    apart, or this machine has no sandbox)."""
    tasks = [t for t in store.tasks(track) if task is None or t.number == task]
    if probed:  # tasks where a probe decides gold's verdict: the candidate must be measured
        tasks = [t for t in tasks if _probe_decides(store, track, t.number)]
        if not tasks:
            return None
    best = max(tasks, key=lambda t: len(load_task(store, track, t.number)[1].text))
    _, target, _ = load_task(store, track, best.number)
    exe = Path(sys.executable).parent / "speedrun"
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SPEEDRUN_RECORDS=str(records), SPEEDRUN_HOME=str(Path(tmp, "home")))
        env[SERVER_VARIABLE] = "1" if server else "0"
        walls, cpus = [], []
        for run in range(repeat + probed):
            cand = Path(tmp, f"candidate-{run}.py")
            cand.write_text(reformat(target.text) + (f"\n# candidate {run}\n" if probed else ""))
            cmd = [str(exe), "attribute", str(best.number), "--track", track, "--file", str(cand), "--format", "json"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if out.returncode != 0:
                raise SystemExit(f"speedrun attribute failed: {out.stderr.strip()}")
        if server:  # the server of this temporary home (its first call measured the records) ends with it
            subprocess.run([str(exe), "probes", "stop"], env=env, check=True, capture_output=True)
    cold = None
    if probed:
        cold = walls.pop(0)
        cpus.pop(0)
    return {
        "task": best.number,
        "lines": target.text.count("\n"),
        "process_s_median": round(statistics.median(walls), 3),
        "process_s_max": round(max(walls), 3),
        "process_cpu_s_median": round(statistics.median(cpus), 3),
        "process_s_cold": None if cold is None else round(cold, 3),
        "probe_server": probed and server,
        "runs": repeat,
        "load_average": round(os.getloadavg()[0], 2),
    }


def print_process(process: dict) -> None:
    print("\n## Speed\n")
    for key, p in process.items():
        if p is None:
            print(
                f"speedrun attribute as a process, {key}: no probe decides here (the task's probes do not tell its "
                "records apart, or this machine has no sandbox)"
            )
            continue
        probed = p["process_s_cold"] is not None
        what = (
            "a new candidate each run: record i+1 reformatted, a comment added; "
            + ("the warm probe server" if p["probe_server"] else "a probe worker per process")
            if probed
            else "candidate = record i+1 reformatted"
        )
        name = key.split("#")[0]  # a chosen task's key carries its number, which the line names anyway
        line = (
            f"speedrun attribute as a process, {name} task {p['task']} ({p['lines']} lines, {what}): median "
            f"{p['process_s_median']} s wall ({p['process_cpu_s_median']} s CPU), max {p['process_s_max']} s over "
            f"{p['runs']} runs"
        )
        if probed:
            line += f"; first call, nothing cached: {p['process_s_cold']} s"
        print(f"{line}; load average {p['load_average']} on {os.cpu_count()} CPUs")


def main():
    # the in-process prober keeps its own worker warm for the whole run and leaves no server behind;
    # the timing of whole processes below chooses for itself
    os.environ[SERVER_VARIABLE] = "0"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--track", action="append", help="tracks of records.git for the perturbation suite (default: all)"
    )
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--records", type=Path, default=ROOT / "records.git", help="records repository (default: the project's)"
    )
    parser.add_argument("--suite", choices=[*SETS, "all"], default="all", help="independent sets to run")
    parser.add_argument(
        "--nanogpt-checkout",
        default=os.environ.get("SPEEDRUN_NANOGPT_CHECKOUT"),
        help="a modded-nanogpt clone: adds the real track (default: $SPEEDRUN_NANOGPT_CHECKOUT)",
    )
    parser.add_argument("--skip-perturbations", action="store_true", help="only the independent suite and speed")
    parser.add_argument(
        "--time-tasks",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[],
        help="real-track tasks (comma-separated) whose probed call is timed too, beside the longest",
    )
    args = parser.parse_args()
    from replay.records.store import RecordsStore

    from fixtures.analysis.fixture_records import build_store

    tmp = tempfile.TemporaryDirectory()
    suite_stores, timed = {}, []
    if (args.records / "HEAD").exists():
        store = RecordsStore(args.records)
        if "mini" in store.tracks():
            suite_stores["mini"] = store
            timed.append((args.records, "mini", store))
    notes = []
    if args.nanogpt_checkout:
        real_root = Path(tmp.name, "real")
        real_root.mkdir()
        real, note = independent.real_track_store(args.nanogpt_checkout, real_root)
        suite_stores["nanogpt"] = real
        timed.append((real_root / "records.git", "nanogpt", real))
        if note:
            notes.append(note)
    kinds = list(SETS) if args.suite == "all" else [args.suite]
    results = run_independent(suite_stores, kinds)
    for note in notes:
        print("note:", note)
    print_independent(results)

    process = {}
    for path, track, store in timed:
        runs = max(3, args.repeat // 3)
        process[track] = process_timing(path, track, store, runs)
        process[f"{track}, probed"] = process_timing(path, track, store, runs, probed=True)
        process[f"{track}, probed, worker per process"] = process_timing(path, track, store, runs, True, server=False)
        for number in args.time_tasks if track == "nanogpt" else ():
            process[f"{track}, probed, chosen#{number}"] = process_timing(path, track, store, runs, True, task=number)
    print_process(process)

    perturbation = None
    if not args.skip_perturbations:
        perturbation = run_perturbations(args, suite_stores, tmp, build_store)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"independent": results, "process": process, "perturbation": perturbation, "notes": notes}, indent=2
            )
        )


def run_perturbations(args, suite_stores: dict, tmp, build_store) -> dict:
    stores = []
    for track, store in suite_stores.items():
        if not args.track or track in args.track:
            stores.append((store, [track]))
    stores.append((build_store(Path(tmp.name, "fx")), ["fx"]))
    counts = defaultdict(lambda: defaultdict(int))
    failures, gold_null, unbuilt = [], [], []
    for store, tracks in stores:
        for track in tracks:
            accuracy(store, track, counts, failures, gold_null, unbuilt)
    total = defaultdict(int)
    print("\n## Perturbation suite\n")
    print("| track | task | innovation | precision | recall | tp | fp | fn | tn |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (track, task, name), c in sorted(counts.items()):
        for k, v in c.items():
            total[k] += v
        print(
            f"| {track} | {task} | {name} | {_ratio(c['tp'], c['tp'] + c['fp'])} | "
            f"{_ratio(c['tp'], c['tp'] + c['fn'])} "
            f"| {c['tp']} | {c['fp']} | {c['fn']} | {c['tn']} |"
        )
    precision, recall = _ratio(total["tp"], total["tp"] + total["fp"]), _ratio(total["tp"], total["tp"] + total["fn"])
    print(f"\noverall: precision {precision}, recall {recall} over {sum(total.values())} verdicts")
    for track, task, label, got, n in gold_null:
        print(f"{label}: {track} task {task}: {got}/{n} innovations reproduced")
    for line in failures:
        print("wrong:", line)
    for line in unbuilt:
        print("not built (its innovations' ground-truth edits alone are not valid Python):", line)
    speed = timing(*stores[0], args.repeat)
    print(
        f"\nattribute in process on {speed['pair']} padded to {speed['lines']} lines, candidate = record i+1 "
        f"reformatted (no statement shared textually): median {speed['attribute_ms_median']} ms wall, "
        f"{speed['attribute_cpu_ms_median']} ms CPU; candidate = record i+1 as is: "
        f"{speed['attribute_gold_ms_median']} ms wall, "
        f"{speed['attribute_gold_cpu_ms_median']} ms CPU"
    )
    print(
        f"diff of the pair: median {speed['diff_ms_median']} ms wall ({speed['diff_cpu_ms_median']} ms CPU) vs git "
        f"diff --no-index {speed['git_diff_ms_median']} ms "
        f"(ratio {speed['diff_vs_git_ratio']}); load average {speed['load_average']} on {speed['cpus']} CPUs"
    )
    return {
        "precision": precision,
        "recall": recall,
        "verdicts": dict(total),
        "wrong": failures,
        "not_built": unbuilt,
        "gold_null": gold_null,
        "speed": speed,
        "per_innovation": {f"{t}/{k}/{n}": dict(c) for (t, k, n), c in counts.items()},
    }


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "n/a"


if __name__ == "__main__":
    main()
