"""The official log of a harness-measured run: what a record carries in ``logs/seedS.txt``.

A harness-measured record's training process prints only training step lines; its time and
validation loss are the harness's (:mod:`replay.run.evaluator`). So that a record's logs read
like every speedrun log (``records add``, the log parser and the tests take them as they are),
the harness closes the training output with one validation line in the speedrun's own format,
carrying its own measurements, after a marker line that says who wrote it::

    ...training output...
    [harness] the harness evaluated the saved model and timed the training process:
    step:50/50 val_loss:3.7471 train_time:11700ms
"""

from __future__ import annotations

import math

MARKER = "[harness] the harness evaluated the saved model and timed the training process:"


def official_log(training_output: str, steps: int, time_s: float, val_loss: float) -> str:
    """The training output of a run closed by the harness's validation line (``steps`` of ``steps``)."""
    if steps < 1 or not (math.isfinite(time_s) and time_s >= 0 and math.isfinite(val_loss) and val_loss >= 0):
        raise ValueError(f"not a finished measurement: steps {steps}, time {time_s} s, val loss {val_loss}")
    body = training_output if training_output.endswith("\n") or not training_output else training_output + "\n"
    return f"{body}{MARKER}\nstep:{steps}/{steps} val_loss:{val_loss:.4f} train_time:{round(time_s * 1000)}ms\n"
