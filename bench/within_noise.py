"""Write into a track's records why the chain cannot resolve their tasks (``within_noise``).

The benchmark's claim of a task is a speedup of at least 5% whose 95% interval lies above zero
(:meth:`replay.score.stats.Difference.significant_speedup`). Where a chain measurement
(bench/chain.py) finds a task without it, the task's target record says why in its
``record.toml`` (``within_noise``: a change with no gain at the track's scale, a step count already
at the track's rule, with the measurements that show it), so the reason travels with the record
to every user of the track.

The reasons are kept in ``bench/results/within-noise-<track>.toml`` (``[tasks]``: task number ->
sentence). This checks them against the measurement — a reason for every unresolved task, none
for a resolved one — and rewrites the track's records in one reference transaction
(:func:`replay.records.track_refs.rewrite_track`; the old tip stays at
``refs/pre-within-noise/<track>-<date>``). Code, logs, hints and official figures are untouched.

    .venv/bin/python bench/within_noise.py --track mini --dry-run     # check only
    .venv/bin/python bench/within_noise.py --track mini
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tomllib
from pathlib import Path

from replay.paths import RECORD_TOML
from replay.records.store import RecordsStore
from replay.records.track_refs import rewrite_track

sys.path.insert(0, str(Path(__file__).parent))
from chain import RESULTS, task_differences  # noqa: E402

FIELD = re.compile(r"^within_noise = .*\n", flags=re.M)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", default="mini")
    parser.add_argument("--chain", type=Path, help="the chain JSON (default: bench/results/chain-<track>.json)")
    parser.add_argument("--reasons", type=Path, help="default: bench/results/within-noise-<track>.toml")
    parser.add_argument("--dry-run", action="store_true", help="check the reasons against the chain; write nothing")
    args = parser.parse_args()
    chain_path = args.chain or RESULTS / f"chain-{args.track}.json"
    reasons_path = args.reasons or RESULTS / f"within-noise-{args.track}.toml"
    store = RecordsStore()
    records = store.records(args.track)
    unresolved = unresolved_tasks(records, json.loads(chain_path.read_text()))
    reasons = load_reasons(reasons_path)
    missing, stale = sorted(set(unresolved) - set(reasons)), sorted(set(reasons) - set(unresolved))
    if missing or stale:
        sys.exit(
            f"{reasons_path}: {chain_path} leaves tasks {unresolved} unresolved; "
            + (f"give a reason for {missing}" if missing else "")
            + ("; " if missing and stale else "")
            + (f"drop the reasons for {stale}, which it resolves" if stale else "")
        )
    by_target = {task + 1: reasons[task] for task in unresolved}
    for index, reason in sorted(by_target.items()):
        print(f"task {index - 1} ({args.track}/r{index:02d}): {reason}")
    if args.dry_run:
        return

    def files_of(record) -> dict[str, str]:
        text = store.read_file(record, RECORD_TOML).decode()
        return {RECORD_TOML: with_reason(text, by_target.get(record.index, ""))}

    keep = f"refs/pre-within-noise/{args.track}-{dt.date.today()}"
    tip = rewrite_track(store, args.track, files_of, keep, f"within_noise {args.track}")
    print(f"{args.track}: rewritten, tip {tip}; old tip kept at {keep}")


def unresolved_tasks(records, chain: dict) -> list[int]:
    """Tasks of the chain measurement whose speedup is not significantly >= 5%."""
    results = {int(i): runs for i, runs in chain["results"].items()}
    return sorted(task for task, d in task_differences(records, results).items() if not d.significant_speedup())


def load_reasons(path: Path) -> dict[int, str]:
    """Task number -> reason, from the reasons file."""
    try:
        tasks = tomllib.loads(path.read_text())["tasks"]
        return {int(task): str(reason) for task, reason in tasks.items()}
    except (OSError, tomllib.TOMLDecodeError, KeyError, ValueError, AttributeError) as e:
        sys.exit(f"{path}: not a reasons file with a [tasks] table of task number = sentence ({e})")


def with_reason(text: str, reason: str) -> str:
    """``record.toml`` with its ``within_noise`` set to ``reason`` (removed when empty): a top-level
    key, so it goes before the first table."""
    text = FIELD.sub("", text)
    if not reason:
        return text
    head, _, rest = text.partition("\n[")
    blank_line = "\n" if head.endswith("\n") else ""
    return f"{head.rstrip()}\nwithin_noise = {json.dumps(reason, ensure_ascii=False)}\n{blank_line}[{rest}"


if __name__ == "__main__":
    main()
