"""Serve a trained model's logits to the harness: tokens in on stdin, logits out on stdout.

This file is copied into a run's scratch folder and started there, inside the sandbox, by
:mod:`replay.run.evaluator`; it imports nothing of the toolkit (which the sandbox hides). It
loads the run's entry script as a module (its ``main()`` does not run), calls the script's
``load_model(path)`` on the file the training run left behind, and answers each request with
``model(inputs)``'s logits. It computes no loss and never sees a target: the harness does
that (:mod:`replay.score.evaluation`).

Frames, little-endian: a request is ``int32 batch, int32 length`` then ``batch * length``
int64 tokens (``batch == 0`` ends the session); an answer is ``int32 batch, length, vocab``
then that many float32 logits. Whatever the script prints goes to stderr, so it cannot
corrupt the answers.

Usage: ``python model_server.py ENTRY_SCRIPT MODEL_FILE``
"""

import importlib.util
import os
import struct
import sys


def _protocol_out():
    """The real stdout for answers; fd 1 then points to stderr for anything the script prints."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def _load(entry, model_file):
    folder = os.path.dirname(os.path.abspath(entry))
    sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("speedrun_candidate", entry)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "load_model", None)):
        raise SystemExit(f"{os.path.basename(entry)} defines no load_model(path): the harness cannot evaluate it")
    return module.load_model(model_file)


def _read_exactly(stream, size):
    data = stream.read(size)
    if len(data) != size:
        raise SystemExit("the harness closed the request stream")
    return data


def serve(entry, model_file):
    answers = _protocol_out()
    requests = sys.stdin.buffer
    import numpy as np
    import torch

    torch.manual_seed(0)
    model = _load(entry, model_file)
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        while True:
            batch, length = struct.unpack("<ii", _read_exactly(requests, 8))
            if batch == 0:
                return
            tokens = np.frombuffer(_read_exactly(requests, 8 * batch * length), dtype="<i8").reshape(batch, length)
            logits = model(torch.from_numpy(tokens.copy()).to(device))
            array = logits.detach().float().cpu().numpy()
            if array.ndim != 3:  # the harness reports the dimension count and stops
                answers.write(struct.pack("<iii", -1, -1, array.ndim))
                answers.flush()
                return
            answers.write(struct.pack("<iii", *array.shape))
            answers.write(np.ascontiguousarray(array, dtype="<f4").tobytes())
            answers.flush()


if __name__ == "__main__":
    serve(*sys.argv[1:3])
