"""Benchmark: the measured chain of a track — every record's time to the target, interleaved.

Runs records 1..N of a track R times each in the order 1 2 .. N 1 2 .. N ... (so machine drift
hits all alike, and pass k is a round whose runs share seed k), without the cache, through the
same executor replays use, and prints a Markdown table: mean and sd of train_time, mean final
val loss, and the speedup over the parent record as a ratio of means with the paired and the
Welch 95% interval of the difference of means (the statistics of :mod:`replay.score.stats`). The
table is also written to ``bench/results/chain-<track>.md``, the raw runs to
``chain-<track>.json`` and the plot (time per record, log scale, next to the real speedrun's
official times; :mod:`bench.chain_plot`) to ``chain-<track>.svg``.

``--first``/``--last`` measure part of the chain; with ``--keep`` an earlier
``chain-<track>.json`` supplies the runs of the records outside that range, so re-measuring the
records a change touched still gives the whole chain's table, whose header names the measurement
behind each record.

``--render`` runs nothing: it rewrites the table and the plot from ``chain-<track>.json``.

    .venv/bin/python bench/chain.py --track mini --runs 3
    .venv/bin/python bench/chain.py --track mini --render
    .venv/bin/python bench/chain.py --track mini --runs 5 --first 7 --keep bench/results/chain-mini.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
from pathlib import Path

from replay import paths
from replay.records.store import RecordsStore, index_ranges
from replay.run.provenance import hardware
from replay.run.replayer import Replayer, ReplayRequest, Side
from replay.score.replay_report import ESTIMATOR
from replay.score.stats import MIN_SPEEDUP, Difference, difference, mean_sd, speedup_verdict, validity
from replay.statuses import Role, RunOutcome

sys.path.insert(0, str(Path(__file__).parent))
from chain_plot import write_plot  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", default="mini")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--last", type=int, default=None)
    parser.add_argument(
        "--keep",
        type=Path,
        help="an earlier chain-<track>.json whose runs stand for the records outside --first..--last",
    )
    parser.add_argument("--render", action="store_true", help="run nothing: rewrite table and plot from the JSON")
    parser.add_argument(
        "--out",
        type=Path,
        help="folder of the table, JSON and plot (default bench/results; another keeps a second measurement apart)",
    )
    args = parser.parse_args()
    args.out = args.out or RESULTS

    store = RecordsStore()
    if args.render:
        raw = json.loads((args.out / f"chain-{args.track}.json").read_text())
        results = {int(i): runs for i, runs in raw["results"].items()}
        records = store.records(args.track)
        # the runs' machine, not this one: rendering measures nothing
        print(write_results(args.track, records, results, raw["measurements"], args.out, raw.get("hardware")))
        return
    everything = store.records(args.track)
    records = [r for r in everything if r.index >= args.first and (args.last is None or r.index <= args.last)]
    results: dict[int, list[dict]] = {r.index: [] for r in records}
    measurements = [
        {
            "records": [r.index for r in records],
            "runs": args.runs,
            "date": str(dt.date.today()),
            "command": _command(args),
        }
    ]
    if args.keep:
        kept, kept_measurements = load_kept(args.keep, [r.index for r in everything if r not in records])
        results.update(kept)
        measurements += kept_measurements
        records = everything
    replayer = Replayer(store)
    request = ReplayRequest(track=args.track, task=records[0].index, runs=args.runs, use_cache=False)
    folder = paths.home() / f"bench-chain-{args.track}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    folder.mkdir(parents=True)
    measurements[0]["folder"] = str(folder)  # the runs' logs, for bench/restate.py
    measured = [r for r in records if r.index in measurements[0]["records"]]
    for replicate in range(args.runs):
        for record in measured:
            side = Side(record.label, Role.BASELINE, record.label, record.commit_id, record.tree_id)
            run = replayer.run_side(request, side, replicate, folder)
            results[record.index].append(run)
            print(
                f"{record.label} run {replicate + 1}: {run['time_s']} s, val loss {run['val_loss']}, {run['status']}",
                file=sys.stderr,
                flush=True,
            )
            measurements[0]["done"] = replicate + 1
            table = write_results(
                args.track, records, results, measurements, args.out
            )  # after every run: a cut-short bench keeps its runs
    print(table)


def load_kept(path: Path, indices: list[int]) -> tuple[dict[int, list[dict]], list[dict]]:
    """The runs of records ``indices`` in an earlier chain JSON, and the measurements they came from."""
    try:
        raw = json.loads(path.read_text())
        results = {i: raw["results"][str(i)] for i in indices}
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(
            f"--keep {path}: not a chain JSON with runs of records {indices} ({e}); run those records instead"
        ) from None
    # files written before measurements were recorded hold one measurement of every record
    earlier = raw.get("measurements") or [
        {
            "records": [int(i) for i in raw["results"]],
            "runs": raw["runs"],
            "date": raw["date"],
            "command": f"python bench/chain.py --track {raw['track']} --runs {raw['runs']}",
        }
    ]
    kept = [dict(m, records=[i for i in m["records"] if i in indices]) for m in earlier]
    return results, [m for m in kept if m["records"]]


def write_results(
    track: str,
    records,
    results: dict[int, list[dict]],
    measurements: list[dict],
    out: Path | None = None,
    machine: str | None = None,
) -> str:
    """Write the table (.md), the raw runs (.json) and the plot (.svg) of the runs so far into ``out``
    (default: bench/results); ``machine``: the hardware the runs were measured on (default: this
    machine's)."""
    out = out or RESULTS
    machine = machine or hardware().describe()
    lines = [
        f"Chain of track `{track}` on {machine}, interleaved: "
        + "; ".join(_describe(m, len(measurements) > 1) for m in measurements)
        + ".",
        "",
        f"Estimator: {ESTIMATOR}",
        "",
        "| record | name | mean time s | sd s | mean val loss | val loss sd | valid (p < 0.01) | ok runs | "
        "speedup vs parent (ratio of means) | 95% CI of t_parent - t, s (paired) | 95% CI (Welch) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    differences = parent_differences(records, results)  # parent index -> it against its successor
    for parent, record in zip([None, *records], records, strict=False):
        runs = results[record.index]
        times = ok_times(runs)
        losses = [r["val_loss"] for r in runs if r["status"] == RunOutcome.OK]
        mean, sd = mean_sd(list(times.values())) if times else (None, None)
        loss, loss_sd = mean_sd(losses) if losses else (None, None)
        valid = validity(losses, record.meta.target_val_loss) if len(losses) > 1 else None
        valid_text = (
            "—"
            if valid is None
            else ("yes" if valid.valid else "NO") + (f" (p={valid.p_value:.3g})" if valid.p_value is not None else "")
        )
        speedup, paired, welch = "—", "—", "—"
        if parent is not None and parent.index in differences:
            d = differences[parent.index]
            speedup = f"{d.ratio:.2f}x" if d.ratio else "—"
            paired = _ci_cell(d.paired, d.method == "paired")
            welch = _ci_cell(d.unpaired, d.method == "Welch")
        lines.append(
            f"| {record.index} | {record.meta.name} | {_f(mean)} | {_f(sd)} | {_f(loss, '.4f')} | "
            f"{_f(loss_sd, '.4f')} | {valid_text} | {len(times)}/{len(runs)} | {speedup} | {paired} | {welch} |"
        )
    lines += ["", significance_summary(sorted(tasks_only(differences, records).items()))]
    table = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"chain-{track}.md").write_text(table)
    raw = {
        "track": track,
        "hardware": machine,
        "measurements": measurements,
        "results": {
            str(i): [
                {
                    k: r[k]
                    for k in ("time_s", "val_loss", "status", "wall_s", "cpu_s", "other_cpus", "reported_time_s", "log")
                    if k in r
                }
                for r in results[i]
            ]
            for i in sorted(results)
        },
    }
    (out / f"chain-{track}.json").write_text(json.dumps(raw, indent=1) + "\n")
    write_plot(track, raw, out)
    return table


def ok_times(runs: list[dict]) -> dict[int, float]:
    """Round -> time of the runs that finished on target."""
    return {k: r["time_s"] for k, r in enumerate(runs) if r["status"] == RunOutcome.OK}


def parent_differences(records, results: dict[int, list[dict]]) -> dict[int, Difference]:
    """Record index -> its times against its successor's, for every record whose pair has runs."""
    differences = {}
    for start, target in zip(records, records[1:], strict=False):
        a, b = ok_times(results[start.index]), ok_times(results[target.index])
        if a and b:
            differences[start.index] = difference(a, b, rounds=max(len(results[target.index]), len(a)))
    return differences


def task_differences(records, results: dict[int, list[dict]]) -> dict[int, Difference]:
    """Task number -> its start's times against its target's, for every task of the chain."""
    return tasks_only(parent_differences(records, results), records)


def tasks_only(differences: dict[int, Difference], records) -> dict[int, Difference]:
    """The differences whose parent record starts a task (a record without code starts none)."""
    starts = {r.index: r for r in records}
    return {i: d for i, d in differences.items() if starts[i].meta.task}


def significance_summary(comparisons: list[tuple[int, Difference]]) -> str:
    """Which tasks' target is significantly at least 5% faster than their start, and what pairing buys."""
    tasks = [(i, d) for i, d in comparisons if d.interval is not None]

    verdict = [i for i, d in tasks if d.significant_speedup()]
    welch = [i for i, d in tasks if d.unpaired is not None and d.significant_speedup(d.unpaired)]
    both = [(d.paired, d.unpaired) for _, d in tasks if d.paired and d.unpaired]
    narrower = statistics.median(1 - (p[1] - p[0]) / (w[1] - w[0]) for p, w in both) if both else None
    pairing = (
        f" The paired interval is narrower than Welch's by a median {narrower:.0%} over the {len(both)} tasks "
        "with both."
        if narrower is not None
        else ""
    )
    return (
        f"Significantly at least 5% faster than the parent (95% CI of t_parent - t above 0 and a ratio of means of "
        f"at least {MIN_SPEEDUP:.4f}x, i.e. 5% less time): {len(verdict)} of {len(tasks)} tasks by the verdict's "
        f"interval (paired where rounds are complete) — {index_ranges(verdict) or 'none'}; by Welch's interval alone: "
        f"{len(welch)} — {index_ranges(welch) or 'none'}.{pairing}"
    )


def _command(args) -> str:
    extra = "".join(
        f" --{k} {v}"
        for k, v in (("first", args.first if args.first != 1 else None), ("last", args.last), ("keep", args.keep))
        if v is not None
    )
    return f"python bench/chain.py --track {args.track} --runs {args.runs}{extra}"


def _describe(measurement: dict, name_records: bool) -> str:
    """'records 7-21: 5 runs each (2026-11-27; `command`)', with 'k of n passes done' while it runs."""
    indices = measurement["records"]
    done = measurement.get("done", measurement["runs"])
    which = f"records {index_ranges(indices)}: " if name_records else ""
    progress = f", {done} of {measurement['runs']} passes done" if done < measurement["runs"] else ""
    return f"{which}{measurement['runs']} runs each ({measurement['date']}; `{measurement['command']}`{progress})"


def _ci_cell(ci: tuple[float, float] | None, decides: bool) -> str:
    """A CI cell: the interval; on the interval that decides, its verdict unless that is 'faster'."""
    if ci is None:
        return "—"
    verdict = speedup_verdict(ci)
    return f"[{ci[0]:.1f}, {ci[1]:.1f}]" + ("" if verdict == "faster" or not decides else f" {verdict}")


def _f(x, spec=".1f"):
    return "—" if x is None else format(x, spec)


if __name__ == "__main__":
    main()
