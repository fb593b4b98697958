"""A run's time is only as good as the quiet around it: the harness measures the CPUs' worth of
other work beside every run (`other_cpus`, from the machine's busy time around it less the run's
own), keeps it in run.json and the cache, flags such runs in the report, and never reuses a
cached timing taken beside other work (the run is done again and its entry replaced). A process
tree's own CPU time is read too (the probe worker's budget)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from process_trees import program_under_shell

from replay import paths
from replay.run.executor import LaunchSpec, LocalExecutor, run_process
from replay.run.machine_load import busy_cpu_seconds, other_cpus
from replay.run.replayer import Replayer, ReplayRequest
from replay.score.replay_report import OTHER_CPUS_LIMIT, notes, summarize


def test_other_work_is_the_machines_busy_time_less_the_runs_own():
    assert other_cpus(100.0, 106.0, 2.0, 4.0) == 1.0
    assert other_cpus(100.0, 101.0, 2.0, 4.0) == 0.0  # never negative (clock ticks are coarse)
    assert other_cpus(None, 106.0, 2.0, 4.0) is None
    assert other_cpus(1.0, 2.0, 0.0, 0.5) is None  # too short to tell: a tick is 10 ms on each CPU


@pytest.mark.skipif(busy_cpu_seconds() is None, reason="no /proc/stat")
def test_a_run_beside_a_busy_process_is_measured_as_such(tmp_path):
    (tmp_path / "work.py").write_text("import time\nt = time.time()\nwhile time.time() - t < 3: pass\n")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        beside = run_process(LaunchSpec(workdir=tmp_path, entry="work.py"), tmp_path / "log.txt", gpus=0)
    finally:
        busy.kill()
        busy.wait()
    assert beside.other_cpus is not None and beside.other_cpus >= 0.4, beside


def _set_other_cpus(entries: list[Path], value: float) -> None:
    for entry in entries:
        data = json.loads(entry.read_text())
        data["exit"]["other_cpus"] = value
        entry.write_text(json.dumps(data))


def test_a_timing_taken_beside_other_work_is_flagged_and_never_reused(toy_store, monkeypatch, tmp_path):
    counter = tmp_path / "count.txt"
    monkeypatch.setenv("TOY_COUNTER", str(counter))
    replayer = Replayer(toy_store, executor=LocalExecutor(gpus=0))

    def replay(**kwargs):
        return replayer.run(replayer.start(ReplayRequest(track="toy", task=1, runs=1, **kwargs)))

    first = replay()
    for run in first.runs:
        run["exit"]["other_cpus"] = 0.9
    summary = summarize(first, paths.run_dir(first.run_id))
    assert [b["other_cpus"] for b in summary["busy_machine"]] == [0.9, 0.9]
    assert sum("other processes kept 0.90 CPUs busy beside it" in line for line in notes(summary)) == 2

    entries = sorted(paths.cache_dir().glob("*/*/entry.json"))
    assert len(entries) == 2
    _set_other_cpus(entries, OTHER_CPUS_LIMIT + 0.1)
    again = replay(use_cache=True)
    assert len(counter.read_text().splitlines()) == 4 and not any(r["cached"] for r in again.runs)
    _set_other_cpus(entries, 0.0)  # the fresh runs replaced the entries; say they ran on a quiet machine
    reused = replay(use_cache=True)
    assert len(counter.read_text().splitlines()) == 4 and all(r["cached"] for r in reused.runs)


def test_a_process_trees_cpu_time_counts_its_descendants():
    """tree_cpu_seconds: a shell whose child spins for a while has used about that CPU time; a
    process that is gone has none to report."""
    from replay.run.machine_load import tree_cpu_seconds

    spin = (
        "import time; t = time.process_time(); exec('while time.process_time() - t < 0.5: pass'); print(1, flush=True)"
    )
    with program_under_shell(spin, then="sleep 5") as proc:
        assert proc.stdout.readline().strip() == "1"
        used = tree_cpu_seconds(proc.pid)
        assert used is not None and 0.45 <= used < 5
    assert tree_cpu_seconds(proc.pid) is None
