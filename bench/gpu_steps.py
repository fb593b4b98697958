"""Step times of a GPU replay next to the record's official log (the device check of bench/gpu_check.sh).

For each side of a replay of the ``nanogpt`` track, the median time per training step over the
steps the harness let it run (after the speedrun's own 10 untimed warm-up steps when it got that
far), beside the median over the same steps of the record's official log (8 GPUs). A run on
fewer GPUs accumulates gradients over the missing ones, so the expected ratio is about
8 / GPUs times the two machines' speed ratio; the check is that the real record ran its steps
at a plausible speed through this machine's PyTorch, not a benchmark of the GPU.

    python bench/gpu_steps.py RUN_FOLDER
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
from pathlib import Path

from replay.records.store import RecordsStore
from replay.score.log_parser import StepLine, parse_log


def step_ms(lines: list[StepLine], last_step: int) -> float | None:
    """Median milliseconds per step between consecutive training lines up to ``last_step``.
    The speedrun's clock restarts at step 10, so deltas across it are left out."""
    timed = [line for line in lines if line.step <= last_step]
    deltas = [
        b.train_time_ms - a.train_time_ms
        for a, b in itertools.pairwise(timed)
        if b.step == a.step + 1 and b.train_time_ms > a.train_time_ms and a.step != 10
    ]
    return statistics.median(deltas) if deltas else None


def official_log(store: RecordsStore, track: str, index: int) -> str | None:
    record = store.record(track, index)
    logs = [path for path in store.files(record) if path.startswith("logs/")]
    return store.read_file(record, logs[0]).decode(errors="replace") if logs else None


def main(folder: Path) -> None:
    state = json.loads((folder / "run.json").read_text())
    request, store = state["request"], RecordsStore()
    track, task = request["track"], request["task"]
    print(f"{track} task {task}: {state['provenance'].get('hardware', {})}")
    print(f"{'side':<14}{'status':<10}{'steps':>6}{'ms/step here':>14}{'ms/step official':>18}{'ratio':>8}")
    for run in state["runs"]:
        index = task if run["side"] == "baseline" else task + 1
        parsed = parse_log((folder / run["log"]).read_text(errors="replace"))
        last = max((line.step for line in parsed.training), default=0)
        here = step_ms(parsed.training, last)
        text = official_log(store, track, index)
        official = step_ms(parse_log(text).training, last) if text else None
        ratio = f"{here / official:8.2f}" if here and official else f"{'-':>8}"
        print(
            f"{run['side']:<14}{run['status']:<10}{last:>6}"
            f"{here or float('nan'):>14.1f}{official or float('nan'):>18.1f}{ratio}"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
