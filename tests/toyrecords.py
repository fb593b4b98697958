"""Toy records for tests: tiny pure-Python "training" scripts that print real step lines.

Their reported train_time is synthetic (``step_ms`` per step plus a seed-dependent jitter),
so statistics are predictable, while the processes really run, print and can be killed.
"""

from __future__ import annotations

import json
from pathlib import Path

TOY_SCRIPT = '''\
"""A toy record: prints speedrun step lines; no model."""
import os
import time


class Hyperparameters:
    num_iterations = {steps}
    step_ms = {step_ms}
    final_loss = {final_loss}
    sleep_s = {sleep_s}
    val_loss_every = 5


args = Hyperparameters()
seed = int(os.environ.get("SPEEDRUN_SEED", "0"))
counter = os.environ.get("TOY_COUNTER")
if counter:
    with open(counter, "a") as f:
        f.write(f"{{os.getcwd()}} {{seed}}\\n")
N = args.num_iterations
jitter = 1 + 0.01 * ((seed * 7) % 3 - 1)
print(f"step:0/{{N}} val_loss:nan train_time:0ms step_avg:nanms", flush=True)
for step in range(1, N + 1):
    time.sleep(args.sleep_s)
    t = step * args.step_ms * jitter
    timing = f"train_time:{{t:.0f}}ms step_avg:{{t / step:.2f}}ms"
    print(f"step:{{step}}/{{N}} train_loss:{{5 - step / N:.4f}} {{timing}}", flush=True)
    if step % args.val_loss_every == 0 or step == N:
        loss = args.final_loss + (N - step) / N + 0.001 * (seed % 3)
        print(f"step:{{step}}/{{N}} val_loss:{{loss:.4f}} {{timing}}", flush=True)
print("peak memory consumption: 1 MiB")
'''


def record_toml(
    track: str,
    index: int,
    time_s: float,
    val_loss: float = 3.2,
    steps: int = 20,
    task: bool = True,
    innovations: list[tuple[str, list[str]]] = (),
    protected: list[str] = (),
) -> str:
    """A valid record.toml for test records (dates: January 2026, one day per index)."""
    lines = [
        "schema = 1",
        f'track = "{track}"',
        f"index = {index}",
        f'name = "{track}-{index}"',
        f"date = 2026-01-{index:02d}",
        'authors = ["tests"]',
        f'description = "Test record {index}."',
        'entry = "train_gpt.py"',
        'launcher = "python"',
        "nproc = 1",
        "target_val_loss = 3.28",
        f"task = {'true' if task else 'false'}",
        "",
        "[result]",
        f"time_s = {time_s}",
        f"val_loss = {val_loss}",
        f"steps = {steps}",
        'hardware = "test machine"',
        "",
        "[environment]",
        'python = "3.11"',
        'torch = "2.13.0"',
        "",
    ]
    for name, anchors in innovations:
        lines += ["[[innovations]]", f"name = {json.dumps(name)}", f"anchors = {json.dumps(list(anchors))}", ""]
    if protected:
        lines += ["[protected]", f"names = {json.dumps(list(protected))}", ""]
    return "\n".join(lines)


def write_toy_record(
    folder: Path,
    track: str = "toy",
    index: int = 1,
    steps: int = 20,
    step_ms: float = 100.0,
    final_loss: float = 3.2,
    sleep_s: float = 0.0,
    task: bool = True,
) -> Path:
    """Write a valid toy record folder (with hints) and return it."""
    folder = Path(folder)
    (folder / "hints").mkdir(parents=True, exist_ok=True)
    (folder / "train_gpt.py").write_text(
        TOY_SCRIPT.format(steps=steps, step_ms=step_ms, final_loss=final_loss, sleep_s=sleep_s)
    )
    (folder / "record.toml").write_text(
        record_toml(
            track,
            index,
            time_s=steps * step_ms / 1000,
            val_loss=final_loss,
            steps=steps,
            task=task,
            innovations=[(f"faster steps {index}", ["Hyperparameters.step_ms"])],
            protected=["Hyperparameters.val_loss_every"],
        )
    )
    for level in (1, 2, 3):
        (folder / "hints" / f"level{level}.md").write_text(f"Toy hint level {level} for record {index}.\n")
    return folder


def toy_log(steps: int = 10, step_ms: float = 100.0, final_loss: float = 3.2) -> str:
    """A log like a toy record prints (for logs/ in record folders)."""
    lines = [f"step:0/{steps} val_loss:nan train_time:0ms step_avg:nanms"]
    for step in range(1, steps + 1):
        lines.append(
            f"step:{step}/{steps} train_loss:4.0000 train_time:{step * step_ms:.0f}ms step_avg:{step_ms:.2f}ms"
        )
    lines.append(
        f"step:{steps}/{steps} val_loss:{final_loss:.4f} train_time:{steps * step_ms:.0f}ms step_avg:{step_ms:.2f}ms"
    )
    return "\n".join(lines) + "\n"
