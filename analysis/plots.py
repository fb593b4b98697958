"""Plots of a leaderboard with matplotlib (Agg backend: no display needed), each as PNG and SVG.

* ``fsr_heatmap``: mean FSR per task (columns) for each cell of the table (rows);
* ``fsr_by_hints``: mean FSR per column (hint levels by default) for each row, with the 95% intervals;
* ``performance_profile``: for each cell, the share of its runs whose FSR exceeds tau, over tau
  (rliable's performance profile: a curve above another is better at every threshold);
* ``cost_vs_fsr``: mean FSR against what the cell spent: dollars, or tokens where no call was priced.

SVGs are written without a date and with a fixed hash salt, so the same leaderboard gives the same file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from replay.atomic import write_bytes_atomic

FORMATS = ("png", "svg")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "speedrun"
    import matplotlib.pyplot as plt

    return plt


def _cell_label(cell: dict) -> str:
    return " / ".join(x for x in (cell["row"], cell["column"]) if x != "all")


def fsr_heatmap(doc: dict, plt):
    tasks = sorted({int(t) for c in doc["cells"] for t in c["per_task"]})
    cells = doc["cells"]
    grid = np.array([[c["per_task"].get(str(t), np.nan) for t in tasks] for c in cells])
    fig, ax = plt.subplots(figsize=(max(6.5, 0.6 * len(tasks) + 4), max(2.5, 0.45 * len(cells) + 1.5)))
    image = ax.imshow(grid, cmap="viridis", vmin=min(0.0, np.nanmin(grid)), vmax=max(1.0, np.nanmax(grid)))
    ax.set_xticks(range(len(tasks)), [str(t) for t in tasks])
    ax.set_yticks(range(len(cells)), [_cell_label(c) for c in cells])
    for i in range(len(cells)):
        for j in range(len(tasks)):
            if not np.isnan(grid[i, j]):
                light = image.norm(grid[i, j]) > 0.6  # viridis turns yellow: dark text there
                ax.text(
                    j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color="black" if light else "white", fontsize=8
                )
    ax.set_xlabel("task")
    ax.set_title("Mean FSR per task")
    fig.colorbar(image, ax=ax, label="FSR (missing, failed: 0)")
    return fig


def fsr_by_hints(doc: dict, plt):
    fig, ax = plt.subplots(figsize=(6.5, 4))
    columns = doc["columns"]
    for k, row in enumerate(doc["rows"]):
        cells = {c["column"]: c for c in doc["cells"] if c["row"] == row}
        xs = [i + (k - (len(doc["rows"]) - 1) / 2) * 0.06 for i, col in enumerate(columns) if col in cells]
        fsr = [cells[col]["fsr"] for col in columns if col in cells]
        ys = np.array([f["value"] for f in fsr])
        low = np.array([f["value"] - f["ci"][0] if f["ci"] else 0.0 for f in fsr])
        high = np.array([f["ci"][1] - f["value"] if f["ci"] else 0.0 for f in fsr])
        ax.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, label=row)
    ax.set_xticks(range(len(columns)), columns)
    ax.set_xlabel(" · ".join(doc["columns_by"]) or "all")
    ax.set_ylabel("mean FSR (95% interval)")
    ax.axhline(0, color="#999", linewidth=0.8)
    ax.legend(fontsize=8)
    ax.set_title("FSR by " + (" · ".join(doc["columns_by"]) or "cell"))
    return fig


def performance_profile(doc: dict, plt):
    scores: dict[str, list[float]] = {}
    for slot in doc["slots"]:
        label = " / ".join(x for x in (slot["row"], slot["column"]) if x != "all")
        scores.setdefault(label, []).append(slot["fsr"] if slot["fsr"] is not None else 0.0)
    every = [v for vs in scores.values() for v in vs]
    taus = np.linspace(min(0.0, min(every)), max(1.0, max(every)), 201)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, values in scores.items():
        values = np.asarray(values)
        ax.step(taus, [(values > t).mean() for t in taus], where="post", label=label)
    ax.set_xlabel("FSR threshold τ")
    ax.set_ylabel("share of runs with FSR > τ")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    ax.set_title("Performance profile")
    return fig


def cost_vs_fsr(doc: dict, plt):
    priced = any(c["cost_usd"] > 0 for c in doc["cells"])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for cell in doc["cells"]:
        f = cell["fsr"]
        x = cell["cost_usd"] if priced else cell["tokens"]
        err = [[f["value"] - f["ci"][0]], [f["ci"][1] - f["value"]]] if f["ci"] else None
        ax.errorbar([x], [f["value"]], yerr=err, marker="o", capsize=3, label=_cell_label(cell))
    ax.set_xlabel("dollars spent" if priced else "tokens used (no call was priced)")
    ax.set_ylabel("mean FSR (95% interval)")
    ax.legend(fontsize=8)
    ax.set_title("Cost against FSR")
    return fig


PLOTS = {
    "fsr_heatmap": fsr_heatmap,
    "fsr_by_hints": fsr_by_hints,
    "performance_profile": performance_profile,
    "cost_vs_fsr": cost_vs_fsr,
}


def render(doc: dict) -> dict[str, dict[str, bytes]]:
    """Every plot of a leaderboard document, in every format: {plot: {format: bytes}}."""
    plt = _pyplot()
    out = {}
    for name, plot in PLOTS.items():
        fig = plot(doc, plt)
        fig.tight_layout()
        out[name] = {}
        for fmt in FORMATS:
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
            out[name][fmt] = buffer.getvalue()
        plt.close(fig)
    return out


def write(rendered: dict[str, dict[str, bytes]], folder: Path) -> list[Path]:
    """Write rendered plots as ``<folder>/<plot>.<format>``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, formats in rendered.items():
        for fmt, data in formats.items():
            write_bytes_atomic(folder / f"{name}.{fmt}", data)
            written.append(folder / f"{name}.{fmt}")
    return written
