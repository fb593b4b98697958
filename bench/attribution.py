"""Attribution benchmark: accuracy of `reproduced` and speed of `attribute` and `diff`.

Accuracy: for every task of every track in records.git (mini, and nanogpt once imported), plus
the test suite's fixture track, it builds candidates whose truth is known — gold (record i+1),
null (record i), each innovation alone, all but one innovation (tasks with 3+) — each as is,
reformatted, with locals and one class renamed, with definitions reordered, and with unrelated
edits added; then counts, per innovation, true/false positives and negatives of `reproduced`.

A partial candidate whose innovations' edits do not stand alone as Python (a ground-truth
replacement split between two innovations can leave an ``if`` without a body) is not built, and
the report lists it.

Speed: median wall and CPU time of the whole attribution (parse three scripts, two diffs,
scoring; imports excluded; a fresh cache each run) on a pair of ~600-line scripts (the longest
task's scripts, both padded with the same renamed copies of record i's definitions), with the
candidate = record i+1 reformatted (nothing textually shared: the slow case) and as is; and the
structural diff of that pair (parse both, diff, render) against `git diff --no-index`.

Usage: python bench/attribution.py [--track T ...] [--records PATH] [--repeat N] [--json OUT]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
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

from analysis.attribute import attribute  # noqa: E402
from analysis.diff import diff_versions, load  # noqa: E402
from analysis.report import diff_text  # noqa: E402
from analysis.syntax import Cache  # noqa: E402
from analysis.task import load_task  # noqa: E402

from candidates import add_unrelated, partial, reformat, rename, reorder  # noqa: E402

TARGET_LINES = 600


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", action="append", help="tracks of records.git (default: all)")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--records", type=Path, default=ROOT / "records.git", help="records repository (default: the project's)"
    )
    args = parser.parse_args()
    from replay.records.store import RecordsStore

    from fixtures.analysis.fixture_records import build_store

    stores = []
    if (args.records / "HEAD").exists():
        store = RecordsStore(args.records)
        tracks = [t for t in (args.track or store.tracks()) if store.tasks(t)]
        if tracks:
            stores.append((store, tracks))
    tmp = tempfile.TemporaryDirectory()
    stores.append((build_store(Path(tmp.name)), ["fx"]))
    counts = defaultdict(lambda: defaultdict(int))
    failures, gold_null, unbuilt = [], [], []
    for store, tracks in stores:
        for track in tracks:
            accuracy(store, track, counts, failures, gold_null, unbuilt)
    total = defaultdict(int)
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
        f"\nattribute on {speed['pair']} padded to {speed['lines']} lines, candidate = record i+1 reformatted "
        f"(no statement shared textually): median {speed['attribute_ms_median']} ms wall, "
        f"{speed['attribute_cpu_ms_median']} ms CPU; candidate = record i+1 as is: "
        f"{speed['attribute_gold_ms_median']} ms wall, "
        f"{speed['attribute_gold_cpu_ms_median']} ms CPU"
    )
    print(
        f"diff of the pair: median {speed['diff_ms_median']} ms wall ({speed['diff_cpu_ms_median']} ms CPU) vs git "
        f"diff --no-index {speed['git_diff_ms_median']} ms "
        f"(ratio {speed['diff_vs_git_ratio']}); load average {speed['load_average']} on {speed['cpus']} CPUs"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "precision": precision,
                    "recall": recall,
                    "verdicts": dict(total),
                    "wrong": failures,
                    "not_built": unbuilt,
                    "gold_null": gold_null,
                    "speed": speed,
                    "per_innovation": {f"{t}/{k}/{n}": dict(c) for (t, k, n), c in counts.items()},
                },
                indent=2,
            )
        )


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "n/a"


if __name__ == "__main__":
    main()
