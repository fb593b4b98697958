"""A subclass of record i's class that the candidate builds its model from is an edit of that class
(issue 18: heldout11's inheritance-style candidates scored 0.17 for U-net skips they implement).

Its methods that override record i's count in the overridden method's place: a rewrite as an edit
of record i's method (statements it keeps unchanged are no change), a wrapper that calls
``super()`` as statements added there. A subclass the script never uses changes nothing, and one
that does another idea in the same places is not credited with record i+1's. A function assigned
over record i's method after its class (monkey-patching) is such an override too, and so are the
methods of a mixin of the candidate's listed before record i's class (``class Squared(Mixin, MLP)``).
"""

from __future__ import annotations

import textwrap

from analysis.attribute import THRESHOLD, Innovation, attribute
from analysis.diff import load
from analysis.syntax import Cache

BASE = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.mlp = MLP(d)

    def forward(self, x):
        return x + self.mlp(F.rms_norm(x, (x.size(-1),)))


class GPT(nn.Module):
    def __init__(self, n_layer, d):
        super().__init__()
        self.n_layer = n_layer
        self.blocks = nn.ModuleList([Block(d) for _ in range(n_layer)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return F.rms_norm(x, (x.size(-1),))


model = GPT(12, 768)
"""

TARGET = (
    BASE.replace(
        "        return self.proj(F.gelu(self.fc(x)))",
        "        return self.proj(F.relu(self.fc(x)).square())",
    )
    .replace(
        "        self.blocks = nn.ModuleList([Block(d) for _ in range(n_layer)])\n",
        "        self.blocks = nn.ModuleList([Block(d) for _ in range(n_layer)])\n"
        "        self.skip_weights = nn.Parameter(torch.ones(n_layer // 2))\n",
    )
    .replace(
        "        for block in self.blocks:\n            x = block(x)\n",
        "        skips = []\n"
        "        half = self.n_layer // 2\n"
        "        for i in range(half):\n"
        "            x = self.blocks[i](x)\n"
        "            skips.append(x)\n"
        "        for i in range(half):\n"
        "            x = x + self.skip_weights[i] * skips.pop()\n"
        "            x = self.blocks[half + i](x)\n",
    )
)

INNOVATIONS = [
    Innovation(
        "U-net skip connections",
        ("GPT.__init__", "GPT.forward"),
        "The first half of the blocks store their outputs; the second half add them back in reverse, "
        "each scaled by a learned weight.",
    ),
    Innovation("ReLU squared", ("MLP.forward",), "The MLP's activation is ReLU squared instead of GELU."),
]

UNET_SUBCLASS = '''
class MirroredGPT(GPT):
    """Encoder outputs come back into the decoder half in reverse order."""

    def __init__(self, n_layer, d):
        super().__init__(n_layer, d)
        self.skip_gains = nn.Parameter(torch.ones(n_layer // 2))

    def forward(self, x):
        stack = []
        for depth, block in enumerate(self.blocks):
            if depth >= self.n_layer // 2:
                x = x + self.skip_gains[depth - self.n_layer // 2] * stack.pop()
            x = block(x)
            if depth < self.n_layer // 2:
                stack.append(x)
        return F.rms_norm(x, (x.size(-1),))


model = MirroredGPT(12, 768)
'''

SQUARED_SUBCLASS = """class SquaredReLUMLP(MLP):
    def forward(self, x):
        return self.proj(torch.square(F.relu(self.fc(x))))


"""

SCALED_RESIDUAL_DECOY = '''
class DampedGPT(GPT):
    """Another idea in the same places: every block's update is damped by a learned gain."""

    def __init__(self, n_layer, d):
        super().__init__(n_layer, d)
        self.gains = nn.Parameter(torch.full((n_layer,), 0.5))

    def forward(self, x):
        for depth, block in enumerate(self.blocks):
            x = x + self.gains[depth] * (block(x) - x)
        return F.rms_norm(x, (x.size(-1),))


model = DampedGPT(12, 768)
'''


def scores(candidate: str) -> dict[str, float]:
    cache = Cache()
    result = attribute(
        load(BASE, "base", cache), load(TARGET, "target", cache), load(candidate, "cand", cache), INNOVATIONS
    )
    return {g.name: g.score for g in result.innovations}


def with_classes(classes: str, *, build: bool = True) -> str:
    """Record i with ``classes`` added before the model is built (``build``: and that build replaced)."""
    head, _, _ = BASE.partition("model = GPT(12, 768)")
    definitions, _, model = classes.partition("\n\nmodel = ")
    return (
        head + definitions.lstrip("\n") + "\n\n" + ("model = " + model if build and model else "model = GPT(12, 768)\n")
    )


def test_a_subclass_the_model_is_built_from_reproduces_what_its_overrides_do():
    got = scores(with_classes(UNET_SUBCLASS))
    assert got["U-net skip connections"] >= THRESHOLD
    assert got["ReLU squared"] < THRESHOLD


def test_a_subclass_built_inside_record_i_code_counts_there():
    candidate = BASE.replace("        self.mlp = MLP(d)", "        self.mlp = SquaredReLUMLP(d)")
    candidate = candidate.replace("class Block(nn.Module):", SQUARED_SUBCLASS + "class Block(nn.Module):")
    got = scores(candidate)
    assert got["ReLU squared"] >= THRESHOLD
    assert got["U-net skip connections"] < THRESHOLD


def test_a_subclass_nobody_builds_changes_nothing():
    got = scores(with_classes(UNET_SUBCLASS, build=False))
    assert got["U-net skip connections"] < THRESHOLD


def test_another_idea_in_a_subclass_is_not_credited_with_record_i_plus_1s():
    got = scores(with_classes(SCALED_RESIDUAL_DECOY))
    assert max(got.values()) < THRESHOLD


# the subclass's forward as a function of its own, and an __init__ that calls the original it saved
UNET_PATCHES = (
    "\n_plain_init = GPT.__init__\n\n\n"
    "def _init_with_skip_gains(self, n_layer, d):\n"
    "    _plain_init(self, n_layer, d)\n"
    "    self.skip_gains = nn.Parameter(torch.ones(n_layer // 2))\n\n\n"
    + textwrap.dedent(
        UNET_SUBCLASS[UNET_SUBCLASS.index("    def forward") : UNET_SUBCLASS.index("\n\n\nmodel")]
    ).replace("def forward(", "def _mirrored_forward(")
    + "\n\n\nGPT.__init__ = _init_with_skip_gains\nGPT.forward = _mirrored_forward\n"
)


def test_a_function_assigned_over_record_is_method_is_an_edit_of_it():
    """Monkey-patching (``GPT.forward = _mirrored_forward`` after the class, and an ``__init__`` that
    calls the original it saved) rewrites the method for every instance: the U-net is reproduced.
    The same functions left unassigned, or a damped residual patched in, are not record i+1's idea."""
    patched = with_classes(UNET_PATCHES, build=False)
    got = scores(patched)
    assert got["U-net skip connections"] >= THRESHOLD
    assert got["ReLU squared"] < THRESHOLD
    unassigned = patched.replace("GPT.__init__ = _init_with_skip_gains\nGPT.forward = _mirrored_forward\n", "")
    assert scores(unassigned)["U-net skip connections"] < THRESHOLD
    decoy = with_classes(
        "\ndef _damped_forward(self, x):\n"
        "    for depth, block in enumerate(self.blocks):\n"
        "        x = x + 0.5 * (block(x) - x)\n"
        "    return F.rms_norm(x, (x.size(-1),))\n\n\nGPT.forward = _damped_forward\n",
        build=False,
    )
    assert max(scores(decoy).values()) < THRESHOLD


SQUARED_MIXIN = """class SquaredActivationMixin:
    def forward(self, x):
        return self.proj(torch.square(F.relu(self.fc(x))))


class SquaredMLP(SquaredActivationMixin, MLP):
    pass


"""


def test_a_mixins_methods_override_record_is_class_it_is_combined_with():
    """heldout24's ``class MergedQKVAttention(MergedQKVMixin, CausalSelfAttention): pass``: the
    mixin's methods come first in the combined class, so they rewrite record i's: the GELU is gone
    as record i+1 removed it, and the whole idea is there. Listed after the base, the mixin's method
    is never called: it counts only as new code where the class is used, short of the rewrite."""
    built = BASE.replace("        self.mlp = MLP(d)", "        self.mlp = SquaredMLP(d)")
    before = scores(built.replace("class Block(nn.Module):", SQUARED_MIXIN + "class Block(nn.Module):"))
    after = SQUARED_MIXIN.replace("(SquaredActivationMixin, MLP)", "(MLP, SquaredActivationMixin)")
    dead = scores(built.replace("class Block(nn.Module):", after + "class Block(nn.Module):"))
    assert before["ReLU squared"] == 1.0
    assert dead["ReLU squared"] < before["ReLU squared"]
    assert before["U-net skip connections"] < THRESHOLD
