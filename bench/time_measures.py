"""Benchmark: which time measure resists a shared machine best.

Every run of a chain (``bench/chain.py``) records its official time (the script's own
``train_time`` on a script-measured track; on a harness-measured one, such as mini, the harness's
time of the training process, with the script's ``train_time`` beside it), the CPU time of the
run's processes (user + system, measured by the harness) and the wall-clock (measured by the
harness). For each measure this
prints the run-to-run coefficient of variation (sd / mean over a record's completed runs; the
median over records), and, given a second chain measured at another load, how far the two
chains' means are apart (|a - b| / mean of both, per record; the median over records). The
lower both figures, the better the measure separates records on a busy machine.

    .venv/bin/python bench/time_measures.py bench/results/chain-mini.json
    .venv/bin/python bench/time_measures.py quiet.json loaded.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from replay.statuses import RunOutcome

# time_s is the official measure: the script's train_time on script-measured tracks, the harness's
# time of the training process on harness-measured ones (whose script train_time is reported_time_s)
MEASURES = {
    "official time": "time_s",
    "script's train_time": "reported_time_s",
    "CPU time": "cpu_s",
    "wall-clock": "wall_s",
}


def runs_by_record(path: Path) -> dict[int, list[dict]]:
    raw = json.loads(path.read_text())
    runs = {int(i): [r for r in rs if r["status"] == RunOutcome.OK] for i, rs in raw["results"].items()}
    if not any(r.get("cpu_s") is not None for rs in runs.values() for r in rs):
        raise SystemExit(
            f"{path}: its runs carry no CPU time (measured before the harness recorded it); rerun the chain"
        )
    return runs


def _values(runs: list[dict], key: str) -> list[float]:
    return [r[key] for r in runs if r.get(key) is not None]


def variation(runs: dict[int, list[dict]], key: str) -> float | None:
    """Median over records of the runs' coefficient of variation."""
    cvs = [statistics.stdev(xs) / statistics.mean(xs) for rs in runs.values() if len(xs := _values(rs, key)) > 1]
    return statistics.median(cvs) if cvs else None


def disagreement(a: dict[int, list[dict]], b: dict[int, list[dict]], key: str) -> float | None:
    """Median over the records of both chains of |mean_a - mean_b| / mean of the two."""
    gaps = []
    for index in sorted(set(a) & set(b)):
        xs, ys = _values(a[index], key), _values(b[index], key)
        if xs and ys:
            ma, mb = statistics.mean(xs), statistics.mean(ys)
            gaps.append(abs(ma - mb) / ((ma + mb) / 2))
    return statistics.median(gaps) if gaps else None


def table(chains: list[dict[int, list[dict]]], names: list[str] | None = None) -> str:
    """The Markdown table: each measure's run-to-run CV per chain and, for two chains, how far apart
    their means are; under it the load each chain's runs had beside them, where measured."""
    two = len(chains) > 1
    names = names or [f"chain {i + 1}" for i in range(len(chains))]
    head = "| measure | " + " | ".join(f"run-to-run CV, {n} (median over records)" for n in names) + " |"
    lines = [head + (" chains apart (median over records) |" if two else ""), "|---|" + "---|" * (len(chains) + two)]
    for name, key in MEASURES.items():
        row = f"| {name} | " + " | ".join(_pct(variation(chain, key)) for chain in chains) + " |"
        if two:
            row += f" {_pct(disagreement(chains[0], chains[1], key))} |"
        lines.append(row)
    loads = [(n, load(chain)) for n, chain in zip(names, chains, strict=True)]
    measured = [f"{n} {x:.2f}" for n, x in loads if x is not None]
    if measured:
        lines += [
            "",
            "Other processes' work beside the runs (other_cpus, median over runs, CPUs): " + ", ".join(measured),
        ]
    return "\n".join(lines) + "\n"


def load(runs: dict[int, list[dict]]) -> float | None:
    """Median over a chain's runs of the CPUs' worth of other work beside them (None: not measured)."""
    values = [x for rs in runs.values() for x in _values(rs, "other_cpus")]
    return statistics.median(values) if values else None


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chains", type=Path, nargs="+", help="one or two chain-<track>.json files")
    args = parser.parse_args()
    if len(args.chains) > 2:
        sys.exit("give one chain JSON, or two measured at different loads")
    names = [path.parent.name if len(args.chains) > 1 else path.name for path in args.chains]
    print(table([runs_by_record(path) for path in args.chains], names), end="")


if __name__ == "__main__":
    main()
