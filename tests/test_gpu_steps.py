"""The GPU check's step times (bench/gpu_steps.py) are medians of consecutive training steps up to
the step the replay reached, and never span the speedrun's clock restart at step 10, so a partial
GPU run and the record's official log are compared over the same steps."""

import importlib.util

from replay import paths
from replay.score.log_parser import parse_log

spec = importlib.util.spec_from_file_location("gpu_steps", paths.PROJECT_ROOT / "bench" / "gpu_steps.py")
gpu_steps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_steps)


def log(times_ms: dict[int, float], total: int = 100) -> str:
    return "\n".join(f"step:{s}/{total} train_loss:5.0 train_time:{t:.0f}ms step_avg:1ms" for s, t in times_ms.items())


def test_step_time_is_the_median_delta_and_skips_the_clock_restart():
    times = {s: 500.0 * s for s in range(1, 11)}  # warm-up steps: 500 ms each
    times |= {s: 100.0 * (s - 10) for s in range(11, 21)}  # the clock restarts at step 10: 100 ms each
    lines = parse_log(log(times)).training
    assert gpu_steps.step_ms(lines, 20) == 300.0  # 9 deltas of 500 and 9 of 100: the 10 -> 11 restart is left out
    assert gpu_steps.step_ms(lines, 10) == 500.0  # only the steps a partial run reached
    assert gpu_steps.step_ms(lines[:1], 20) is None
