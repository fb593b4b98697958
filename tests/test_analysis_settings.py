"""Settings are compared as the speedrun runs them, and indices are code (issue 18, real-track misses).

1. A per-process share times the process count is the global setting it makes at the speedrun's
   scale: ``world_size * args.seq_len`` where ``args.batch_size`` was re-tunes the batch.
2. An innovation named after a setting (``reduced batch size``, ``64K-token sequences``: plurals
   name it too) is that setting: re-tuning only the settings around it (a shorter micro-sequence
   with the same batch) is not the idea.
3. A statement that reads a new field split from an old one (validation's own length beside the
   training length) re-tunes neither; a field renamed or moved keeps its key, also where the code
   that reads it was rewritten (by name, else by a rewritten reader).
4. A field dropped and another added, which the line diff happened to pair, are not a re-tune of
   each other.
5. Dimension indices (``size(0)`` -> ``size(-2)``, ``dim=``) are which axis, not how much.
6. Spellings: a 0-d tensor of a number is the number, ``matrix_power(A, 2)`` is ``A @ A``, a
   number factor commutes with a matrix product, a learned vector's entries read as its entries
   however they are unpacked (or broadcast over a stack of the values and summed), and a helper's
   body reads module constants, an integer written as a shift (``1 << 16``) is its number, and a few
   numbers bound to a name and passed whole (``betas = (0.8, 0.95)``, ``betas=betas``) are those numbers.
7. A field set after parsing under a switch on by default (a feature flag, ``if args.short:``) is
   re-tuned as if set unconditionally; under a switch off by default, or in its ``else``, it is not;
   a name bound in both branches of a switch on by default has the value of the branch taken.
8. A setting read from a table the script writes as a literal is the table's number, also where the
   table is then handed through a function of overrides from the environment (``X = f(X)``), and
   where the tables nest and hold paths and switches beside the numbers; an entry written after its
   definition is not the literal's.
9. Settings moved into nested dicts keep their jobs: a length split there into a training and a
   validation length is read as the record's split (the training one goes on with the old field's
   key); so are a table's read through an attribute view (``args = SimpleNamespace(**RUN)``), and
   the fields of a section replaced within a replaced configuration
   (``replace(run, optim=replace(run.optim, steps=1200))``).
10. Settings kept as text in the script (a YAML-like block parsed by a function of its own, JSON or
   TOML handed to the library's loader) are a table of the text's numbers, read by section, through
   sections unpacked into names, or by a dotted path; the text's number moved the other way, or its
   entry written after parsing, is no re-tune.
11. A configuration class whose fields have no defaults, built with keywords (beside paths and
   switches) directly or by an alternative constructor of its own (``Hyperparameters.from_env()``
   returning ``cls(steps=_env("STEPS", int, 1200), ...)``), holds the numbers it is built with.
12. A setting kept as an enum member is its number, read as the member or through ``.value``.
13. A name bound to a partial application (``make_adam = partial(torch.optim.Adam, eps=1e-10)``), or
   a library subclass whose constructor passes a default of its own on to ``super()``, builds the
   library class with those keywords; keywords given to ``SimpleNamespace(...)`` are fields; a tanh
   shifted up by one is a sigmoid; keywords kept in a configuration object (a field's dict, or the
   object's fields passed as ``**asdict(options)``) are the keywords of the call they are splatted into.
"""

from __future__ import annotations

import re

import pytest

from analysis.attribute import THRESHOLD, Innovation, attribute, diff_versions
from analysis.diff import load
from analysis.ideas import Comparison, _named_after, mentions, side_of, words_of
from analysis.settings_text import settings_text
from analysis.syntax import Cache

BASE = """
import os
import torch
import torch.nn as nn


class Hyperparameters:
    batch_size = 8 * 64 * 1024
    seq_len = 64 * 1024
    val_tokens = 10485760
    num_iterations = 1393


args = Hyperparameters()
world_size = int(os.environ["WORLD_SIZE"])


def data_generator(pattern, batch_size, rank, world_size):
    tokens = torch.load(pattern)
    while True:
        yield tokens[rank * (batch_size // world_size) :][: batch_size // world_size]


def orthogonalise(G):
    X = G.bfloat16()
    if G.size(0) > G.size(1):
        X = X.T
    X = X / (X.norm() + 1e-7)
    for _ in range(5):
        A = X @ X.T
        X = 3.4445 * X + (-4.775 * A + 2.0315 * A @ A) @ X
    if G.size(0) > G.size(1):
        X = X.T
    return X


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.mlp = nn.Linear(d, d)

    def forward(self, x, x0):
        return x + self.mlp(x)


model = Block(768)
train_loader = data_generator("train", args.batch_size, 0, world_size)
for step in range(args.num_iterations):
    inputs = next(train_loader)
    for chunk in inputs.split(args.seq_len):
        model(chunk, chunk).sum().backward()
val_bs = world_size * args.seq_len
val_steps = args.val_tokens // val_bs
"""


def edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def scores(target: str, candidate: str, innovations: list[Innovation]) -> dict[str, float]:
    cache = Cache()
    res = attribute(
        load(BASE, "base", cache), load(target, "target", cache), load(candidate, "cand", cache), innovations
    )
    return {g.name: g.score for g in res.innovations}


def truth_features(target: str) -> set[str]:
    """Every feature record i+1's changes contribute (before grouping)."""
    cache = Cache()
    truth = diff_versions(load(BASE, "base", cache), load(target, "target", cache))
    comp = Comparison(truth, truth)
    return {c.feature for cs in comp.truth_contributions.values() for c in cs}


# ---- 1 and 2: the batch at the speedrun's scale, and an innovation named after it -------------

SMALLER_BATCH = edit(
    BASE,
    ("    batch_size = 8 * 64 * 1024\n", ""),
    ("    seq_len = 64 * 1024", "    seq_len = 48 * 1024"),
    (
        'train_loader = data_generator("train", args.batch_size, 0, world_size)',
        "train_batch_size = world_size * args.seq_len\n"
        'train_loader = data_generator("train", train_batch_size, 0, world_size)',
    ),
)
BATCH = Innovation(
    "reduced batch size",
    ("Hyperparameters.seq_len", "train_batch_size"),
    "Each process trains on one 48K-token sequence per step instead of 64K: 8 x 48K tokens per step.",
)


def test_a_per_process_share_times_the_process_count_is_the_global_batch():
    assert "tune:batch_size:down" in truth_features(SMALLER_BATCH)
    only_the_batch = edit(BASE, ("    batch_size = 8 * 64 * 1024", "    batch_size = 8 * 48 * 1024"))
    per_process = edit(
        BASE,
        (
            'train_loader = data_generator("train", args.batch_size, 0, world_size)',
            'train_loader = data_generator("train", world_size * 48 * 1024, 0, world_size)',
        ),
    )
    assert scores(SMALLER_BATCH, only_the_batch, [BATCH])["reduced batch size"] >= THRESHOLD
    assert scores(SMALLER_BATCH, per_process, [BATCH])["reduced batch size"] >= THRESHOLD


def test_a_setting_named_in_the_plural_is_mentioned():
    named = words_of("64K-token sequences")
    assert mentions("tune:sequence_length:up", named)
    assert not mentions("tune:batch_size:down", named)
    assert mentions("tune:val_loss:up", words_of("lower validation loss"))  # "loss" is no plural


def test_shorter_micro_sequences_with_the_same_batch_are_not_a_smaller_batch():
    micro = edit(BASE, ("    seq_len = 64 * 1024", "    seq_len = 32 * 1024"))
    larger = edit(BASE, ("    batch_size = 8 * 64 * 1024", "    batch_size = 8 * 96 * 1024"))
    assert scores(SMALLER_BATCH, micro, [BATCH])["reduced batch size"] < THRESHOLD
    assert scores(SMALLER_BATCH, larger, [BATCH])["reduced batch size"] == 0.0


# ---- 3 and 4: a setting split in two, a field renamed, a field dropped and another added -------

LONG_VAL = edit(
    BASE,
    ("    seq_len = 64 * 1024", "    seq_len = 64 * 1024\n    val_seq_len = 4 * 64 * 1024"),
    ("val_bs = world_size * args.seq_len", "val_bs = world_size * args.val_seq_len"),
)
VAL = Innovation("longer validation sequences", ("Hyperparameters.val_seq_len", "val_bs"), "Validation on 256K tokens.")
TRAIN = Innovation("shorter sequences", ("Hyperparameters.seq_len",), "Training sequences of 48K tokens.")


def test_validation_reading_a_length_of_its_own_is_not_a_retune_of_the_training_length():
    assert not any(f.startswith("tune:seq_len") for f in truth_features(LONG_VAL))
    other_name = edit(
        BASE,
        ("    seq_len = 64 * 1024", "    seq_len = 64 * 1024\n    eval_len = 256 * 1024"),
        ("val_bs = world_size * args.seq_len", "eval_tokens = args.eval_len\nval_bs = world_size * eval_tokens"),
    )
    assert scores(LONG_VAL, other_name, [VAL])["longer validation sequences"] >= THRESHOLD
    # the training length moved the other way is not validation's idea
    shorter = edit(BASE, ("    seq_len = 64 * 1024", "    seq_len = 32 * 1024"))
    assert scores(LONG_VAL, shorter, [VAL])["longer validation sequences"] < THRESHOLD


def test_a_length_split_into_two_new_names_is_validations_own_length():
    """The old field gone, a training and a validation length named after it in its place: the
    validation length is a setting of its own, as in record i+1, not a re-tune of the old field."""
    split = (
        BASE.replace("    seq_len = 64 * 1024", "    train_seq_len = 48 * 1024\n    val_seq_len = 256 * 1024")
        .replace("    batch_size = 8 * 64 * 1024", "    batch_size = 8 * train_seq_len")
        .replace("inputs.split(args.seq_len)", "inputs.split(args.batch_size // 8)")
        .replace("val_bs = world_size * args.seq_len", "val_bs = world_size * args.val_seq_len")
    )
    assert scores(LONG_VAL, split, [VAL])["longer validation sequences"] >= THRESHOLD
    # the old field kept as the (re-tuned) training length, though nothing reads it any more; a field
    # left at its value while its readers read a new one was moved, not split (below: renamed)
    kept = edit(
        LONG_VAL,
        ("    seq_len = 64 * 1024\n", "    seq_len = 48 * 1024\n"),
        ("    for chunk in inputs.split(args.seq_len):\n", "    for chunk in inputs.chunk(8):\n"),
    )
    assert scores(LONG_VAL, kept, [VAL])["longer validation sequences"] >= THRESHOLD
    # which new names count as named after the old one (the split when the diff pairs the old
    # definition with the validation length, as it did for a hand-written record 21)
    assert _named_after("seq_len", "train_seq_len") and _named_after("seq_len", "val_seq_len")
    assert not _named_after("seq_len", "seq_len") and not _named_after("seq_len", "sequence_length")
    # one new name in the old one's place is a rename: the length moved the other way is no match
    renamed_down = BASE.replace("seq_len = 64 * 1024", "val_seq_len = 32 * 1024").replace(
        "args.seq_len", "args.val_seq_len"
    )
    assert scores(LONG_VAL, renamed_down, [VAL])["longer validation sequences"] < THRESHOLD


def test_a_renamed_field_keeps_its_key():
    target = edit(BASE, ("    seq_len = 64 * 1024", "    seq_len = 48 * 1024"))
    renamed = BASE.replace("seq_len", "sequence_length").replace(
        "sequence_length = 64 * 1024", "sequence_length = 48 * 1024"
    )
    assert scores(target, renamed, [TRAIN])["shorter sequences"] >= THRESHOLD


RETUNE = edit(BASE, ("    num_iterations = 1393", "    num_iterations = 1200"), ("10485760", "2 * 10485760"))
RETUNED = Innovation("hyperparameters", ("Hyperparameters",), "1200 iterations (was 1393), twice the validation.")


@pytest.mark.parametrize(
    "steps_name, steps, val_name, val, retuned",
    [
        ("num_iters", "1200", "eval_token_count", "2 * 10485760", True),  # an abbreviation; a reader relates
        ("steps", "1200", "val_tokens_total", "2 * 10485760", True),  # a reader relates; a shared word
        ("num_iters", "1500", "val_tokens_total", "2 * 10485760", False),  # the steps moved the other way
        ("steps", "1393", "eval_token_count", "10485760", False),  # renamed alone, beside a new num_layers
    ],
)
def test_a_field_renamed_where_its_readers_were_rewritten_is_retuned_under_its_old_name(
    steps_name, steps, val_name, val, retuned
):
    """Settings renamed and moved into a new settings object, where the code that reads them was
    rewritten too, so that no statement changed in numbers only: a new field is record i's field
    renamed where their names relate (a shared word that is not a mere qualifier such as ``num``, an
    abbreviation) or, failing that, where a rewritten reader reads the one in place of the other,
    each the other's only partner. Its value then re-tunes record i's field (heldout20 renamed
    ``warmdown_iters`` and ``val_loss_every`` to ``warmdown_steps`` and ``val_every``); a new
    ``num_layers`` is no re-tune of the steps."""
    text = edit(
        BASE,
        ("    num_iterations = 1393\n", ""),
        ("    val_tokens = 10485760\n", ""),
        (
            "args = Hyperparameters()\n",
            "args = Hyperparameters()\n\n\nclass Schedule:\n"
            f"    {steps_name} = {steps}\n    num_layers = 12\n    {val_name} = {val}\n\n\nplan = Schedule()\n",
        ),
        ("for step in range(args.num_iterations):", f"for step in range(max(1, plan.{steps_name})):"),
        ("val_steps = args.val_tokens // val_bs", f"val_steps = max(1, plan.{val_name} // val_bs)"),
    )
    score = scores(RETUNE, text, [RETUNED])["hyperparameters"]
    assert score == pytest.approx(1.0) if retuned else score < THRESHOLD


def test_a_field_dropped_and_another_added_are_not_a_retune_of_each_other():
    swapped = edit(
        BASE,
        ("    batch_size = 8 * 64 * 1024", "    val_seq_len = 4 * 64 * 1024"),
        (
            'train_loader = data_generator("train", args.batch_size, 0, world_size)',
            'train_loader = data_generator("train", 8 * 64 * 1024, 0, world_size)',
        ),
    )
    assert not any(f.startswith("tune:batch_size") for f in truth_features(swapped))


# ---- 5: dimension indices ---------------------------------------------------------------------

BATCHED = edit(
    BASE,
    (
        "    if G.size(0) > G.size(1):\n        X = X.T\n    X = X /",
        "    if G.size(-2) > G.size(-1):\n        X = X.mT\n    X = X /",
    ),
    ("X.norm()", "X.norm(dim=(-2, -1), keepdim=True)"),
    ("        A = X @ X.T", "        A = X @ X.mT"),
    (
        "    if G.size(0) > G.size(1):\n        X = X.T\n    return",
        "    if G.size(-2) > G.size(-1):\n        X = X.mT\n    return",
    ),
)
STACKS = Innovation("batched orthogonalisation", ("orthogonalise",), "Works on stacks of matrices (last two dims).")


def test_dimension_indices_are_which_axis_not_how_much():
    assert not any(f.startswith("tune:") for f in truth_features(BATCHED))
    spelled = edit(
        BASE,
        (
            "    if G.size(0) > G.size(1):\n        X = X.T\n    X = X /",
            "    if G.shape[-2] > G.shape[-1]:\n        X = X.transpose(-2, -1)\n    X = X /",
        ),
        ("X.norm()", "torch.linalg.matrix_norm(X, keepdim=True)"),
        ("        A = X @ X.T", "        A = X @ X.transpose(-2, -1)"),
    )
    assert scores(BATCHED, spelled, [STACKS])["batched orthogonalisation"] >= THRESHOLD
    epsilon_only = edit(BASE, ("X.norm() + 1e-7", "X.norm() + 1e-6"))
    assert scores(BATCHED, epsilon_only, [STACKS])["batched orthogonalisation"] == 0.0


# ---- 6: spellings -----------------------------------------------------------------------------


def canonical_features(text: str, qualname: str) -> list:
    version = load(text, "v")
    side = side_of(version, version.module.bound, None)
    unit = next(u for u in version.units if u.qualname == qualname)
    return [side.feats[id(a)] for a in unit.atoms]


@pytest.mark.parametrize("steps, retuned", [("(1 << 10) + 176", True), ("4800 >> 2", True), ("1 << 11", False)])
def test_an_integer_written_as_a_shift_is_its_number(steps, retuned):
    shifted = edit(BASE, ("    num_iterations = 1393", f"    num_iterations = {steps}"))
    assert (scores(FEWER_STEPS, shifted, [STEPS])["hyperparameters"] >= THRESHOLD) == retuned


ADAM = "optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.9, 0.95))\n"
BETAS = Innovation("hyperparameters", ("optimizer",), "Adam's beta1 0.8 (was 0.9).")


@pytest.mark.parametrize("beta1, retuned", [("0.8", True), ("0.95", False)])
def test_numbers_bound_together_and_passed_whole_are_those_numbers(beta1, retuned):
    """heldout10's ``adam_betas = (0.8, 0.95)`` read by every Adam as ``betas=adam_betas``."""
    cache = Cache()
    base = BASE + ADAM
    target = BASE + ADAM.replace("(0.9, 0.95)", "(0.8, 0.95)")
    named = BASE + f"adam_betas = ({beta1}, 0.95)\n" + ADAM.replace("(0.9, 0.95)", "adam_betas")
    res = attribute(load(base, "base", cache), load(target, "target", cache), load(named, "cand", cache), [BETAS])
    assert (res.innovations[0].score >= THRESHOLD) == retuned


PARTIAL = "from functools import partial\nmake_adam = partial(torch.optim.Adam, betas=(BETA1, 0.95))\n"
ADAM_EPS = "optimizer = torch.optim.Adam(model.parameters(), lr=0.01, eps=1e-8)\n"
EPS = Innovation("Adam epsilon 1e-10", ("optimizer",), "Adam's epsilon 1e-10 (was 1e-8).")
FORWARDING = (
    "class TinyEpsAdam(torch.optim.Adam):\n"
    "    def __init__(self, params, eps=EPS, **kwargs):\n"
    "        super().__init__(params, eps=eps, **kwargs)\n\n\n"
    "optimizer = TinyEpsAdam(model.parameters(), lr=0.01)\n"
)


@pytest.mark.parametrize("beta1, retuned", [("0.8", True), ("0.95", False)])
def test_a_partial_application_passes_its_keywords(beta1, retuned):
    """heldout24's ``make_adam = partial(torch.optim.Adam, betas=(0.8, 0.95))`` called as
    ``make_adam(params, lr=0.01)`` is Adam built with those betas."""
    cache = Cache()
    base, target = BASE + ADAM, BASE + ADAM.replace("(0.9, 0.95)", "(0.8, 0.95)")
    cand = BASE + PARTIAL.replace("BETA1", beta1) + "optimizer = make_adam(model.parameters(), lr=0.01)\n"
    res = attribute(load(base, "base", cache), load(target, "target", cache), load(cand, "cand", cache), [BETAS])
    assert (res.innovations[0].score >= THRESHOLD) == retuned


def test_partials_that_wrap_each_other_are_unwrapped_once():
    """``a = partial(b, 1)`` and ``b = partial(a, 2)``: a call of ``a`` unwraps each name once and stops."""
    text = "from functools import partial\na = partial(b, 1)\nb = partial(a, 2)\nx = a(3)\n"
    version = load(text, "v")
    side = side_of(version, version.module.bound, None)
    assert any("3" in str(side.trees.get(id(a))) for u in version.units for a in u.atoms)


@pytest.mark.parametrize("eps, retuned", [("1e-10", True), ("1e-6", False)])
def test_a_library_subclass_passing_a_default_on_is_built_with_it(eps, retuned):
    """heldout24's ``class TinyEpsAdam(torch.optim.Adam)``, whose constructor passes its own default
    ``eps=1e-10`` on to ``super()``: built without ``eps``, it is Adam built with that keyword."""
    cache = Cache()
    base, target = BASE + ADAM_EPS, BASE + ADAM_EPS.replace("eps=1e-8", "eps=1e-10")
    cand = BASE + FORWARDING.replace("EPS", eps)
    res = attribute(load(base, "base", cache), load(target, "target", cache), load(cand, "cand", cache), [EPS])
    assert (res.innovations[0].score >= THRESHOLD) == retuned


DDP_CALL = "ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[0]KEYWORDS)\n"
DDP_TWEAKS = Innovation("DDP tweaks", ("ddp",), "DDP without broadcasting buffers, its gradients views of the buckets.")
RUNTIME = {
    "factory": (
        "@dataclass\nclass Runtime:\n    steps: int = 10\n"
        "    ddp_kwargs: dict = field(default_factory=lambda: dict(FIRST=False, SECOND=True))\n\n\n"
        "runtime = Runtime()\n",
        ", **runtime.ddp_kwargs",
    ),
    "asdict": (
        "@dataclass\nclass DDPOptions:\n    FIRST: bool = False\n    SECOND: bool = True\n\n\n"
        "ddp_options = DDPOptions()\n",
        ", **asdict(ddp_options)",
    ),
}


@pytest.mark.parametrize("spelling", sorted(RUNTIME))
@pytest.mark.parametrize(
    "first, second, credited",
    [("broadcast_buffers", "gradient_as_bucket_view", True), ("find_unused_parameters", "static_graph", False)],
)
def test_keywords_kept_in_a_configuration_object_are_passed_where_it_is_splatted(spelling, first, second, credited):
    """heldout25's dataclass style: DDP's keywords kept in a field's ``default_factory`` dict and passed
    as ``**runtime.ddp_kwargs``, or as the fields of an options object passed as ``**asdict(options)``,
    are DDP's keywords; other keywords kept so are not record i+1's."""
    cache = Cache()
    head = "from dataclasses import asdict, dataclass, field\n" + BASE
    base = head + DDP_CALL.replace("KEYWORDS", "")
    target = head + DDP_CALL.replace("KEYWORDS", ", broadcast_buffers=False, gradient_as_bucket_view=True")
    definition, splat = RUNTIME[spelling]
    cand = head + definition.replace("FIRST", first).replace("SECOND", second) + DDP_CALL.replace("KEYWORDS", splat)
    res = attribute(load(base, "base", cache), load(target, "target", cache), load(cand, "cand", cache), [DDP_TWEAKS])
    assert (res.innovations[0].score >= THRESHOLD) == credited


def test_a_ramp_between_scalar_tensors_is_a_ramp():
    helper = (
        "START, END = 1, 28\n\n\ndef window(step):\n"
        "    units = torch.tensor(float(START)).lerp_(torch.tensor(float(END)), step / 1393)\n"
        "    return units.round()\n"
    )
    features = canonical_features(BASE + helper, "window")
    assert any(f["ramp:up"] for f in features)
    # ... and where the helper is called, its body reads the module's constants too
    called = canonical_features(
        BASE + helper + "\n\ndef train(step):\n    size = window(step)\n    return size\n", "train"
    )
    assert any(f["ramp:up"] for f in called)


def test_a_matrix_power_and_a_scaled_product_read_as_the_products():
    target = edit(BASE, ("(-4.775 * A + 2.0315 * A @ A) @ X", "(-4.775 * A + 2.0315 * (A @ A)) @ X"))
    power = edit(
        BASE, ("(-4.775 * A + 2.0315 * A @ A) @ X", "(-4.775 * A + 2.0315 * torch.linalg.matrix_power(A, 2)) @ X")
    )
    assert truth_features(target) == set()  # (c A) @ A is c (A @ A): nothing changed
    assert truth_features(power) == set()


SKIP = Innovation(
    "embedding skip", ("Block",), "Each block mixes its input with the embedding x0 by two learned scalars."
)
SKIP_TARGET = edit(
    BASE,
    (
        "        self.mlp = nn.Linear(d, d)\n",
        "        self.mlp = nn.Linear(d, d)\n        self.lambdas = nn.Parameter(torch.tensor([1.0, 0.0]))\n",
    ),
    (
        "        return x + self.mlp(x)",
        "        x = self.lambdas[0] * x + self.lambdas[1] * x0\n        return x + self.mlp(x)",
    ),
)


def test_a_learned_vector_unpacked_indexed_or_broadcast_over_a_stack_is_read_by_entry():
    gates = "        self.mlp = nn.Linear(d, d)\n        self.gates = nn.Parameter(torch.tensor([1.0, 0.0]))\n"
    unpacked = edit(
        BASE,
        ("        self.mlp = nn.Linear(d, d)\n", gates),
        (
            "        return x + self.mlp(x)",
            "        keep, inject = self.gates.unbind(0)\n"
            "        x = inject * x0 + keep * x\n        return x + self.mlp(x)",
        ),
    )
    indexed = edit(
        BASE,
        ("        self.mlp = nn.Linear(d, d)\n", gates),
        (
            "        return x + self.mlp(x)",
            "        keep = self.gates[0]\n        inject = self.gates[1]\n"
            "        x = keep * x + inject * x0\n        return x + self.mlp(x)",
        ),
    )
    stacked = edit(
        BASE,
        ("        self.mlp = nn.Linear(d, d)\n", gates),
        (
            "        return x + self.mlp(x)",
            "        x = (self.gates.view(2, 1, 1) * torch.stack((x, x0))).sum(dim=0)\n        return x + self.mlp(x)",
        ),
    )
    assert scores(SKIP_TARGET, unpacked, [SKIP])["embedding skip"] >= 0.8
    assert scores(SKIP_TARGET, indexed, [SKIP])["embedding skip"] >= 0.8
    assert scores(SKIP_TARGET, stacked, [SKIP])["embedding skip"] >= 0.8


def test_a_class_constant_read_through_self_is_its_number():
    scaled = Innovation("residual scale 0.5", ("Block.forward",), "The MLP's update is scaled by 0.5.")
    target = edit(BASE, ("        return x + self.mlp(x)", "        return x + 0.5 * self.mlp(x)"))
    constant = edit(
        BASE,
        ("class Block(nn.Module):\n", "class Block(nn.Module):\n    RESIDUAL_SCALE = 0.5\n"),
        ("        return x + self.mlp(x)", "        return x + self.RESIDUAL_SCALE * self.mlp(x)"),
    )
    hidden = edit(  # an instance attribute set in __init__ hides the class's: a learned scale, not 0.5
        constant,
        (
            "        self.mlp = nn.Linear(d, d)\n",
            "        self.mlp = nn.Linear(d, d)\n        self.RESIDUAL_SCALE = nn.Parameter(torch.ones(1))\n",
        ),
    )
    assert scores(target, constant, [scaled])["residual scale 0.5"] >= 0.8
    assert (
        scores(target, hidden, [scaled])["residual scale 0.5"]
        < scores(target, constant, [scaled])["residual scale 0.5"]
    )


# ---- 7: a re-tune behind a feature flag ------------------------------------------------------

FEWER_STEPS = edit(BASE, ("    num_iterations = 1393", "    num_iterations = 1200"))
STEPS = Innovation("hyperparameters", ("Hyperparameters",), "1200 iterations (was 1393).")
FLAGGED = """import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--short_run", action=argparse.BooleanOptionalAction, default=DEFAULT)
flags, _ = parser.parse_known_args()
if flags.short_run:
    args.num_iterations = 1250
"""


def test_a_retune_behind_a_flag_on_by_default_is_a_retune():
    def flagged(default: str, switch: str = "") -> str:
        text = FLAGGED.replace("DEFAULT", default) + switch
        return edit(BASE, ("args = Hyperparameters()\n", "args = Hyperparameters()\n" + text))

    assert scores(FEWER_STEPS, flagged("True"), [STEPS])["hyperparameters"] >= THRESHOLD
    assert scores(FEWER_STEPS, flagged("False"), [STEPS])["hyperparameters"] < THRESHOLD
    # the other branch of the switch
    other = flagged("True").replace("if flags.short_run:\n", "if flags.short_run:\n    pass\nelse:\n")
    assert scores(FEWER_STEPS, other, [STEPS])["hyperparameters"] < THRESHOLD
    constant = edit(
        BASE,
        (
            "args = Hyperparameters()\n",
            "args = Hyperparameters()\nSHORT = True\nif SHORT:\n    args.num_iterations = 1250\n",
        ),
    )
    assert scores(FEWER_STEPS, constant, [STEPS])["hyperparameters"] >= THRESHOLD
    # a name bound in both branches of the switch is the branch the run takes
    both = FLAGGED.replace(
        "    args.num_iterations = 1250\n", "    STEPS = 1250\nelse:\n    STEPS = 1393\nargs.num_iterations = STEPS\n"
    )
    by_default = edit(
        BASE, ("args = Hyperparameters()\n", "args = Hyperparameters()\n" + both.replace("DEFAULT", "True"))
    )
    assert scores(FEWER_STEPS, by_default, [STEPS])["hyperparameters"] >= THRESHOLD
    switched_off = by_default.replace("default=True", "default=False")
    assert scores(FEWER_STEPS, switched_off, [STEPS])["hyperparameters"] < THRESHOLD


@pytest.mark.parametrize(
    "switch, retuned",
    [("SHORT = True\n", True), ("SHORT = False\n", False), ("", False)],  # the last: SHORT not the script's own
)
def test_a_field_chosen_by_a_switch_in_its_definition_is_the_branch_the_run_takes(switch, retuned):
    """``num_iterations = 1250 if SHORT else 1393`` with a module-level ``SHORT = True``: the run
    takes 1250, a re-tune; with the switch off, or unknown, nothing the run takes changed."""
    cand = edit(
        BASE,
        ("    num_iterations = 1393", "    num_iterations = 1250 if SHORT else 1393"),
    )
    cand = switch + cand if switch else cand
    assert (scores(FEWER_STEPS, cand, [STEPS])["hyperparameters"] >= THRESHOLD) is retuned


# ---- 8: settings read from a table the script writes, overridden from the environment -----------

EXPERIMENT = """EXPERIMENT = dict(num_iterations=STEPS_VALUE, warmup=0)


def apply_overrides(exp):
    for key, default in exp.items():
        raw = os.environ.get("RUN_" + key.upper())
        if raw is not None:
            exp[key] = type(default)(raw)
    return exp


EXPERIMENT = apply_overrides(EXPERIMENT)
"""


def test_a_setting_read_from_a_table_passed_through_overrides_is_the_tables_number():
    """``num_iterations = EXPERIMENT["num_iterations"]``, where the table is written as a literal and
    then handed to a function that gives it back with overrides from the environment (which the run
    may not set): the table's number is the setting."""

    def table(steps: str, rebound: str = "EXPERIMENT = apply_overrides(EXPERIMENT)") -> str:
        text = EXPERIMENT.replace("STEPS_VALUE", steps).replace("EXPERIMENT = apply_overrides(EXPERIMENT)", rebound)
        return edit(
            BASE,
            ("class Hyperparameters:", text + "\n\nclass Hyperparameters:"),
            ("    num_iterations = 1393", '    num_iterations = EXPERIMENT["num_iterations"]'),
        )

    assert scores(FEWER_STEPS, table("1200"), [STEPS])["hyperparameters"] >= THRESHOLD
    assert scores(FEWER_STEPS, table("1500"), [STEPS])["hyperparameters"] < THRESHOLD  # the other way
    # a table built anew from other values is not the literal one
    rebuilt = table("1200", "EXPERIMENT = dict(num_iterations=1500, warmup=0)")
    assert scores(FEWER_STEPS, rebuilt, [STEPS])["hyperparameters"] < THRESHOLD


def test_a_settings_object_set_from_a_module_constant_holds_its_number():
    """``self.num_iterations = STEPS`` in a settings object whose ``__init__`` also takes parameters:
    the module constant is the field's number."""
    settings = (
        "STEPS = 1200\n\n\nclass Run:\n    def __init__(self, warmup=10):\n        self.batch_size = 8 * 64 * 1024\n"
        "        self.seq_len = 64 * 1024\n        self.val_tokens = 10485760\n"
        "        self.num_iterations = STEPS\n        self.warmup = warmup\n\n\nargs = Run()\n"
    )
    cand = edit(BASE, (BASE[BASE.index("class Hyperparameters:") : BASE.index("world_size =")], settings))
    assert scores(FEWER_STEPS, cand, [STEPS])["hyperparameters"] >= THRESHOLD
    assert scores(FEWER_STEPS, cand.replace("STEPS = 1200", "STEPS = 1500"), [STEPS])["hyperparameters"] < THRESHOLD


@pytest.mark.parametrize(
    "view",
    ["types.SimpleNamespace(**RUN)", "SimpleNamespace(**RUN)", "argparse.Namespace(**RUN)"],
)
def test_a_table_read_through_an_attribute_view_is_the_tables_number(view):
    """``args = SimpleNamespace(**RUN)`` over a literal table of settings: ``args.num_iterations``
    reads ``RUN["num_iterations"]``, as a configuration field is read; a value written to the view
    afterwards is what the run reads."""

    def sheet(steps: str, after: str = "") -> str:
        table = (
            "import argparse\nimport types\nfrom types import SimpleNamespace\n\n"
            'RUN = {\n    "files": "fineweb_train_*.bin",\n    "batch_size": 8 * 64 * 1024,\n'
            f'    "seq_len": 64 * 1024,\n    "val_tokens": 10485760,\n    "num_iterations": {steps}\n}}\n'
            f"args = {view}\n{after}"
        )
        return edit(BASE, (BASE[BASE.index("class Hyperparameters:") : BASE.index("world_size =")], table))

    def retuned(text: str) -> bool:
        return scores(FEWER_STEPS, text, [STEPS])["hyperparameters"] >= THRESHOLD

    assert retuned(sheet("1200"))
    assert not retuned(sheet("1393"))  # every number as record i's
    assert not retuned(sheet("1500"))  # the other way
    assert not retuned(sheet("1200", "args.num_iterations = 1500\n"))


@pytest.mark.parametrize("view", ["types.SimpleNamespace", "argparse.Namespace"])
def test_settings_given_as_a_namespaces_keywords_are_fields(view):
    """heldout24's ``args = types.SimpleNamespace(num_iterations=1480, ...)``: the keywords' numbers
    are configuration fields, read as ``args.num_iterations``."""

    def sheet(steps: str) -> str:
        table = (
            f"import argparse\nimport types\n\nargs = {view}(\n    files='fineweb_train_*.bin',\n"
            f"    batch_size=8 * 64 * 1024,\n    seq_len=64 * 1024,\n    val_tokens=10485760,\n"
            f"    num_iterations={steps},\n)\n"
        )
        return edit(BASE, (BASE[BASE.index("class Hyperparameters:") : BASE.index("world_size =")], table))

    def retuned(text: str) -> bool:
        return scores(FEWER_STEPS, text, [STEPS])["hyperparameters"] >= THRESHOLD

    assert retuned(sheet("1200"))
    assert not retuned(sheet("1393"))
    assert not retuned(sheet("1500"))


NESTED = """CFG = {
    "data": {"train": "fineweb_train_*.bin", "val": "fineweb_val_*.bin", "val_tokens": 10485760},
    "len": {"train": 64 * 1024, "batch": 8 * 64 * 1024},
    "opt": {"steps": STEPS_VALUE, "compile": True},
}
WRITES
"""


@pytest.mark.parametrize("read", ["loop", "field"])
def test_a_setting_read_from_nested_dicts_of_constants_is_its_number(read):
    """Settings kept in nested dicts beside paths and switches (``CFG["opt"]["steps"]``) are the
    dicts' numbers, read in the flow or through a field; an entry the script writes afterwards (by
    its key, through ``update``) is not, while an entry added under another key leaves the rest."""

    def nested(steps: str, writes: str = "") -> str:
        text = NESTED.replace("STEPS_VALUE", steps).replace("WRITES", writes)
        pairs = [("class Hyperparameters:", text + "\n\nclass Hyperparameters:")]
        if read == "loop":
            pairs.append(("for step in range(args.num_iterations):", 'for step in range(CFG["opt"]["steps"]):'))
        else:
            pairs.append(("    num_iterations = 1393", '    num_iterations = CFG["opt"]["steps"]'))
        return edit(BASE, *pairs)

    def retuned(text: str) -> bool:
        return scores(FEWER_STEPS, text, [STEPS])["hyperparameters"] >= THRESHOLD

    assert retuned(nested("1200"))
    assert retuned(nested("1200", 'CFG["len"]["rope"] = max(CFG["len"]["train"], 4 * 64 * 1024)'))
    assert not retuned(nested("1500"))  # the other way
    # written after its definition: the literal 1200 is not what the run reads
    assert not retuned(nested("1200", 'CFG["opt"]["steps"] = 1500'))
    assert not retuned(nested("1200", 'CFG["opt"]["steps"] += 300'))
    assert not retuned(nested("1200", 'CFG["opt"].update(steps=1500)'))
    assert not retuned(nested("1200", "CFG.update(opt=dict(steps=1500))"))


# ---- 9: lengths and paths kept in nested dicts -------------------------------------------------

SHORTER_TRAINING_LONGER_VALIDATION = edit(
    SMALLER_BATCH,
    ("    seq_len = 48 * 1024", "    seq_len = 48 * 1024\n    val_seq_len = 4 * 64 * 1024"),
    ("val_bs = world_size * args.seq_len", "val_bs = world_size * args.val_seq_len"),
)
LENGTHS = """CFG = {
    "files": {"train": "train", "val": "val"},
    "len": {"train": TRAIN_LEN, "val": VAL_LEN},
    "tokens": {"val": 10485760},
}
"""


def in_nested_dicts(train_len: str, val_len: str) -> str:
    """The settings moved into nested dicts, read by chained keys; a new name for the validation batch."""
    settings = LENGTHS.replace("TRAIN_LEN", train_len).replace("VAL_LEN", val_len)
    return edit(
        BASE,
        ("class Hyperparameters:", settings + "\n\nclass Hyperparameters:"),
        ("    batch_size = 8 * 64 * 1024\n", ""),
        ("    seq_len = 64 * 1024\n", ""),
        (
            'data_generator("train", args.batch_size, 0, world_size)',
            'data_generator(CFG["files"]["train"], world_size * CFG["len"]["train"], 0, world_size)',
        ),
        ("inputs.split(args.seq_len)", 'inputs.split(CFG["len"]["train"])'),
        (
            "val_bs = world_size * args.seq_len\nval_steps = args.val_tokens // val_bs",
            'B_val = world_size * CFG["len"]["val"]\nval_steps = CFG["tokens"]["val"] // B_val',
        ),
    )


def test_lengths_split_into_nested_dicts_are_the_training_and_validation_lengths():
    """A training and a validation length under one key of a dict of settings (``CFG["len"]["train"]``,
    ``CFG["len"]["val"]``) in place of one field: the training length goes on with the field's job
    (a smaller batch where it shrank), the validation length is a setting of its own."""
    both = [BATCH, VAL]
    verdicts = scores(SHORTER_TRAINING_LONGER_VALIDATION, in_nested_dicts("48 * 1024", "256 * 1024"), both)
    assert min(verdicts.values()) >= THRESHOLD, verdicts
    longer_only = scores(SHORTER_TRAINING_LONGER_VALIDATION, in_nested_dicts("64 * 1024", "256 * 1024"), both)
    assert longer_only["reduced batch size"] < THRESHOLD <= longer_only["longer validation sequences"]
    shorter_val = scores(SHORTER_TRAINING_LONGER_VALIDATION, in_nested_dicts("48 * 1024", "32 * 1024"), both)
    assert shorter_val["longer validation sequences"] < THRESHOLD <= shorter_val["reduced batch size"]


SECTIONS = """from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class DataSection:
    batch_size: int = 8 * 64 * 1024
    seq_len: int = 64 * 1024
    val_tokens: int = 10485760


@dataclass(frozen=True)
class OptimSection:
    num_iterations: int = 1393


@dataclass(frozen=True)
class RunConfig:
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)


BASELINE = RunConfig()
run = replace(BASELINE, optim=replace(BASELINE.optim, num_iterations=STEPS_VALUE))
"""


@pytest.mark.parametrize("steps", ["1200", "1500", "1393"])
def test_a_section_replaced_within_a_replaced_configuration_gives_its_fields(steps):
    """``run = replace(BASELINE, optim=replace(BASELINE.optim, num_iterations=1200))``: frozen sections
    of one configuration, the run a copy with one section replaced by a copy of it; the inner copy's
    fields are the run's settings (a re-tune only where they move as record i+1's did)."""
    settings = BASE[BASE.index("class Hyperparameters:") : BASE.index("world_size =")]
    text = edit(BASE, (settings, SECTIONS.replace("STEPS_VALUE", steps)))
    for name, section in (("batch_size", "data"), ("seq_len", "data"), ("val_tokens", "data")):
        text = text.replace(f"args.{name}", f"run.{section}.{name}")
    text = text.replace("args.num_iterations", "run.optim.num_iterations")
    retuned = scores(FEWER_STEPS, text, [STEPS])["hyperparameters"] >= THRESHOLD
    assert retuned is (steps == "1200")


# ---- 10: settings kept as text -------------------------------------------------------------------

YAML_LIKE = '''SETTINGS = """
data:
  val_tokens: 10485760   # fixed for comparisons
opt:
  steps: STEPS_VALUE
  compile: true
"""


def read_settings(text):
    out, section = {}, None
    for line in text.splitlines():
        if line.strip() and not line.startswith(" "):
            section = out.setdefault(line.strip(" :"), {})
        elif line.strip():
            key, value = line.split("#")[0].split(":")
            section[key.strip()] = float(value) if "." in value else int(value)
    return out


HP = read_settings(SETTINGS)
'''
JSON_TEXT = """import json
HP = json.loads(\'{"data": {"val_tokens": 10485760}, "opt": {"steps": STEPS_VALUE, "compile": true}}\')
"""
TOML_TEXT = '''import tomllib
TEXT = """
[data]
val_tokens = 10485760
[opt]
steps = STEPS_VALUE
compile = true
"""
HP = tomllib.loads(TEXT)
'''


@pytest.mark.parametrize(
    "settings, read",
    [
        (YAML_LIKE, 'HP["opt"]["steps"]'),
        (JSON_TEXT, 'opt["steps"]'),  # through sections unpacked into names
        (TOML_TEXT, 'HP["opt.steps"]'),  # a dotted path, as a parser that flattens the sections gives
    ],
)
def test_a_setting_kept_as_text_is_the_texts_number(settings, read):
    """The steps moved out of the dataclass into a text the script parses at start-up (heldout22's
    YAML-like blocks): the text's number is the setting, however the text is written and read."""

    def as_text(steps: str, writes: str = "") -> str:
        text = settings.replace("STEPS_VALUE", steps) + 'opt, data = HP["opt"], HP["data"]\n' + writes
        return edit(
            BASE,
            ("class Hyperparameters:", text + "\n\nclass Hyperparameters:"),
            ("    num_iterations = 1393\n", ""),
            ("for step in range(args.num_iterations):", f"for step in range({read}):"),
        )

    def retuned(text: str) -> bool:
        return scores(FEWER_STEPS, text, [STEPS])["hyperparameters"] >= THRESHOLD

    assert retuned(as_text("1200"))
    assert not retuned(as_text("1500"))  # the other way
    assert not retuned(as_text("1393"))  # moved, not re-tuned
    # written after parsing: the text's 1200 is not what the run reads
    assert not retuned(as_text("1200", 'HP["opt"]["steps"] = 1500\n'))


def test_text_that_holds_no_mapping_of_numbers_is_no_table():
    """Messages, paths and usage texts are not settings; one-line JSON is."""
    assert settings_text("data/fineweb10B/fineweb_train_*.bin") is None
    assert settings_text("usage:\n  python train_gpt.py --help\n") is None  # a mapping, but of no number
    assert settings_text("step: 10") is None  # one line that is not JSON: a message's template
    assert settings_text("lr: [0.1\n") is None  # does not parse
    table = settings_text('{"opt": {"lr": 0.02}}')
    assert table is not None and dict(table[3])["opt.lr"] == 0.02


# ---- 11: a configuration built by its own constructor ---------------------------------------------

BUILT = """def _env(name, cast, default):
    raw = os.environ.get(name)
    return default if not raw else cast(raw)


@dataclass(frozen=True)
class RunSettings:
    train_files: str
    steps: int
    val_tokens: int

    @classmethod
    def from_env(cls):
        return cls(train_files=_env("TRAIN", str, "train"), steps=_env("STEPS", int, STEPS_VALUE),
                   val_tokens=_env("VAL_TOKENS", int, 10485760))


run = BUILD
"""


@pytest.mark.parametrize(
    "build", ["RunSettings.from_env()", 'RunSettings(train_files="train", steps=STEPS_VALUE, val_tokens=10485760)']
)
def test_a_configuration_built_with_keywords_holds_its_numbers(build):
    """The steps moved into a dataclass without defaults that an alternative constructor builds from
    the environment's defaults (heldout23's ``Hyperparameters.from_env()``), or that is built with
    keywords beside a path: the number it is built with is the setting."""

    def built(steps: str) -> str:
        text = BUILT.replace("BUILD", build).replace("STEPS_VALUE", steps)
        return edit(
            "from dataclasses import dataclass\n" + BASE,
            ("class Hyperparameters:", text + "\n\nclass Hyperparameters:"),
            ("    num_iterations = 1393\n", ""),
            ("for step in range(args.num_iterations):", "for step in range(run.steps):"),
        )

    def retuned(text: str) -> bool:
        return scores(FEWER_STEPS, text, [STEPS])["hyperparameters"] >= THRESHOLD

    assert retuned(built("1200"))
    assert not retuned(built("1500"))  # the other way
    assert not retuned(built("1393"))  # moved, not re-tuned


# ---- 12: settings kept as enum members -------------------------------------------------------------

KNOBS = """class Knob(float, enum.Enum):
    LOW = 0.85
    HIGH = 0.95
    WARMUP = 500.0


def momentum(step):
    frac = min(step / READ(WARMUP), 1)
    return (1 - frac) * READ(LOW) + frac * READ(HIGH)
"""


@pytest.mark.parametrize(
    "shifted, same", [("15 * (torch.tanh(z / 15) + 1)", True), ("15 * (1 + torch.tanh(z / 7.5))", False)]
)
def test_a_tanh_shifted_up_by_one_is_a_sigmoid(shifted, same):
    """``tanh(u) + 1 = 2 sigmoid(2u)``: heldout24's ``15 * (tanh(z / 15) + 1)`` is record 19's
    ``30 * sigmoid(z / 7.5)``; a tanh at another scale is another cap."""
    text = (
        f"import torch\n\n\ndef cap(z):\n    return {shifted}\n\n\n"
        "def sigmoid_cap(z):\n    return 30 * torch.sigmoid(z / 7.5)\n"
    )
    assert (canonical_features(text, "cap") == canonical_features(text, "sigmoid_cap")) == same


@pytest.mark.parametrize("read", ["Knob.{}.value", "Knob.{}"])
def test_a_setting_kept_as_an_enum_member_is_its_number(read):
    """heldout23's ``class Knob(float, enum.Enum)``: ``Knob.LOW.value`` and ``Knob.LOW`` are the
    member's number, so a momentum warmup between members is a ramp."""
    text = re.sub(r"READ\((\w+)\)", lambda m: read.format(m.group(1)), KNOBS)
    features = canonical_features("import enum\n" + BASE + text, "momentum")
    assert any(f["ramp:up"] for f in features)
