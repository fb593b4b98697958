"""The harness's own validation: batches it sends, the loss it computes, the probes it checks.

On a track whose records are *measured by the harness* (``measure = "harness"`` in
``record.toml``), the training process never sees the validation data. The model it leaves
behind is loaded by a separate model server (:mod:`replay.run.model_server`) that receives
input tokens only and answers with logits; everything that decides the score happens here, in
the harness, with numpy, so no code under test can patch it:

* **The loss.** The validation stream is cut into the windows the speedrun's scripts use
  (``batch`` sequences of ``sequence_length`` tokens, consecutive, each target the next token),
  and the loss is the mean cross-entropy of the logits over every target token, in float64.
* **Causality.** A language model may use only earlier tokens. Before the real batches, the
  server receives *probe* batches: the first batches with each sequence's tail after a cut
  point replaced by the tail of another sequence of the same stream (natural text, so the probe
  looks like any other batch, and sent first, so the server cannot have seen the original).
  At every position before the cut the probe's logits must equal the original's; a model whose
  logits there move when later tokens change looks ahead (a wrong attention mask is the common
  cause) and its run is invalid, with the position and the size of the change as the reason.
* **Statelessness.** The first batch is sent again at the end; its logits must not have moved
  (a model that adapts to the validation text it is shown would score better on later batches).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROBE_BATCHES = 1  # probe batches sent first (each of its sequences spliced at its own cut)
LOOKAHEAD_TOLERANCE = 1e-3  # nats: float noise of one forward pass is orders of magnitude below
STATE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class EvalSpec:
    """How a dataset's validation is measured: the first ``tokens`` tokens, in windows of
    ``batch`` x ``sequence_length``."""

    tokens: int
    sequence_length: int
    batch: int

    @property
    def batches(self) -> int:
        return self.tokens // (self.batch * self.sequence_length)


def windows(stream: np.ndarray, spec: EvalSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    """(inputs, targets) per batch, int64 (batch, sequence_length): the scripts' own windows."""
    size = spec.batch * spec.sequence_length
    if spec.tokens % size or spec.batches < 2:
        raise ValueError(f"{spec}: tokens must be a multiple of batch * sequence_length, two batches at least")
    if len(stream) < spec.tokens + 1:
        raise ValueError(f"the validation stream has {len(stream)} tokens; {spec.tokens + 1} are needed")
    out = []
    for k in range(spec.batches):
        buf = np.asarray(stream[k * size : (k + 1) * size + 1], dtype=np.int64)
        out.append((buf[:-1].reshape(spec.batch, -1), buf[1:].reshape(spec.batch, -1)))
    return out


@dataclass(frozen=True)
class Probe:
    """A batch whose sequence j equals ``original``'s up to ``cuts[j]`` and differs after it."""

    inputs: np.ndarray
    original: int  # index of the batch it was cut from
    cuts: tuple[int, ...]


def probes(batches: list[tuple[np.ndarray, np.ndarray]], seed: int = 0) -> list[Probe]:
    """Probe batches: each sequence of the first batches keeps a prefix and takes the rest from
    a sequence of another batch, at a cut drawn from the middle half of the sequence."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(PROBE_BATCHES):
        inputs = batches[k][0].copy()
        donor = batches[len(batches) - 1 - k][0]
        length = inputs.shape[1]
        cuts = tuple(int(c) for c in rng.integers(length // 4, 3 * length // 4, size=inputs.shape[0]))
        for j, cut in enumerate(cuts):
            inputs[j, cut:] = donor[(j + 1) % len(donor), cut:]
        out.append(Probe(inputs, k, cuts))
    return out


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """float64 log-probabilities over the last axis."""
    z = logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood of ``targets`` (batch, T) under ``logits`` (batch, T, V)."""
    logp = log_softmax(logits)
    picked = np.take_along_axis(logp, targets[..., None], axis=-1)
    return float(-picked.mean())


def shape_problem(logits: np.ndarray, inputs: np.ndarray, vocab: int) -> str | None:
    """Why ``logits`` cannot be the model's answer to ``inputs`` (None: they can)."""
    if logits.ndim != 3 or logits.shape[:2] != inputs.shape:
        return f"logits of shape {tuple(logits.shape)} for inputs of shape {tuple(inputs.shape)} (want batch x T x V)"
    if logits.shape[2] < vocab:
        return f"logits over {logits.shape[2]} tokens; the data has {vocab}"
    if not np.isfinite(logits).all():
        return "logits that are not finite"
    return None


def lookahead(probe: Probe, probe_logits: np.ndarray, original_logits: np.ndarray) -> str | None:
    """Why the model looks ahead, from a probe's logits and its original's (None: it does not)."""
    worst = (0.0, 0, 0)
    a, b = log_softmax(probe_logits), log_softmax(original_logits)
    for j, cut in enumerate(probe.cuts):
        if cut == 0:
            continue
        change = np.abs(a[j, :cut] - b[j, :cut]).max(axis=-1)
        position = int(change.argmax())
        if change[position] > worst[0]:
            worst = (float(change[position]), j, position)
    size, row, position = worst
    if size <= LOOKAHEAD_TOLERANCE:
        return None
    return (
        f"looks ahead: the prediction at position {position} of validation sequence {row} changed by {size:.3g} "
        f"nats when only tokens after position {probe.cuts[row] - 1} changed (a causal model cannot see them)"
    )


def state_change(first: np.ndarray, again: np.ndarray) -> str | None:
    """Why a model's answers depend on what it was shown before (None: they do not)."""
    size = float(np.abs(log_softmax(first) - log_softmax(again)).max())
    if size <= STATE_TOLERANCE:
        return None
    return (
        f"keeps state between batches: the first validation batch, sent again at the end, got predictions "
        f"{size:.3g} nats away from the first time"
    )
