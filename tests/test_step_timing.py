"""The harness's observation of when each step line arrives contradicts a train_time that was
paused, scaled, printed in a burst (fake lines, before or after the work) or sent backwards, and
does not contradict an honest run: validation pauses, the records' step-10 clock reset, the
compile time inside the first steps and a busy machine's delays are allowed.

Observations come from a real subprocess stamped by a small harness like the executor's (the
same script honest and cheating, run side by side), and from step-line sequences shaped like
the speedrun's logs.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time

import pytest

from replay.score.log_parser import StepLine, parse_step_line
from replay.score.step_timing import timing_violations

# A speedrun-shaped loop: validation every 10 steps with the clock stopped, a training step of
# 50 ms, a step line after each; MODE decides how it lies.
LOOP = """
import sys, time
mode, N, STEP, VAL = sys.argv[1], 30, 0.05, 0.05
lines, elapsed, t0 = [], 0.0, time.perf_counter()

def emit(text):
    if mode in ("burst", "lines first"):
        lines.append(text)
    else:
        print(text, flush=True)

def clock(running=True):
    now = elapsed + (time.perf_counter() - t0 if running else 0.0)
    return 0.5 * now if mode == "scaled" else now

for step in range(N + 1):
    if step % 10 == 0:
        elapsed += time.perf_counter() - t0
        time.sleep(VAL)
        emit(f"step:{step}/{N} val_loss:3.0000 train_time:{1000 * clock(False):.0f}ms step_avg:1.00ms")
        t0 = time.perf_counter()
    if step == N:
        break
    if mode == "lines first" and step == 0:
        fake = [f"step:{s}/{N} train_time:{50 * s:.0f}ms step_avg:50.00ms" for s in range(1, N + 1)]
        print("\\n".join(fake + [f"step:{N}/{N} val_loss:3.0000 train_time:{50 * N}ms step_avg:50.00ms"]), flush=True)
        mode = "quiet"
    time.sleep(STEP)
    if mode == "paused":
        t0 += 0.6 * STEP  # the clock misses 60% of every step
    emit(f"step:{step + 1}/{N} train_time:{1000 * clock():.0f}ms step_avg:1.00ms")
if mode == "burst":
    print("\\n".join(lines), flush=True)
"""

MODES = ("honest", "paused", "scaled", "burst", "lines first")


def observe(mode: str, out: dict) -> None:
    """Run the loop and stamp each step line with the seconds since the process started."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-u", "-c", LOOP, mode], stdout=subprocess.PIPE, text=True)
    found = []
    for line in proc.stdout:
        step = parse_step_line(line)
        if step is not None:
            found.append((time.monotonic() - started, step))
    proc.wait()
    out[mode] = found


@pytest.fixture(scope="module")
def runs() -> dict[str, list[tuple[float, StepLine]]]:
    out: dict[str, list] = {}
    threads = [threading.Thread(target=observe, args=(mode, out)) for mode in MODES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def test_an_honest_run_is_not_flagged(runs):
    assert len(runs["honest"]) == 34
    assert timing_violations(runs["honest"]) == []


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("paused", "paused or slow clock"),
        ("scaled", "paused or slow clock"),
        ("burst", "burst of step lines"),
        ("lines first", "burst of step lines"),
    ],
)
def test_a_lying_clock_is_flagged(runs, mode, reason):
    found = timing_violations(runs[mode])
    assert any(line.startswith(reason) for line in found), found


# -----------------------------------------------------------------------------
# Sequences shaped like the speedrun's logs


def speedrun_run(
    steps: int = 200,
    step_s: float = 0.1,
    val_every: int = 50,
    val_s: float = 3.0,
    compile_s: float = 40.0,
    reset_at: int | None = 10,
    lag_s: float = 0.0,
    seed: int = 0,
) -> list[tuple[float, StepLine]]:
    """An honest run: compilation inside the first step, the clock reset at step ``reset_at``
    (records 4-21), validation every ``val_every`` steps with the clock stopped, and each line
    stamped up to ``lag_s`` late."""
    rng = random.Random(seed)
    now, clock, out = 5.0, 0.0, []  # 5 s of start-up before the clock starts

    def emit(line: StepLine) -> None:
        stamp = now + rng.uniform(0, lag_s)  # a pipe keeps the order: a late line delays the next
        out.append((max(stamp, out[-1][0]) if out else stamp, line))

    for step in range(steps + 1):
        if step == reset_at:
            clock = 0.0
        if step == steps or step % val_every == 0:
            now += val_s
            emit(StepLine(step, steps, 1000 * clock, val_loss=4.0))
        if step == steps:
            break
        took = step_s * rng.uniform(0.8, 1.5) + (compile_s if step == 0 else 0.0)
        now, clock = now + took, clock + took
        emit(StepLine(step + 1, steps, 1000 * clock))
    return out


def retimed(observations, factor: float = 1.0, shift_ms: float = 0.0):
    return [
        (seen, StepLine(line.step, line.total, line.train_time_ms * factor + shift_ms, line.val_loss))
        for seen, line in observations
    ]


def test_honest_speedrun_shaped_runs_on_a_busy_machine_pass():
    for seed in range(20):
        run = speedrun_run(lag_s=0.2, seed=seed)
        assert timing_violations(run) == [], seed
    assert timing_violations(speedrun_run(reset_at=None, compile_s=0.0)) == []


def test_a_scaled_clock_is_flagged_on_a_long_run():
    found = timing_violations(retimed(speedrun_run(lag_s=0.2), factor=0.9))
    assert found and found[0].startswith("paused or slow clock"), found


def test_a_clock_stopped_for_a_stretch_is_flagged():
    run = speedrun_run()
    stretched = [(seen + (4.0 if line.step > 120 else 0.0), line) for seen, line in run]  # 4 s unreported
    found = timing_violations(stretched)
    assert found and "steps" in found[0] and "paused" in found[0], found


def test_time_going_backwards_is_flagged_but_the_early_reset_is_not():
    run = speedrun_run()
    assert timing_violations(run) == []  # the reset at step 10
    late_reset = speedrun_run(reset_at=150)
    assert any("goes backwards at step 150" in line for line in timing_violations(late_reset))
    final = run[-1]
    fake_final = run[:-1] + [(final[0], StepLine(final[1].step, final[1].total, 1.0, val_loss=3.0))]
    assert any("goes backwards" in line for line in timing_violations(fake_final))


def test_steps_going_backwards_are_flagged():
    run = speedrun_run(steps=40, val_every=20, compile_s=0.0)
    seen, line = run[-1]
    repeated = run + [(seen + 0.1, StepLine(5, 40, line.train_time_ms + 100))]
    assert any("step numbers go backwards" in p for p in timing_violations(repeated))


def test_long_validation_pauses_are_not_training():
    assert timing_violations(speedrun_run(val_s=60.0, val_every=20)) == []


def test_a_run_without_training_lines_cannot_be_observed():
    run = [(1.0, StepLine(0, 10, 0.0, val_loss=10.0)), (30.0, StepLine(10, 10, 1.0, val_loss=3.0))]
    assert any("cannot observe" in line for line in timing_violations(run))
