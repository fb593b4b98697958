"""Benchmark: the replay harness's overhead — a replay's wall-clock vs running the scripts directly.

For one task, alternately (R times): ``speedrun replay TASK --no-cache`` (baseline + ground
truth, one run each, as a user would run it, CLI start-up included) and the same two scripts
run directly with ``python`` in a plain folder with the same data environment. Prints the
median wall-clock of each and their ratio (goal: <= 1.05).

    .venv/bin/python bench/overhead.py --track mini --task 3 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from replay.data import datasets
from replay.records.store import RecordsStore, materialize

SPEEDRUN = str(Path(sys.executable).parent / "speedrun")


def direct(store: RecordsStore, records, env: dict) -> float:
    """Wall-clock of running each record's script directly, one after the other."""
    total = 0.0
    for record in records:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp) / "src"
            materialize(store.repo, record.tree_id, workdir)
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, record.meta.entry],
                cwd=workdir,
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                check=True,
            )
            total += time.perf_counter() - start
    return total


def harness(track: str, task: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [SPEEDRUN, "replay", str(task), "--track", track, "--no-cache"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", default="mini")
    parser.add_argument("--task", type=int, default=None, help="default: the track's last task (its fastest records)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    store = RecordsStore()
    task = store.task(args.track, args.task) if args.task else store.tasks(args.track)[-1]
    env = {**datasets.prepare(task.start.meta.data), "SPEEDRUN_SEED": "0"}
    walls = {"harness": [], "direct": []}
    for repeat in range(args.repeats):
        walls["harness"].append(harness(args.track, task.number))
        walls["direct"].append(direct(store, [task.start, task.target], env))
        print(
            f"repeat {repeat + 1}: harness {walls['harness'][-1]:.1f} s, direct {walls['direct'][-1]:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    h, d = statistics.median(walls["harness"]), statistics.median(walls["direct"])
    print(
        f"task {args.track}/{task.number}, {args.repeats} alternating repeats: median wall-clock harness {h:.1f} s, "
        f"direct {d:.1f} s, ratio {h / d:.3f}"
    )


if __name__ == "__main__":
    main()
