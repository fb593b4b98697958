"""Benchmark: the controller at sweep scale, with a simulated executor (instant synthetic exits).

A paper-scale sweep is tasks x configurations x seeds agent runs of N nodes each: by default
19 tasks x 4 configurations (scaffolds) x 3 seeds x 20 nodes = 4,560 jobs. This drives exactly
that many agent runs (scripted model, ``agent.runner.AgentRunner``) on a synthetic track of
20 toy records, every node's run submitted to an executor that answers at once with a
synthetic log, so what is measured is the controller alone: planning, prompts, edits, commits,
the result cache, grading, run.json writes, the closing reference run and attribution. Reports
controller time and memory per job and the size of the state it leaves (run.json files, the
whole runtime folder).

    .venv/bin/python bench/scale.py                   # the full 4,560 jobs
    .venv/bin/python bench/scale.py --tasks 2 --seeds 1 --nodes 5   # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the toy records of the tests

SCALE = os.path.splitext(os.path.basename(__file__))[0]
_TUNABLE = re.compile(r"^(\s+step_ms = )([0-9.]+)$", re.M)
_SCRIPT = re.compile(r"```python\n(.*?)\n```", re.S)


def policy(messages) -> str:
    """A scripted model: scale step_ms by a factor picked from a hash of the prompt."""
    prompt = messages[-1]["content"]
    script = _SCRIPT.search(prompt).group(1)
    match = _TUNABLE.search(script)
    factor = (0.9, 0.95, 1.05)[int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 3]
    new = f"{float(match.group(2)) * factor:.2f}"
    return f"Scale step_ms.\n\n<<<<<<< SEARCH\n{match.group(0)}\n=======\n{match.group(1)}{new}\n>>>>>>> REPLACE\n"


class SimulatedExecutor:
    """An executor whose jobs end the moment they are submitted, with a synthetic log of 20 steps."""

    name = "simulated"
    gpus = 0
    jobs_outlive_process = False

    def __init__(self):
        from replay.run.sandbox import Sandbox

        self.sandbox = Sandbox(allow_unsandboxed=True)
        self.submitted = 0

    def submit(self, task, on_step=None):
        from replay.run.executor import JobRef, Outcome, where_it_ran
        from replay.score.grading import Exit

        self.submitted += 1
        tree = task.checkout.tree if task.checkout else "x"
        step_ms = 80 + int(tree[:4], 16) % 40
        lines = ["step:0/20 val_loss:nan train_time:0ms step_avg:nanms"]
        for step in range(1, 21):
            timing = f"train_time:{step * step_ms}ms step_avg:{step_ms:.2f}ms"
            lines.append(f"step:{step}/20 train_loss:{5 - step / 20:.4f} {timing}")
            if step % 5 == 0:
                lines.append(f"step:{step}/20 val_loss:{3.2 + (20 - step) / 20:.4f} {timing}")
        task.log_path.parent.mkdir(parents=True, exist_ok=True)
        task.log_path.write_text("\n".join(lines) + "\n")
        exit = Exit(returncode=0, wall_s=20 * step_ms / 1000 + 0.5, command=("simulated",))
        return _Done(JobRef(self.name, str(self.submitted)), Outcome(exit, where_it_ran(0)))

    def attach(self, ref):
        return None

    def describe(self) -> dict:
        return {"name": self.name}

    def hardware(self) -> dict:
        return {}


class _Done:
    poll_s = 0.0

    def __init__(self, ref, outcome):
        self.ref, self._outcome = ref, outcome

    def done(self) -> bool:
        return True

    def result(self):
        return self._outcome

    def cancel(self) -> None:
        pass


def build_track(home: Path, records: int) -> None:
    """A records repository with track 'toy' of ``records`` records, each a little faster."""
    from replay.records.add import add_record, init_records_repo

    from toyrecords import write_toy_record

    store = init_records_repo(home / "records.git")
    for index in range(1, records + 1):
        add_record(store, "toy", write_toy_record(home / "src" / str(index), index=index, step_ms=100.0 - index))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=19)
    parser.add_argument("--configs", type=int, default=4, help="configurations (scaffolds), at most 5")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=20)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="speedrun-scale-"))
    os.environ.update(SPEEDRUN_HOME=str(home / "runs"), SPEEDRUN_RECORDS=str(home / "records.git"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from agent.runner import AgentRunner
    from agent.scaffolds import ScaffoldName
    from agent.state import AgentRequest, run_folder

    build_track(home, args.tasks + 1)
    configs = list(ScaffoldName)[: args.configs]
    executor = SimulatedExecutor()
    started = time.perf_counter()
    cells = []
    rss_warm = jobs_warm = None  # after the first run: imports and caches are loaded
    for task in range(1, args.tasks + 1):
        for scaffold in configs:
            for seed in range(args.seeds):
                runner = AgentRunner(executor=executor)
                request = AgentRequest(
                    track="toy",
                    task=task,
                    model=f"scripted/{SCALE}:policy",
                    scaffold=scaffold,
                    nodes=args.nodes,
                    seed=seed,
                )
                state = runner.run(runner.start(request))
                cells.append(run_folder(state.run_id))
                if rss_warm is None:
                    rss_warm, jobs_warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, executor.submitted
    elapsed = time.perf_counter() - started
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    jobs = executor.submitted
    run_json = [(folder / "run.json").stat().st_size for folder in cells]
    total = folder_bytes(home / "runs")
    print(
        f"{len(cells)} agent runs ({args.tasks} tasks x {len(configs)} configurations x {args.seeds} seeds), "
        f"{jobs} jobs ({args.nodes} nodes per run, plus each run's root and reference run)"
    )
    print(f"controller time: {elapsed:.1f} s in all, {1000 * elapsed / jobs:.1f} ms per job")
    growth = (rss_peak - rss_warm) / max(1, jobs - jobs_warm)
    print(f"memory: peak RSS {rss_peak / 1024:.0f} MiB, growth after the first run {growth:.1f} KiB per job")
    print(f"run.json: {sum(run_json) / 2**20:.1f} MiB in all, largest {max(run_json) / 1024:.0f} KiB")
    print(
        f"runtime folder (logs, run folders, work repository, cache): {total / 2**20:.1f} MiB, "
        f"{total / jobs / 1024:.1f} KiB per job"
    )


if __name__ == "__main__":
    main()
