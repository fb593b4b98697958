"""The chain plot: time per record on a log scale, the mini track next to the real speedrun.

Writes a self-contained SVG (no plotting library) from the raw results that ``bench/chain.py``
saves (``bench/results/chain-<track>.json``): for each record the mean time to the target (the
chain table's estimator) with its spread (min-max of the runs), next to the official record
times of the NanoGPT speedrun (8xH100, from its README's world-record table).

    .venv/bin/python bench/chain_plot.py --track mini
"""

from __future__ import annotations

import argparse
import json
import math
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

W, H = 760, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 40, 50


def svg(points: dict[int, list[float]], title: str) -> str:
    """points: record index -> run times (s) of the mini track."""
    n = max(len(REAL_MINUTES), max(points, default=0))
    real = {i + 1: m * 60 for i, m in enumerate(REAL_MINUTES)}
    values = [v for ts in points.values() for v in ts] + list(real.values())
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))

    def x(i: float) -> float:
        return LEFT + (i - 0.5) / n * (W - LEFT - RIGHT)

    def y(v: float) -> float:
        return TOP + (math.log10(hi) - math.log10(v)) / (math.log10(hi) - math.log10(lo)) * (H - TOP - BOTTOM)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2 - RIGHT / 2}" y="20" text-anchor="middle" font-size="13">{title}</text>',
    ]
    decade = lo
    while decade <= hi:  # grid: decades labelled, 2x and 5x unlabelled
        for k in (1, 2, 5):
            v = decade * k
            if lo <= v <= hi:
                out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
                out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
        decade *= 10
    for i in range(1, n + 1):
        out.append(f'<text x="{x(i):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{i}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 12}" text-anchor="middle">record</text>')
    out.append(
        f'<text x="16" y="{(TOP + H - BOTTOM) / 2}" text-anchor="middle" transform="rotate(-90 16 '
        f'{(TOP + H - BOTTOM) / 2})">time to target, seconds (log scale)</text>'
    )
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="none" stroke="#888"/>'
    )

    def series(pts: list[tuple[int, float]], colour: str, label: str, row: int) -> None:
        path = " ".join(f"{'M' if k == 0 else 'L'}{x(i):.1f},{y(v):.1f}" for k, (i, v) in enumerate(pts))
        out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for i, v in pts:
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>')
        ly = TOP + 10 + 18 * row
        out.append(
            f'<line x1="{W - RIGHT + 12}" x2="{W - RIGHT + 32}" y1="{ly}" y2="{ly}" stroke="{colour}" '
            'stroke-width="2"/>'
        )
        out.append(f'<text x="{W - RIGHT + 36}" y="{ly + 4}">{label}</text>')

    series(sorted(real.items()), "#c0392b", "speedrun, 8xH100", 0)
    mini = sorted((i, statistics.mean(ts)) for i, ts in points.items() if ts)
    for i, ts in points.items():  # spread of the runs: min-max bar
        if len(ts) > 1:
            out.append(
                f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(min(ts)):.1f}" y2="{y(max(ts)):.1f}" '
                'stroke="#2471a3" stroke-width="3" opacity="0.4"/>'
            )
    series(mini, "#2471a3", "mini track, CPU", 1)
    out.append(f'<text x="{W - RIGHT + 12}" y="{TOP + 58}" fill="#555">mini: mean of runs,</text>')
    out.append(f'<text x="{W - RIGHT + 12}" y="{TOP + 72}" fill="#555">bar: min-max</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_plot(track: str, raw: dict) -> Path:
    points = {int(i): [r["time_s"] for r in runs if r["status"] == RunOutcome.OK] for i, runs in raw["results"].items()}
    path = RESULTS / f"chain-{track}.svg"
    path.write_text(svg(points, f"Time per record: track '{track}' ({raw['hardware']}) and the speedrun"))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", default="mini")
    args = parser.parse_args()
    raw = json.loads((RESULTS / f"chain-{args.track}.json").read_text())
    print(write_plot(args.track, raw))


if __name__ == "__main__":
    main()
