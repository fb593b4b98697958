"""The ``learning_rates`` probe reads the learning rate each kind of parameter trains at (token tables, the
head, the other matrices, gains and scalars) from the optimisers the script builds, however it builds
them: literal keywords, a table and a comprehension, a factory's keywords, a tuple of optimisers, one
optimiser's parameter groups, a settings object, or a multiplier the training loop applies. A change
of learning rates is reproduced when every kind record i+1 changed moves the same way at least half
as far; a candidate that leaves them, moves them the other way or moves only a part is never credited
by the probe.
"""

from __future__ import annotations

import pytest

from analysis import probe_worker
from analysis.probes import judge, probes_for, tells_apart

SCRIPT = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from dataclasses import dataclass


@dataclass
class Hyperparameters:
    num_iterations: int = 12
    warmdown_iters: int = 4
SETTINGS


args = Hyperparameters()


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, dim, bias=False)
        self.gain = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x + self.gain * self.fc(x)


class GPT(nn.Module):
    def __init__(self, vocab=64, dim=16, depth=2):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
        self.lm_head = nn.Linear(dim, vocab, bias=False)

    def forward(self, idx, targets):
        x = self.wte(idx)
        for block in self.blocks:
            x = block(x)
        return F.cross_entropy(self.lm_head(x).flatten(0, 1), targets.flatten())


def get_lr(it):
    return min(1.0, (args.num_iterations - it) / args.warmdown_iters)


def set_rates(optimizers, multiplier):
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * multiplier


def main():
    model = GPT()
    matrices = [p for p in model.blocks.parameters() if p.ndim == 2]
    gains = [p for p in model.blocks.parameters() if p.ndim < 2]
    OPTIMISERS
    for step in range(args.num_iterations):
        loss = model(idx, idx)
        loss.backward()
        RATES
        for opt in optimizers:
            opt.step()


if __name__ == "__main__":
    main()
"""

FOUR = """adam = lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(0.9, 0.95))
    optimizers = [adam([model.wte.weight], EMBED), adam([model.lm_head.weight], HEAD),
                  torch.optim.SGD(matrices, lr=MATRIX, momentum=0.95), adam(gains, SCALAR)]
    for opt in optimizers:
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]"""


def four(embed="0.3", head="0.002", matrix="0.02", scalar="0.02") -> dict:
    rates = dict(EMBED=embed, HEAD=head, MATRIX=matrix, SCALAR=scalar)
    text = FOUR
    for key, value in rates.items():
        text = text.replace(key, value)
    return dict(OPTIMISERS=text)


BASE = dict(SETTINGS="", RATES="set_rates(optimizers, get_lr(step))", **four())

# the same doubling (the head's quadrupled), spelled seven ways
DOUBLED = [
    four("0.6", "0.008", "0.04", "0.04"),
    dict(  # a table of base rates and boosts, built by a comprehension
        OPTIMISERS="""specs = [("embed", torch.optim.Adam, [model.wte.weight], 0.3, 2.0),
             ("head", torch.optim.Adam, [model.lm_head.weight], 0.002, 4.0),
             ("matrix", torch.optim.SGD, matrices, 0.02, 2.0), ("scalar", torch.optim.Adam, gains, 0.02, 2.0)]
    built = {name: ctor(ps, lr=base * boost) for name, ctor, ps, base, boost in specs}
    optimizers = list(built.values())
    for opt in optimizers:
        opt.param_groups[0]["initial_lr"] = opt.param_groups[0]["lr"]"""
    ),
    dict(  # a factory's keywords
        OPTIMISERS="""def make(embed_lr, head_lr, matrix_lr, scalar_lr):
        return [torch.optim.Adam([model.wte.weight], lr=embed_lr), torch.optim.Adam([model.lm_head.weight], lr=head_lr),
                torch.optim.SGD(matrices, lr=matrix_lr, momentum=0.95), torch.optim.Adam(gains, lr=scalar_lr)]
    optimizers = make(embed_lr=0.6, head_lr=0.008, matrix_lr=0.04, scalar_lr=0.04)
    for opt in optimizers:
        opt.param_groups[0]["initial_lr"] = opt.param_groups[0]["lr"]"""
    ),
    dict(  # one Adam over parameter groups, one SGD, assigned as a tuple
        OPTIMISERS="""adam, sgd = torch.optim.Adam([dict(params=[model.wte.weight], lr=0.6),
                                  dict(params=[model.lm_head.weight], lr=0.008),
                                  dict(params=gains, lr=0.04)]), torch.optim.SGD(matrices, lr=0.04)
    optimizers = [adam, sgd]
    for group in adam.param_groups + sgd.param_groups:
        group["initial_lr"] = group["lr"]"""
    ),
    dict(  # rates held by the settings
        SETTINGS="    embed_lr: float = 0.6\n    head_lr: float = 0.008\n    matrix_lr: float = 0.04\n"
        "    scalar_lr: float = 0.04",
        **four("args.embed_lr", "args.head_lr", "args.matrix_lr", "args.scalar_lr"),
    ),
    dict(RATES="set_rates(optimizers, 2 * get_lr(step))", **four(head="0.004")),  # a multiplier of the schedule
    dict(  # a scheduler's multiplier, the loop's rates left to it
        OPTIMISERS=four("0.6", "0.008", "0.04", "0.04")["OPTIMISERS"]
        + "\n    schedulers = [torch.optim.lr_scheduler.LambdaLR(o, get_lr) for o in optimizers]",
        RATES="[s.step() for s in schedulers]",
    ),
]

NOT_DOUBLED = [
    dict(  # the same rates, reorganised into a table
        OPTIMISERS=DOUBLED[1]["OPTIMISERS"].replace("2.0)", "1.0)").replace("4.0)", "1.0)")
    ),
    four("0.15", "0.001", "0.01", "0.01"),  # halved
    dict(  # a warmup: the peak rates stay
        RATES="set_rates(optimizers, min(1.0, (step + 1) / 4) * get_lr(step))",
        **four(),
    ),
    dict(OPTIMISERS=four()["OPTIMISERS"].replace("momentum=0.95", "momentum=0.9")),  # another number, same line
]

PART = four(matrix="0.04")  # only the matrices' rate doubled


def script(**parts) -> str:
    text = SCRIPT
    for key, value in {**BASE, **parts}.items():
        text = text.replace(key, value)
    return text


def rates(**parts):
    return probe_worker.measure(script(**parts), ["learning_rates"])["learning_rates"]["value"]


@pytest.fixture(scope="module")
def records():
    base, target = rates(), rates(**DOUBLED[0])
    assert base == {"embedding": 0.3, "head": 0.002, "matrix": 0.02, "scalar": 0.02}
    assert target == {"embedding": 0.6, "head": 0.008, "matrix": 0.04, "scalar": 0.04}
    assert tells_apart(base, target, "learning_rates")
    return base, target


@pytest.mark.parametrize("parts", DOUBLED, ids=[f"doubled-{i}" for i in range(len(DOUBLED))])
def test_every_spelling_of_the_doubling_is_reproduced(records, parts):
    verdict = judge("learning_rates", *records, rates(**parts))
    assert verdict.decided is True, verdict


@pytest.mark.parametrize("parts", NOT_DOUBLED, ids=["reorganised", "halved", "warmup", "momentum"])
def test_rates_left_or_moved_the_other_way_are_not_reproduced(records, parts):
    verdict = judge("learning_rates", *records, rates(**parts))
    assert verdict.decided is False, verdict


def test_a_part_of_the_change_is_left_to_the_static_layers(records):
    verdict = judge("learning_rates", *records, rates(**PART))
    assert verdict.decided is None, verdict


def test_a_tied_head_is_measured_with_the_table():
    tied = (
        script(**four())
        .replace("self.lm_head = nn.Linear(dim, vocab, bias=False)", "self.lm_head = None")
        .replace("self.lm_head(x)", "x @ self.wte.weight.T")
        .replace("adam([model.lm_head.weight], 0.002),", "")
    )
    out = probe_worker.measure(tied, ["learning_rates"])["learning_rates"]
    assert out["value"] == {"embedding": 0.3, "matrix": 0.02, "scalar": 0.02}, out


def test_judging_by_kind():
    base = {"embedding": 0.3, "head": 0.002, "matrix": 0.02}
    target = {"embedding": 0.3, "head": 0.008, "matrix": 0.02}  # the head's rate raised alone
    assert judge("learning_rates", base, target, {**base, "head": 0.005}).decided is True  # at least half as far
    assert judge("learning_rates", base, target, {**base, "head": 0.003}).decided is None  # less than half
    assert judge("learning_rates", base, target, {**base, "head": 0.001}).decided is False  # the other way
    assert judge("learning_rates", base, target, {**base, "matrix": 0.08}).decided is False  # another kind
    assert judge("learning_rates", base, target, {"embedding": 0.3}).decided is None  # no head to measure
    assert judge("learning_rates", base, target, None).decided is None
    assert not tells_apart(base, {**base, "matrix": 0.021}, "learning_rates")


def test_the_probe_is_chosen_for_changes_of_learning_rates_alone():
    for name in ("doubled learning rates", "re-tuned AdamW learning rate", "raised head learning rate"):
        assert probes_for(name) == ["learning_rates"], name
    for name in ("re-tuned Muon lr and warmup", "trapezoid learning-rate schedule", "learning-rate floor 0.1"):
        assert "learning_rates" not in probes_for(name), name
