"""Benchmark: how far an honest run's reported train_time strays from the harness's observation.

Runs a self-timed script (by default the self-measured mini record 21 of
``tests/fixtures/script_rules/``, validating every 10 steps so the clock pauses) several times,
timestamping every step line as it arrives on the pipe, the way the executor does, with
``--load`` CPU-bound processes competing for the machine. For each run it prints the largest
gap between the two clocks over any stretch of training intervals, in both directions (the
quantity :func:`replay.score.step_timing.timing_violations` bounds by ``2 * lag_s`` plus
``tolerance``), whatever that function reports, and whether the same observations with a
cheating clock (scaled by 0.9, paused 10% of each step, fake lines burst at the end) are flagged.

    .venv/bin/python bench/step_timing.py --runs 3 --load 0
    .venv/bin/python bench/step_timing.py --runs 3 --load 2

Measured on the project's 2-core machine (2026-11-28, 2 runs each; largest gap behind / ahead):
idle, 17.5 s runs: 0.006 s / 0.004 s; ``--load 2``, 158-326 s runs: 0.028 s / 0.014 s; while
other sessions' training runs shared the cores, 201-264 s runs: 0.042 s / 0.026 s. No honest run
was flagged. With the 5% tolerance first tried, the idle runs' 0.9x and 10%-pause variants went
unflagged (their training is too short for 5%); at 2%, the scaled, paused and burst variants of
every run since measured were flagged.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from replay.score.log_parser import StepLine, parse_step_line
from replay.score.step_timing import _worst_window, timing_violations, training_intervals

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "fixtures" / "script_rules" / "mini_r21_self_measured.py"
DATA = ROOT / "runs" / "data" / "mini-v1"


def observe(command: list[str], cwd: Path, env: dict[str, str]) -> list[tuple[float, StepLine]]:
    """Run ``command`` and stamp each step line with the seconds since the process started."""
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = []
    assert proc.stdout is not None
    for line in proc.stdout:
        stamp = time.monotonic() - started
        step = parse_step_line(line)
        if step is not None:
            found.append((stamp, step))
    proc.wait()
    if proc.returncode:
        raise SystemExit(f"{command} failed with exit code {proc.returncode}")
    return found


def gaps(observations: list[tuple[float, StepLine]]) -> tuple[float, float]:
    """The largest (observed - reported) and (reported - observed) over consecutive intervals."""
    intervals = training_intervals(observations)
    behind = _worst_window([o - r for o, r, _ in intervals])[0]
    ahead = _worst_window([r - o for o, r, _ in intervals])[0]
    return behind, ahead


def cheats(observations: list[tuple[float, StepLine]]) -> dict[str, list[tuple[float, StepLine]]]:
    """The same run as a cheating script would have reported it."""

    def with_times(times: list[float]) -> list[tuple[float, StepLine]]:
        return [(seen, _retimed(line, t)) for (seen, line), t in zip(observations, times, strict=True)]

    reported = [line.train_time_ms for _, line in observations]
    scaled = with_times([0.9 * t for t in reported])
    paused = with_times([t - 0.1 * (t - reported[0]) for t in reported])
    end = observations[-1][0]
    burst = [(end + 0.001 * i, line) for i, (_, line) in enumerate(observations)]
    return {"scaled 0.9": scaled, "paused 10%": paused, "burst at the end": burst}


def _retimed(line: StepLine, ms: float) -> StepLine:
    return StepLine(line.step, line.total, ms, line.val_loss, line.train_loss, line.step_avg_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--load", type=int, default=0, help="CPU-bound processes competing with the runs")
    parser.add_argument("--val-every", type=int, default=10)
    args = parser.parse_args()
    source = SCRIPT.read_text().replace("val_loss_every: int = 100", f"val_loss_every: int = {args.val_every}")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "NANOGPT_TRAIN_FILES": str(DATA / "mini_train_*.bin"),
        "NANOGPT_VAL_FILES": str(DATA / "mini_val_*.bin"),
    }
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "train_gpt.py"
            script.write_text(source)
            for run in range(args.runs):
                env["SPEEDRUN_SEED"] = str(run)
                observations = observe([sys.executable, "-u", str(script)], Path(tmp), env)
                behind, ahead = gaps(observations)
                found = timing_violations(observations)
                caught = {name: bool(timing_violations(obs)) for name, obs in cheats(observations).items()}
                print(
                    f"run {run}: {len(observations)} lines, {observations[-1][0]:.1f} s; largest gap behind "
                    f"{behind:.3f} s, ahead {ahead:.3f} s; violations {found or 'none'}; cheats caught {caught}"
                )
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


if __name__ == "__main__":
    main()
