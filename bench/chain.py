"""Benchmark: the measured chain of a track — every record's time to the target, interleaved.

Runs records 1..N of a track R times each in the order 1 2 .. N 1 2 .. N ... (so machine drift
hits all alike), without the cache, through the same executor replays use, and prints a
Markdown table: median and sd of train_time, mean final val loss, and the speedup over the
parent record. The table is also written to ``bench/results/chain-<track>.md``.

    .venv/bin/python bench/chain.py --track mini --runs 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
from pathlib import Path

from replay import paths
from replay.engine import BASELINE, Replayer, ReplayRequest, Side
from replay.environment import hardware
from replay.store import RecordsStore

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", default="mini")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--last", type=int, default=None)
    args = parser.parse_args()

    store = RecordsStore()
    records = [r for r in store.records(args.track) if r.index >= args.first and (args.last is None or r.index <= args.last)]
    replayer = Replayer(store)
    request = ReplayRequest(track=args.track, task=records[0].index, runs=args.runs, use_cache=False)
    folder = paths.home() / f"bench-chain-{args.track}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    folder.mkdir(parents=True)
    results: dict[int, list[dict]] = {r.index: [] for r in records}
    for replicate in range(args.runs):
        for record in records:
            side = Side(record.label, BASELINE, record.label, record.commit_id, record.tree_id)
            run = replayer.run_side(request, side, replicate, folder)
            results[record.index].append(run)
            print(f"{record.label} run {replicate + 1}: {run['time_s']} s, val loss {run['val_loss']}, {run['status']}", file=sys.stderr, flush=True)

    lines = [
        f"Chain of track `{args.track}` on {hardware().describe()}, {args.runs} interleaved runs per record "
        f"({dt.date.today()}; `python bench/chain.py --track {args.track} --runs {args.runs}`).",
        "",
        "| record | name | median time s | sd s | mean val loss | ok runs | speedup vs parent |",
        "|---|---|---|---|---|---|---|",
    ]
    previous = None
    for record in records:
        ok = [r for r in results[record.index] if r["status"] == "ok"]
        times = [r["time_s"] for r in ok]
        median = statistics.median(times) if times else None
        sd = statistics.stdev(times) if len(times) > 1 else None
        loss = statistics.mean(r["val_loss"] for r in ok) if ok else None
        speedup = f"{previous / median:.2f}x" if previous and median else "—"
        lines.append(
            f"| {record.index} | {record.meta.name} | {_f(median)} | {_f(sd)} | {_f(loss, '.4f')} | {len(ok)}/{len(results[record.index])} | {speedup} |"
        )
        previous = median
    table = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"chain-{args.track}.md").write_text(table)
    print(table)


def _f(x, spec=".1f"):
    return "—" if x is None else format(x, spec)


if __name__ == "__main__":
    main()
