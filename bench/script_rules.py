"""Benchmark: how often an honest record breaks the whole-script rules of the record before it.

For every consecutive pair of a track (record i+1 as the candidate, record i as the original;
a track's first record has no pair) this runs
:func:`replay.records.script_rules.whole_record_violations` over the records' Python files and
counts the pairs flagged, in total and by reason (the category before the first colon of each
violation line: timer, validation, step line, seed, untimed code, training before the clock,
order, indirect access; a line can count for two; "functions run while the clock is stopped"
is untimed code inside a function — the data loader validation calls, ``print0``). ``--show``
prints every violation of every flagged pair.

    .venv/bin/python bench/script_rules.py                        # the mini track of records.git
    .venv/bin/python bench/script_rules.py --records /tmp/records.git --track nanogpt --show
    .venv/bin/python bench/script_rules.py --ref refs/pre-harness/mini   # any branch or ref

Records are read straight from the branch's commits (first parents), so a track whose
record.toml files an older schema would refuse can still be measured.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from collections import Counter
from pathlib import Path

import pygit2

from replay import paths
from replay.records.script_rules import whole_record_violations


def track_records(repo: pygit2.Repository, ref: str) -> list[tuple[int, dict[str, str]]]:
    """(index, {path: text of each .py file}) of every record on ``ref``, oldest first."""
    commit = repo.revparse_single(ref).peel(pygit2.Commit)
    chain = [commit]
    while chain[-1].parents:
        chain.append(chain[-1].parents[0])
    records = []
    for commit in reversed(chain):
        meta = tomllib.loads(commit.tree[paths.RECORD_TOML].data.decode())
        files = {}
        stack = [("", commit.tree)]
        while stack:
            prefix, tree = stack.pop()
            for entry in tree:
                path = prefix + entry.name
                if entry.type_str == "tree":
                    stack.append((path + "/", repo[entry.id]))
                elif path.endswith(".py"):
                    files[path] = repo[entry.id].data.decode(errors="replace")
        records.append((int(meta["index"]), files))
    return records


def reasons(line: str) -> list[str]:
    """The categories of a violation line: its words before the first colon (file prefix
    dropped), split at "/" (``validation/untimed code`` counts for both)."""
    head = line.split(": ", 2)
    words = head[1] if head[0].endswith(".py") and len(head) > 2 else head[0]
    if words.startswith("SyntaxError"):
        return ["syntax error"]
    found = words.split("/")
    if found == ["untimed code"] and "(in `" in line:
        return ["functions run while the clock is stopped"]  # a loader validation calls, print0
    return found


def measure(records: list[tuple[int, dict[str, str]]], entry: str, show: bool) -> dict:
    pairs = flagged = 0
    by_reason: Counter = Counter()
    lines_by_reason: Counter = Counter()
    slowest = 0.0
    for (before_index, before), (after_index, after) in zip(records, records[1:], strict=False):
        pairs += 1
        started = time.perf_counter()
        found = whole_record_violations(before, after, entry)
        slowest = max(slowest, time.perf_counter() - started)
        if not found:
            continue
        flagged += 1
        found_reasons = Counter(r for line in found for r in reasons(line))
        by_reason.update(found_reasons.keys())
        lines_by_reason.update(found_reasons)
        summary = ", ".join(f"{name} {n}" for name, n in found_reasons.most_common())
        print(f"r{before_index} -> r{after_index}: {summary}")
        if show:
            print(f"\n== r{before_index} -> r{after_index}: {len(found)} violations")
            for line in found:
                print("  " + line)
    return {
        "pairs": pairs,
        "flagged": flagged,
        "by_reason": by_reason,
        "lines_by_reason": lines_by_reason,
        "slowest_s": slowest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=Path, default=None, help="records repository (default: the project's)")
    parser.add_argument("--track", default="mini")
    parser.add_argument("--ref", default=None, help="a branch or ref to read instead of the track's branch")
    parser.add_argument("--entry", default="train_gpt.py")
    parser.add_argument("--show", action="store_true", help="print every violation of every flagged pair")
    args = parser.parse_args()
    repo = pygit2.Repository(str(args.records or paths.records_repo()))
    ref = args.ref or f"refs/heads/{args.track}"
    records = track_records(repo, ref)
    result = measure(records, args.entry, args.show)
    print(f"\n{ref}: {result['flagged']} of {result['pairs']} consecutive pairs flagged")
    print("pairs flagged by reason (lines in parentheses):")
    for name, count in result["by_reason"].most_common():
        print(f"  {name:28s} {count:3d}  ({result['lines_by_reason'][name]})")
    print(f"slowest pair: {result['slowest_s']:.2f} s")


if __name__ == "__main__":
    main()
