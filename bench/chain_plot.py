"""The chain plot: time per record on a log scale, the mini track next to the real speedrun.

Draws with matplotlib (Agg backend), as SVG and PNG, from the raw results that ``bench/chain.py``
saves (``bench/results/chain-<track>.json``): for each record the mean time to the target (the
chain table's estimator) with its spread (min-max of the runs), next to the official record
times of the NanoGPT speedrun (8xH100, from its README's world-record table).

    .venv/bin/python bench/chain_plot.py --track mini
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from replay.statuses import RunOutcome

RESULTS = Path(__file__).parent / "results"

# Official times of the speedrun's records 1-21 (README "World record history"), in minutes.
REAL_MINUTES = [
    45,
    31.4,
    24.9,
    22.3,
    15.2,
    13.1,
    12.0,
    10.8,
    8.2,
    7.8,
    7.2,
    5.03,
    4.66,
    4.41,
    3.95,
    3.80,
    3.57,
    3.4,
    3.142,
    2.992,
    2.933,
]


def figure(points: dict[int, list[float]], title: str):
    """points: record index -> run times (s) of the mini track."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "speedrun"  # the same results give the same file
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.6, 4.2))
    real = sorted((i + 1, m * 60) for i, m in enumerate(REAL_MINUTES))
    ax.plot(*zip(*real, strict=True), "o-", color="#c0392b", markersize=4, label="speedrun, 8xH100")
    mini = sorted((i, statistics.mean(ts)) for i, ts in points.items() if ts)
    spread = [(i, min(ts), max(ts)) for i, ts in sorted(points.items()) if len(ts) > 1]
    if spread:
        xs, lows, highs = zip(*spread, strict=True)
        ax.vlines(xs, lows, highs, color="#2471a3", linewidth=3, alpha=0.4, label="mini: min-max of runs")
    if mini:
        ax.plot(*zip(*mini, strict=True), "o-", color="#2471a3", markersize=4, label="mini track, CPU (mean)")
    ax.set_yscale("log")
    n = max(len(REAL_MINUTES), max(points, default=0))
    ax.set_xticks(range(1, n + 1))
    ax.set_xlabel("record")
    ax.set_ylabel("time to target, seconds (log scale)")
    ax.grid(True, which="both", color="#ddd", linewidth=0.6)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def write_plot(track: str, raw: dict, out: Path | None = None) -> Path:
    points = {int(i): [r["time_s"] for r in runs if r["status"] == RunOutcome.OK] for i, runs in raw["results"].items()}
    fig = figure(points, f"Time per record: track '{track}' ({raw['hardware']}) and the speedrun")
    path = (out or RESULTS) / f"chain-{track}.svg"
    fig.savefig(path, format="svg", metadata={"Date": None})
    fig.savefig(path.with_suffix(".png"), format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)  # a chain redraws after every run: pyplot would keep every figure open
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", default="mini")
    args = parser.parse_args()
    raw = json.loads((RESULTS / f"chain-{args.track}.json").read_text())
    print(write_plot(args.track, raw))


if __name__ == "__main__":
    main()
