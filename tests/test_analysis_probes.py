"""Behavioural probes (analysis/probes.py, analysis/probe_worker.py): a probe measures what code does,
whatever mechanism computes it, and decides a verdict only where it tells record i from record i+1.

Each probe is tried on a small script (one of two: a single attention layer, or a model of blocks with
value embeddings, rotary attention, its own linear layer, a configured optimiser and a schedule) in
several spellings of the same behaviour (they must all measure as having it) and in decoys that touch
the same code for another behaviour (they must not);
the sandboxed worker answers as the in-process one does; the model probed is the one the script
builds (a subclass of its ``GPT`` included); a script's settings are what it runs with (a command line's
defaults, a schedule's values as the optimisers hold them); gold and null verdicts stay exact with
probes on every task of the mini track.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import probe_worker
from analysis.attribute import attribute
from analysis.probes import Prober, behaviour, judge, probes_for, tells_apart
from analysis.task import load_task

SCRIPT = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from dataclasses import dataclass


@dataclass
class Hyperparameters:
    num_iterations: int = 20


args = Hyperparameters()


@dataclass
class GPTConfig:
    vocab_size: int = 64
    n_layer: int = 2
    n_embd: int = 16
    n_head: int = 2


def rope(t):
    T, D = t.shape[-2], t.shape[-1]
    freqs = torch.outer(torch.arange(T).float(), 1.0 / 10000 ** (torch.arange(0, D, 2).float() / D))
    z = torch.view_as_complex(t.float().reshape(*t.shape[:-1], D // 2, 2))
    return torch.view_as_real(z * torch.polar(torch.ones_like(freqs), freqs)).flatten(-2)


def rotate_half(t):
    T, D = t.shape[-2], t.shape[-1]
    ang = torch.arange(T).float()[:, None] / 10000 ** (torch.arange(0, D, 2).float() / D)
    a, b = t[..., : D // 2], t[..., D // 2 :]
    return torch.cat([a * ang.cos() + b * ang.sin(), b * ang.cos() - a * ang.sin()], dim=-1)


def act(h):
    return ACT


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x):
        return self.c_proj(act(self.c_fc(x)))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos = nn.Embedding(64, config.n_embd)
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.mlp = MLP(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.heads = config.n_head

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.wte(idx)POS
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        QK
        x = x + F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=SCALE).transpose(1, 2).reshape(B, T, -1)
        x = x + self.mlp(x)
        logits = self.lm_head(x)
        CAP
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


OPT


def main():
    model = GPT(GPTConfig())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    SETUP
    for step in range(args.num_iterations):
        LOOP
        loss = model(idx, idx)
        loss.backward()
        opt.step()


if __name__ == "__main__":
    main()
"""

BASE = dict(ACT="F.gelu(h)", POS="", QK="pass", CAP="pass", OPT="", SETUP="pass", LOOP="pass", SCALE="None")

FOREACH_UNIT = "gs = [p.grad for p in model.parameters()]\n        torch._foreach_div_(gs, torch._foreach_norm(gs))"
UNIT_GRADIENTS_LACKING = [
    dict(LOOP="torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)"),  # the total norm clipped
    dict(LOOP="for p in model.parameters():\n            p.grad.clamp_(-0.01, 0.01)"),  # each value clipped
    # all divided by the total norm: unit in total, not each
    dict(
        LOOP="t = torch.stack([p.grad.norm() for p in model.parameters()]).norm()\n"
        "        for p in model.parameters():\n            p.grad.div_(t)"
    ),
]

# a window kept by an object of the script's own, built before the loop
GROWTH = """
class Growth:
    def __init__(self, start):
        self.start = start

    def tokens(self, step):
        return RULE
"""


def window_object(rule: str) -> dict:
    return dict(OPT=GROWTH.replace("RULE", rule), SETUP="growth = Growth(64)", LOOP="window = growth.tokens(step)")


# an MLP subclass the model swaps in (record i's MLP class stays defined, unused)
SWAPPED_MLP = """
class SwappedMLP(MLP):
    def forward(self, x):
        return self.c_proj(ACTIVATION)


class SwappedGPT(GPT):
    def __init__(self, config):
        super().__init__(config)
        self.mlp = SwappedMLP(config)


def make_model():
    return SwappedGPT(GPTConfig())
"""


def swapped_mlp(activation: str, act: str = "F.gelu(h)") -> dict:
    return dict(OPT=SWAPPED_MLP.replace("ACTIVATION", activation), ACT=act)


SVD_STEP = """
class Ortho(torch.optim.Optimizer):
    def __init__(self, params, lr=0.02):
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                U, S, Vh = torch.linalg.svd(p.grad, full_matrices=False)
                p.sub_(group["lr"] * U @ Vh)
"""
CUBIC_STEP = """
def polar(g):
    x = g / g.norm()
    for _ in range(12):
        x = 1.5 * x - 0.5 * x @ x.T @ x
    return x


class Ortho(torch.optim.Optimizer):
    def __init__(self, params, lr=0.02):
        super().__init__(params, dict(lr=lr))

    def step(self):
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.add_(polar(p.grad), alpha=-group["lr"])
"""
SIGN_STEP = SVD_STEP.replace("U, S, Vh = torch.linalg.svd(p.grad, full_matrices=False)", "pass").replace(
    "U @ Vh", "p.grad.sign()"
)
# an update written into the training loop, with no optimiser class: the weights' own gradients
IN_LOOP = (
    "with torch.no_grad():\n"
    "            for p in model.parameters():\n"
    "                if p.dim() == 2 and p.grad is not None:\n"
    "                    U, S, Vh = torch.linalg.svd(p.grad, full_matrices=False)\n"
    "                    p.sub_(0.02 * U @ Vh)"
)
IN_LOOP_POLAR = IN_LOOP.replace("U @ Vh", "polar(p.grad)").replace(
    "                    U, S, Vh = torch.linalg.svd(p.grad, full_matrices=False)\n", ""
)
RAMP = "momentum = 0.85 + 0.01 * step if step < 10 else 0.95\n        opt.param_groups[0]['momentum'] = momentum"

FP8_FUNCTION = """
class Float8Head(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        scale = 448 / w.abs().max()
        return x @ ((w * scale).to(torch.float8_e4m3fn).to(x.dtype) / scale).T

    @staticmethod
    def backward(ctx, grad):
        return grad, None
"""


LERP = "buf.lerp_(p.grad, 1 - m) if self.lerp else "
OWN_MOMENTUM = """
class OwnMomentum(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1, warmup=1, lerp=False):
        super().__init__(params, dict(lr=lr))
        self.steps, self.warmup, self.lerp = 0, warmup, lerp

    @torch.no_grad()
    def step(self):
        self.steps += 1
        warmup = self.warmup
        m = RAMPED
        for group in self.param_groups:
            for p in group["params"]:
                buf = self.state[p].setdefault("buf", torch.zeros_like(p))
                LERPbuf.mul_(m).add_(p.grad)
                p.sub_(group["lr"] * buf)


build_optimiser = lambda params: OwnMomentum(params, lr=0.1, warmup=10, lerp=True)
""".replace("LERP", LERP)


NS_OPTIMISER = """
def ns(G, steps=5):
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G / (G.norm() + 1e-7)
    for _ in range(steps):
        A = X @ X.T
        ITERATION
    return X

""" + SVD_STEP.replace(
    'U, S, Vh = torch.linalg.svd(p.grad, full_matrices=False)\n                p.sub_(group["lr"] * U @ Vh)',
    'p.sub_(group["lr"] * ns(p.grad))',
)
QUINTIC = "B = A @ X\n        X = a * X + b * B + c * A @ B"


def ns_iteration(body: str) -> dict:
    return dict(OPT=NS_OPTIMISER.replace("ITERATION", body))


# a hook hung on the head by a patch of the model's constructor (the script's own class edited in place)
HEAD_HOOK = """
def with_head_hook(init):
    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.lm_head.register_forward_hook(lambda module, inputs, output: CAST)

    return patched


GPT.__init__ = with_head_hook(GPT.__init__)
"""

# an optimiser of the library whose step the script replaces on the instance, built in its flow
OWN_STEP = """
import types


@torch.no_grad()
def own_step(self, closure=None):
    for group in self.param_groups:
        for p in group["params"]:
            if p.grad is not None and p.dim() == 2:
                U, S, Vh = torch.linalg.svd(p.grad, full_matrices=False)
                p.sub_(group["lr"] * UPDATE)
"""


def own_step(update: str) -> dict:
    return dict(OPT=OWN_STEP.replace("UPDATE", update), SETUP="opt.step = types.MethodType(own_step, opt)")


# rotary tables rounded to bfloat16, as the speedrun's later records keep them
ROPE_BF16 = """
def rope_bf16(t):
    T, D = t.shape[-2], t.shape[-1]
    ang = torch.arange(T).float()[:, None] / 10000 ** (torch.arange(0, D, 2).float() / D)
    cos, sin = ang.cos().bfloat16().float(), ang.sin().bfloat16().float()
    a, b = t[..., : D // 2], t[..., D // 2 :]
    return torch.cat([a * cos + b * sin, b * cos - a * sin], dim=-1)
"""

# the Newton-Schulz step made by a factory of the script's own from its coefficients
NS_FACTORY = """
def make_ns(coefficients):
    a, b, c = coefficients

    def step(G, steps=5):
        X = G / (G.norm() + 1e-7)
        for _ in range(steps):
            A = X @ X.T
            ITERATION
        return X

    return step


ns = make_ns((3.4445, -4.7750, 2.0315))
""" + NS_OPTIMISER[NS_OPTIMISER.index("class Ortho") :]


def ns_factory(body: str) -> dict:
    return dict(OPT=NS_FACTORY.replace("ITERATION", body.replace("\n        ", "\n            ")))


# probe -> (spellings that have the behaviour, spellings that do not)
CASES = {
    "fp32_logits": (
        [
            dict(CAP="logits = logits.float()"),
            dict(CAP="logits = logits.to(torch.float32)"),
            dict(CAP="logits = torch.log_softmax(logits.to(dtype=torch.float32), dim=-1)"),  # a loss of log-probs
            dict(OPT=HEAD_HOOK.replace("CAST", "output.float()")),
        ],
        [
            dict(CAP="logits = logits.half()"),
            dict(CAP="logits = logits.float().bfloat16()"),
            dict(CAP="if not self.training:\n            logits = logits.float()"),  # at inference only
            dict(OPT=HEAD_HOOK.replace("CAST", "output * 1.0")),
        ],
    ),
    "squared_relu": (
        [
            dict(ACT="F.relu(h).square()"),
            dict(ACT="h.clamp(min=0) ** 2"),
            dict(ACT="torch.where(h > 0, h * h, 0 * h)"),
            dict(ACT="h.relu_().square_()"),  # in place: on the first layer's own output
            swapped_mlp("F.relu(self.c_fc(x)).square()"),
        ],
        [
            dict(ACT="F.gelu(h)"),
            dict(ACT="F.relu(h)"),
            dict(ACT="F.silu(h) ** 2"),
            swapped_mlp("F.gelu(self.c_fc(x))", act="F.relu(h).square()"),
        ],
    ),
    "gram_squaring_share": (
        [
            ns_iteration("B = b * A + c * A @ A\n        X = a * X + B @ X"),
            ns_iteration("X = torch.addmm(X, b * A + c * torch.linalg.matrix_power(A, 2), X, beta=a)"),
            ns_iteration("X = a * X + torch.mm(b * A + c * torch.mm(A, A), X)"),
            ns_factory("B = b * A + c * A @ A\n        X = a * X + B @ X"),
        ],
        [
            ns_iteration(QUINTIC.replace("3.4445", "3.0")),  # other coefficients
            dict(OPT=NS_OPTIMISER.replace("ITERATION", QUINTIC).replace("steps=5", "steps=4")),  # fewer steps
            ns_iteration("X = a * X + b * (A @ X) + c * (A @ (A @ X))"),  # the quintic, bracketed otherwise
            ns_factory(QUINTIC),
        ],
        ns_iteration(QUINTIC),
    ),
    "fp8_head": (
        [
            dict(CAP="logits = x @ ((self.lm_head.weight * 32).to(torch.float8_e4m3fn).float() / 32).T"),
            dict(  # torch's scaled matmul, the speedrun's
                CAP="x2 = x.reshape(-1, x.size(-1))\n        logits = torch._scaled_mm("
                "x2.to(torch.float8_e4m3fn), self.lm_head.weight.to(torch.float8_e4m3fn).T, "
                "scale_a=torch.tensor(1.0), scale_b=torch.tensor(1.0), out_dtype=torch.float32).view(B, T, -1)"
            ),
            dict(OPT=FP8_FUNCTION, CAP="logits = Float8Head.apply(x, self.lm_head.weight)"),
        ],
        [
            dict(CAP="logits = self.lm_head(x.to(torch.float8_e4m3fn).float())"),  # the activations only
            dict(CAP="logits = x @ self.lm_head.weight.bfloat16().float().T"),  # bfloat16
            dict(  # in evaluation only
                CAP="if not self.training:\n"
                "            logits = x @ self.lm_head.weight.to(torch.float8_e5m2).float().T"
            ),
        ],
    ),
    "bounded_logits": (
        [
            dict(CAP="logits = 30 * torch.tanh(logits / 30)"),
            dict(CAP="logits = 30 * (2 * torch.sigmoid(logits / 15) - 1)"),
            # helpers defined at module level: a lambda, a partial
            dict(OPT="softcap = lambda z, c=30.0: c * torch.tanh(z / c)", CAP="logits = softcap(logits)"),
            dict(
                OPT="import functools\ncapped = functools.partial(lambda z, c: c * torch.tanh(z / c), c=30.0)",
                CAP="logits = capped(logits)",
            ),
            dict(CAP="logits = torch.tanh(logits.mul_(1 / 30)) * 30"),  # in place: on the head's own output
            dict(  # a forward hook on the head, registered by a patched constructor
                OPT="_build = GPT.__init__\n\n\ndef _capped(self, *args):\n    _build(self, *args)\n"
                "    self.lm_head.register_forward_hook(lambda m, i, out: 30 * torch.tanh(out / 30))\n\n\n"
                "GPT.__init__ = _capped"
            ),
        ],
        [dict(CAP="logits = logits.clamp(-30, 30)"), dict(CAP="logits = logits / 2")],
    ),
    "qk_normalised": (
        [
            dict(QK="q, k = F.rms_norm(q, (q.size(-1),)), F.rms_norm(k, (k.size(-1),))"),
            dict(QK="q, k = F.normalize(q, dim=-1) * 4, F.normalize(k, dim=-1) * 4"),
            dict(QK="q, k = (t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + 1e-6) for t in (q, k))"),
        ],
        [dict(QK="v = F.rms_norm(v, (v.size(-1),))"), dict(QK="q = q / 2")],
    ),
    "relative_positions": (
        [
            dict(QK="q, k = rope(q), rope(k)"),
            dict(QK="q, k = rotate_half(q), rotate_half(k)"),
            dict(OPT=ROPE_BF16, QK="q, k = rope_bf16(q), rope_bf16(k)"),  # tables kept in bfloat16
        ],
        [dict(POS=" + self.pos(torch.arange(T))"), dict(QK="q = q * 2")],
    ),
    "orthogonal_update": (
        [
            dict(OPT=SVD_STEP),
            dict(OPT=CUBIC_STEP),
            dict(LOOP=IN_LOOP),
            dict(OPT=CUBIC_STEP, LOOP=IN_LOOP_POLAR),
            dict(LOOP=IN_LOOP.replace("p.sub_(0.02 * U @ Vh)", "p.grad.copy_(U @ Vh)")),  # the SGD step's gradient
            own_step("U @ Vh"),  # SGD's bookkeeping, the script's own step set on it
        ],
        [
            dict(OPT=SIGN_STEP),
            dict(OPT="class Plain(torch.optim.SGD):\n    pass"),
            dict(LOOP=IN_LOOP.replace("U @ Vh", "p.grad.sign()")),  # a sign update, in the loop
            dict(OPT=SIGN_STEP, LOOP=IN_LOOP.replace("U @ Vh", "p.grad")),  # plain SGD, in the loop
            dict(LOOP=IN_LOOP.replace("p.sub_(0.02 * U @ Vh)", "p.grad.div_(p.grad.norm())")),  # normalised
            own_step("p.grad.sign()"),  # a sign step set on SGD
        ],
    ),
    # record i+1 raises the softmax scale above the default 1/sqrt(8) = 0.354; lowering it is the opposite
    "attention_scale": (
        [dict(SCALE="0.5"), dict(SCALE="1.4 * q.size(-1) ** -0.5"), dict(SCALE="0.6")],
        [dict(SCALE="0.25"), dict(SCALE="None"), dict(SCALE="0.36"), dict(SCALE="q.size(-1) ** -0.5")],
    ),
    "rising:momentum": (
        [
            dict(LOOP=RAMP),
            dict(LOOP="opt.param_groups[0]['momentum'] = min(step / 10, 1) * 0.1 + 0.85"),
            # kept by the optimiser itself, from its own step count, as the script configures it
            dict(OPT=OWN_MOMENTUM.replace("RAMPED", "0.85 + 0.1 * min(self.steps / warmup, 1)")),
            dict(OPT=OWN_MOMENTUM.replace("RAMPED", "0.85 + 0.1 * min(self.steps / warmup, 1)").replace(LERP, "")),
        ],
        [
            dict(LOOP=RAMP.replace("0.85 + 0.01", "0.95 - 0.01").replace("else 0.95", "else 0.85")),
            dict(OPT=OWN_MOMENTUM.replace("RAMPED", "0.95 - 0.1 * min(self.steps / warmup, 1)")),  # a decay
            dict(OPT=OWN_MOMENTUM.replace("RAMPED", "0.95")),
        ],
    ),
    "unit_gradients": (
        [
            dict(LOOP="for p in model.parameters():\n            p.grad = p.grad / (p.grad.norm() + 1e-6)"),
            dict(LOOP=FOREACH_UNIT),
            dict(LOOP="for p in model.parameters():\n            p.grad.div_(torch.linalg.vector_norm(p.grad))"),
        ],
        UNIT_GRADIENTS_LACKING,
    ),
    "rising:window": (
        [
            dict(LOOP="window = 64 * (1 + step // 4)"),
            # the speedrun's name for it, in a tensor made for the GPU
            dict(LOOP="attn_blocksize = torch.tensor(64 * (1 + step // 4), dtype=torch.int, device='cuda')"),
            # a buffer of the model written in place
            dict(LOOP="model.window_tokens.fill_(64 * (1 + step // 4))"),
            dict(LOOP="model.attn.window.data.copy_(torch.tensor(64 + 32 * step))"),
            window_object("self.start * (1 + step // 4)"),
        ],
        [
            dict(LOOP="window = 256 - 8 * step"),
            dict(LOOP="block_size = 256\n        window = 64"),
            dict(LOOP="model.window_tokens.fill_(1024 - 64 * step)"),
            window_object("self.start * 16 - 8 * step"),
        ],
    ),
}


# A model of blocks (a ModuleList), with per-block value embeddings, rotary attention, its own linear
# layer, an orthogonalising optimiser configured by the script and a cooldown schedule: the probes of
# later records' ideas need all of these.
BLOCKS_SCRIPT = """
import math
import os
import torch
import torch.nn as nn
import torch.nn.functional as F
from dataclasses import dataclass


@dataclass
class Hyperparameters:
    num_iterations: int = 10
    warmdown_iters: int = 4


args = Hyperparameters()
FLOOR = float(os.environ.get("PROBE_TEST_FLOOR", "0.1"))
FIRST = {}  # what the first block shares with later ones


@dataclass
class GPTConfig:
    vocab_size: int = 64
    n_layer: int = 4
    n_embd: int = 16
    n_head: int = 2


LINEAR


def polar(g):
    U, S, Vh = torch.linalg.svd(g, full_matrices=False)
    return U @ Vh


class Ortho(torch.optim.Optimizer):
    def __init__(self, params, lr=0.02, split=1):
        super().__init__(params, dict(lr=lr, split=split))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    g = p.grad
                    p.sub_(group["lr"] * UPDATE)


def rotary(t):
    T, D = t.shape[-2], t.shape[-1]
    inv = 1.0 / 10000 ** (torch.arange(0, D, 2).float() / D)
    FREQS
    ang = torch.arange(T).float()[:, None] * inv
    a, b = t[..., : D // 2], t[..., D // 2 :]
    return torch.cat([a * ang.cos() + b * ang.sin(), b * ang.cos() - a * ang.sin()], dim=-1)


class Block(nn.Module):
    def __init__(self, config, i):
        super().__init__()
        self.qkv = Lin(config.n_embd, 3 * config.n_embd)
        self.fc = Lin(config.n_embd, config.n_embd)
        self.heads = config.n_head
        self.attend = ATTEND

    def forward(self, x, ve, mask):
        B, T, C = x.shape
        if self.attend:
            INPUT_MIX
            q, k, v = self.qkv(x).view(B, T, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            if ve is not None:
                VALUES
            RESIDUAL
            q, k = rotary(q), rotary(k)
            x = x + F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(B, T, C)
        return x + self.fc(x)


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        n, C = config.n_layer, config.n_embd
        self.wte = nn.Embedding(config.vocab_size, C)
        self.blocks = nn.ModuleList([Block(config, i) for i in range(n)])
        VE_TABLES
        self.lm_head = nn.Linear(C, config.vocab_size, bias=False)

    def forward(self, idx, targets):
        n = len(self.blocks)
        FIRST.clear()
        x = self.wte(idx)
        EMBED_NORM
        VE_LAYOUT
        pos = torch.arange(idx.size(1))
        MASK
        for block, ve in zip(self.blocks, ves):
            x = block(x, ve, mask)
        logits = self.lm_head(x)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def configure(model):
    matrices = [p for p in model.parameters() if p.dim() == 2]
    others = [p for p in model.parameters() if p.dim() != 2]
    GROUPS
    return [Ortho(groups), torch.optim.SGD(others, lr=0.1)]


def get_lr(it):
    SCHEDULE


def main():
    model = GPT(GPTConfig())
    optimizers = configure(model)
    for step in range(args.num_iterations):
        loss = model(idx, idx)
        loss.backward()
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = 0.1 * get_lr(step)
            opt.step()


if __name__ == "__main__":
    main()
"""

BLOCKS_BASE = dict(
    LINEAR="Lin = nn.Linear",
    UPDATE="polar(g)",
    FREQS="pass",
    ATTEND="True",
    INPUT_MIX="pass",
    RESIDUAL="pass",
    VALUES="v = v + ve.view(B, T, self.heads, -1).transpose(1, 2)",
    VE_TABLES="self.ve = nn.Embedding(config.vocab_size, n * C)",
    VE_LAYOUT="ves = self.ve(idx).chunk(n, dim=-1)",
    GROUPS="groups = [dict(params=matrices)]",
    MASK="mask = (pos[:, None] >= pos[None, :]) & (pos[:, None] - pos[None, :] < 128)",
    SCHEDULE="return min(1.0, (args.num_iterations - it) / args.warmdown_iters)",
    EMBED_NORM="pass",
)
CASTED = """
class Lin(nn.Linear):
    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out, bias=False)

    def forward(self, x):
        return F.linear(x, self.weight.to(x.dtype))
"""
PATCHED = """
def Lin(n_in, n_out):
    m = nn.Linear(n_in, n_out, bias=False)
    m.forward = lambda x: x @ m.weight.type_as(x).T
    return m
"""
SMALL_UNIFORM = """
class Lin(nn.Linear):
    def reset_parameters(self):
        bound = 3**0.5 * 0.5 * self.in_features**-0.5
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
"""
SMALL_NORMAL = """
def Lin(n_in, n_out):
    layer = nn.Linear(n_in, n_out)
    nn.init.normal_(layer.weight, std=0.5 / math.sqrt(n_in))
    return layer
"""
SMALL_BY_MODEL = BLOCKS_BASE["VE_TABLES"] + (
    "\n        for m in self.modules():\n            if isinstance(m, nn.Linear):"
    "\n                nn.init.trunc_normal_(m.weight, std=0.5 * m.in_features**-0.5)"
)
PAIRS = "self.ves = nn.ModuleList([nn.Embedding(config.vocab_size, C) for _ in range(n // 2)])"
ONE_TABLE = "self.ve = nn.Embedding(config.vocab_size, C)"
WIDE_TABLE = "self.ve = nn.Embedding(config.vocab_size, n // 2 * C)"  # one slice per pair of blocks
LINEAR_FLOOR = "return min(1.0, (args.num_iterations - it) / args.warmdown_iters)"
VMAPPED = "torch.vmap(polar)(g.view(3, -1, g.size(1))).reshape_as(g)"
BY_BLOCKS = "torch.cat([polar(b) for b in g.chunk(3)]) if g.size(0) == 3 * g.size(1) else polar(g)"

BLOCKED = "blk = pos // 64\n        mask = (pos[:, None] >= pos[None, :]) & (blk[:, None] - blk[None, :] < 3)"

# update scales chosen by name (a parameter group's setting): all shapes to RMS 1, or tall weights only
SCALE_TABLE = "Lin = nn.Linear\nSCALES = dict(all=lambda r, c: max(r, c) ** 0.5, tall=lambda r, c: max(1, r / c) ** .5)"

# probe -> (spellings that have the behaviour, spellings that do not[, record i where the template's
# defaults have the behaviour already])
BLOCK_CASES = {
    "zero_projections": (
        [
            dict(VE_TABLES="for b in self.blocks:\n            nn.init.zeros_(b.fc.weight)"),
            dict(
                VE_TABLES="for b in self.blocks:\n            b.fc.weight = nn.Parameter(torch.zeros_like(b.fc.weight))"
            ),
            dict(  # a state dict of zeros
                VE_TABLES="self.load_state_dict({f'blocks.{i}.fc.weight': torch.zeros(C, C) for i in range(n)}, "
                "strict=False)"
            ),
            dict(VE_TABLES="for b in self.blocks:\n            b.fc.weight.data.mul_(0.0)"),
        ],
        [
            dict(VE_TABLES="for b in self.blocks:\n            nn.init.zeros_(b.qkv.weight)"),  # the input projection
            dict(VE_TABLES="nn.init.zeros_(self.lm_head.weight)"),  # the head
            dict(VE_TABLES="nn.init.zeros_(self.blocks[0].fc.weight)"),  # one block only
            dict(VE_TABLES="for b in self.blocks:\n            b.fc.weight.data.mul_(0.01)"),  # small, not zero
        ],
    ),
    "normalised_embedding": (
        [
            dict(EMBED_NORM="x = F.rms_norm(x, (x.size(-1),))"),
            dict(EMBED_NORM="x = x * torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + 1e-6)"),
            dict(EMBED_NORM="x = F.layer_norm(x, x.shape[-1:])"),
            dict(EMBED_NORM="x = F.normalize(x, dim=-1) * math.sqrt(x.size(-1))"),
            dict(EMBED_NORM="x = nn.RMSNorm(x.size(-1))(x)"),  # a norm module
        ],
        [
            dict(EMBED_NORM="x = x * 0.5"),  # a scale grows with the table
            dict(EMBED_NORM="x = torch.tanh(x)"),  # bounded, but every token its own scale
            dict(EMBED_NORM="x = x / x.norm()"),  # one norm over the whole batch, not per token
        ],
    ),
    "values_read_first_attention": (
        [
            dict(RESIDUAL="v = 0.5 * (v + FIRST.setdefault('v', v))"),
            dict(RESIDUAL="v = torch.lerp(v, FIRST.setdefault('v', v), 0.3)"),
        ],
        [
            dict(INPUT_MIX="x = x + FIRST.setdefault('x', x)"),  # the first block's input, not its values
            dict(RESIDUAL="q, v = q + FIRST.setdefault('v', v), v + FIRST['v']"),  # into the queries too
        ],
    ),
    "values_read_embeddings": (
        [
            dict(),
            dict(
                VE_TABLES="self.ves = nn.ModuleList([nn.Embedding(config.vocab_size, C) for _ in range(n)])",
                VE_LAYOUT="ves = [table(idx) for table in self.ves]",
                VALUES="v = torch.lerp(v, ve.view(B, T, self.heads, -1).transpose(1, 2), 0.5)",
            ),
            dict(  # each block owns its table
                VE_TABLES="for block in self.blocks:\n            block.table = nn.Embedding(config.vocab_size, C)",
                VE_LAYOUT="ves = [block.table(idx) for block in self.blocks]",
            ),
            dict(  # a stack of tables, one parameter, gathered by token
                VE_TABLES="self.ve = nn.Parameter(torch.randn(n, config.vocab_size, C))",
                VE_LAYOUT="ves = self.ve[:, idx].unbind(0)",
            ),
            dict(  # their number a constant computed from the layout (a builtin over constants)
                VE_TABLES="self.ves = nn.ModuleList([nn.Embedding(config.vocab_size, C) for _ in range(N_TABLES)])",
                VE_LAYOUT="ves = [self.ves[i](idx) for i in LAYOUT]",
                LINEAR="Lin = nn.Linear\nLAYOUT = (0, 1, 2, 3)\nN_TABLES = 1 + max(i for i in LAYOUT if i is not None)",
            ),
        ],
        [
            dict(INPUT_MIX="x = x + ve if ve is not None else x", VALUES="pass"),  # into the residual stream
            dict(VE_TABLES=ONE_TABLE, VE_LAYOUT="ves = [self.ve(idx)] * n"),  # one table for every block
            dict(  # one stacked table read by every block
                VE_TABLES="self.ve = nn.Parameter(torch.randn(1, config.vocab_size, C))",
                VE_LAYOUT="ves = [self.ve[0, idx]] * n",
            ),
        ],
        dict(VE_TABLES=ONE_TABLE, VE_LAYOUT="ves = [None] * n"),
    ),
    "block_window": (
        [
            dict(MASK=BLOCKED),
            dict(
                MASK="T = len(pos)\n        band = (pos[:, None] // 64 - pos[None, :] // 64) <= 2\n"
                "        mask = torch.tril(torch.ones(T, T, dtype=torch.bool)) & band"
            ),
            dict(MASK=BLOCKED + "\n        mask = torch.zeros(mask.shape).masked_fill(~mask, float('-inf'))"),
        ],
        [
            dict(MASK="mask = torch.tril(torch.ones(len(pos), len(pos), dtype=torch.bool))"),
            dict(MASK=BLOCKED + "\n        mask = mask | (pos[None, :] == 0)"),  # an attention sink
            dict(MASK="mask = (pos[:, None] >= pos[None, :]) & (pos[:, None] - pos[None, :] < 192)"),
        ],
    ),
    "cast_linears": (
        [dict(LINEAR=CASTED), dict(LINEAR=PATCHED)],
        [
            dict(LINEAR="Lin = lambda n_in, n_out: nn.Linear(n_in, n_out, bias=False)"),
            dict(LINEAR=CASTED.replace("bias=False", "bias=True").replace("x.dtype))", "x.dtype), self.bias)")),
        ],
    ),
    "init_scale": (
        [
            dict(LINEAR=SMALL_UNIFORM),
            dict(LINEAR=SMALL_NORMAL),
            # set afterwards, by the model, on every linear layer
            dict(LINEAR="Lin = nn.Linear", VE_TABLES=SMALL_BY_MODEL),
        ],
        [
            dict(LINEAR=SMALL_UNIFORM.replace("0.5 *", "1.0 *")),  # wider: the normal std 1/sqrt(fan_in)
            dict(LINEAR=SMALL_UNIFORM.replace("0.5 *", "0.1 *")),  # much smaller than the record's
            dict(LINEAR="Lin = lambda n_in, n_out: nn.Linear(n_in, n_out, bias=False)"),
        ],
    ),
    "attention_calls": (
        [dict(ATTEND="i != 2"), dict(ATTEND="i % 4 != 1"), dict(ATTEND="i not in (3,)")],
        [dict(ATTEND="i < 10"), dict(ATTEND="i % 2 == 0")],
    ),
    "rotation_free_channels": (
        [
            dict(FREQS="inv = torch.cat([inv[: len(inv) // 2], inv.new_zeros(len(inv) - len(inv) // 2)])"),
            dict(FREQS="inv = torch.where(torch.arange(len(inv)) < len(inv) // 2, inv, 0 * inv)"),
            dict(FREQS="inv[len(inv) // 2 :] = 0"),
        ],
        [dict(FREQS="inv = inv * 2"), dict(FREQS="inv[-1:] = 0")],
    ),
    "mirrored_value_embeddings": (
        [
            dict(
                VE_TABLES="self.ve = nn.Embedding(config.vocab_size, n // 2 * C)",
                VE_LAYOUT="half = self.ve(idx).chunk(n // 2, dim=-1)\n        ves = half + half[::-1]",
            ),
            dict(VE_TABLES=PAIRS, VE_LAYOUT="ves = [self.ves[min(i, n - 1 - i)](idx) for i in range(n)]"),
        ],
        [
            dict(VE_TABLES=PAIRS, VE_LAYOUT="ves = [self.ves[i // 2](idx) for i in range(n)]"),
            dict(VE_TABLES=ONE_TABLE, VE_LAYOUT="ves = [self.ve(idx)] * n"),
        ],
    ),
    "ends_only_value_embeddings": (
        [
            dict(VE_TABLES=ONE_TABLE, VE_LAYOUT="e = self.ve(idx)\n        ves = [e] + [None] * (n - 2) + [e]"),
            dict(VE_TABLES=ONE_TABLE, VE_LAYOUT="ves = [self.ve(idx) if i in (0, n - 1) else None for i in range(n)]"),
            # the speedrun's spelling: its own tables in the outer layers, the same order at both ends
            dict(
                VE_TABLES=PAIRS,
                VE_LAYOUT="e = [t(idx) for t in self.ves]\n        ves = [e[0]] + [None] * (n - 2) + [e[1]]",
            ),
        ],
        [
            dict(VE_TABLES=ONE_TABLE, VE_LAYOUT="e = self.ve(idx)\n        ves = [None, e, e, None]"),
            dict(VE_TABLES=ONE_TABLE, VE_LAYOUT="e = self.ve(idx)\n        ves = [e] + [None] * (n - 1)"),  # one end
            dict(VE_TABLES=ONE_TABLE, VE_LAYOUT="ves = [self.ve(idx)] * n"),  # every block
            dict(VE_TABLES=ONE_TABLE, VE_LAYOUT="e = self.ve(idx)\n        ves = [e, e, None, e]"),  # all but one
            dict(VE_TABLES=PAIRS, VE_LAYOUT="ves = [self.ves[min(i, n - 1 - i)](idx) for i in range(n)]"),
        ],
    ),
    "separate_value_tables": (
        [
            dict(VE_TABLES=PAIRS, VE_LAYOUT="ves = [self.ves[min(i, n - 1 - i)](idx) for i in range(n)]"),
            dict(  # tables as attributes of their own
                VE_TABLES="self.ve_a = nn.Embedding(config.vocab_size, C)\n"
                "        self.ve_b = nn.Embedding(config.vocab_size, C)",
                VE_LAYOUT="a, b = self.ve_a(idx), self.ve_b(idx)\n        ves = [a, b, b, a]",
            ),
            dict(  # raw weight matrices, looked up with F.embedding
                VE_TABLES="self.vw = nn.ParameterList([nn.Parameter(torch.randn(config.vocab_size, C)) "
                "for _ in range(n // 2)])",
                VE_LAYOUT="e = [F.embedding(idx, w) for w in self.vw]\n        ves = e + e[::-1]",
            ),
        ],
        [
            dict(  # one wide table, viewed as one slice per pair
                VE_TABLES=WIDE_TABLE,
                VE_LAYOUT="e = self.ve(idx).view(*idx.shape, n // 2, C)\n"
                "        ves = [e[..., min(i, n - 1 - i), :] for i in range(n)]",
            ),
            dict(  # one wide table, sliced by columns
                VE_TABLES=WIDE_TABLE,
                VE_LAYOUT="e = self.ve(idx)\n        pair = [min(i, n - 1 - i) for i in range(n)]\n"
                "        ves = [e[..., j * C : (j + 1) * C] for j in pair]",
            ),
            dict(VE_TABLES=ONE_TABLE, VE_LAYOUT="ves = [self.ve(idx)] * n"),  # one table for every block
        ],
        dict(
            VE_TABLES=WIDE_TABLE, VE_LAYOUT="half = self.ve(idx).chunk(n // 2, dim=-1)\n        ves = half + half[::-1]"
        ),
    ),
    "blockwise_orthogonal": (
        [
            dict(UPDATE=BY_BLOCKS),
            dict(UPDATE=BY_BLOCKS.replace("torch.cat([polar(b) for b in g.chunk(3)])", VMAPPED)),
            dict(  # a setting of the parameter group, given where the optimiser is configured
                UPDATE="torch.cat([polar(b) for b in g.chunk(group['split'])])",
                GROUPS="groups = [dict(params=[p for p in matrices if p.size(0) == 3 * p.size(1)], split=3), "
                "dict(params=[p for p in matrices if p.size(0) != 3 * p.size(1)])]",
            ),
        ],
        [dict(UPDATE="polar(g) * 2"), dict(UPDATE=BY_BLOCKS.replace("g.chunk(3)", "g.chunk(2)"))],
    ),
    # record i scales every orthogonalised update to RMS 1; record i+1 scales tall weights only
    "update_shape_scale": (
        [
            dict(UPDATE="polar(g) * max(1, g.size(0) / g.size(1)) ** 0.5"),
            dict(UPDATE="polar(g) * (math.sqrt(g.size(0) / g.size(1)) if g.size(0) > g.size(1) else 1.0)"),
            dict(UPDATE="polar(g) * (max(g.shape) / g.shape[1]) ** 0.5"),
            dict(  # chosen by name from a table, in a setting of the parameter group
                LINEAR=SCALE_TABLE,
                UPDATE="polar(g) * SCALES[group['scale']](*g.shape)",
                GROUPS="groups = [dict(params=matrices, scale='tall')]",
            ),
        ],
        [
            dict(UPDATE="polar(g)"),  # no scale at all
            dict(UPDATE="polar(g) * g.size(1) ** 0.5"),  # by the inputs
            dict(UPDATE="polar(g) * 2 * max(g.size(0), g.size(1)) ** 0.5"),  # a larger step
            dict(
                LINEAR=SCALE_TABLE,
                UPDATE="polar(g) * SCALES[group['scale']](*g.shape)",
                GROUPS="groups = [dict(params=matrices, scale='all')]",
            ),
        ],
        dict(UPDATE="polar(g) * max(g.size(0), g.size(1)) ** 0.5"),
    ),
    "lr_plateau": (
        [
            dict(SCHEDULE=LINEAR_FLOOR),  # a constant stretch, then a cooldown to zero
            dict(  # a warmup, a constant stretch and a cooldown, as branches
                SCHEDULE="if it < 2:\n        return (it + 1) / 2\n"
                "    if it < args.num_iterations - args.warmdown_iters:\n        return 1.0\n"
                "    return (args.num_iterations - it) / args.warmdown_iters"
            ),
            dict(SCHEDULE="return float(torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2])[it])"),
            dict(SCHEDULE="return 1.0"),  # a trapezoid whose warmup and cooldown the defaults leave empty
        ],
        [
            dict(SCHEDULE="return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * it / args.num_iterations))"),
            dict(SCHEDULE="return max(0.1, 0.7**it)"),
            dict(SCHEDULE="return 1.0 - 0.9 * it / args.num_iterations"),
        ],
        dict(SCHEDULE="return (0.1 + (1 - it / args.num_iterations)) / 1.1"),  # a linear decay to a floor
    ),
    "lr_floor": (
        [
            dict(SCHEDULE=LINEAR_FLOOR.replace("min(1.0, ", "min(1.0, FLOOR + (1 - FLOOR) * ")),
            dict(SCHEDULE="w = " + LINEAR_FLOOR[7:] + "\n    return w + (1 - w) * 0.1"),
            dict(SCHEDULE=LINEAR_FLOOR.replace("return min", "return max(0.1, min") + ")"),
        ],
        [
            dict(SCHEDULE=LINEAR_FLOOR.replace("return", "return 0.5 *")),
            dict(SCHEDULE="return 1.0 - it / args.num_iterations"),
        ],
    ),
}


def script(**parts) -> str:
    return _filled(SCRIPT, BASE, parts)


def blocks_script(**parts) -> str:
    return _filled(BLOCKS_SCRIPT, BLOCKS_BASE, parts)


def _filled(template: str, base: dict, parts: dict) -> str:
    text = template
    for key, value in {**base, **parts}.items():
        text = text.replace(key, value)
    return text


SPELLINGS = [(probe, script, *(CASES[probe] + ({},))[:3]) for probe in sorted(CASES)] + [
    (probe, blocks_script, *(BLOCK_CASES[probe] + ({},))[:3]) for probe in sorted(BLOCK_CASES)
]


@pytest.mark.parametrize(("probe", "build", "has", "lacks", "before"), SPELLINGS, ids=[c[0] for c in SPELLINGS])
def test_every_spelling_of_the_behaviour_measures_alike(probe, build, has, lacks, before):
    def value(**parts):
        return probe_worker.measure(build(**parts), [probe])[probe]["value"]

    base = value(**before)
    target = value(**has[0])
    assert tells_apart(base, target, probe), (probe, base, target)
    for parts in has:
        assert judge(probe, base, target, value(**parts)).decided is True, (probe, parts)
    for parts in lacks:
        assert judge(probe, base, target, value(**parts)).decided is not True, (probe, parts)


def test_a_probe_decides_only_where_it_tells_the_records_apart():
    assert judge("p", False, True, True).decided is True
    assert judge("p", None, True, False).decided is False
    assert judge("p", True, True, False).decided is None  # record i has it already
    assert judge("p", False, True, None).decided is None  # the candidate cannot be measured
    assert judge("p", 1e30, 30.0, 30.5).decided is True
    # a count differs by one layer's worth: 12 attention calls against 11
    assert judge("attention_calls", 12.0, 11.0, 11.0).decided is True
    assert judge("attention_calls", 12.0, 11.0, 12.0).decided is False
    assert judge("attention_calls", 12.0, 11.0, 10.0).decided is None
    assert judge("p", 12.0, 11.0, 11.0).decided is None  # a measure, not a count: too close to tell
    assert judge("p", 30.0, 15.0, 29.0).decided is False
    assert judge("p", 30.0, 15.0, 20.0).decided is None  # in between: the static layers decide
    assert judge("p", 30.0, 31.0, 31.0).decided is None
    # a setting whose idea is its direction: moved the same way at least half as far, or not
    assert judge("attention_scale", 0.088, 0.12, 0.11).decided is True
    assert judge("attention_scale", 0.088, 0.12, 0.2).decided is True
    assert judge("attention_scale", 0.088, 0.12, 0.075).decided is False
    assert judge("attention_scale", 0.088, 0.12, 0.089).decided is False
    assert judge("attention_scale", 0.088, 0.12, 0.098).decided is None


def test_probes_are_chosen_by_the_innovation_name():
    assert probes_for("ReLU squared") == ["squared_relu"]
    assert probes_for("logit softcap 15") == ["bounded_logits"]
    assert probes_for("Muon optimizer") == ["orthogonal_update"]
    assert probes_for("re-tuned warmup and Muon lr") == []
    assert probes_for("Muon momentum warmup") == ["rising:momentum"]
    assert probes_for("attention window warmup") == ["rising:window"]
    assert probes_for("Muon per-block QKV orthogonalisation") == ["orthogonal_update", "blockwise_orthogonal"]
    assert probes_for("half-truncated rotary") == ["relative_positions", "rotation_free_channels"]
    assert probes_for("dropped attention layer") == probes_for("drop one attention layer") == ["attention_calls"]
    assert probes_for("bf16 activations (CastedLinear)") == ["cast_linears"]
    assert probes_for("FP8 in CastedLinear") == []
    assert probes_for("FP8 lm_head") == probes_for("head matmul in fp8") == ["fp8_head"]
    assert probes_for("Newton-Schulz reformulation") == ["gram_squaring_share"]
    assert probes_for("batched Newton-Schulz") == ["stacked_orthogonal"]  # no reformulation
    assert probes_for("learning-rate floor 0.1") == ["lr_floor"]
    assert probes_for("bf16 embeddings") == ["bf16_embeddings"]
    assert probes_for("gradient normalisation") == ["unit_gradients"]
    assert probes_for("head size 128") == ["head_width"]
    assert probes_for("batched Muon") == ["orthogonal_update", "stacked_orthogonal"]
    assert probes_for("Muon rescaled") == ["orthogonal_update", "update_shape_scale"]
    # how Muon communicates is no orthogonalisation
    assert probes_for("Muon single-buffer all_gather") == probes_for("faster Muon communication") == []
    assert probes_for("bf16 activations (CastedLinear)") == ["cast_linears"]
    assert probes_for("trapezoid learning-rate schedule") == probes_for("trapezoidal lr schedule") == ["lr_plateau"]
    assert probes_for("U-net value embeddings") == ["mirrored_value_embeddings"]
    assert probes_for("norm after embedding") == probes_for("RMS norm after the embedding") == ["normalised_embedding"]
    assert probes_for("sparse value embeddings") == ["ends_only_value_embeddings"]
    assert probes_for("split value embeddings") == ["separate_value_tables"]
    assert probes_for("embedding skip connections") == ["embedding_skips"]
    assert probes_for("U-net skip connections") == []
    assert probes_for("value embeddings") == ["values_read_embeddings"]
    assert probes_for("value residual") == ["values_read_first_attention"]
    assert probes_for("block sliding window") == ["block_window"]
    assert probes_for("long-short sliding windows") == ["mixed_windows"]
    assert probes_for("smaller linear init") == ["init_scale"]
    assert probes_for("zero-init projections") == ["zero_projections"]
    assert probes_for("attention scale 0.12") == probes_for("softmax scale") == ["attention_scale"]
    assert probes_for("document-causal sliding-window attention") == []


TORCHRUN_SCHEDULE = """
import os
import torch
import torch.nn as nn

rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


class Hyperparameters:
    num_iterations = 1390
    cooldown_frac = 0.4


args = Hyperparameters()


class Sharded(torch.optim.Optimizer):
    def __init__(self, params, lr, rank, world_size):
        super().__init__(params, dict(lr=lr))
        self.rank, self.world_size = rank, world_size

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(p.grad, alpha=-group["lr"])


model = nn.Linear(8, 8)
optimizers = [Sharded(model.parameters(), lr=0.05, rank=rank, world_size=world_size)]


def get_lr(it):
    w = min((1 - it / args.num_iterations) / args.cooldown_frac, 1.0)
    return END


schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, get_lr) for opt in optimizers]
for step in range(args.num_iterations + 1):
    if step == args.num_iterations:
        break
    model(next(train_loader)).sum().backward()
    for opt, sched in zip(optimizers, schedulers):
        opt.step()
        sched.step()
"""


def test_the_floor_of_a_torchrun_scripts_scheduler_is_measured_at_its_last_steps():
    """A script for torchrun (its rank read from the environment, its optimiser stepping gradients the
    probe does not have) whose LambdaLR scheduler counts its own calls: the rate is followed over the
    sampled steps as if every step had run, and read where the run ends."""

    def floor(end):
        return probe_worker.measure(TORCHRUN_SCHEDULE.replace("END", end), ["lr_floor"])["lr_floor"]["value"]

    base, target = floor("w"), floor("w * 1.0 + (1 - w) * 0.1")
    assert base == pytest.approx(0.0, abs=0.01) and target == pytest.approx(0.1, abs=0.01)
    assert judge("lr_floor", base, target, floor("max(0.1, w)")).decided is True
    assert judge("lr_floor", base, target, floor("0.5 * w")).decided is False


def test_a_statement_that_never_ends_is_cut_off_once_and_skipped_after(monkeypatch):
    """A data generator that waits for shards the sandbox does not hold (``while True`` over no files)
    would hold up every probe of the request: the statement is cut off at its limit, skipped at the
    later steps and by the later probes, and the loop's other statements are measured."""
    import time

    spinning = TORCHRUN_SCHEDULE.replace(
        "model = nn.Linear(8, 8)\n",
        "def batches(files):\n    while True:\n        for name in files:\n            yield name\n\n\n"
        "train_loader = batches([])\nmodel = nn.Linear(8, 8)\n",
    ).replace("END", "w * 1.0 + (1 - w) * 0.1")
    monkeypatch.setattr(probe_worker, "STATEMENT_LIMIT_S", 0.5)
    start = time.monotonic()
    out = probe_worker.measure(spinning, ["lr_floor", "lr_plateau"])
    assert out["lr_floor"]["value"] == pytest.approx(0.1, abs=0.01)
    assert out["lr_plateau"]["value"] is not None
    assert time.monotonic() - start < 20 * 0.5  # not once per step (120) or per probe


TOO_BIG_TO_BUILD = """
import torch
import torch.nn as nn


class GPT(nn.Module):
    def __init__(self, vocab_size: int, model_dim: int):
        super().__init__()
        assert vocab_size * model_dim < 10**6, "the script's own size: not on this machine"
        self.embed = nn.Embedding(vocab_size, model_dim)
        self.lm_head = nn.Linear(model_dim, vocab_size, bias=False)
        self.scale = nn.Parameter(torch.ones(model_dim))


model = GPT(vocab_size=50304, model_dim=768)
tables = [model.embed.weight, model.lm_head.weight]
optimizers = [torch.optim.Adam(tables, lr=0.01), torch.optim.SGD([model.scale], lr=0.1)]
schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lambda it: max(0.1, 1 - it / 100)) for opt in optimizers]
for step in range(100):
    model(x).backward()
    for opt, sched in zip(optimizers, schedulers):
        opt.step()
        sched.step()
"""


def test_gradients_changed_otherwise_are_not_unit_and_untouched_ones_cannot_be_told():
    """Clipped gradients measure False; gradients the loop's body leaves alone (a hook or the
    optimiser, which the probe does not run, may normalise them) cannot be told."""

    def value(**parts):
        return probe_worker.measure(script(**parts), ["unit_gradients"])["unit_gradients"]

    assert all(value(**parts)["value"] is False for parts in UNIT_GRADIENTS_LACKING)
    untouched = value(LOOP="pass")
    assert untouched["value"] is None and "leaves the gradients" in untouched["why"]


def test_the_optimisers_the_loop_follows_are_built_over_the_probes_tiny_model():
    """The statements before the loop build the script's optimisers over the tiny model the other
    probes measure (its parameter groups are the script's), not over the model at the script's
    size: that takes most of a second for the speedrun's, and here it cannot be built at all."""
    assert probe_worker.measure(TOO_BIG_TO_BUILD, ["lr_floor"])["lr_floor"]["value"] == pytest.approx(0.1)
    # built there first, the tiny model is the one later probes measure: its weights drawn as the
    # script draws them, not left at zero as the statements' own full-size weights are
    alone = probe_worker.measure(TOO_BIG_TO_BUILD, ["init_scale"])["init_scale"]["value"]
    after = probe_worker.measure(TOO_BIG_TO_BUILD, ["lr_floor", "init_scale"])["init_scale"]["value"]
    assert alone == pytest.approx(3**-0.5, rel=0.05) and after == pytest.approx(alone, rel=0.05)


BF16_SCRIPT = """
import torch
import torch.nn as nn


class GPT(nn.Module):
    def __init__(self, vocab_size: int, model_dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, model_dimDTYPE)
        self.proj = nn.Linear(model_dim, model_dim, bias=False)
        self.gain = nn.Parameter(torch.ones(model_dim))

    def forward(self, idx):
        return (self.proj(self.embed(idx).float()) * self.gain).sum()


model = GPT(vocab_size=50304, model_dim=768).cuda()
CAST
optimizer = torch.optim.Adam(model.parameters())
for step in range(10):
    model(idx).backward()
    optimizer.step()
"""


@pytest.mark.parametrize(
    "dtype, cast, expected",
    [
        ("", "for m in model.modules():\n    if isinstance(m, nn.Embedding):\n        m.bfloat16()", True),
        (", dtype=torch.bfloat16", "", True),  # made in bf16
        ("", "model.embed.to(torch.bfloat16)", True),
        ("", "", False),
        ("", "model = model.bfloat16()", False),  # the whole model
        ("", "model = model.bfloat16()\nmodel.proj.float()", False),  # record i's: the scalars stay bf16
        ("", "model.proj.bfloat16()", False),  # another weight
    ],
)
def test_bf16_embeddings_are_the_tables_alone_in_bf16_once_the_model_is_built(dtype, cast, expected):
    text = BF16_SCRIPT.replace("DTYPE", dtype).replace("CAST", cast)
    assert probe_worker.measure(text, ["bf16_embeddings"])["bf16_embeddings"]["value"] is expected


MAIN_BLOCK_SCHEDULE = """
import argparse
import torch
import torch.nn as nn

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_iterations", type=int, default=10)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--warmdown_iters", type=int, default=WARMDOWN)
    args = parser.parse_args()
    assert torch.cuda.is_available()
    model = nn.Linear(8, 8).cuda()
    model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[0])
    optimizer = model.module.configure_optimizers()

    def get_lr(it):
        RULE

    for step in range(args.num_iterations + 1):
        loss = model(x)
        lr = get_lr(step)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        optimizer.step()
"""


def test_a_schedule_in_a_main_block_is_followed_with_the_scripts_defaults():
    """The speedrun's first records train in an ``if __name__ == "__main__":`` block, with a schedule
    defined there that reads the parsed arguments, and an optimiser that cannot be built off a GPU:
    the loop is found there, the schedule sees the arguments' defaults (whatever the probing process's
    own command line), and the rate is followed through the numbers the loop assigns."""

    def plateau(rule, warmdown="0"):
        text = MAIN_BLOCK_SCHEDULE.replace("RULE", rule).replace("WARMDOWN", warmdown)
        return probe_worker.measure(text, ["lr_plateau"])["lr_plateau"]

    to_floor = "return (0.1 + (1 - it / args.num_iterations)) / 1.1 * args.learning_rate"
    trapezoid = (
        "if it < args.num_iterations - args.warmdown_iters:\n            return args.learning_rate"
        "\n        return args.learning_rate * (args.num_iterations - it) / args.warmdown_iters"
    )
    assert plateau(to_floor)["value"] is False
    assert plateau(trapezoid)["value"] is True  # its last step divides by zero: the rate stays
    assert plateau(trapezoid, warmdown="4")["value"] is True
    # a cooldown longer than the default run decays from the start to zero: not told apart
    assert plateau(trapezoid, warmdown="2000")["value"] is None


def test_the_probes_tokens_fit_every_token_table():
    """A token embedding left at the real vocabulary (a literal 50257) beside value embeddings built at
    the probe's tiny one: the tokens fed to the model index every table."""
    import torch

    model = torch.nn.ModuleDict({"wte": torch.nn.Embedding(50257, 8), "ve": torch.nn.Embedding(256, 8)})
    tokens = probe_worker._tokens(model, 4096)
    assert tokens.max() < 256 and len(set(tokens.flatten().tolist())) > 100


def test_a_script_that_cannot_load_is_left_to_the_static_layers():
    out = probe_worker.measure("def broken(:\n", ["squared_relu"])
    assert out["squared_relu"]["value"] is None and "parse" in out["squared_relu"]["why"]
    out = probe_worker.measure("x = 1\n", ["squared_relu", "orthogonal_update"])
    assert all(v["value"] is None and v["why"] for v in out.values())


@pytest.mark.parametrize(
    "cap", ["pass", "logits = logits / 2", "logits = logits.float() * 3", "logits = logits.clamp(-1e6, 1e6)"]
)
def test_logits_without_a_cap_measure_alike_whatever_their_size(cap):
    """No cap is one measurement, not the size the logits happen to reach: sizes of ~1e5 varied by 20%
    between scripts without a cap (with rounding), past the 10% within which a candidate measures as
    record i, so such a candidate was left undecided."""
    assert probe_worker.measure(script(CAP=cap), ["bounded_logits"])["bounded_logits"]["value"] == 1e30


COMMAND_LINE = """import argparse

parser = argparse.ArgumentParser(description="a run")
parser.add_argument("--logit-cap", type=float, default=CAP)
parser.add_argument("--num-iterations", type=int, default=20)
args = parser.parse_args()
"""


@pytest.mark.parametrize("cap", ["30.0", "15.0"])
def test_settings_of_a_module_level_command_line_are_its_defaults(cap):
    """heldout24's argparse style: the parser built, its options added and ``args = parser.parse_args()``
    at module level. The model reads ``args.logit_cap``: loading runs the parser's statements, so the
    cap is measured at the option's default (whatever the probing process's own command line)."""
    text = script(CAP="logits = args.logit_cap * torch.tanh(logits / args.logit_cap)").replace(
        "args = Hyperparameters()\n", COMMAND_LINE.replace("CAP", cap)
    )
    assert "parse_args" in text
    assert probe_worker.measure(text, ["bounded_logits"])["bounded_logits"]["value"] == pytest.approx(float(cap))


def test_bfloat16_products_are_computed_in_float32_and_rounded_as_torch_rounds_them():
    """A product of bfloat16 matrices in a script written for a GPU is computed in float32 and rounded
    to bfloat16 (torch's own bfloat16 product on a CPU without bfloat16 instructions made one real
    record's distributed-Muon probe take 20 s): the same result type, the values within one bfloat16
    rounding of torch's, mixed types refused as torch refuses them, and autocast's casts kept."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    torch.manual_seed(0)
    a, b = torch.randn(64, 96).bfloat16(), torch.randn(96, 32).bfloat16()
    exact = (a.float() @ b.float()).bfloat16()
    calls = {
        "@": lambda: a @ b,
        "matmul": lambda: torch.matmul(a, b),
        "Tensor.mm": lambda: a.mm(b),
        "linear": lambda: F.linear(a, b.T),
        "einsum": lambda: torch.einsum("ij,jk->ik", a, b),
        "addmm": lambda: torch.addmm(torch.zeros(64, 32, dtype=torch.bfloat16), a, b),
        "bmm": lambda: torch.bmm(a[None], b[None])[0],
    }
    reached_torch = []  # the types of the matrices each product hands on to torch

    class Products(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func in probe_worker._products(torch):
                reached_torch.append({a.dtype for a in args if isinstance(a, torch.Tensor)})
            return func(*args, **(kwargs or {}))

    with Products(), probe_worker._devices_read_as_cpu("dtype=torch.bfloat16"):
        for name, call in calls.items():
            out = call()
            assert out.dtype == torch.bfloat16 and torch.equal(out, exact), name
        assert reached_torch == [{torch.float32}] * len(calls)
        with pytest.raises(RuntimeError):
            a @ b.float()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert (a.float() @ b.float()).dtype == torch.bfloat16
            assert torch.equal(a @ b, exact)
    for name, call in calls.items():  # torch's own, outside the mode: the same to bfloat16 rounding
        assert torch.allclose(call().float(), exact.float(), rtol=2**-7, atol=1e-2), name


@pytest.fixture(scope="module")
def prober():
    p = Prober()
    if p.unavailable:
        pytest.skip(f"no sandbox here: {p.unavailable}")
    yield p
    p.close()


def test_a_script_that_patches_a_library_does_not_change_what_the_next_one_measures(prober):
    """Each script is measured in a process of its own: a candidate that patches ``nn.Linear.forward``
    to cast its weights made every plain linear layer measured after it look cast (heldout8 credited a
    hyperparameter-only candidate and an fp16 decoy with record 10's CastedLinear)."""
    plain = script(LINEAR="Lin = lambda n_in, n_out: nn.Linear(n_in, n_out, bias=False)")
    patching = plain.replace(
        "import torch.nn.functional as F\n",
        "import torch.nn.functional as F\n\nnn.Linear.forward = lambda self, x: F.linear(x, self.weight.to(x.dtype))\n",
        1,
    )
    assert prober.measure(patching, ["cast_linears"])["cast_linears"]["value"] is True
    assert (
        prober.measure(plain + "\n# measured after the patching script\n", ["cast_linears"])["cast_linears"]["value"]
        is False
    )


LOSS_PATCH = """
stock_loss = F.cross_entropy


def upcast_loss(input, target, *args, **kwargs):
    return stock_loss(input.CAST, target, *args, **kwargs)


PATCH
"""


@pytest.mark.parametrize(
    ("cast", "patch", "expected"),
    [
        ("float()", "F.cross_entropy = upcast_loss", True),
        ("to(torch.float32)", "setattr(F, 'cross_entropy', upcast_loss)", True),
        ("bfloat16()", "F.cross_entropy = upcast_loss", False),
        ("float()", "upcast_loss.patched = True", False),  # defined, never put in the loss's place
    ],
)
def test_logits_upcast_by_a_patch_of_the_loss_reach_it_in_float32(cast, patch, expected):
    """A script that wraps the library's loss (record 3's cast, written as a monkey-patch) is measured
    as it patches itself; in a process of its own, so the patch dies with it."""
    text = script(OPT=LOSS_PATCH.replace("CAST", cast).replace("PATCH", patch))
    assert probe_worker.isolated(text, ["fp32_logits"])["fp32_logits"]["value"] is expected


def test_a_patch_that_runs_too_long_is_skipped_and_the_rest_loads(monkeypatch):
    monkeypatch.setattr(probe_worker, "STATEMENT_LIMIT_S", 0.5)
    spinning = "def spin(f):\n    while True:\n        pass\n\n\nGPT.forward = spin(GPT.forward)\nBOUND = 30\n"
    module = probe_worker.load(script(OPT=spinning))
    assert module.BOUND == 30 and module.GPT.forward.__name__ == "forward"


MOMENTUM_STREAM = """
def momentum_stream():
    yield from (START + STEP * s for s in range(10))
    while True:
        yield END
"""


@pytest.mark.parametrize(
    ("start", "step", "end", "rising"), [("0.85", "0.01", "0.95", True), ("0.95", "-0.01", "0.85", False)]
)
def test_a_loop_over_its_range_zipped_with_streams_of_values_is_followed(start, step, end, rising):
    """``for step, momentum in zip(range(n), momentum_stream())``: the loop is the training loop, and
    each step's values of the streams are what the body reads."""
    stream = MOMENTUM_STREAM.replace("START", start).replace("STEP", step).replace("END", end)
    text = script(OPT=stream, LOOP="opt.param_groups[0]['momentum'] = momentum").replace(
        "for step in range(args.num_iterations):",
        "for step, momentum in zip(range(args.num_iterations), momentum_stream()):",
    )
    assert probe_worker.measure(text, ["rising:momentum"])["rising:momentum"]["value"] is rising


# a registry of update layouts filled by decorators that a function of the script's makes, and a
# training flow at module level that picks one from the registry by name
REGISTRY_FLOW = """
import torch
import torch.nn as nn

LAYOUTS = {}


def registrar(table):
    def register(name):
        def add(fn):
            table[name] = fn
            return fn

        return add

    return register


register_layout = registrar(LAYOUTS)


def polar(g):
    U, S, Vh = torch.linalg.svd(g, full_matrices=False)
    return U @ Vh


@register_layout("whole")
def whole(g):
    return polar(g)


@register_layout("blocks")
def blocks(g):
    return torch.cat([polar(b) for b in g.split(g.shape[1])])


def pick(table, name):
    return table[name]


class Ortho(torch.optim.Optimizer):
    def __init__(self, params, lr=0.02, layout=whole):
        super().__init__(params, dict(lr=lr, layout=layout))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.sub_(group["lr"] * group["layout"](p.grad))


qkv = nn.Linear(16, 48, bias=False)
opt = Ortho([dict(params=[qkv.weight], layout=pick(LAYOUTS, "CHOSEN"))])
for step in range(10):
    opt.step()
"""


@pytest.mark.parametrize(("layout", "blockwise"), [("blocks", True), ("whole", False)])
def test_a_registry_filled_at_loading_is_the_one_the_training_flow_reads(layout, blockwise):
    """Statements loading ran are not run again before the loop: ``LAYOUTS = {}`` would empty the
    registry its decorators filled, and the optimiser the flow configures from it would not build."""
    text = REGISTRY_FLOW.replace("CHOSEN", layout)
    assert probe_worker.measure(text, ["blockwise_orthogonal"])["blockwise_orthogonal"]["value"] is blockwise


TENSOR_TABLE = """
def make_tables(n):
    return {"cos": torch.ones(n, 4)}


def refill(tables):
    tables["cos"] = torch.zeros(8, 4)


TABLES = make_tables(8)
REFILLED = refill(TABLES)
BOUND = 30
"""


def test_a_table_of_tensors_changed_at_loading_loads():
    """A table the script's own function makes, whose tensor another of its functions replaces while
    loading: the comparison that tells a filled table fails on tensors, and the script still loads."""
    module = probe_worker.load(script(OPT=TENSOR_TABLE))
    assert module.BOUND == 30 and float(module.TABLES["cos"].sum()) == 0.0


def test_the_sandboxed_worker_answers_as_the_one_in_process(prober):
    text = script(ACT="h.clamp(min=0) ** 2", QK="q, k = rope(q), rope(k)")
    names = ["squared_relu", "relative_positions", "qk_normalised"]
    assert prober.measure(text, names) == probe_worker.measure(text, names)


def test_gold_and_null_stay_exact_with_probes_on_every_mini_task(prober, mini_store):
    for task in mini_store.tasks("mini"):
        base, target, innovations = load_task(mini_store, "mini", task.number)
        if not any(probes_for(i.name) for i in innovations):
            continue
        gold = attribute(base, target, target, innovations, prober)
        null = attribute(base, target, base, innovations, prober)
        assert all(g.reproduced for g in gold.innovations), (task.number, [g.name for g in gold.innovations])
        assert not any(g.reproduced for g in null.innovations), task.number


@pytest.fixture(scope="module")
def mini_store():
    from test_analysis_mini_track import mini_store as store

    return store()


def test_reports_say_a_probe_decided_and_what_it_measured(prober, mini_store):
    from analysis.report import to_json, to_markdown

    base, target, innovations = load_task(mini_store, "mini", 4)
    res = attribute(base, target, base, innovations, prober)
    doc = to_json(res, "mini", 4, {"label": "null"})
    relu = next(g for g in doc["innovations"] if g["name"] == "ReLU squared")
    assert relu["layer"] == "probe" and relu["probe"]["target"] is True and relu["probe"]["decided"] is False
    assert "behaviour `squared_relu`: record i no, record i+1 yes, candidate no" in to_markdown(doc)


# A model written for the GPU, as the speedrun's later records are: CUDA tensors, FlexAttention with a
# block mask counted in 128-token blocks, a flat sequence for input, size arguments instead of a
# config, the window an extra argument of the forward pass, and a head taken another way in training.
GPU_SCRIPT = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask, flex_attention

torch.empty(1, device="cuda").zero_()  # a module-level statement that needs the GPU: not kept
BLOCK = 128


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.width = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x, mask):
        T = x.size(1)
        q, k, v = self.qkv(x).view(1, T, 3, self.heads, self.width).unbind(2)
        y = flex_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), block_mask=mask)
        return self.out(y.transpose(1, 2).reshape(1, T, -1))


class Layer(nn.Module):
    def __init__(self, dim, heads, attends):
        super().__init__()
        self.attn = Attention(dim, heads) if attends else None
        self.fc = nn.Linear(dim, dim, bias=False)

    def forward(self, x, mask):
        if self.attn is not None:
            x = x + self.attn(F.rms_norm(x, (x.size(-1),)), mask)
        return x + self.fc(F.rms_norm(x, (x.size(-1),))).relu()


class GPT(nn.Module):
    def __init__(self, vocab_size: int, num_layers: int, num_heads: int, model_dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, model_dim)
        self.layers = nn.ModuleList([Layer(model_dim, num_heads, i != SKIPPED) for i in range(num_layers)])
        self.lm_head = nn.Linear(model_dim, vocab_size, bias=False)

    def forward(self, inputs, targets, window_num_blocks):
        assert inputs.ndim == 1 and len(inputs) % BLOCK == 0
        n = len(inputs) // BLOCK
        blk = torch.arange(n, dtype=torch.int32, device="cuda")
        visible = (blk[:, None] >= blk[None, :]) & (blk[:, None] - blk[None, :] < window_num_blocks)
        full = visible & (blk[:, None] > blk[None, :])
        partial = visible & ~full

        def ordered(m):
            order = m.argsort(dim=-1, descending=True, stable=True).to(torch.int32)
            return m.sum(-1, dtype=torch.int32)[None, None], order[None, None]

        causal = lambda b, h, q, k: q >= k
        mask = BlockMask.from_kv_blocks(*ordered(partial), *ordered(full), BLOCK_SIZE=BLOCK, mask_mod=causal)
        x = self.embed(inputs[None].cuda())
        for layer in self.layers:
            x = layer(x, mask)
        x = F.rms_norm(x, (x.size(-1),))
        logits = (x @ self.lm_head.weight.T.half().float()) if self.training else self.lm_head(x)
        logits = CAP * torch.tanh(logits / CAP)
        return F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.cuda())


model = GPT(vocab_size=50304, num_layers=SIZE_LAYERS, num_heads=6, model_dim=768).cuda()
"""


def gpu_script(skipped=7, layers=12, cap=15.0):
    return GPU_SCRIPT.replace("SKIPPED", str(skipped)).replace("SIZE_LAYERS", str(layers)).replace("CAP", str(cap))


def test_a_script_written_for_the_gpu_is_measured_on_cpu():
    names = ["attention_calls", "bounded_logits", "block_window"]
    out = probe_worker.measure(gpu_script(), names)
    assert {n: out[n]["value"] for n in names} == {
        "attention_calls": 11.0,
        "bounded_logits": 15.0,
        "block_window": True,
    }
    # the depth is the script's own: a layer without attention is counted wherever it is
    assert probe_worker.measure(gpu_script(skipped=99), ["attention_calls"])["attention_calls"]["value"] == 12.0
    assert probe_worker.measure(gpu_script(skipped=3, layers=6), ["attention_calls"])["attention_calls"]["value"] == 5.0
    # a window counted in tokens cuts through blocks: not a block window
    tokens = gpu_script().replace(
        "causal = lambda b, h, q, k: q >= k", "causal = lambda b, h, q, k: (q >= k) & (q - k < 99)"
    )
    assert tokens != gpu_script()
    assert probe_worker.measure(tokens, ["block_window"])["block_window"]["value"] is False
    # a window in tokens passed to the forward pass (the speedrun called it attn_blocksize) is no block window
    in_tokens = (
        gpu_script()
        .replace("window_num_blocks", "attn_blocksize")
        .replace(
            "causal = lambda b, h, q, k: q >= k", "causal = lambda b, h, q, k: (q >= k) & (q - k < attn_blocksize)"
        )
        .replace("blk[None, :] < attn_blocksize", "blk[None, :] < 99")
    )
    assert probe_worker.measure(in_tokens, ["block_window"])["block_window"]["value"] is False
    # a block count whose name does not say so is still a block window
    unnamed = gpu_script().replace("window_num_blocks", "sliding_window")
    assert probe_worker.measure(unnamed, ["block_window"])["block_window"]["value"] is True
    # a tensor made on the current CUDA device, by its number
    numbered = gpu_script().replace(
        'blk = torch.arange(n, dtype=torch.int32, device="cuda")',
        'blk = torch.arange(n, dtype=torch.int32, device=torch.device("cuda", torch.cuda.current_device()))',
    )
    assert numbered != gpu_script()
    assert probe_worker.measure(numbered, ["block_window"])["block_window"]["value"] is True


def test_long_and_short_windows_are_told_from_one_window_in_every_layer():
    def layers_alternate(short: str) -> str:
        two = (
            "        def window_mask(w):\n"
            "            visible = (blk[:, None] >= blk[None, :]) & (blk[:, None] - blk[None, :] < w)\n"
            "            full = visible & (blk[:, None] > blk[None, :])\n"
            "            return BlockMask.from_kv_blocks(\n"
            "                *ordered(visible & ~full), *ordered(full), BLOCK_SIZE=BLOCK, mask_mod=causal\n"
            "            )\n\n"
            f"        masks = [window_mask(window_num_blocks), window_mask({short})]\n"
        )
        one = (
            "        mask = BlockMask.from_kv_blocks("
            + "*ordered(partial), *ordered(full), BLOCK_SIZE=BLOCK, mask_mod=causal)"
        )
        assert one in gpu_script()
        text = gpu_script().replace(one + "\n", two)
        return text.replace(
            "        for layer in self.layers:\n            x = layer(x, mask)",
            "        for i, layer in enumerate(self.layers):\n            x = layer(x, masks[i % 2])",
        )

    def mixed(text: str):
        return probe_worker.measure(text, ["mixed_windows"])["mixed_windows"]["value"]

    assert mixed(gpu_script()) is False
    assert mixed(layers_alternate("window_num_blocks // 2")) is True
    assert mixed(layers_alternate("window_num_blocks")) is False  # two masks, one window
    # the short window passed to the forward pass apart from the long one
    apart = layers_alternate("short_num_blocks").replace(
        "def forward(self, inputs, targets, window_num_blocks):",
        "def forward(self, inputs, targets, window_num_blocks, short_num_blocks):",
    )
    assert "short_num_blocks):" in apart and mixed(apart) is True


SKIPS_SCRIPT = """
import torch
import torch.nn as nn
import torch.nn.functional as F

FIRST = {}


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.fc = nn.Linear(d, d)
        self.mix = nn.Parameter(torch.tensor([1.0, 0.0]))

    def forward(self, x, x0):
        INSIDE
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        VALUES
        x = x + F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return x + self.fc(x)


class GPT(nn.Module):
    def __init__(self, vocab_size=64, d=16, n=4):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, d)
        self.blocks = nn.ModuleList([Block(d) for _ in range(n)])
        self.skip = nn.Parameter(torch.zeros(n))
        self.lm_head = nn.Linear(d, vocab_size, bias=False)

    def forward(self, idx, targets):
        x = x0 = self.wte(idx)
        FIRST.clear()
        kept = []
        for i, block in enumerate(self.blocks):
            OUTSIDE
            x = block(x, x0)
            kept.append(x)
        logits = self.lm_head(x)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


model = GPT()
"""


def skips_script(INSIDE="pass", VALUES="pass", OUTSIDE="pass") -> str:
    return SKIPS_SCRIPT.replace("INSIDE", INSIDE).replace("VALUES", VALUES).replace("OUTSIDE", OUTSIDE)


def test_embedding_skips_are_the_embedding_read_by_every_block_however_mixed_in():
    def skips(**parts):
        return probe_worker.measure(skips_script(**parts), ["embedding_skips"])["embedding_skips"]["value"]

    assert skips() is False
    assert skips(INSIDE="x = self.mix[0] * x + self.mix[1] * x0") is True  # inside the block (the record's)
    assert skips(OUTSIDE="x = x + self.skip[i] * x0") is True  # before each block, at the model's level
    assert skips(INSIDE="x = torch.lerp(x, x0, torch.sigmoid(self.mix[1]))") is True  # a gate
    # a value residual (the first block's values in every later one) is not a skip from the embedding
    residual = "FIRST.setdefault('v', v)\n        v = 0.5 * (v + FIRST['v'])"
    assert skips(VALUES=residual) is False
    # nor are U-net skips between blocks, nor a skip into the last block only
    assert skips(OUTSIDE="x = x + self.skip[i] * kept[len(self.blocks) - 1 - i] if i >= 2 else x") is False
    assert skips(OUTSIDE="x = x + self.skip[i] * x0 if i == len(self.blocks) - 1 else x") is False


STACK_STEP = """
class Stacked(torch.optim.Optimizer):
    def __init__(self, params, lr=0.02):
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                g = FLAT
                U, S, Vh = torch.linalg.svd(g, full_matrices=False)
                GATHER
                p.sub_(group["lr"] * (U @ Vh).view_as(p))
"""
GATHERED = (
    "out = torch.empty(1, p.numel())\n"
    "                torch.distributed.all_gather_into_tensor(out, p.grad.flatten(), async_op=True).wait()"
)


@pytest.mark.parametrize(
    "flat, gather, expected",
    [
        ("p.grad", "pass", True),  # the stack's matrices at once (a batched SVD)
        ("p.grad", GATHERED, True),  # through a collective the one process gathers itself
        ("p.grad.view(len(p.grad), -1)", "pass", False),  # the stack flattened into one matrix
    ],
)
def test_a_stack_of_matrices_is_orthogonalised_matrix_by_matrix(flat, gather, expected):
    text = script(OPT=STACK_STEP.replace("FLAT", flat).replace("GATHER", gather))
    assert probe_worker.measure(text, ["stacked_orthogonal"])["stacked_orthogonal"]["value"] is expected
    assert probe_worker.measure(script(OPT=SIGN_STEP), ["stacked_orthogonal"])["stacked_orthogonal"]["value"] is False


def test_the_head_width_is_read_from_the_config_the_script_builds():
    """The first attention's channels per head, with the model built from the config class the
    script calls (a subclass of record i's config that it swaps in, its name need not end in
    ``Config``, rather than record i's, still defined) and the sizes its call gives."""
    assert probe_worker.measure(script(), ["head_width"])["head_width"]["value"] == 8.0
    fewer = script().replace("n_head: int = 2", "n_head: int = 1")
    assert probe_worker.measure(fewer, ["head_width"])["head_width"]["value"] == 16.0
    swapped = script(
        OPT="@dataclass\nclass GPTConfigWide(GPTConfig):\n    n_head: int = 1\n\n\n"
        "def make_model():\n    return GPT(GPTConfigWide())\n"
    )
    assert probe_worker.measure(swapped, ["head_width"])["head_width"]["value"] == 16.0
    # the sizes the script's own call gives, over the class's defaults: literal, computed, or a table
    for call, defined in [
        ("GPTConfig(n_head=1)", ""),
        ("GPTConfig(n_head=WIDTH // HEAD)", "WIDTH, HEAD = 16, 16\n"),
        ("GPTConfig(**arch)", "arch = dict(n_layer=2, n_head=1)\n"),
    ]:
        called = script().replace("model = GPT(GPTConfig())", f"model = GPT({call})")
        called = called.replace("args = Hyperparameters()\n", "args = Hyperparameters()\n" + defined)
        assert probe_worker.measure(called, ["head_width"])["head_width"]["value"] == 16.0, call
    # a size computed by a call is not computed: loading a script runs none of its code
    calling = script().replace("model = GPT(GPTConfig())", "model = GPT(GPTConfig(n_head=heads()))")
    calling = calling.replace(
        "args = Hyperparameters()\n",
        "args = Hyperparameters()\nCALLED = []\n\n\ndef heads():\n    CALLED.append(1)\n    return 1\n",
    )
    assert probe_worker.load(calling).CALLED == []


@pytest.mark.parametrize("view", ["SIZES", "SimpleNamespace(**SIZES)", "types.SimpleNamespace(**SIZES)"])
def test_a_model_built_from_a_table_of_settings_is_built_tiny_from_it(view):
    """``GPT(MODEL_TABLE)``: the model class takes a module-level table of settings (a dict read by
    key, or an attribute view of one) instead of a config class; it is built from the table, narrowed."""
    text = script(CAP="logits = self.cap * torch.tanh(logits / self.cap)")
    text = text.replace("self.heads = config.n_head", "self.heads = config.n_head\n        self.cap = config.cap")
    config_class = text[text.index("@dataclass\nclass GPTConfig") : text.index("def rope")]
    table = "SIZES = dict(vocab_size=50304, n_layer=2, n_embd=768, n_head=6, cap=15.0)"
    imports = "import types\nfrom types import SimpleNamespace"
    text = text.replace(config_class, f"{imports}\n\n{table}\nCONFIG = {view}\n\n\n")
    text = text.replace("GPT(GPTConfig())", "GPT(CONFIG)")
    if view == "SIZES":  # a dict is read by key
        text = re.sub(r"config\.(\w+)", r'config["\1"]', text)
    measured = probe_worker.measure(text, ["bounded_logits", "head_width"])
    assert measured["bounded_logits"]["value"] == pytest.approx(15.0)
    assert measured["head_width"]["value"] == 128.0  # 768 channels over 6 heads, narrowed to 2 heads of 128


def test_the_model_is_built_from_the_subclass_the_script_builds():
    subclass = (
        "class ShallowGPT(GPT):\n"
        "    def __init__(self, vocab_size, num_layers, num_heads, model_dim):\n"
        "        super().__init__(vocab_size, num_layers, num_heads, model_dim)\n"
        "        self.layers[3] = Layer(model_dim, num_heads, False)\n\n\n"
    )
    defined = gpu_script().replace("model = GPT(", subclass + "model = GPT(")
    built = defined.replace("model = GPT(", "model = ShallowGPT(")
    assert probe_worker.measure(defined, ["attention_calls"])["attention_calls"]["value"] == 11.0
    assert probe_worker.measure(built, ["attention_calls"])["attention_calls"]["value"] == 10.0


def test_a_model_that_takes_only_the_speedruns_64k_tokens_is_probed_up_to_its_first_attention():
    # 512 blocks, and a per-block quantity of the inputs that must match them: nothing shorter runs
    fixed = gpu_script().replace(
        "n = len(inputs) // BLOCK",
        "n = 512\n        starts = inputs.view(-1, BLOCK)[:, 0] >= 0\n        assert len(starts) == n",
    )
    out = probe_worker.measure(fixed, ["block_window", "attention_calls"])
    assert out["block_window"]["value"] is True
    assert out["attention_calls"]["value"] is None  # a whole forward pass at 64K tokens is not run here
    # the block window's mask is read where it is made: the 64K positions' work after it (which takes
    # seconds on CPU, and here fails) is not run
    costly = "assert len(inputs) <= 4096, 'seconds of work'\n        x = self.embed("
    assert (
        probe_worker.measure(fixed.replace("x = self.embed(", costly), ["block_window"])["block_window"]["value"]
        is True
    )
    # a mask made for 64K tokens, whatever the inputs' length, is read for the first positions
    wide = gpu_script().replace("n = len(inputs) // BLOCK", "n = 512")
    assert probe_worker.measure(wide, ["attention_calls"])["attention_calls"]["value"] == 11.0


def test_the_first_attentions_probes_stop_the_pass_there():
    """What reaches the first attention is all these probes read: the rest of the pass is not run, so
    a head this CPU cannot run (an fp8 matmul, a fused kernel) does not stop them, nor costs their time."""
    failing_head = script(
        QK="q, k = rope(q), rope(k)", SCALE="0.12", CAP='raise RuntimeError("an fp8 head this CPU cannot run")'
    )
    names = ["relative_positions", "attention_scale", "attention_calls"]
    out = probe_worker.measure(failing_head, names)
    assert out["relative_positions"]["value"] is True
    assert out["attention_scale"]["value"] == pytest.approx(0.12)
    assert out["attention_calls"]["value"] is None  # a whole pass is still needed to count


def test_probes_of_one_script_measure_what_each_measures_alone():
    """The probes of one script share its built model's buffers (a copy of 64K-position rotary tables
    costs as much as the build); a forward pass that changes a buffer in place (a call counter here,
    which sets the attention's scale) must not reach the next probe's measurement."""
    counting = script(SCALE="float(self.calls.add_(1)) / 10").replace(
        "self.heads = config.n_head",
        "self.heads = config.n_head\n        self.register_buffer('calls', torch.zeros(()))",
    )
    alone = probe_worker.measure(counting, ["attention_scale"])["attention_scale"]["value"]
    together = probe_worker.measure(counting, ["attention_calls", "qk_normalised", "attention_scale"])
    assert alone == pytest.approx(0.1)
    assert together["attention_calls"]["value"] == 1.0
    assert together["attention_scale"]["value"] == pytest.approx(alone)


def test_nothing_probed_imports_the_compiler():
    """Nothing compiles here, and the compiler's import costs more than a second of every call: a
    compiler setting is skipped (``torch._inductor.config.X = ...``), a block mask is made dense
    without FlexAttention's vmapped ``create_mask``, an optimiser is built without the compiler
    its methods import on their first call, and a model handed to DistributedDataParallel (whose
    construction imports it) is wrapped for the one process; what is measured stays the same."""
    setting = "torch._inductor.config.coordinate_descent_tuning = True\n"
    masked = gpu_script().replace("BLOCK = 128\n", "BLOCK = 128\n" + setting)
    check = (
        "import sys, json; from analysis import probe_worker as w; texts = json.load(sys.stdin); "
        "found = [w.measure(texts[0], ['block_window'])['block_window']['value'], "
        "w.measure(texts[1], ['orthogonal_update'])['orthogonal_update']['value'], hasattr(w.load(texts[0]), 'GPT'), "
        "w.measure(texts[2], ['lr_floor'])['lr_floor']['value']]; "
        "print(json.dumps(found + [m in sys.modules for m in ('torch._inductor', 'torch._dynamo')]))"
    )
    root = Path(__file__).resolve().parents[1]
    wrapped = TORCHRUN_SCHEDULE.replace("END", "w").replace(
        "optimizers = [", "model = torch.nn.parallel.DistributedDataParallel(model)\noptimizers = ["
    )
    texts = json.dumps([masked, script(OPT=SVD_STEP), wrapped])
    out = subprocess.run(
        [sys.executable, "-c", check], input=texts, capture_output=True, text=True, check=True, cwd=root
    )
    assert json.loads(out.stdout.splitlines()[-1]) == [True, True, True, 0.0, False, False]


@pytest.mark.parametrize(
    "mask_mod",
    [
        "lambda b, h, q, k: q >= k",
        "lambda b, h, q, k: (q >= k) & (q - k < 100)",
        "lambda b, h, q, k: (q >= k) & (docs[q] == docs[k])",
        "lambda b, h, q, k: torch.ones((), dtype=torch.bool)",  # no grid from broadcasting: vmapped instead
    ],
)
def test_a_mask_mod_is_read_as_flex_attention_reads_it(mask_mod):
    import torch
    from torch.nn.attention.flex_attention import create_mask

    docs = torch.arange(300) // 70
    mod = eval(mask_mod, {"docs": docs, "torch": torch})  # noqa: S307 - the test's own literals
    expected = create_mask(mod, 1, 1, 300, 300, device="cpu")[0, 0].bool()
    assert torch.equal(probe_worker._mask_mod_grid(mod, 300, 300), expected)


class CountingProber:
    """A prober whose cache holds the scripts given; it counts the starts asked of it and the scripts
    sent ahead to be measured."""

    def __init__(self, cached: dict[str, dict]):
        self.measured, self.starts, self.sent = cached, 0, []

    def cached(self, text, probes):
        known = self.measured.get(text)
        return {p: known[p] for p in probes} if known and all(p in known for p in probes) else None

    def start(self):
        self.starts += 1

    def prefetch(self, text, probes):
        if self.cached(text, probes) is None:
            self.sent.append(text)


def test_the_worker_starts_early_only_where_a_script_will_be_measured():
    """``prepare`` starts the worker before the static layers run (its torch import overlaps them)
    where the records' measurements are not cached, sends the candidate's measurement ahead where
    only the candidate's is missing (it overlaps them too), and does neither where every one is."""
    from analysis.attribute import Innovation
    from analysis.probes import prepare

    inv = [Innovation("ReLU squared", ("MLP.forward",), "")]
    no, yes = {"squared_relu": {"value": False, "why": ""}}, {"squared_relu": {"value": True, "why": ""}}
    cases = [
        ({}, 1, []),  # nothing cached
        ({"base": no, "target": yes}, 0, ["cand"]),  # the candidate not measured yet
        ({"base": no, "target": yes, "cand": yes}, 0, []),
        ({"base": no, "target": no}, 0, []),  # the probe does not tell the records apart: no candidate measured
    ]
    for cached, starts, sent in cases:
        prober = CountingProber(cached)
        prepare(prober, "base", "target", "cand", inv)
        assert (prober.starts, prober.sent) == (starts, sent), cached
    prober = CountingProber({})
    prepare(prober, "base", "target", "cand", [Innovation("hyperparameters", ("Hyperparameters",), "")])
    assert prober.starts == 0 and prober.sent == []  # no probe for this innovation


class _ScriptedWorker:
    """A worker that answers each script with its length, in the order the scripts were sent."""

    def __init__(self):
        self.queue, self.log = [], []

    def start(self):
        pass

    def send(self, text, probes):
        self.log.append(("send", text))
        self.queue.append((text, probes))

    def receive(self, probes):
        text, sent = self.queue.pop(0)
        assert sent == probes
        return {p: {"value": len(text), "why": ""} for p in probes}

    def ask(self, text, probes):
        self.send(text, probes)
        return self.receive(probes)

    def close(self):
        pass


class _Sandboxed:
    def unavailable(self):
        return None


def test_a_measurement_sent_ahead_is_read_before_any_other_and_cached():
    """The worker answers in the order asked: the script sent ahead is read first, whichever script
    ``measure`` is asked for, and its answer is kept; one is sent ahead at a time, and none that is
    cached."""
    prober = Prober(sandbox=_Sandboxed())
    prober.worker = worker = _ScriptedWorker()
    prober.prefetch("cand!", ["squared_relu"])
    prober.prefetch("other", ["squared_relu"])  # one at a time: not sent
    assert prober.measure("base", ["squared_relu"])["squared_relu"]["value"] == 4
    assert prober.measure("cand!", ["squared_relu"])["squared_relu"]["value"] == 5
    assert worker.log == [("send", "cand!"), ("send", "base")]
    prober.prefetch("cand!", ["squared_relu"])  # cached: nothing sent
    assert prober.pending is None and len(worker.log) == 2


class _TimingOutOnce(_ScriptedWorker):
    """A worker whose first request times out (a busy machine), then answers."""

    def receive(self, probes):
        text, sent = self.queue.pop(0)
        if not any(entry[0] == "failed" for entry in self.log):
            self.log.append(("failed", text))
            return {p: {"value": None, "why": "probe worker: no answer within 30 s"} for p in sent}
        return {p: {"value": len(text), "why": ""} for p in sent}


def test_a_worker_failure_is_not_kept_as_a_measurement(tmp_path):
    """A request that timed out says nothing about the script: the caller sees the failure, but the
    next call measures again, and neither the memory nor the cache file keeps it (nor a failure an
    earlier version wrote there)."""
    cache = tmp_path / "probes.json"
    cache.write_text(json.dumps({"old:squared_relu": {"value": None, "why": "probe worker: no answer within 30 s"}}))
    prober = Prober(sandbox=_Sandboxed(), cache_file=cache)
    assert prober.cache == {}
    prober.worker = worker = _TimingOutOnce()
    assert prober.measure("base", ["squared_relu"])["squared_relu"]["value"] is None
    assert prober.measure("other", ["squared_relu"])["squared_relu"]["value"] == 5  # saves the cache
    assert prober.measure("base", ["squared_relu"])["squared_relu"]["value"] == 4
    assert [entry for entry in worker.log if entry[0] == "send"] == [
        ("send", "base"),
        ("send", "other"),
        ("send", "base"),
    ]
    kept = json.loads(cache.read_text())
    assert sorted(v["value"] for v in kept.values()) == [4, 5]
    # a failure of a request sent ahead is the answer of that call, and is not asked twice in it
    prober = Prober(sandbox=_Sandboxed())
    prober.worker = worker = _TimingOutOnce()
    prober.prefetch("cand!", ["squared_relu"])
    assert prober.measure("cand!", ["squared_relu"])["squared_relu"]["value"] is None
    assert worker.log == [("send", "cand!"), ("failed", "cand!")]


# ---- a model reworked after it is built ----------------------------------------------------------

REWORK_BASE = """
import torch.nn as nn


class Net(nn.Module):
    pass


def main():
    model = Net()
    model = model.cuda()
    for step in range(10):
        pass
"""


class _Measured:
    """A prober whose measurements are given: record i lacks the behaviour, record i+1 and the
    candidate are measured as the test says."""

    def __init__(self, target, candidate):
        self.values = {REWORK_BASE: False}
        self.target, self.candidate = target, candidate

    def measure(self, text, probes):
        value = self.values.get(text, self.target if "TARGET" in text else self.candidate)
        return {p: {"value": value, "why": ""} for p in probes}


def _rework(line: str, where: str = "    model = model.cuda()\n") -> str:
    return REWORK_BASE.replace(where, where + line)


def test_a_model_reworked_by_the_candidates_own_code_is_left_to_the_static_layers():
    class Inv:
        name = "bf16 activations (CastedLinear)"
        probes = ()

    target = REWORK_BASE + "# TARGET\n"
    helpers = "\n\ndef to_bf16(net):\n    return half(net)\n\n\ndef half(net):\n    return net.to(torch.bfloat16)\n"
    reworked = [
        _rework("    model = to_bf16(model)\n") + helpers,
        _rework("    to_bf16(model.cuda())\n") + helpers,
        _rework(
            "    for mod in model.modules():\n        parametrize.register_parametrization(mod, 'weight', Half())\n"
        ),
        _rework("    freeze(model)\n")
        + "\n\ndef freeze(net):\n    for p in net.parameters():\n        p.requires_grad = False\n",
    ]
    untouched = [
        _rework("    model = torch.compile(model)\n"),
        _rework("    print(model)\n"),
        # helpers of its own that only read the model: they count its layers, log its size
        _rework("    assert count_linears(model) == 72\n")
        + "\n\ndef count_linears(net):\n    return sum(1 for m in net.modules() if isinstance(m, nn.Linear))\n",
        _rework("    log_size(model)\n")
        + "\n\ndef log_size(net):\n    n = sum(p.numel() for p in net.parameters())\n    print(f'{n} parameters')\n",
        # the training loop runs the model through helpers of its own; it does not rebuild it
        REWORK_BASE.replace("        pass\n", "        evaluate(model)\n") + "\n\ndef evaluate(net):\n    return net\n",
    ]
    for text in reworked:
        verdict = behaviour(_Measured(True, False), REWORK_BASE, target, text, [Inv])[Inv.name]
        assert verdict.decided is None and "reworks the model" in verdict.why, text
        # what the probe does see still counts
        assert behaviour(_Measured(True, True), REWORK_BASE, target, text, [Inv])[Inv.name].decided is True
    for text in untouched:
        assert behaviour(_Measured(True, False), REWORK_BASE, target, text, [Inv])[Inv.name].decided is False, text
    # record i reworking its model the same way decides nothing about the candidate
    same = _rework("    model = to_bf16(model)\n") + helpers
    both = _Measured(True, False)
    both.values = {same: False}
    assert (
        behaviour(both, same, target + helpers, same.replace("pass\n", "pass  # edit\n"), [Inv])[Inv.name].decided
        is False
    )


TABLES = """
class Table(nn.Module):
    def __init__(self, width, length=4096):
        super().__init__()
        angles = torch.outer(torch.arange(length).float(), torch.linspace(0, 1, width // 2))
        self.register_buffer("cos", FILL, persistent=SAVED)

    def forward(self, t):
        return t * self.cos[: t.size(-2), None].repeat_interleave(2, -1)[None].transpose(1, 2)


"""


def tables_script(fill="angles.cos()", saved=False):
    """The GPU script with a table module of its own in every attention (as the speedrun's rotary)."""
    return (
        gpu_script()
        .replace("class Attention(", TABLES.replace("FILL", fill).replace("SAVED", str(saved)) + "class Attention(")
        .replace(
            "self.out = nn.Linear(dim, dim, bias=False)",
            "self.out = nn.Linear(dim, dim, bias=False)\n        self.table = Table(dim // heads)",
        )
        .replace(
            "y = flex_attention(q.transpose",
            "q, k = self.table(q), self.table(k)\n        y = flex_attention(q.transpose",
        )
    )


@pytest.mark.parametrize(
    "fill, saved, shared",
    [
        ("angles.cos()", False, True),  # a table computed from the arguments alone
        ("torch.randn_like(angles)", False, False),  # random: each layer draws its own
        ("angles.cos()", True, False),  # saved with the module: a state of its own, perhaps changed
    ],
)
def test_a_table_computed_again_in_every_layer_is_computed_once(fill, saved, shared):
    """Parameterless modules of the script's own, built with the same arguments, share the tables the
    first computed (the speedrun's 64K-position rotary tables took a third of a measurement to compute
    in every layer); probes measure the same either way."""
    text = tables_script(fill, saved)
    model = probe_worker._build_model(probe_worker.load(text))
    storage = {a.table.cos.data_ptr() for a in model.modules() if hasattr(a, "table")}
    assert len(storage) == (1 if shared else 11)
    names = ["attention_calls", "block_window", "bounded_logits"]
    measured = probe_worker.measure(text, names)
    assert {n: measured[n]["value"] for n in names} == {
        "attention_calls": 11.0,
        "block_window": True,
        "bounded_logits": 15.0,
    }


def test_a_window_that_lets_no_other_block_through_shows_no_unit():
    """The probe passes a window of two (tokens or blocks); a script that halves it for its first layers
    (a short window) masks with one token, which shuts out every pair of different blocks as a block
    window would: that mask cannot tell a window in tokens from one in blocks, and is left to the static
    layers (a decoy whose window stays in tokens had been credited)."""
    halved = (
        gpu_script()
        .replace("full = visible & (blk[:, None] > blk[None, :])", "full = visible & False  # every block masked")
        .replace(
            "causal = lambda b, h, q, k: q >= k",
            "causal = lambda b, h, q, k: (q >= k) & (q - k < window_num_blocks // 2)",
        )
    )
    out = probe_worker.measure(halved, ["block_window"])["block_window"]
    assert out["value"] is None and "no window's unit" in out["why"]
    # two tokens cut through the block pairs: a window in tokens
    whole = halved.replace("window_num_blocks // 2", "window_num_blocks")
    assert probe_worker.measure(whole, ["block_window"])["block_window"]["value"] is False


def test_optimisers_an_object_of_the_scripts_own_holds_are_configured_ones():
    """A combined optimiser of the script's own (record 3's CombinedOptimizer) holds the optimisers its
    training configures: a setting they get there (the QKV split of record 4's Muon, given to one
    optimiser of three) is read from them, not from the class's defaults."""
    split = dict(
        UPDATE="torch.cat([polar(b) for b in g.chunk(group['split'])])",
        GROUPS="groups = [dict(params=[p for p in matrices if p.size(0) == 3 * p.size(1)], split=3), "
        "dict(params=[p for p in matrices if p.size(0) != 3 * p.size(1)])]",
    )
    held = blocks_script(**split).replace(
        "return [Ortho(groups), torch.optim.SGD(others, lr=0.1)]",
        "return Combined([Ortho(groups), torch.optim.SGD(others, lr=0.1)])",
    )
    held = held.replace(
        "def configure(model):",
        "class Combined:\n    def __init__(self, optimizers):\n        self.optimizers = optimizers\n\n"
        "    def __iter__(self):\n        return iter(self.optimizers)\n\n\ndef configure(model):",
    )
    assert "Combined([" in held
    assert probe_worker.measure(held, ["blockwise_orthogonal"])["blockwise_orthogonal"]["value"] is True
    whole = held.replace("split=3)", "split=1)")
    assert probe_worker.measure(whole, ["blockwise_orthogonal"])["blockwise_orthogonal"]["value"] is False


SHARDED = """
import os
import torch
import torch.distributed as dist
import torch.nn as nn


def polar(g):
    U, S, Vh = torch.linalg.svd(g, full_matrices=False)
    return U @ Vh


class Ortho(torch.optim.Optimizer):
    def __init__(self, params, lr=0.02, rank=0, world_size=1):
        super().__init__(params, dict(lr=lr))
        self.rank, self.world_size = rank, world_size

    @torch.no_grad()
    def step(self):
        params = [p for group in self.param_groups for p in group["params"]]
        STEP


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(16, 16, bias=False) for _ in range(6)])


def main():
    model = Net()
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    opt = Ortho(model.parameters(), rank=rank, world_size=world_size)
    for step in range(10):
        opt.step()


if __name__ == "__main__":
    main()
"""
ROUND_ROBIN = """flat = torch.zeros(sum(p.numel() for p in params))
        at = 0
        for i, p in enumerate(params):
            if i % self.world_size == self.rank:
                flat[at : at + p.numel()] = polar(p.grad).flatten()
            at += p.numel()
        dist.all_reduce(flat)
        at = 0
        for p in params:
            p.sub_(0.02 * flat[at : at + p.numel()].view_as(p))
            at += p.numel()"""
CHUNKS = """world, rank = dist.get_world_size(), dist.get_rank()
        per = -(-len(params) // world)
        for start in range(0, len(params), per):
            mine = params[start : start + per]
            out = [torch.zeros(len(mine), *params[0].shape) for _ in range(world)]
            local = torch.zeros(len(mine), *params[0].shape)
            if start // per == rank:
                local = torch.stack([polar(p.grad) for p in mine])
            dist.all_gather(out, local)
            for p, u in zip(mine, out[start // per]):
                p.sub_(0.02 * u)"""
OWNERS = """handles = []
        world, rank = dist.get_world_size(), dist.get_rank()
        updates = [polar(p.grad) if i % world == rank else torch.zeros_like(p) for i, p in enumerate(params)]
        for i, u in enumerate(updates):
            handles.append(dist.broadcast(u, src=i % world, async_op=True))
        for h in handles:
            h.wait()
        for p, u in zip(params, updates):
            p.sub_(0.02 * u)"""


@pytest.mark.parametrize(
    "step, share",
    [
        (ROUND_ROBIN, 0.5),  # rank and world size given by the script's call, from the environment
        (CHUNKS, 0.5),  # read from torch.distributed, contiguous shares exchanged by a gather
        (OWNERS, 0.5),  # each weight's owner broadcasts its update
        ("for p in params:\n            p.sub_(0.02 * polar(p.grad))", 1.0),  # every rank does all
        (ROUND_ROBIN.replace("if i % self.world_size == self.rank:", "if True:"), 1.0),  # all, then summed
    ],
)
def test_orthogonalisation_shared_out_between_ranks_is_told_from_each_doing_all(step, share):
    """Record 6's distributed Muon: on rank 0 of a world of two whose collectives bring nothing from
    the other rank, half of the weights move orthogonally, however the shares are dealt out and the
    updates exchanged; where every rank orthogonalises every weight, all of them do."""
    out = probe_worker.measure(SHARDED.replace("STEP", step), ["sharded_orthogonalisation"])
    assert out["sharded_orthogonalisation"]["value"] == pytest.approx(share), out
    assert os.environ.get("WORLD_SIZE") in (None, "1")  # the two-process world ends with the probe


RAMP_FACTORY = """
def ramp(start, end, steps):
    return lambda s: start + (end - start) * min(s / steps, 1)
"""


@pytest.mark.parametrize(("start", "end", "rising"), [("0.85", "0.95", True), ("0.95", "0.85", False)])
def test_a_momentum_the_loop_sets_through_a_function_built_before_it_is_read_from_the_optimiser(start, end, rising):
    """heldout24's ``momentum_at = piecewise_linear(...)`` built before the loop by a factory of the
    script's own, then ``opt.param_groups[0]["momentum"] = momentum_at(step)``: with everything
    before the loop built, each step's momentum is read from the optimiser's own groups."""
    text = script(
        OPT=RAMP_FACTORY,
        SETUP=f"momentum_at = ramp({start}, {end}, 10)",
        LOOP="opt.param_groups[0]['momentum'] = momentum_at(step)",
    )
    assert probe_worker.measure(text, ["rising:momentum"])["rising:momentum"]["value"] is rising


@pytest.mark.parametrize(("rule", "rising"), [("min(64 * (1 + step), 1024)", True), ("1024", None)])
def test_an_attention_span_is_a_window(rule, rising):
    """A window the loop calls ``attn_span`` ramps as a window does; a span the loop leaves alone is
    no schedule."""
    text = script(LOOP=f"attn_span = {rule}")
    assert probe_worker.measure(text, ["rising:window"])["rising:window"]["value"] is rising


@pytest.mark.parametrize(("cap", "bound"), [("15 * torch.tanh(logits / 15)", 15.0), ("logits.clamp(-15, 15)", 1e30)])
def test_a_head_whose_weight_is_taken_by_a_product_of_the_scripts_own_is_watched(cap, bound):
    """heldout25's ``F.linear(x, self.lm_head.weight.type_as(x))``: the head module is never called,
    yet its output is the product that takes its weight, so a soft cap is measured as one (and a hard
    clip, as always, as none)."""
    text = script(CAP=f"logits = {cap}").replace(
        "logits = self.lm_head(x)", "logits = F.linear(x, self.lm_head.weight.type_as(x))"
    )
    assert probe_worker.measure(text, ["bounded_logits"])["bounded_logits"]["value"] == bound
