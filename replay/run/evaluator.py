"""The harness's evaluation of a trained model, in a process of its own.

After a training run of a harness-measured record ends, the harness starts the model server
(:mod:`replay.run.model_server`) in the run's scratch folder, inside the same sandbox as the
training run, and talks to it over pipes: probe batches first, then every validation batch,
then the first batch again. The server answers with logits; the loss, the causality probe and
the statelessness check are computed here (:mod:`replay.score.evaluation`). The validation
data is read by the harness and never written where the code under test can read it: the
server sees the input tokens it is sent, one batch at a time, and nothing else.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from replay.data.datasets import Validation
from replay.data.shards import read_shard
from replay.run import model_server
from replay.run.sandbox import Sandbox
from replay.score import evaluation
from replay.score.grading import Evaluation

SERVER_NAME = "speedrun_model_server.py"


class _ServerGone(Exception):
    """The model server stopped answering (it crashed, was killed, or broke the protocol)."""


def evaluate_model(
    workdir: Path,
    entry: str,
    model_file: str,
    python: str,
    validation: Validation,
    log_path: Path,
    env: dict[str, str],
    sandbox: Sandbox | None = None,
    time_limit_s: float = 600.0,
) -> Evaluation:
    """Validation loss and checks of the model ``workdir/model_file``; the server's stderr goes
    to ``log_path``."""
    if not (Path(workdir) / model_file).is_file():
        return Evaluation(None, f"the run left no model file '{model_file}' for the harness to evaluate", 0.0)
    shutil.copyfile(model_server.__file__, Path(workdir) / SERVER_NAME)
    command = [python, SERVER_NAME, entry, model_file]
    if sandbox is not None:
        command = sandbox.wrap(command, workdir)
    stream = np.concatenate([read_shard(f) for f in validation.files])
    spec = evaluation.EvalSpec(validation.tokens, validation.sequence_length, validation.batch)
    batches = evaluation.windows(stream, spec)
    probes = evaluation.probes(batches)
    requests = [p.inputs for p in probes] + [inputs for inputs, _ in batches] + [batches[0][0]]
    start = time.perf_counter()
    answers: list[np.ndarray] = []
    load_s = 0.0  # until the first answer: the server's start and whatever load_model does
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            preexec_fn=(lambda: sandbox.limit_resources(0)) if sandbox else None,
        )
        timer = threading.Timer(time_limit_s, proc.kill)
        timer.daemon = True
        timer.start()
        try:
            for inputs in requests:
                answers.append(_ask(proc, inputs))
                load_s = load_s or time.perf_counter() - start
            proc.stdin.write(struct.pack("<ii", 0, 0))
            proc.stdin.close()
            proc.wait()
        except _ServerGone as gone:
            proc.kill()
            proc.wait()
            reason = str(gone) or _last_line(log_path) or f"exit code {proc.returncode}"
            if timer.finished.is_set() and proc.returncode == -9:
                reason = f"evaluation ran past its limit of {time_limit_s:.0f} s"
            return Evaluation(None, f"the model server failed: {reason}", time.perf_counter() - start, load_s)
        finally:
            timer.cancel()
            for pipe in (proc.stdin, proc.stdout):
                if pipe and not pipe.closed:
                    try:
                        pipe.close()
                    except BrokenPipeError:
                        pass
    wall_s = time.perf_counter() - start
    for inputs, logits in zip(requests, answers, strict=True):
        problem = evaluation.shape_problem(logits, inputs, validation.vocab)
        if problem:
            return Evaluation(None, f"the model answered {problem}", wall_s, load_s)
    n = len(probes)
    loss = float(np.mean([evaluation.cross_entropy(answers[n + k], targets) for k, (_, targets) in enumerate(batches)]))
    # A model whose answers depend on what it saw before makes the probes' comparison meaningless: first.
    problems = [evaluation.state_change(answers[n], answers[-1])]
    problems += [
        evaluation.lookahead(probe, logits, answers[n + probe.original])
        for probe, logits in zip(probes, answers[: len(probes)], strict=True)
    ]
    return Evaluation(loss, next((p for p in problems if p), None), wall_s, load_s)


def _ask(proc: subprocess.Popen, inputs: np.ndarray) -> np.ndarray:
    """Send one batch, read its logits."""
    try:
        proc.stdin.write(struct.pack("<ii", *inputs.shape) + np.ascontiguousarray(inputs, dtype="<i8").tobytes())
        proc.stdin.flush()
    except (BrokenPipeError, OSError) as exc:
        raise _ServerGone() from exc
    header = proc.stdout.read(12)
    if len(header) != 12:
        raise _ServerGone()
    batch, length, vocab = struct.unpack("<iii", header)
    if batch < 0:
        raise _ServerGone(f"its model returned a {vocab}-dimensional tensor, not logits of batch x T x V")
    if (batch, length) != inputs.shape or not 0 < vocab <= 1 << 20:
        asked = " x ".join(map(str, inputs.shape))
        raise _ServerGone(f"answered a {batch} x {length} x {vocab} header to a {asked} batch")
    size = batch * length * vocab * 4
    data = proc.stdout.read(size)
    if len(data) != size:
        raise _ServerGone()
    return np.frombuffer(data, dtype="<f4").reshape(batch, length, vocab)


def _last_line(path: Path) -> str:
    lines = [line for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""
