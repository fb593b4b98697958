"""Benchmark: the measured chain of a track — every record's time to the target, interleaved.

Runs records 1..N of a track R times each in the order 1 2 .. N 1 2 .. N ... (so machine drift
hits all alike), without the cache, through the same executor replays use, and prints a
Markdown table: median and sd of train_time, mean final val loss, and the speedup over the
parent record. The table is also written to ``bench/results/chain-<track>.md``, the raw runs to
``chain-<track>.json`` and the plot (time per record, log scale, next to the real speedrun's
official times; :mod:`bench.chain_plot`) to ``chain-<track>.svg``.

    .venv/bin/python bench/chain.py --track mini --runs 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
from pathlib import Path

from replay import paths
from replay.engine import BASELINE, Replayer, ReplayRequest, Side
from replay.environment import hardware
from replay.stats import difference_interval, validity
from replay.store import RecordsStore

sys.path.insert(0, str(Path(__file__).parent))
from chain_plot import write_plot  # noqa: E402

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
            table = write_results(args, records, results, replicate + 1)  # after every run: a cut-short bench keeps its runs
    print(table)


def write_results(args, records, results: dict[int, list[dict]], done: int) -> str:
    """Write the table (.md), the raw runs (.json) and the plot (.svg) of the runs so far."""
    lines = [
        f"Chain of track `{args.track}` on {hardware().describe()}, {done} interleaved runs per record "
        f"({dt.date.today()}; `python bench/chain.py --track {args.track} --runs {args.runs}`"
        + (f", {done} of {args.runs} passes done" if done < args.runs else "") + ").",
        "",
        "| record | name | median time s | sd s | mean val loss | val loss sd | valid (p < 0.01) | ok runs | speedup vs parent | 95% CI of t_parent - t s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    previous = None
    for record in records:
        ok = [r for r in results[record.index] if r["status"] == "ok"]
        times = [r["time_s"] for r in ok]
        median = statistics.median(times) if times else None
        sd = statistics.stdev(times) if len(times) > 1 else None
        losses = [r["val_loss"] for r in ok]
        loss = statistics.mean(losses) if ok else None
        loss_sd = statistics.stdev(losses) if len(ok) > 1 else None
        valid = validity(losses, record.meta.target_val_loss) if len(losses) > 1 else None
        speedup = f"{statistics.median(previous) / median:.2f}x" if previous and median else "—"
        valid_text = "—" if valid is None else ("yes" if valid.valid else "NO") + (f" (p={valid.p_value:.3g})" if valid.p_value is not None else "")
        ci = difference_interval(previous, times) if previous and len(previous) > 1 and len(times) > 1 else None
        ci_text = "—" if ci is None else f"[{ci[0]:.1f}, {ci[1]:.1f}]" + (" within noise" if ci[0] <= 0 else "")
        lines.append(
            f"| {record.index} | {record.meta.name} | {_f(median)} | {_f(sd)} | {_f(loss, '.4f')} | {_f(loss_sd, '.4f')} | "
            f"{valid_text} | {len(ok)}/{len(results[record.index])} | {speedup} | {ci_text} |"
        )
        previous = times
    table = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"chain-{args.track}.md").write_text(table)
    raw = {"track": args.track, "hardware": hardware().describe(), "runs": done, "date": str(dt.date.today()),
           "results": {str(i): [{k: r.get(k) for k in ("time_s", "val_loss", "status")} for r in runs] for i, runs in results.items()}}
    (RESULTS / f"chain-{args.track}.json").write_text(json.dumps(raw, indent=1) + "\n")
    write_plot(args.track, raw)
    return table


def _f(x, spec=".1f"):
    return "—" if x is None else format(x, spec)


if __name__ == "__main__":
    main()
