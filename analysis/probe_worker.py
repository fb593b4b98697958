"""Behavioural probes, run inside the sandbox: load a script's definitions, measure what they do.

This file is copied into a scratch folder and started there by :mod:`analysis.probes`, inside the
sandbox that confines every run of untrusted code; it imports nothing of the toolkit (which the
sandbox hides), only the standard library and torch. It never trains and never runs a script's
``main()``: it keeps a script's imports, function and class definitions and its simple
module-level assignments (constants and argument-less calls: ``args = Hyperparameters()``,
``BLOCK = 64``), executes them one by one (a statement that fails is skipped: distributed setup,
CUDA, data loading), then builds the pieces a probe needs at a tiny size on CPU and measures them.

Values made by the script's own functions from constants alone run too (``quintic_step =
make_ns_step((3.4445, -4.775, 2.0315))``), and module-level patches of its definitions
(``GPT.__init__ = with_hook(GPT.__init__)``, ``F.cross_entropy = upcast``, ``setattr(GPT, "forward",
forward)``): a script is measured as it patches itself. So does a command line defined and parsed at
module level (``parser.add_argument(...)``, ``args = parser.parse_args()``): the script reads its
options' defaults. Every statement kept has STATEMENT_LIMIT_S of CPU time.

Protocol: one JSON object per line on stdin, ``{"script": TEXT, "probes": [NAME, ...]}``; one JSON
object per line on stdout, ``{NAME: {"value": V, "why": TEXT}}``, ``value`` ``null`` where the
probe could not measure (``why`` says what was missing). Whatever a script prints goes to stderr.
Each script is measured in a child process of its own (:func:`isolated`): a script that patches a
library cannot change what the next one measures. Nor can a script that leaves a process running or
a file behind (a worker may serve many candidates, :mod:`analysis.probe_server`): after each script
the worker kills every process it left and empties the folders named on its command line
(:func:`clear_leftovers`); the scratch folder is not on ``sys.path``; and the worker is not dumpable, so a
script cannot write the worker's memory.

Probes (a value each):

* ``squared_relu`` (bool): the MLP's activation is relu(x)^2. The MLP (a module whose class name
  says MLP / FeedForward / FFN): the first in the built model, where the model builds (a subclass
  the script swaps in counts, an unused class of record i's does not), else the first such class the
  script defines, built; its first linear layer is made to emit a fixed tensor and its last one
  records what it receives.
* ``bounded_logits`` (float): the largest |logit| reaching the loss when the head's weights are
  huge: a cap gives the cap, no cap 1e30 (the size of uncapped logits, ~1e5, varies with rounding:
  bfloat16 products computed another way moved it by 20%, past the 10% a candidate may stray).
* ``zero_projections`` (bool): every block of the model built tiny starts with a projection back to
  the residual stream (a matrix weight with the stream's width of rows) at exactly zero.
* ``fp32_logits`` (bool): under bfloat16 autocast (the speedrun's training), the logits reach the
  loss in float32: the first cross-entropy, log-softmax, softmax or logsumexp over the vocabulary
  takes float32, however the cast is made (in the forward pass, a wrapper over the loss, a hook on
  the head).
* ``qk_normalised`` (bool): the per-head norms of the queries and keys reaching attention
  (``scaled_dot_product_attention``) are the same at every position.
* ``relative_positions`` (bool): attention scores of a repeated token depend on the offset of the
  two positions only, and do depend on it (rotary embeddings, however computed).
* ``rising:WORD`` (bool): a number named after WORD (``momentum``, ``window``) that the training
  loop sets rises over the run (a momentum the loop leaves alone: the one an optimiser class of the
  script applies at each step, built as the script builds it, read from its momentum buffer). The
  loop (the ``for`` over a ``range`` with the largest body) runs at up to 120 of its steps against
  stubs: the model, optimisers and data are not built (statements that need them fail and are
  skipped); every number the loop assigns to a name, an attribute or an
  item whose path contains WORD (or another name of it: a window is also a ``blocksize`` or a
  ``span``) is recorded per step, and those that change decide (a setting the loop only reads is no
  schedule). Where none changes, the loop runs again over what the statements before it build (the
  model tiny, as for ``lr_floor``): a number kept by an object of the script's own (a scheduler class
  that fills the model's window buffer and returns it) is then seen, and so is each optimiser's own
  setting of WORD after every step (a group's ``momentum``, set through a function built before the
  loop).
* ``orthogonal_update`` (bool): an optimiser class of the script, stepping a 2-D weight whose
  gradient has singular values from 1 down to 0.1, moves it by a matrix whose singular values
  are all within a factor 4 of each other (orthogonalised), not by one shaped like the gradient.
  Where no class does, the training loop's first step runs over the model built tiny, every 2-D
  weight given such a gradient and every optimiser's step doing nothing (but a step the script set
  on an optimiser itself: ``opt.step = types.MethodType(own_step, opt)``): an update the loop's own
  code makes (an orthogonalisation written into the loop, or into such a step) along U V^T of a
  weight's gradient (cosine above 0.9) counts. A class that steps, and a loop that moves nothing so: False.
* ``stacked_orthogonal`` (bool): an optimiser class of the script, stepping a 3-D weight (three
  ill-conditioned 32 x 32 matrices stacked), moves each matrix by an orthogonalised update: a
  stack orthogonalised as matrices at once (batched Newton-Schulz).
* ``blockwise_orthogonal`` (bool): the script's optimisers, configured as its training configures
  them (else each optimiser class with its defaults), move a merged (3C x C) weight by an update
  orthogonalised within each C x C block.
* ``update_shape_scale`` (float): the RMS of the step an orthogonalising optimiser of the script
  (configured as its training configures it, else each class with its defaults) takes on a wide
  32 x 128 weight over that on a tall 128 x 32 one: 1 for a step left orthogonalised or scaled to
  RMS 1 whatever the shape, 0.5 for one scaled up on tall weights only (sqrt(max(1, rows/cols))).
* ``sharded_orthogonalisation`` (float): the share of the 2-D weights the script's orthogonalising
  optimisers (built by the statements before the training loop, the model tiny) move orthogonally
  on rank 0 of a world of two whose collectives bring nothing from the other rank: 1 where every
  rank orthogonalises every weight, 0.5 where each takes its own half.
* ``untied_head`` (bool): the model's head (``lm_head``, else its last linear layer with one output
  per token) has a weight of its own, not the token embedding's table.
* ``rotation_free_channels`` (float): the share of the first attention's query channels that a
  repeated token leaves the same at every position (rotary pairs of frequency zero).
* ``head_width`` (float): the channels per head of the first attention's queries (the head size;
  the tiny model keeps the script's, with fewer heads).
* ``block_window`` (bool): the first attention's mask over one document of four 64-token blocks (four
  128-token blocks in a script using FlexAttention, its window argument 2) is constant over every
  pair of different 64-token blocks and shuts out at least one pair.
* ``mixed_windows`` (bool): the attention layers of one forward pass over two such blocks, the window
  argument 2, use more than one mask (long and short windows), not one in every layer.
* ``gram_squaring_share`` (float): the share of the matrix-product work of one step of the
  script's optimiser on a 16 x 64 weight spent multiplying 16 x 16 matrices: a Newton-Schulz
  iteration regrouped as ``(b A + c A A) X`` squares the Gram matrix (1/9), ``b A X + c A (A X)``
  does not (0), whatever its coefficients or number of steps.
* ``fp8_head`` (bool): the training forward pass takes the head's weight into float8 (a cast, or an
  operand of ``torch._scaled_mm``, that follows the weight), the speedrun's FP8 head.
* ``attention_calls`` (float): attention computations in one forward pass (one per block, fewer
  where a block has none).
* ``cast_linears`` (bool): some bias-free part of the model with matrix weights takes bfloat16
  activations with float32 weights and returns bfloat16 (weights cast at use).
* ``init_scale`` (float): the median over the model's matrix weights that do not start at zero of
  std(W) * sqrt(fan_in): 0.577 for PyTorch's default init.
* ``values_read_embeddings`` (bool): every attention's values read a token-indexed table that its
  queries and keys do not, a part of its own (gradients traced back with each block's incoming
  residual stream detached).
* ``values_read_first_attention`` (bool): every attention after the first reads the first block
  in its values and not in its queries and keys (a value residual), streams detached as above.
* ``mirrored_value_embeddings`` / ``ends_only_value_embeddings`` (bool): which token-indexed tables
  each block reads itself (its incoming residual stream detached, gradients traced back): block i
  and block n - 1 - i share one and no other block reads it / the first and the last block read
  one, and at most half of the blocks do.
* ``embedding_skips`` (bool): every block's output, its incoming residual stream detached, still
  depends on one token-indexed table: the token embedding reaches each block by a skip connection.
* ``normalised_embedding`` (bool): the residual stream reaching the first block (a forward pre-hook)
  keeps its per-token RMS (within a factor sqrt(30)) when every token-indexed table is scaled 30-fold
  down and up, one RMS for every token (within 10%): a norm after the embedding, not a stream that
  follows the tables, nor one squashed (tanh) that holds its scale only where it saturates.
* ``separate_value_tables`` (bool): every block that reads a value embedding (traced as above) reads
  all columns of each table it reads: tables of their own, not slices of one wide table.
* ``lr_floor`` (float): the training loop runs against the script's own optimisers (built over the
  tiny model's parameters in a one-process group, the data a Stub; their steps update nothing, and a scheduler
  counts the loop's step) one step past its last; the learning rate of their parameter groups (where
  none could be built, the numbers the loop assigns under a name that says ``lr``) then, as a share of
  the highest it had (0 for a cooldown to zero), the lowest over the groups.
* ``lr_plateau`` (bool): every learning rate, followed through the loop as for ``lr_floor``, holds its
  peak over at least half of the steps from its first peak on, reached in the run's first
  half (a warmup, a constant stretch and a cooldown: a trapezoid): True; it holds the peak over at
  most a fifth of them and ends above 2% of it (a decay from the peak, cosine or linear, to a floor):
  False; anything else (a decay to zero without a plateau, which a trapezoid's cooldown becomes when
  the script's default run is shorter than its default cooldown) cannot be told.
* ``learning_rates`` (dict): the learning rate of each kind of parameter the model has (its token-indexed
  tables, its head where not tied to the table, its other matrices, its gains and scalars), each
  parameter's the peak its group reaches in the loop (followed as for ``lr_floor``: a warmup or a
  schedule's multiplier counts, whatever computes it), the geometric mean over a kind's parameters.
* ``unit_gradients`` (bool): the gradients the script's optimisers step with have norm 1 each.
  The statements before the training loop run (the model tiny, as for ``lr_floor``); then, at the
  loop's first step, every parameter the optimisers hold is given a random gradient whose norm
  ranges over four orders of magnitude, the loop's body runs, and the optimisers' steps read the
  gradients instead of stepping. Each at norm 1: True; changed otherwise (clipped by their total
  norm, or each value clipped): False; unchanged (nothing in the loop's body touches them; a
  gradient hook or an optimiser may, which this does not run) cannot be told.
* ``bf16_embeddings`` (bool): once the statements before the training loop have run (the model built
  tiny, as for ``lr_floor``), the model's embedding tables are bfloat16 and none of its other
  parameters is: the tables alone in bf16, not the whole model cast (its linear layers cast back).

The training loop is found at module level, in a top-level function or in the script's
``if __name__ == "__main__":`` block (the speedrun's first records train there).

Scripts written for the GPU load as well: a tensor or module sent to CUDA stays on the CPU, a device
named ``cuda`` becomes the CPU, and FlexAttention runs as the ``scaled_dot_product_attention`` its block
mask amounts to, so every probe that watches attention sees it. A model is built at its own depth with
a small vocabulary and at most MAX_WIDTH channels (from its config class with the sizes the script's
call of it gives, or from the size arguments of the script's own ``GPT(...)`` call); it takes a batch
of one sequence, or the flat sequence of whole 128-token blocks the speedrun's later records take,
with the attention window they pass to the forward pass set to 2 (tokens or blocks; a second window
argument 1); a model that takes nothing shorter than the speedrun's 64K tokens is run on them up to
its first attention.

Module-level settings read from the environment (``os.environ.get("X", "0.1")``) load with their
defaults: the sandbox's environment holds no such setting.
"""

import ast
import contextlib
import copy
import ctypes
import dataclasses
import functools
import json
import math
import os
import re
import shutil
import signal
import sys
import types
import warnings

BUILTINS = set(dir(__import__("builtins")))

LINEAR_KINDS = ("MLP", "FEEDFORWARD", "FFN")
TINY_VOCAB = 256
# a wider model is built with fewer heads of its own width, at its own depth; no probe needs more (at
# 256, the distributed-Muon probe spent half of a second in its Newton-Schulz products on this CPU)
MAX_WIDTH = 128
FLEX_BLOCK = 128  # FlexAttention's block: the sequences of a script that uses it are whole blocks
CONTAINERS = {"dict", "list", "tuple", "set", "frozenset", "int", "float", "str"}
# builtins a constant may be computed with (NUM_TABLES = 1 + max(i for i in LAYOUT if i is not None))
PURE_BUILTINS = {
    *("abs", "all", "any", "bool", "enumerate", "len", "max", "min"),
    *("range", "reversed", "round", "sorted", "sum", "zip"),
}


def _protocol_out():
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def _kept(node) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        value = node.value
        if value is None or _compiler_setting(node):
            return False
        calls = [n for n in _evaluated(value) if isinstance(n, ast.Call)]
        # constants, functions (a lambda, a partial), and a configuration built from its defaults
        # (args = Hyperparameters()); not a model or an optimiser built at full size
        if isinstance(value, ast.Call) and len(calls) == 1 and not value.args and not value.keywords:
            return isinstance(value.func, ast.Name)
        return all(_harmless_call(c.func) for c in calls)
    return False


COMPILER_SETTINGS = ("torch._inductor.", "torch._dynamo.")


def _compiler_setting(node) -> bool:
    """An assignment to the compiler's settings (``torch._inductor.config.coordinate_descent_tuning =
    True``): nothing compiles here, and reaching them imports the compiler (most of a second)."""
    return any(ast.unparse(t).startswith(COMPILER_SETTINGS) for t in _targets(node))


def _targets(node) -> list:
    """What an assignment (plain or annotated) assigns to."""
    return node.targets if isinstance(node, ast.Assign) else [node.target]


def _evaluated(node):
    """The nodes an assignment evaluates: a lambda's body runs only when it is called."""
    yield node
    if not isinstance(node, ast.Lambda):
        for child in ast.iter_child_nodes(node):
            yield from _evaluated(child)


def _harmless_call(func) -> bool:
    """A builtin container or number, a builtin that computes a constant from others (``max``,
    ``len``), a partial function, a namespace of settings, or a read of the environment
    (``os.environ.get("X", "1")``: the sandbox's environment holds no such setting, so the script's
    default is taken)."""
    if isinstance(func, ast.Name):
        return func.id in CONTAINERS or func.id in PURE_BUILTINS or func.id in ("partial", "SimpleNamespace")
    return ast.unparse(func) in (
        *("os.environ.get", "os.getenv", "functools.partial"),
        *("types.SimpleNamespace", "argparse.Namespace"),  # an attribute view of a table of settings
        "argparse.ArgumentParser",
    )


PARSER_METHODS = frozenset(
    {
        "add_argument",
        "add_argument_group",
        "add_mutually_exclusive_group",
        "set_defaults",
        "parse_args",
        "parse_known_args",
    }
)


def _parser_statement(node, namespace: dict) -> bool:
    """A module-level statement of a command line's definition or parsing (``parser.add_argument(...)``,
    ``args = parser.parse_args()``) on a parser the script has by now: the script then reads its
    settings as it runs with no arguments, their defaults."""
    import argparse

    value = node.value if isinstance(node, (ast.Expr, ast.Assign)) else None
    func = value.func if isinstance(value, ast.Call) else None
    if not isinstance(func, ast.Attribute) or func.attr not in PARSER_METHODS or not isinstance(func.value, ast.Name):
        return False
    return isinstance(namespace.get(func.value.id), argparse._ActionsContainer)


def _patches_a_definition(node, namespace: dict) -> bool:
    """A module-level patch of a definition: a class, a function or a module the script has by now
    gets an attribute (``GPT.__init__ = with_hook(GPT.__init__)``, ``F.cross_entropy = upcast``,
    ``setattr(GPT, "configure_optimizers", build)``). The script's definitions are what probes
    measure, so they are measured as patched, whatever the patch calls."""
    if isinstance(node, ast.Assign):
        patched = node.targets
        if _compiler_setting(node) or not all(isinstance(t, ast.Attribute) for t in patched):
            return False
        patched = [t.value for t in patched]
    elif (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) == "setattr"
        and len(node.value.args) == 3
    ):
        patched = node.value.args[:1]
    else:
        return False
    for owner in patched:
        while isinstance(owner, ast.Attribute):
            owner = owner.value
        root = namespace.get(owner.id) if isinstance(owner, ast.Name) else None
        if not isinstance(root, (type, types.FunctionType, types.ModuleType)):
            return False
    return True


# what a module-level constant or table holds (a registry of the script's: ``OPTIMIZERS = {}``)
PLAIN = (int, float, str, bool, tuple, type(None), list, dict, set, frozenset)


def _made_by_own_function(node, namespace: dict) -> bool:
    """A module-level value the script makes with a function (or a plain class) of its own from
    constants, tables and its own functions alone (``quintic_step = make_ns_step((3.4445, -4.775, 2.0315))``, ``UPCAST =
    env_flag("UPCAST", True)``, ``orthogonalise = make_orthogonaliser(make_ns_step(COEFFS))``,
    ``register_optimizer = registrar(OPTIMIZERS)``): a closure, a setting or a number, not a model
    or a data loader (those take what loading does not make)."""
    return isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _of_definitions(node.value, namespace)


def _of_definitions(node, namespace: dict) -> bool:
    """A literal, a name of a constant, a table or the script's own function, or a call of such a
    function with arguments of the same kinds."""
    with contextlib.suppress(ValueError, TypeError, SyntaxError):
        ast.literal_eval(node)
        return True
    if isinstance(node, ast.Name):
        return isinstance(namespace.get(node.id), PLAIN) or _own_function(namespace.get(node.id))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and _own_maker(namespace.get(node.func.id)):
        return all(_of_definitions(a, namespace) for a in [*node.args, *(k.value for k in node.keywords)])
    return False


def _own_function(value) -> bool:
    return isinstance(value, types.FunctionType) and value.__module__ == "probed"


def _own_maker(value) -> bool:
    """A function of the script's, or a class of its own that builds no model nor optimiser (a
    registry: ``OPTIMIZERS = Registry("optimizer")``)."""
    import torch

    if isinstance(value, type) and value.__module__ == "probed":
        return not issubclass(value, (torch.nn.Module, torch.optim.Optimizer))
    return _own_function(value)


def load(text: str):
    """The script's definitions as a module; statements that fail, or run past STATEMENT_LIMIT_S of
    CPU time, are skipped."""
    _without_compiler()
    _cpu_only()
    module = types.ModuleType("probed")
    module.__dict__["__name__"] = "probed"
    tree = ast.parse(text)
    settled = module.settled_lines = set()  # first lines of the statements not to run again (see _setup)
    tables: list = []  # (a statement's first line, a table it bound, a copy as it was bound)
    with _cpu_alarm() as arm:
        for node in tree.body:
            # a patch or a parser's option runs once: run again (see _setup), it would wrap or add twice
            once = _patches_a_definition(node, module.__dict__) or _parser_statement(node, module.__dict__)
            if not (once or _kept(node) or _made_by_own_function(node, module.__dict__)):
                continue
            code = compile(ast.Module([node], []), "probed", "exec")
            arm(STATEMENT_LIMIT_S)
            try:
                exec(code, module.__dict__)
            except (Exception, _RanTooLong):  # noqa: BLE001 - a definition this machine cannot make; probes then say so
                continue
            finally:
                arm(0)
            if once:
                settled.add(node.lineno)
            for name in _assigned_names(node):
                table = module.__dict__.get(name)
                if isinstance(table, (dict, list, set)):
                    tables.append((node.lineno, table, copy.copy(table)))
    # a table that later statements filled (a registry its decorators filled) is the module's now
    settled.update(line for line, table, bound in tables if _changed(table, bound))
    module.syntax, module.first_calls = tree, _first_calls(tree)
    module.model_class = _model_class(module)
    module.model_keywords = _call_keywords(module, getattr(module.model_class, "__name__", "GPT"), computed=True)
    module.token_block = FLEX_BLOCK if "flex_attention" in text else 1
    return module


def _changed(table, bound) -> bool:
    """Whether a table differs from its copy as bound; one whose values cannot be compared (tensors put
    in place of others) has changed."""
    try:
        return bool(table != bound)
    except Exception:  # noqa: BLE001 - an entry's own comparison failed
        return True


def _assigned_names(node) -> list[str]:
    """The plain names a top-level assignment binds."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)):
        return []
    return [n.id for t in _targets(node) for n in ast.walk(t) if isinstance(n, ast.Name)]


def _without_compiler():
    """Nothing compiles here: ``torch.compile`` returns the function itself, and the functions torch
    wraps to keep its compiler away (an optimiser's ``add_param_group``, ``zero_grad``; checkpointing)
    run as themselves instead of importing the compiler on their first call (more than a second)."""
    import torch
    import torch._compile
    import torch.utils.checkpoint

    torch.compile = lambda fn=None, **kw: fn if fn is not None else (lambda f: f)
    wrapper = torch._compile._disable_dynamo(lambda: None).__code__
    for owner in (torch.optim.Optimizer, torch.utils.checkpoint):
        for value in vars(owner).values():
            if getattr(value, "__code__", None) is wrapper:
                value.__wrapped__.__dynamo_disable = value.__wrapped__  # what the wrapper calls once it is set


_ORIGINAL_FLEX = []
_CPU_MODE = []  # the torch function mode of a script written for a GPU (see _cpu_only)


def _devices_read_as_cpu(text: str):
    """The CPU mode, for a script that names CUDA or bfloat16 (every torch call then passes through
    it, which costs time: scripts that name neither go without)."""
    _cpu_only()
    return _CPU_MODE[0]() if "cuda" in text or "bfloat16" in text else contextlib.nullcontext()


def _products(torch) -> frozenset:
    """The torch functions that multiply matrices."""
    return frozenset(
        {
            *(getattr(torch, name) for name in ("matmul", "mm", "bmm", "addmm", "baddbmm", "einsum")),
            *(getattr(torch.Tensor, name) for name in ("matmul", "mm", "bmm", "addmm", "baddbmm")),
            torch.Tensor.__matmul__,
            torch.Tensor.__rmatmul__,
            torch.nn.functional.linear,
        }
    )


def _cpu_only():
    """Make a script written for CUDA build on CPU: a tensor or module sent to the GPU stays where it
    is, a device named ``cuda`` in any torch call becomes the CPU, and a product of bfloat16 matrices
    is computed in float32 and rounded to bfloat16, as a GPU's tensor cores accumulate it. On a CPU
    without bfloat16 instructions torch's own bfloat16 product is slow (a 256 x 1024 by 1024 x 256
    product over 3x slower than in float32, and the Newton-Schulz steps of one distributed Muon step
    over ten times the whole probe), and its results differ from these by bfloat16 rounding."""
    import torch
    import torch.nn.attention.flex_attention as flex
    from torch.overrides import TorchFunctionMode

    if _ORIGINAL_FLEX:
        return
    products = _products(torch)

    def on_cpu(value):
        if isinstance(value, str) and value.startswith("cuda"):
            return "cpu"
        if isinstance(value, torch.device) and value.type == "cuda":
            return torch.device("cpu")
        return value

    def in_float32(func, args, kwargs):
        with torch.autocast("cpu", enabled=False):  # under autocast the float32 product would be bfloat16 again
            return func(*(a.float() if isinstance(a, torch.Tensor) else a for a in args), **kwargs).bfloat16()

    class CpuOnly(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = {k: on_cpu(v) for k, v in (kwargs or {}).items()}
            args = [on_cpu(a) for a in args]
            if func in products and "out" not in kwargs:
                matrices = [a for a in args if isinstance(a, torch.Tensor)]
                if matrices and all(m.dtype == torch.bfloat16 for m in matrices):
                    return in_float32(func, args, kwargs)
            return func(*args, **kwargs)

    stay = lambda self, *a, **kw: self  # noqa: E731
    torch.Tensor.cuda = torch.nn.Module.cuda = torch.Tensor.pin_memory = stay
    torch.cuda.current_device = lambda: 0  # torch.device("cuda", torch.cuda.current_device()) names the CPU then
    one_process = _one_process_ddp()
    torch.nn.parallel.DistributedDataParallel = torch.nn.parallel.distributed.DistributedDataParallel = one_process
    torch._scaled_mm = _scaled_mm_in_float32
    _CPU_MODE.append(CpuOnly)
    _ORIGINAL_FLEX.append(flex.flex_attention)
    flex.flex_attention = _flex_as_sdpa  # what a script then imports


def _one_process_ddp():
    """DistributedDataParallel in the one process a probe runs: the wrapped model, as ``.module``,
    whose gradients no other process averages. The library's own imports the compiler on
    construction (more than a second)."""
    import torch

    class OneProcess(torch.nn.Module):
        def __init__(self, module, *args, **kwargs):
            super().__init__()
            self.module = module

        def forward(self, *args, **kwargs):
            return self.module(*args, **kwargs)

        @contextlib.contextmanager
        def no_sync(self):
            yield

    return OneProcess


def _scaled_mm_in_float32(a, b, scale_a, scale_b, bias=None, scale_result=None, out_dtype=None, use_fast_accum=False):
    """``torch._scaled_mm`` as float32 arithmetic: float8 values and their scales are exact in
    float32, and CPU's own float8 kernel takes most of a second for one speedrun head."""
    out = (a.float() * scale_a.float()) @ (b.float() * scale_b.float())
    if bias is not None:
        out = out + bias.float()
    return out.to(out_dtype or a.dtype)


def _dense_mask(block_mask, q_len: int, kv_len: int):
    """The (q_len x kv_len) boolean mask a FlexAttention BlockMask stands for: its full blocks
    whole, its partial blocks where its mask_mod allows."""
    import torch

    rows, cols = block_mask.BLOCK_SIZE if isinstance(block_mask.BLOCK_SIZE, tuple) else (block_mask.BLOCK_SIZE,) * 2

    def blocks(counts, indices):
        dense = torch.zeros(-(-q_len // rows), -(-kv_len // cols), dtype=torch.bool)
        if counts is None:
            return dense
        counts, indices = counts.reshape(-1, counts.shape[-1])[0], indices.reshape(-1, *indices.shape[-2:])[0]
        for q, n in enumerate(counts.tolist()[: dense.shape[0]]):
            listed = indices[q, :n].long()
            dense[q, listed[listed < dense.shape[1]]] = True  # the mask may be cropped
        return dense

    def spread(dense):
        return dense.repeat_interleave(rows, 0).repeat_interleave(cols, 1)[:q_len, :kv_len]

    partial = spread(blocks(block_mask.kv_num_blocks, block_mask.kv_indices))
    full = spread(blocks(block_mask.full_kv_num_blocks, block_mask.full_kv_indices))
    return full | (partial & _mask_mod_grid(block_mask.mask_mod, q_len, kv_len))


def _mask_mod_grid(mask_mod, q_len: int, kv_len: int):
    """A mask_mod's (q_len x kv_len) mask: evaluated on broadcast position grids, as its elementwise
    operations allow (FlexAttention's ``create_mask`` vmaps it instead, which imports the compiler:
    more than a second), else by ``create_mask``."""
    import torch

    zero = torch.zeros((), dtype=torch.long)
    q, kv = torch.arange(q_len)[:, None], torch.arange(kv_len)[None, :]
    try:
        grid = torch.as_tensor(mask_mod(zero, zero, q, kv)).bool()
        if grid.shape == (q_len, kv_len):
            return grid
    except Exception:  # noqa: BLE001 - a mask_mod that needs scalars: vmapped by FlexAttention below
        pass
    from torch.nn.attention.flex_attention import create_mask

    return create_mask(mask_mod, 1, 1, q_len, kv_len, device="cpu")[0, 0].bool()


def _flex_as_sdpa(query, key, value, score_mod=None, block_mask=None, scale=None, enable_gqa=False, **options):
    """FlexAttention as the ``scaled_dot_product_attention`` it amounts to (its block mask made
    dense), so that every probe watching attention sees it; a score_mod or an extra output is
    beyond that and left to FlexAttention itself."""
    import torch.nn.functional as F

    lengths = (query.shape[-2], key.shape[-2])
    # a mask for fewer positions than attended is a misreading of the inputs' shape (a batch taken
    # for a sequence); one for more (a block count fixed for 64K tokens) is read for the first ones
    if block_mask is not None and any(m < n for m, n in zip(block_mask.seq_lengths, lengths, strict=True)):
        raise ValueError(f"a block mask for {tuple(block_mask.seq_lengths)} positions used on {lengths}")
    if _CROP:  # the first attention of a long sequence, its first _CROP[0] positions, and stop
        n = _CROP[0]
        mask = None if block_mask is None else _dense_mask(block_mask, n, n)
        q, k, v = (t[..., :n, :] for t in (query, key, value))
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=enable_gqa)
        raise _PassDecided
    if score_mod is not None or any(options.get(k) for k in ("return_lse", "return_aux")):
        return _ORIGINAL_FLEX[0](query, key, value, score_mod, block_mask, scale, enable_gqa, **options)
    mask = None if block_mask is None else _dense_mask(block_mask, *lengths)
    return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=scale, enable_gqa=enable_gqa)


LONG = 65536  # the speedrun's sequence length, for models that take no other (a block count fixed at 512)
_CROP: list = []  # set: FlexAttention's first call is taken for this many positions, then the pass stops


class _PassDecided(BaseException):
    """Ends a forward pass (or the training loop's step) once the rest cannot change what a probe
    measures (its first attention, a second mask, the head's weight in float8, the gradients an
    optimiser steps with); a BaseException, so that no try in the script or in
    :func:`_call` takes it for a failure."""


def _model_class(module):
    """The class the script builds its model from: ``GPT``, or the subclass of it that the script
    calls (``model = UNetGPT(config)``, a model written as an override of record i's)."""
    gpt = getattr(module, "GPT", None)
    if not isinstance(gpt, type):
        return gpt
    built = [getattr(module, name, None) for name in sorted(module.first_calls)]
    subclasses = [c for c in built if isinstance(c, type) and c is not gpt and issubclass(c, gpt)]
    return max(subclasses, key=lambda c: len(c.__mro__), default=gpt)


def _first_calls(tree) -> dict:
    """Every plain name the script calls (``UNetGPT(config)``, ``Muon(params)``) -> its first call."""
    out: dict = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            out.setdefault(node.func.id, node)
    return out


def _call_keywords(module, name: str, computed: bool = False) -> dict:
    """The keyword arguments of the script's first call of ``name``: the literal ones
    (``GPT(num_layers=12)``, ``Muon(params, momentum_warmup=500)``, or a module-level table passed as
    ``**arch``), and with ``computed`` those it computes from what it defines without a call
    (``n_head=width // head_size``) where they are numbers."""
    call = module.first_calls.get(name)
    namespace = vars(module) if computed else None
    found = {}
    for kw in call.keywords if call is not None else ():
        if kw.arg is None:  # **table
            if isinstance(kw.value, ast.Name):
                found.update(_keyword_table(module.syntax, kw.value.id, namespace))
            continue
        value = _keyword_value(kw.value, namespace)
        if value is not None:
            found[kw.arg] = value
    return found


def _keyword_table(tree, name: str, namespace: dict | None) -> dict:
    """The entries that are numbers of the module-level ``name = dict(n_head=6, ...)`` (or
    ``{"n_head": 6, ...}``), as passed with ``**name``."""
    entries: dict = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [name]):
            continue
        value = node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
            pairs = [(kw.arg, kw.value) for kw in value.keywords if kw.arg is not None]
        elif isinstance(value, ast.Dict):
            pairs = [(k.value, v) for k, v in zip(value.keys, value.values, strict=True) if isinstance(k, ast.Constant)]
        else:
            continue
        values = {k: _keyword_value(v, namespace) for k, v in pairs}
        entries = {k: v for k, v in values.items() if isinstance(v, (int, float))}
    return entries


def _keyword_value(node, namespace: dict | None):
    """A keyword's value: a literal, or arithmetic over the names the script defines (no call is
    made: loading a script runs none of its code but its definitions)."""
    with contextlib.suppress(ValueError, TypeError, SyntaxError):
        return ast.literal_eval(node)
    if namespace is None or any(isinstance(n, (ast.Call, ast.Lambda, ast.NamedExpr)) for n in ast.walk(node)):
        return None
    try:
        value = eval(compile(ast.Expression(node), "probed", "eval"), dict(namespace))  # noqa: S307 - in the sandbox
    except Exception:  # noqa: BLE001 - it reads what was not loaded
        return None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _classes(module, base):
    values = vars(module).values()
    return [v for v in values if isinstance(v, type) and issubclass(v, base) and v.__module__ == "probed"]


WIDTHS = ("n_embd", "model_dim", "d_model", "dim", "embed_dim", "hidden_size")
HEADS = ("n_head", "num_heads", "n_heads", "heads")


def _narrow(sizes: dict) -> dict:
    """A model's size settings at a tiny size: a small vocabulary and, for a model wider than
    MAX_WIDTH, fewer heads of the width the script gives them (some scripts fix it in the attention
    code); the depth stays the script's, which some designs need (U-net pairs, a layer that skips
    attention)."""
    out = dict(sizes)
    for name, value in sizes.items():
        if "vocab" in name.lower() and isinstance(value, int):
            out[name] = TINY_VOCAB
    width = next((k for k in WIDTHS if isinstance(out.get(k), int)), None)
    heads = next((k for k in HEADS if isinstance(out.get(k), int)), None)
    if width and heads and out[width] > MAX_WIDTH and out[heads] > 0 and out[width] % out[heads] == 0:
        head_width = out[width] // out[heads]
        out[heads] = max(1, MAX_WIDTH // head_width)
        out[width] = out[heads] * head_width
    return out


def _config(module):
    """A model configuration at a tiny size: the script's own config class (the one it calls, the most
    derived first: a subclass of record i's that it swaps in) with its call's literal sizes, narrowed,
    or its build_model()'s."""
    import dataclasses

    build = getattr(module, "build_model", None)
    if callable(build):
        return None, build
    configs = [c for c in vars(module).values() if isinstance(c, type) and "config" in c.__name__.lower()]
    called = getattr(module, "first_calls", {})
    configs.sort(key=lambda c: (c.__name__ not in called, -len(c.__mro__)))
    for cls in configs:
        if dataclasses.is_dataclass(cls):
            fields = [f for f in dataclasses.fields(cls) if f.init]
            defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
            # the script's own call's sizes (``GPTConfig(n_head=6, ...)``) over the class's defaults
            given = _call_keywords(module, cls.__name__, computed=True)
            defaults.update({k: v for k, v in given.items() if k in {f.name for f in fields}})
            try:
                cfg = cls(**_narrow(defaults))
            except TypeError:
                continue
            return cfg, None
    return None, None


def _settings_table(module, gpt):
    """The table of settings the script's own call of its model class passes alone (``GPT(MODEL_TABLE)``
    with a module-level dict, or an attribute view of one: ``SimpleNamespace(**MODEL_TABLE)``), narrowed
    as a config's sizes are; None where the call passes anything else."""
    call = module.first_calls.get(getattr(gpt, "__name__", None))
    if call is None or len(call.args) != 1 or call.keywords or not isinstance(call.args[0], ast.Name):
        return None
    table = vars(module).get(call.args[0].id)
    if isinstance(table, dict):
        return _narrow(table)
    if isinstance(table, types.SimpleNamespace):
        return types.SimpleNamespace(**_narrow(vars(table)))
    return None


def _keyword_model(gpt, module):
    """GPT built from size arguments (``GPT(vocab_size=..., num_layers=..., ...)``): the script's
    own call's values, narrowed; a sequence length it computes is taken as 1024."""
    import inspect

    params = dict(list(inspect.signature(gpt.__init__).parameters.items())[1:])
    sizes = {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}
    sizes.update({k: v for k, v in getattr(module, "model_keywords", {}).items() if k in params})
    sizes = _narrow(sizes)
    for name in params.keys() - sizes.keys():
        if not any(w in name.lower() for w in ("seq", "len", "ctx", "context")):
            raise LookupError(f"GPT needs {name!r}, which the script's own call does not give as a number")
        sizes[name] = 1024
    return gpt(**sizes)


def _model(module):
    """The script's model at a tiny size, a fresh copy for every probe (probes change weights and
    hook modules); built once per script, since some models precompute much (rotary tables for 64K
    positions in every layer). The copies share the built model's buffers, which probes only read:
    copying such tables costs as much as the build. A buffer changed in place (a forward pass that
    caches into one) is seen by its version counter, and the next probe gets a model built anew. The
    script's last probe takes the built model itself: no probe after it needs it unchanged."""
    built = getattr(module, "built_model", None)
    if built is None or any(b._version != seen for b, seen in module.buffer_versions):
        built = module.built_model = _build_model(module)
        module.buffer_versions = [(b, b._version) for b in built.buffers()]
    if getattr(module, "probes_left", 2) <= 1:
        module.built_model = None  # a second call of that probe builds anew
        return built
    try:
        return copy.deepcopy(built, memo={id(b): b for b, _ in module.buffer_versions})
    except Exception:  # noqa: BLE001 - a model holding what cannot be copied: built anew
        return _build_model(module)


def _build_model(module):
    import inspect

    import torch

    cfg, build = _config(module)
    gpt = getattr(module, "model_class", None)
    with _parameterless_twins_shared(module):
        if build is not None:
            model = build()
        elif cfg is not None and isinstance(gpt, type) and issubclass(gpt, torch.nn.Module):
            model = gpt(cfg)
        elif (table := _settings_table(module, gpt)) is not None:
            model = gpt(table)
        elif (
            isinstance(gpt, type)
            and issubclass(gpt, torch.nn.Module)
            and len(inspect.signature(gpt.__init__).parameters) > 2
        ):
            model = _keyword_model(gpt, module)
        else:
            raise LookupError("no build_model() and no GPT(config) to build")
    model.token_block = getattr(module, "token_block", 1)
    return model


@contextlib.contextmanager
def _parameterless_twins_shared(module):
    """While the model is built: a module of the script's own class that holds no parameters and only
    buffers it does not save (``persistent=False``: tables it computes), built again with the same
    plain arguments (numbers, strings), is a copy of the first one sharing those tables. Such a module
    is a function of its arguments: the speedrun's rotary tables, one per layer over 64K positions,
    took a third of a candidate's measurement to compute again in every layer. One that draws random
    numbers, keeps a state it saves (a counter, a running statistic), or takes anything but plain
    arguments is built as the script builds it."""
    import torch

    plain = (int, float, str, bool, type(None))
    first: dict = {}
    originals = {
        cls: cls.__dict__["__init__"] for cls in _classes(module, torch.nn.Module) if "__init__" in cls.__dict__
    }

    def shared(cls, init):
        @functools.wraps(init)
        def build(self, *args, **kwargs):
            values = (*args, *kwargs.values())
            key = (cls, args, tuple(sorted(kwargs.items()))) if all(type(v) in plain for v in values) else None
            if type(self) is not cls or key is None:
                return init(self, *args, **kwargs)
            twin = first.get(key)
            if twin is not None:
                self.__dict__.update(copy.deepcopy(twin, memo={id(b): b for b in twin.buffers()}).__dict__)
                return None
            seed = torch.random.get_rng_state()
            init(self, *args, **kwargs)
            computed = all(n in m._non_persistent_buffers_set for m in self.modules() for n in m._buffers)
            if computed and next(self.parameters(), None) is None and torch.equal(seed, torch.random.get_rng_state()):
                first[key] = self
            return None

        return build

    for cls, init in originals.items():
        cls.__init__ = shared(cls, init)
    try:
        yield
    finally:
        for cls, init in originals.items():
            cls.__init__ = init


def _linears(mod):
    return [m for m in mod.modules() if getattr(m, "weight", None) is not None and m.weight.dim() == 2]


def _is_mlp(cls) -> bool:
    return any(k in cls.__name__.upper() for k in LINEAR_KINDS)


def _mlp(module):
    """The model's first MLP (see the module docstring)."""
    import torch

    try:
        return next(m for m in _model(module).modules() if _is_mlp(type(m)))
    except Exception:  # noqa: BLE001 - no model, or none in it: the script's first MLP class, built
        pass
    cls = next((c for c in _classes(module, torch.nn.Module) if _is_mlp(c)), None)
    if cls is None:
        raise LookupError("no MLP class")
    cfg, build = _config(module)
    if cfg is None and build is not None:
        cfg = build().config
    return cls(cfg)


def squared_relu(module):
    import torch

    mlp = _mlp(module)
    layers = _linears(mlp)
    if len(layers) < 2:
        raise LookupError("the MLP has fewer than two linear layers")
    first, last = layers[0], layers[-1]
    x = torch.linspace(-3, 3, first.weight.shape[0]).repeat(2, 1)
    seen = {}
    first.forward = lambda inp: x.to(inp.dtype, copy=True)  # a copy: the activation may work in place

    def capture(inp):
        seen["h"] = inp.detach().float().clone()
        return torch.zeros(inp.shape[:-1] + (last.weight.shape[0],))

    last.forward = capture
    with torch.no_grad():
        mlp(torch.zeros(2, first.weight.shape[1]))
    if "h" not in seen:
        raise LookupError("the MLP's last layer was not reached")
    return bool(torch.allclose(seen["h"], torch.relu(x) ** 2, rtol=1e-2, atol=1e-3))


_WATCHED: list = []  # the call lists of the spies in force: a model call that fails is taken out


@contextlib.contextmanager
def _spy(name, keywords: bool = False, enough=None, stand_in=None):
    """Record the arguments of every call of torch.nn.functional.NAME (with ``keywords``: the pair of
    positional and keyword arguments); ``enough``, a test of a call's positional arguments, ends the
    pass at the first call it accepts (raises _PassDecided) where the rest is not needed;
    ``stand_in`` computes what a call returns in place of the function (where only its arguments
    matter)."""
    import torch.nn.functional as F

    original = getattr(F, name)
    calls = []

    def spy(*a, **kw):
        calls.append((a, kw) if keywords else a)
        if enough is not None and enough(a):
            raise _PassDecided
        return (stand_in or original)(*a, **kw)

    setattr(F, name, spy)
    _WATCHED.append(calls)
    try:
        yield calls
    finally:
        _WATCHED.remove(calls)
        setattr(F, name, original)


def _tokens(model, length: int, fill=None):
    """A batch of one sequence of about ``length`` tokens (whole FlexAttention blocks where the
    script uses it): random, or one token repeated."""
    import torch

    block = getattr(model, "token_block", 1)
    length = -(-length // block) * block
    # every token table must take the tokens: the smallest decides (a token embedding left at the real
    # vocabulary beside value embeddings built at the tiny one)
    vocab = min(m.num_embeddings for m in model.modules() if isinstance(m, torch.nn.Embedding))
    torch.manual_seed(0)
    if fill is None:
        return torch.randint(0, vocab, (1, length))
    return torch.full((1, length), fill(vocab), dtype=torch.long)


WINDOW_ARGUMENT = 2  # a window passed to the forward pass: 2 tokens, or 2 blocks where it counts blocks


def _extra_arguments(model) -> list:
    """Values for the forward pass's required arguments after the inputs and targets: the speedrun's
    later records take the attention window (``sliding_window_num_blocks``, ``attn_blocksize``). It
    is given as WINDOW_ARGUMENT, which shows either unit for what it is: two tokens cut through every
    block, two 128-token blocks shut out the farther ones of a 512-token sequence. A second window
    argument (a long and a short window passed apart) is given half of it."""
    import inspect

    import torch

    params = list(inspect.signature(model.forward).parameters.values())[2:]
    extra = []
    for p in params:
        if p.default is not inspect.Parameter.empty or p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        # a second window (a long and a short one passed apart) is half the first
        extra.append(torch.tensor(max(1, WINDOW_ARGUMENT >> len(extra)), dtype=torch.int32))
    return extra


def _call(model, idx):
    """The model's forward pass on ``idx`` (its own targets): as a batch, else as the flat sequence
    the speedrun's later records take, with the extra arguments they need."""
    extra = _extra_arguments(model)
    *tries, last = [(idx, idx, *extra), (idx,), (idx[0], idx[0], *extra)]
    for args in tries:
        seen = [len(calls) for calls in _WATCHED]
        try:
            return model(*args)
        except Exception:  # noqa: BLE001 - not the shape this model takes: the next one
            for calls, before in zip(_WATCHED, seen, strict=True):
                del calls[before:]
    return model(*last)


def _forward(model, T=64):
    return _call(model, _tokens(model, T))


UNBOUNDED = 1e3  # a largest |logit| above this, with the head's weights ~1e4, is no cap: its size is noise


def bounded_logits(module):
    import torch

    model = _model(module)
    head = getattr(model, "lm_head", None)
    if head is None:
        raise LookupError("no lm_head")
    raw = []  # a copy: the script may go on to scale the head's output in place
    # first, before any hook of the script's own (a cap applied by a hook on the head is a cap)
    head.register_forward_hook(lambda mod, inp, out: raw.append(out.detach().float().reshape(-1).clone()), prepend=True)

    def run():
        raw.clear()
        with torch.no_grad(), _spy("cross_entropy") as calls, _products_of(head.weight) as taken:
            _forward(model)
        if not raw and taken:  # the head's weight taken by a product of the script's own: F.linear(x, head.weight)
            raw.append(taken[-1])
        if calls and not raw and model.training:  # a head taken another way in training (an FP8 matmul)
            model.eval()
            return run()
        if not calls or not raw:
            raise LookupError("no cross_entropy call" if not calls else "the head was not called")
        return raw[-1], calls[-1][0].detach().float().reshape(-1)

    with torch.no_grad():
        head.weight.normal_(0, 1e4)
    huge, capped = run()
    bound = float(capped.abs().max())
    if bound > UNBOUNDED:
        return 1e30
    if huge.numel() != capped.numel():
        return bound
    # a soft cap bends before the bound (tanh(1) = 0.76); a hard clip does not: it counts as no cap
    with torch.no_grad():
        head.weight.mul_(2 * bound / float(huge.abs().max()))
    moderate, capped = run()
    near = (moderate.abs() > 0.9 * bound) & (moderate.abs() < bound)
    if not near.any():
        raise LookupError("no logit near the bound")
    ratio = float((capped[near] / moderate[near]).mean())
    return bound if ratio < 0.9 else 1e30


@contextlib.contextmanager
def _products_of(weight):
    """The outputs (flat, float32 copies) of every matrix product that takes a matrix of ``weight``'s
    shape, or its transpose, however it was cast on the way."""
    import torch
    from torch.overrides import TorchFunctionMode

    products, shapes, out = _products(torch), {tuple(weight.shape), tuple(weight.shape)[::-1]}, []

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            result = func(*args, **(kwargs or {}))
            if func in products and any(isinstance(a, torch.Tensor) and tuple(a.shape) in shapes for a in args):
                out.append(result.detach().float().reshape(-1).clone())
            return result

    with Watch():
        yield out


# what turns logits into a loss: the first of these over the vocabulary is where they reach it
NORMALISERS = frozenset({"cross_entropy", "log_softmax", "softmax", "logsumexp"})


def fp32_logits(module):
    """Whether the logits reach the loss in float32 while the model runs under bfloat16 autocast, as
    the speedrun trains: the first normalisation over the vocabulary (a cross-entropy, a log-softmax,
    a softmax or a logsumexp, called however) takes float32, not the head's bfloat16. Seen where the
    normalisation is called, below any wrapper or hook the script puts around it."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    model = _model(module)
    vocabularies = {m.num_embeddings for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    # a wrapper the script put in F's place is what F's own function hands to the mode, by that name
    installed = {id(getattr(F, name)) for name in NORMALISERS if hasattr(F, name)}
    inputs: list = []

    class LossInputs(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            first = args[0] if args else None
            normaliser = getattr(func, "__name__", None) in NORMALISERS or id(func) in installed
            if normaliser and isinstance(first, torch.Tensor) and first.dim():
                if first.shape[-1] in vocabularies:
                    inputs.append(first.dtype)
            return func(*args, **(kwargs or {}))

    _WATCHED.append(inputs)  # a forward pass of another shape that fails leaves nothing behind
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16), LossInputs():
            _forward(model)
    finally:
        _WATCHED.remove(inputs)
    if not inputs:
        raise LookupError("no cross-entropy or softmax over the vocabulary")
    return inputs[0] == torch.float32


def qk_normalised(module):
    import torch

    model = _model(module)
    with torch.no_grad(), _spy("scaled_dot_product_attention") as calls:
        _forward(model)
    if not calls:
        raise LookupError("no scaled_dot_product_attention call")
    spread = 0.0
    for q, k, *_ in calls:
        for t in (q, k):
            norms = t.detach().float().norm(dim=-1)
            spread = max(spread, float((norms.std() / norms.mean()).item()))
    return spread < 1e-3


def _single_process_group():
    """A one-process group (gloo over a file in the scratch folder) for optimisers that all-reduce."""
    import tempfile

    import torch.distributed as dist

    for key, value in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0")):
        os.environ.setdefault(key, value)
    if dist.is_available() and not dist.is_initialized():
        store = dist.FileStore(tempfile.mktemp(prefix="probe-pg-"), 1)
        dist.init_process_group("gloo", store=store, rank=0, world_size=1)
        dist.all_gather_into_tensor = _gathered_by_one


class _Done:
    """The handle of a collective that is complete."""

    def wait(self, *args, **kwargs):
        return True


def _gathered_by_one(output, input, group=None, async_op=False):
    """``all_gather_into_tensor`` in a one-process group: the input copied into the output, shaped
    (world size, n) or flat (gloo takes the flat one only; the speedrun's Muon passes the other)."""
    output.view(-1).copy_(input.reshape(-1))
    return _Done() if async_op else None


def _first_attention(module, length: int, mask_only: bool = False):
    """(positional, keyword arguments) of the first ``scaled_dot_product_attention`` call for one
    token repeated at ``length`` positions: what reaches attention depends on the positions only.
    ``mask_only``: where the model takes the speedrun's 64K-token sequence only, the pass ends at
    the first FlexAttention mask it makes, which stands for the first attention's ``attn_mask``
    (cropped to ``length`` positions; the arguments are no tensors): the mask is made before any
    of the positions' work, which takes about a second."""
    import torch

    model = _model(module)

    def tokens(n):
        return _tokens(model, n, fill=lambda vocab: vocab // 3)

    given = tokens(length).shape[-1]

    def whole_sequence(args) -> bool:  # the tokens given, read as one sequence: the pass may stop there
        return args[0].dim() == 4 and args[0].shape[-2] == given

    with torch.no_grad(), _spy("scaled_dot_product_attention", keywords=True, enough=whole_sequence) as calls:
        try:
            _call(model, tokens(length))
        except _PassDecided:
            pass
        except Exception:
            if getattr(model, "token_block", 1) == 1:
                raise
            # a model built for the speedrun's 64K-token sequence only: its first attention, cropped
            _CROP.append(length)
            try:
                with _first_block_mask(calls, length) if mask_only else contextlib.nullcontext():
                    _call(model, tokens(LONG))
            except _PassDecided:
                pass
            finally:
                _CROP.clear()
    if not calls:
        raise LookupError("no scaled_dot_product_attention call")
    return calls[0]


@contextlib.contextmanager
def _first_block_mask(calls: list, length: int):
    """The first FlexAttention BlockMask made, cropped to ``length`` positions, recorded in ``calls``
    as the mask of an attention call; its making ends the pass."""
    from torch.nn.attention.flex_attention import BlockMask

    made = BlockMask.__init__

    def init(self, *args, **kwargs):
        made(self, *args, **kwargs)
        calls.append(((None, None, None), {"attn_mask": _dense_mask(self, length, length)}))
        raise _PassDecided

    BlockMask.__init__ = init
    try:
        yield
    finally:
        BlockMask.__init__ = made


def _repeated_token_attention(module):
    """(q, k) of head 0 in the first attention, for one token repeated at 32 positions."""
    args, _ = _first_attention(module, 32)
    return (t.detach().double()[0, 0] for t in args[:2])


TOEPLITZ = 0.05  # how far a score may stray from its diagonal's mean, as a share of the largest score


def relative_positions(module):
    """Whether attention scores depend on positions through their offset only (rotary-like): for a
    sequence of one repeated token, the first attention's q.k scores are the same along every
    diagonal and not all equal (learned absolute positions break the first, no positions the second).
    "The same" within TOEPLITZ of the largest score: rotation tables kept in bfloat16 (the speedrun's
    later records) move the scores by under 1% of it, learned positions by most of it."""
    import torch

    q, k = _repeated_token_attention(module)
    scores = q @ k.T
    scale = float(scores.abs().max()) or 1.0
    diagonals = [torch.diagonal(scores, -d) for d in range(scores.shape[0] - 1)]
    toeplitz = max(float((d - d.mean()).abs().max()) for d in diagonals) / scale < TOEPLITZ
    varies = float(torch.stack([d.mean() for d in diagonals]).std()) / scale > 1e-3
    return toeplitz and varies


def rotation_free_channels(module):
    """The share of the first attention's query channels that carry no position: for a repeated
    token they are the same at every position (a rotary frequency of zero, however written)."""
    q, _ = _repeated_token_attention(module)
    scale = float(q.abs().max()) or 1.0
    still = (q - q[0]).abs().amax(dim=0) / scale < 1e-6
    return float(still.double().mean())


def attention_scale(module):
    """The factor the first attention multiplies q.k by: its ``scale`` argument, else the library's
    default 1/sqrt(head size)."""
    args, kwargs = _first_attention(module, 32)
    scale = kwargs.get("scale")
    if scale is None and len(args) > 6:
        scale = args[6]  # scaled_dot_product_attention(q, k, v, mask, dropout, is_causal, scale)
    return float(scale) if scale is not None else args[0].size(-1) ** -0.5


def head_width(module):
    """The first attention's channels per head."""
    args, _ = _first_attention(module, 32)
    return float(args[0].size(-1))


BLOCK, BLOCKS = 64, 4  # the block window's unit, and the blocks of the probe's sequence


def block_window(module):
    """Whether the first attention's mask, on one document of 4 blocks of 64 tokens (4 FlexAttention
    blocks where the script uses it), is the same for every query and key of a pair of different
    64-token blocks (a window counted in whole blocks) and shuts out at least one such pair (a
    window, not plain causal attention). A window counted in tokens cuts through block pairs; one
    that lets no pair of different blocks through (one token: the probe's window halved for a first
    layer's short window) cannot tell the units apart."""
    import torch

    length = BLOCKS * max(BLOCK, module.token_block)  # four blocks, of FlexAttention's size where it is used
    blocks = length // BLOCK
    args, kwargs = _first_attention(module, length, mask_only=True)
    mask = kwargs.get("attn_mask", args[3] if len(args) > 3 else None)
    if not isinstance(mask, torch.Tensor):
        raise LookupError("the first attention has no mask")
    allowed = mask if mask.dtype == torch.bool else torch.isfinite(mask) & (mask > -1e4)
    allowed = allowed.reshape(-1, *allowed.shape[-2:])[0]
    pairs = [allowed[q * BLOCK : (q + 1) * BLOCK, k * BLOCK : (k + 1) * BLOCK] for q in range(blocks) for k in range(q)]
    if not any(bool(p.any()) for p in pairs):  # a window of one token (a short window of the probe's two, halved)
        raise LookupError("the first attention's mask shuts out every pair of different blocks: no window's unit shows")
    whole = all(bool(p.all()) or not bool(p.any()) for p in pairs)
    return whole and any(not bool(p.any()) for p in pairs)


def mixed_windows(module):
    """Whether the attention layers of one forward pass, on one document of two of the script's
    attention blocks with the window passed as WINDOW_ARGUMENT blocks, use more than one mask (long
    and short windows, or a window in some layers only), rather than one mask in every layer."""
    import torch

    model = _model(module).eval()  # the head as evaluation computes it: an FP8 head costs seconds on CPU
    masks = set()

    def mask_only(query, key, value, attn_mask=None, **_kw):
        shown = None if attn_mask is None else attn_mask.to(torch.float32).cpu().numpy()
        masks.add(None if shown is None else (shown.shape, shown.tobytes()))
        if len(masks) > 1:
            raise _PassDecided  # a second window: the rest of the pass cannot change the answer
        return torch.zeros_like(query)  # only the masks matter

    with torch.no_grad(), _spy("scaled_dot_product_attention", stand_in=mask_only) as calls:
        try:
            _forward(model, 2 * max(BLOCK, module.token_block))  # a short window shuts out the first block
        except _PassDecided:
            pass
    if not calls:
        raise LookupError("no scaled_dot_product_attention call")
    return len(masks) > 1


def fp8_head(module):
    """Whether the training forward pass computes the logits from the head's weight in float8: a cast
    to a float8 dtype, or an operand of ``torch._scaled_mm``, follows the head's weight (correlation
    above 0.99, either orientation), however the matmul is wrapped (a custom op, an autograd Function)."""
    import torch
    from torch.overrides import TorchFunctionMode

    model = _model(module).train()  # the speedrun's FP8 head runs in training only
    weight = getattr(getattr(model, "lm_head", None), "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise LookupError("no lm_head weight")
    with torch.no_grad():
        weight.normal_()  # the speedrun's head starts at zero, which nothing follows
    weight = weight.detach().float()
    float8 = {getattr(torch, n) for n in dir(torch) if n.startswith("float8_")}

    def follows_head(t) -> bool:
        if not isinstance(t, torch.Tensor) or t.dtype not in float8 or t.dim() != 2:
            return False
        pairs = (torch.stack([t.float().flatten(), w.flatten()]) for w in (weight, weight.T) if t.shape == w.shape)
        return any(float(torch.corrcoef(pair)[0, 1]) > 0.99 for pair in pairs)

    class Casts(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if follows_head(out):
                raise _PassDecided
            return out

    original = torch._scaled_mm

    def scaled_mm(a, b, *rest, **kw):  # inside a custom op, where the mode above sees nothing
        if follows_head(a) or follows_head(b):
            raise _PassDecided
        return original(a, b, *rest, **kw)

    torch._scaled_mm = scaled_mm
    try:
        with torch.no_grad(), _spy("cross_entropy") as calls, Casts():
            _forward(model)
    except _PassDecided:
        return True
    finally:
        torch._scaled_mm = original
    if not calls:
        raise LookupError("no cross_entropy call")
    return False


def untied_head(module):
    """Whether the model's head (``lm_head``, else its last linear layer with one output per token)
    has a weight of its own rather than the token embedding's table (tied by assigning one to the
    other, or by the head computed from the table)."""
    import torch

    model = _model(module)
    tables = [m.weight for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    if not tables:
        raise LookupError("no embedding table")
    head = _head(model, vocab=tables[0].shape[0])
    if head is None:
        return False  # the logits computed from the table itself
    weight = getattr(head, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise LookupError("the head has no weight")
    return weight.data_ptr() != tables[0].data_ptr()


def _head(model, vocab: int):
    """The model's head: ``lm_head``, else its last linear layer with one output per token (None:
    the logits are computed from the embedding table itself)."""
    import torch

    head = getattr(model, "lm_head", None)
    if isinstance(head, torch.nn.Module):
        return head
    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == vocab]
    return heads[-1] if heads else None


def attention_calls(module):
    """How many attention computations (``scaled_dot_product_attention`` calls) one forward pass of
    the model makes: one per block, fewer where a block has none."""
    model = _model(module)
    with _spy("scaled_dot_product_attention") as calls:
        _forward(model)
    if not calls:
        raise LookupError("no scaled_dot_product_attention call")
    return float(len(calls))


def cast_linears(module):
    """Whether some part of the model with matrix weights and no bias (a linear layer, an MLP),
    float32 weights kept, takes bfloat16 activations and returns bfloat16: its weights are cast to
    the activations' dtype at use (a plain ``nn.Linear`` refuses mixed dtypes)."""
    import torch

    model = _model(module).float()
    for m in model.modules():
        if m is model or isinstance(m, torch.nn.Embedding):
            continue
        params = dict(m.named_parameters())
        matrices = [w for w in params.values() if w.dim() == 2]
        if not matrices or any(name.rpartition(".")[2] == "bias" for name in params):
            continue
        try:
            with torch.no_grad():
                y = m(torch.randn(2, 8, matrices[0].shape[1], dtype=torch.bfloat16))
        except Exception:  # noqa: BLE001, S112 - not a part of that kind, or one that needs more inputs
            continue
        if isinstance(y, torch.Tensor) and y.dtype == torch.bfloat16:
            return True
    return False


def init_scale(module):
    """How widely the model's linear layers start: std(W) * sqrt(fan_in) of each matrix weight that
    does not start at zero (embeddings left out), the median over them. PyTorch's default uniform
    init gives 1/sqrt(3) = 0.577."""
    import torch

    spreads = []
    for m in _linears(_model(module)):
        weight = m.weight.detach()
        if not isinstance(m, torch.nn.Embedding) and weight.numel() > 1 and bool(weight.abs().max() > 0):
            spreads.append(float(weight.float().std()) * weight.shape[1] ** 0.5)
    if not spreads:
        raise LookupError("no matrix weight that starts away from zero")
    return sorted(spreads)[len(spreads) // 2]


def zero_projections(module):
    """Whether every block of the model starts with a projection back to the residual stream at
    exactly zero, however it was zeroed (``zero_``, a fresh zero ``Parameter``, a state dict of zeros,
    a multiplication by 0): a matrix weight whose rows are the stream's width (the width most of the
    block's layers read) and whose entries are all 0. A zeroed input projection or head is not."""
    from collections import Counter

    blocks = _blocks(_model(module))
    for block in blocks:
        weights = [m.weight.detach() for m in _linears(block) if m.weight.numel() > 1]
        if not weights:
            raise LookupError("a block without matrix weights")
        width = Counter(w.shape[1] for w in weights).most_common(1)[0][0]
        if not any(w.shape[0] == width and not bool(w.abs().max() > 0) for w in weights):
            return False
    return True


def _detached_blocks(module, detach: bool = True):
    """The model (its weights nudged: zero-initialised projections and gates would hide what reads
    what), its blocks (the longest ModuleList), whose incoming residual stream is detached (unless
    ``detach`` is false) so that a gradient taken inside a block reaches only what the block itself
    reads, and the token-indexed tables (embeddings, whatever their spelling outside the blocks; a
    block's own embeddings)."""
    import torch

    model = _model(module).float()
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    blocks = _blocks(model)
    # every token table must take the tokens: the smallest decides (a token embedding left at the real
    # vocabulary beside value embeddings built at the tiny one)
    vocab = min(m.num_embeddings for m in model.modules() if isinstance(m, torch.nn.Embedding))
    own = {id(p) for block in blocks for p in block.parameters()}
    # outside the blocks whatever is shaped like one; inside them (a block's own value table) the
    # embeddings, where a matrix of vocab rows may as well be a linear layer's
    embedded = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    # a stack of tables (layers x vocab x width, indexed ``stack[:, idx]``) counts as one wide table
    tables = [
        p
        for p in model.parameters()
        if (p.dim() == 2 and p.shape[0] == vocab and (id(p) not in own or id(p) in embedded))
        or (p.dim() == 3 and p.shape[1] == vocab and id(p) not in own)
    ]

    def detach_stream(mod, args):
        if args and isinstance(args[0], torch.Tensor):
            return (args[0].detach(), *args[1:])
        return None

    for block in blocks if detach else ():
        block.register_forward_pre_hook(detach_stream)
    return model, blocks, tables


def _blocks(model):
    """The model's blocks: its longest ModuleList."""
    import torch

    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) > 1]
    if not lists:
        raise LookupError("no list of blocks")
    return max(lists, key=len)


def _columns_read(tensor, tables) -> set:
    """(table, column) of every table column a tensor depends on."""
    import torch

    grads = torch.autograd.grad((tensor * torch.randn_like(tensor)).sum(), tables, retain_graph=True, allow_unused=True)
    read = set()
    for t, g in enumerate(grads):
        if g is not None:
            if g.dim() == 3:  # a stack of tables: its tables' columns side by side
                g = g.transpose(0, 1).reshape(g.shape[1], -1)
            read |= {(t, int(c)) for c in torch.nonzero(g.abs().sum(0)).flatten()}
    return read


def _value_embedding_layout(module) -> list:
    """For each block of the model, the table columns that reach the block's output directly; tables
    every block reads (the token embedding, through skip connections) are left out."""
    return _value_tables_read(module)[0]


def _value_tables_read(module) -> tuple[list, list]:
    """:func:`_value_embedding_layout`, and the token-indexed tables its (table, column) pairs count."""
    model, blocks, tables = _detached_blocks(module)
    outputs = {}
    for i, block in enumerate(blocks):
        block.register_forward_hook(lambda mod, args, out, i=i: outputs.__setitem__(i, out))
    _forward(model)
    if len(outputs) != len(blocks):
        raise LookupError("not every block was called")
    layout = [_columns_read(_stream(out), tables) for _, out in sorted(outputs.items())]
    common = set.intersection(*layout)
    return [frozenset(read - common) for read in layout], tables


def embedding_skips(module):
    """Whether every block after the first reads the token embedding itself, not only through the
    residual stream: each block's output is cut from the blocks after it (detached), the first
    block's input too, and every later block's output still depends on the table the first block's
    input came from (a skip connection from the embedding, x0, mixed in inside the block or before it;
    a value residual, computed by the first block from its cut input, is not one)."""
    import torch

    model, blocks, tables = _detached_blocks(module, detach=False)
    if len(blocks) < 2:
        raise LookupError("fewer than two blocks")
    first, outputs = [], {}

    def cut_input(mod, args):
        first.append(args[0])
        return (args[0].detach(), *args[1:])

    def cut_output(mod, args, out, i):
        outputs[i] = out
        if isinstance(out, tuple):
            return tuple(o.detach() if isinstance(o, torch.Tensor) else o for o in out)
        return out.detach() if isinstance(out, torch.Tensor) else out

    blocks[0].register_forward_pre_hook(cut_input)
    for i, block in enumerate(blocks):
        block.register_forward_hook(lambda mod, args, out, i=i: cut_output(mod, args, out, i))
    _forward(model)
    if not first or len(outputs) != len(blocks):
        raise LookupError("not every block was called")
    embedding = {t for t, _ in _columns_read(first[0], tables)}
    if not embedding:
        raise LookupError("the first block's input reads no token-indexed table")

    def reads(out) -> set:
        return {t for t, _ in _columns_read(_stream(out), tables)}

    return all(embedding & reads(outputs[i]) for i in range(1, len(blocks)))


EMBEDDING_GAIN = 30.0  # how far the tables are scaled up: a stream that follows them grows as much
SAME_SCALE = 0.1  # the relative spread of per-token RMS that a norm leaves (a gain, an epsilon)


def normalised_embedding(module):
    """Whether the residual stream reaching the first block keeps its per-token scale when every
    token-indexed table is scaled down and up (a norm after the embedding, however written: a
    functional norm, a norm module, a normalising embedding class), one scale for every token."""
    import torch

    model = _model(module).float()
    first = _blocks(model)[0]
    tables = [m.weight for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    if not tables:
        raise LookupError("no embedding table")
    scales = []

    def grab(mod, args, kwargs):
        stream = args[0] if args else next(iter(kwargs.values()), None)
        if isinstance(stream, torch.Tensor):
            scales.append(stream.detach().float().pow(2).mean(-1).sqrt().flatten())

    first.register_forward_pre_hook(grab, with_kwargs=True)
    with torch.no_grad():
        for factor in (1.0, 1 / EMBEDDING_GAIN, EMBEDDING_GAIN**2):  # the tables as built, 30x smaller, 30x larger
            for table in tables:
                table.mul_(factor)
            _forward(model)
    if len(scales) < 3 or not all(bool((s > 0).all()) for s in scales):
        raise LookupError("the first block was not reached by a stream of tokens")
    # a norm holds the scale (about 1) where a stream that follows the tables moves 30-fold, and a
    # squashing function (tanh) holds it only where it saturates; a norm gives every token one scale
    moved = max(float((s / scales[0]).median()) for s in scales[1:])
    held = min(float((s / scales[0]).median()) for s in scales[1:])
    spread = float(scales[0].max() / scales[0].min())
    return moved < EMBEDDING_GAIN**0.5 and held > EMBEDDING_GAIN**-0.5 and spread < 1 + SAME_SCALE


def _stream(out):
    """The residual stream a block returns (the first of a tuple: ``x, v1``)."""
    return out[0] if isinstance(out, tuple) else out


def values_read_embeddings(module):
    """Whether every attention reads a token-indexed table in its values and not in its queries and
    keys, each attention a part of its own: token identity mixed into the values of every block
    (a table added to the residual stream, or shared by all blocks, is not that)."""
    model, _, tables = _detached_blocks(module)
    with _spy("scaled_dot_product_attention") as calls:
        _forward(model)
    if not calls:
        raise LookupError("no scaled_dot_product_attention call")
    own = []
    for q, k, v, *_ in calls:
        own.append(frozenset(_columns_read(v, tables) - _columns_read(q, tables) - _columns_read(k, tables)))
    return all(own) and len(set(own)) == len(own)


def values_read_first_attention(module):
    """Whether every attention after the first reads the first block in its values and not in its
    queries and keys (a value residual: the first block's values mixed into every later block's),
    each block's incoming residual stream detached."""
    import torch

    model, blocks, _ = _detached_blocks(module)
    first = [p for p in blocks[0].parameters() if p.requires_grad]
    with _spy("scaled_dot_product_attention") as calls:
        _forward(model)
    if len(calls) < 2:
        raise LookupError("fewer than two scaled_dot_product_attention calls")

    def reads(tensor) -> bool:
        grads = torch.autograd.grad(
            (tensor * torch.randn_like(tensor)).sum(), first, retain_graph=True, allow_unused=True
        )
        return any(g is not None and bool(g.abs().sum() > 0) for g in grads)

    return all(reads(v) and not reads(q) and not reads(k) for q, k, v, *_ in calls[1:])


def mirrored_value_embeddings(module):
    """Whether every block reads a value embedding of its own pair: block i and block n - 1 - i
    share one, and no other block reads it (the U-net layout)."""
    layout = _value_embedding_layout(module)
    n = len(layout)

    def paired(i):
        partner = n - 1 - i
        others = (layout[j] for j in range(n) if j not in (i, partner))
        return bool(layout[i]) and layout[i] == layout[partner] and all(o != layout[i] for o in others)

    return all(paired(i) for i in range(n))


def separate_value_tables(module):
    """Whether the value embeddings are tables of their own: every block that reads one reads every
    column of each table it reads, not a slice of one wide table shared out among the blocks."""
    layout, tables = _value_tables_read(module)
    read = [columns for columns in layout if columns]
    if not read:
        raise LookupError("no block reads a value embedding")
    return all(
        sum(1 for t, _ in columns if t == table) == tables[table].shape[1]
        for columns in read
        for table in {t for t, _ in columns}
    )


def ends_only_value_embeddings(module):
    """Whether value embeddings sit at the ends only: the first and the last block read one, and at
    most half of the blocks do (the speedrun keeps them in its first and last three layers of 12,
    the mini track in its first and last block of 4; a block without attention reads none either,
    which alone is not this)."""
    readers = [bool(read) for read in _value_embedding_layout(module)]
    return readers[0] and readers[-1] and sum(readers) <= len(readers) / 2


def gram_squaring_share(module):
    """The share of the multiply-adds of one optimiser step on a wide (16 x 64) weight spent on products
    of two 16 x 16 matrices, the most over the optimiser classes the script builds (a subclass that
    swaps the iteration in, not the class it overrides; every class of the script where it builds
    none by name): Newton-Schulz regrouped as ``(b A + c A A) X`` squares the Gram matrix ``A = X X^T``
    (1 of its 9 parts), where ``b A X + c A (A X)`` only multiplies 16 x 64 matrices (0), whatever
    its coefficients or number of steps."""
    import torch
    from torch.overrides import TorchFunctionMode

    products = {torch.matmul, torch.mm, torch.bmm, torch.Tensor.matmul, torch.Tensor.mm, torch.Tensor.bmm}
    products |= {torch.Tensor.__matmul__, torch.Tensor.__rmatmul__}
    with_input = {torch.addmm, torch.baddbmm, torch.Tensor.addmm, torch.Tensor.baddbmm}
    work = []  # per step: [all multiply-adds, those of square products]

    class Count(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            pair, times = (args[:2] if func in products else args[1:3] if func in with_input else ()), 1
            if func is torch.Tensor.__rmatmul__:
                pair = pair[::-1]
            if func is torch.linalg.matrix_power and isinstance(args[1], int) and args[1] >= 2:
                pair, times = (args[0], args[0]), args[1] - 1  # S^k: k - 1 products of S by itself
            if len(pair) == 2 and all(isinstance(t, torch.Tensor) and t.dim() >= 2 for t in pair):
                a, b = pair
                flops = times * a.numel() * b.shape[-1]
                work[-1][0] += flops
                work[-1][1] += flops if a.shape[-2:] == b.shape[-2:] == (a.shape[-1],) * 2 else 0
            return func(*args, **(kwargs or {}))

    def count(step):
        work.append([0, 0])
        with Count():
            step()

    built = [c for c in _classes(module, torch.optim.Optimizer) if c.__name__ in module.first_calls]
    _optimiser_updates(module, _ill_conditioned(64, 16, 0).T.contiguous(), around=count, classes=built or None)
    shares = [square / total for total, square in work if total]
    if not shares:
        raise LookupError("no optimiser of the script multiplies matrices")
    return float(max(shares))


def _optimiser_updates(module, grad, around=None, classes=None):
    """The step each optimiser class of the script (or of ``classes``) takes on one weight with
    gradient ``grad`` (``around(step)`` runs each step)."""
    import torch

    with contextlib.suppress(Exception):
        _single_process_group()
    classes = classes or _classes(module, torch.optim.Optimizer)
    if not classes:
        raise LookupError("no optimiser class")
    deltas = []
    for cls in classes:
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(*grad.shape) * 0.02)
        try:
            opt = cls([w], lr=0.02)
        except TypeError:
            try:
                opt = cls([w])
            except Exception:  # noqa: BLE001
                continue
        except Exception:  # noqa: BLE001
            continue
        before = w.detach().clone()
        w.grad = grad.clone()
        try:
            (around or (lambda step: step()))(opt.step)
        except Exception:  # noqa: BLE001 - e.g. a distributed optimiser
            continue
        deltas.append((w.detach() - before).float())
    if not deltas:
        raise LookupError("no optimiser class could take a step here")
    return deltas


def _ill_conditioned(rows, cols, seed):
    """A gradient whose singular values run from 1 down to 0.1."""
    import torch

    torch.manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, cols))
    v, _ = torch.linalg.qr(torch.randn(cols, cols))
    return (u * torch.logspace(0, -1, cols)) @ v.T


def _even(delta) -> bool:
    """Whether a matrix's singular values are all within a factor 4 of each other (orthogonalised)."""
    import torch

    sv = torch.linalg.svdvals(delta)
    return bool(sv[0] > 0) and float(sv[-1] / sv[0]) > 0.25


def orthogonal_update(module, text):
    """Whether an optimiser class of the script, else the training loop's own code (an update
    written into the loop, with no optimiser class), moves a 2-D weight orthogonally (see the module
    docstring)."""
    try:
        classes = _optimiser_updates(module, _ill_conditioned(64, 32, 0))
    except LookupError:
        classes = []
    if any(_even(d) for d in classes):
        return True
    try:
        return any(_along_polar(d, g) for d, g in _loop_updates(module, text))
    except LookupError:
        if classes:
            return False
        raise


def _along_polar(delta, polar) -> bool:
    """Whether a step is the gradient orthogonalised: along ``polar``, U V^T of the gradient's SVD
    (cosine above 0.9). The weights a loop updates have the model's shapes, tall ones among them,
    whose sign or scaled gradient can look even (a tall random sign matrix has singular values
    within a factor 4); none points along U V^T."""
    import torch

    return abs(float(torch.nn.functional.cosine_similarity(delta.flatten(), polar.flatten(), dim=0))) > 0.9


@functools.cache
def _gradient_and_polar(rows: int, cols: int):
    """An ill-conditioned gradient of this shape and U V^T of its SVD, computed once per shape."""
    import torch

    grad = _ill_conditioned(rows, cols, 0) if rows >= cols else _ill_conditioned(cols, rows, 0).T.contiguous()
    u, _, vh = torch.linalg.svd(grad, full_matrices=False)
    return grad, u @ vh


def _give_gradient(weight):
    """Give a 2-D weight an ill-conditioned gradient (its own copy); returns U V^T of it."""
    grad, polar = _gradient_and_polar(*weight.shape)
    weight.grad = grad.to(weight.dtype, copy=True)
    return polar


def _loop_updates(module, text) -> list:
    """What the training loop's own code makes of ill-conditioned gradients at its first step, over
    the models the statements before it build (tiny), every 2-D weight given one: (direction,
    U V^T of the gradient given) for each weight the loop's code moves itself, or whose gradient it
    rewrites before an optimiser steps (the direction: the move, or the gradient the step reads).
    Optimisers' steps and ``zero_grad`` do nothing, but for a step the script set on an optimiser
    itself. Nothing moved or rewritten: a LookupError."""
    import torch

    _single_process_group()
    weights: list = []
    before: list = []
    given: list = []  # (the gradient given, U V^T of it)
    read: dict = {}  # weight's id -> the gradient an optimiser's step found on it
    found: list = []

    def reader(opt):
        def step(*args, **kwargs):
            for group in opt.param_groups:
                for w in group["params"]:
                    if w.grad is not None:
                        read.setdefault(id(w), w.grad.detach().float().clone())

        return step

    def prepare(step, names):
        values = [*names.values(), *vars(module).values()]
        for owner in _instances(values, (torch.optim.Optimizer, torch.nn.Module)):
            owner.zero_grad = _no_update
        for opt in _optimisers(values):
            if not _own_step(opt):  # a step the script wrote for this optimiser is the loop's own code
                opt.step = reader(opt)
        models = _instances(values, torch.nn.Module)
        weights.extend({id(w): w for m in models for w in m.parameters() if w.dim() == 2}.values())
        with torch.no_grad():
            for w in weights:
                polar = _give_gradient(w)
                given.append((w.grad.detach().float().clone(), polar))
                before.append(w.detach().clone())

    def observe(step, names):
        for w, b, (g, polar) in zip(weights, before, given, strict=True):
            moved = (w.detach() - b).float()
            rewritten = read.get(id(w))
            if moved.abs().sum() > 0:
                found.append((moved, polar))
            elif rewritten is not None and not torch.allclose(rewritten, g):
                found.append((rewritten, polar))
        raise _PassDecided  # the first step shows what the loop does with gradients

    with contextlib.suppress(_PassDecided):
        _run_loop(module, text, lambda *a: None, observe, build=True, prepare=prepare)
    if not found:
        raise LookupError("no optimiser class of the script, and nothing in the training loop, moves a weight")
    return found


def _own_step(optimiser) -> bool:
    """Whether an optimiser's ``step`` is the script's own code set on it (``opt.step =
    types.MethodType(orthogonalised_step, opt)`` over a library optimiser's bookkeeping)."""
    step = vars(optimiser).get("step")
    return _own_function(getattr(step, "__func__", step))


def stacked_orthogonal(module):
    """Whether an optimiser class of the script, stepping a 3-D weight (a stack of three C x C
    matrices, each ill-conditioned), orthogonalises each matrix of the stack."""
    import torch

    grad = torch.stack([_ill_conditioned(32, 32, seed) for seed in range(3)])
    return any(bool(d.abs().sum() > 0) and all(_even(m) for m in d) for d in _optimiser_updates(module, grad))


def _stacked_gradient(cols):
    import torch

    return torch.cat([_ill_conditioned(cols, cols, seed) for seed in range(3)])


def _configured_updates(module, text):
    """The steps the script's own optimisers, configured as its training does (the statements before
    the training loop, run on the tiny model), take on its merged (3C x C) weights."""
    import torch

    names = _setup(module, text, build=True)[0]
    optimisers = list(_optimisers([*names.values(), *vars(module).values()]))
    params = [p for opt in optimisers for g in opt.param_groups for p in g["params"]]
    merged = [p for p in params if p.dim() == 2 and p.shape[0] == 3 * p.shape[1]]
    if not merged:
        raise LookupError("no optimiser of the script holds a merged (3C x C) weight")
    with torch.no_grad():
        for p in params:
            p.grad = _stacked_gradient(p.shape[1]) if any(p is m for m in merged) else None
        before = [p.detach().clone() for p in merged]
        for opt in optimisers:
            with contextlib.suppress(Exception):  # an optimiser that cannot step here moves nothing
                opt.step()
    return [(p.detach() - b).float() for p, b in zip(merged, before, strict=True)]


def update_shape_scale(module, text):
    """How an orthogonalising optimiser of the script scales its step by the weight's shape: the RMS
    of its step on a wide weight (32 x 128) over that on the tall one (128 x 32), both gradients
    ill-conditioned. An orthogonalised matrix has RMS 1/sqrt(its larger side), the same for both, so
    a step left so measures 1, as does one scaled by sqrt(max(rows, cols)) (RMS 1 whatever the
    shape); one scaled by sqrt(max(1, rows/cols)) (tall weights only: RMS 1/sqrt(cols)) measures
    0.5. The optimisers are the script's with the settings its training gives them (a scale chosen
    by name in their call counts), then each optimiser class with its defaults."""
    import inspect

    import torch

    try:
        names = _setup(module, text, build=True)[0]
        configured = list(_optimisers([*names.values(), *vars(module).values()]))
    except Exception:  # noqa: BLE001 - configured as the script does it, or by the class's defaults
        configured = []
    makers = []
    for opt in configured:
        accepted = inspect.signature(type(opt).__init__).parameters
        for group in opt.param_groups:
            if any(p.dim() == 2 for p in group["params"]):
                settings = {k: v for k, v in group.items() if k != "params"}
                given = {k: v for k, v in settings.items() if k in accepted}
                # the group's settings as a group of the new optimiser's, else as its arguments (an
                # optimiser that takes a flat list of weights)
                makers.append(lambda w, cls=type(opt), s=settings, g=given: cls([dict(params=w, **s)], **g))
                makers.append(functools.partial(type(opt), **given))
    makers += _classes(module, torch.optim.Optimizer)
    for make in makers:
        ratio = _shape_ratio(make)
        if ratio is not None:
            return ratio
    raise LookupError("no optimiser of the script orthogonalises the update of a 2-D weight")


def _shape_ratio(make) -> float | None:
    """RMS of the step ``make([wide, tall])`` takes on a 32 x 128 and a 128 x 32 weight (the same
    ill-conditioned gradient, transposed), the first over the second; None where it cannot step or
    does not orthogonalise."""
    import torch

    with contextlib.suppress(Exception):
        _single_process_group()
    torch.manual_seed(0)
    weights = [torch.nn.Parameter(torch.randn(*shape) * 0.02) for shape in ((32, 128), (128, 32))]
    try:
        opt = make(weights)
        before = [w.detach().clone() for w in weights]
        for w in weights:
            _give_gradient(w)
        opt.step()
    except Exception:  # noqa: BLE001 - e.g. an optimiser needing more processes, or other settings
        return None
    deltas = [(w.detach() - b).float() for w, b in zip(weights, before, strict=True)]
    if not all(d.abs().sum() > 0 and _even(d) for d in deltas):
        return None
    rms = [float(d.square().mean().sqrt()) for d in deltas]
    return rms[0] / rms[1]


def sharded_orthogonalisation(module, text):
    """The share of the 2-D weights the script's orthogonalising optimisers move orthogonally on rank
    0 of a two-process world whose collectives bring nothing from the other rank: 1 where every rank
    orthogonalises every weight, 0.5 where each takes its own half (record 6's distributed Muon,
    however the shares are dealt out or the updates exchanged). The optimisers are built by the
    statements before the training loop (the model tiny) with the rank and world size they read
    (the environment, or ``torch.distributed``) saying rank 0 of 2."""
    with _two_process_world():
        names = _setup(module, text, build=True)[0]
        optimisers = _optimisers([*names.values(), *vars(module).values()])
        shares = [share for opt in optimisers if (share := _orthogonalised_share(opt)) is not None]
    if not shares:
        raise LookupError("no optimiser the script builds moves a 2-D weight orthogonally")
    return min(shares)


def _orthogonalised_share(opt) -> float | None:
    """The share of an optimiser's 2-D weights one step moves orthogonally (along U V^T of the
    ill-conditioned gradient each is given); None where it moves none so (or cannot step)."""
    import torch

    weights = [w for group in opt.param_groups for w in group["params"] if w.dim() == 2]
    if len(weights) < 2:
        return None
    with torch.no_grad():
        polars = [_give_gradient(w) for w in weights]
        before = [w.detach().clone() for w in weights]
        try:
            opt.step()
        except Exception:  # noqa: BLE001 - an optimiser that cannot step here
            return None
    moves = [(w.detach() - b).float() for w, b in zip(weights, before, strict=True)]
    even = [bool(d.abs().sum() > 0) and _along_polar(d, polar) for d, polar in zip(moves, polars, strict=True)]
    return sum(even) / len(even) if any(even) else None


@contextlib.contextmanager
def _two_process_world():
    """Rank 0 of a world of two, in the one process a probe runs: the environment and
    ``torch.distributed`` say so, and collectives bring nothing from the other rank (an all-reduce
    leaves the tensor as it is, a gather fills the other rank's part with zeros, a broadcast from it
    zeroes the tensor)."""
    import torch.distributed as dist

    _single_process_group()
    saved_env = {k: os.environ.get(k) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    os.environ.update(RANK="0", WORLD_SIZE="2", LOCAL_RANK="0")

    def gather(out, inp, *a, async_op=False, **kw):
        if isinstance(out, (list, tuple)):
            out[0].copy_(inp)
            for other in out[1:]:
                other.zero_()
        else:
            out.zero_()
            out.view(-1)[: inp.numel()].copy_(inp.reshape(-1))
        return _Done() if async_op else None

    def broadcast(t, src=0, *a, async_op=False, **kw):
        if src != 0:
            t.zero_()
        return _Done() if async_op else None

    def unchanged(*a, async_op=False, **kw):
        return _Done() if async_op else None

    stand_ins = dict(
        get_world_size=lambda *a, **k: 2,
        get_rank=lambda *a, **k: 0,
        all_reduce=unchanged,
        barrier=unchanged,
        all_gather=gather,
        all_gather_into_tensor=gather,
        broadcast=broadcast,
    )
    saved = {name: getattr(dist, name) for name in stand_ins}
    for name, stand_in in stand_ins.items():
        setattr(dist, name, stand_in)
    try:
        yield
    finally:
        for name, original in saved.items():
            setattr(dist, name, original)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _blockwise_even(delta) -> bool:
    cols = delta.shape[1]
    return bool(delta.abs().sum() > 0) and all(_even(b) for b in delta.view(3, cols, cols))


def blockwise_orthogonal(module, text):
    """Whether the update of a merged (3C x C) weight, stacked from three ill-conditioned C x C
    blocks (q, k, v), is orthogonalised within each block: orthogonalising the whole matrix leaves
    its blocks uneven. The script's optimisers are taken as its training configures them (a
    setting in a parameter group counts); where that cannot be done, each optimiser class as
    built with its defaults."""
    try:
        deltas = [d for d in _configured_updates(module, text) if d.abs().sum() > 0]
    except Exception:  # noqa: BLE001 - configured as the script does it, or not at all
        deltas = []
    if not deltas:
        deltas = _optimiser_updates(module, _stacked_gradient(32))
    return any(_blockwise_even(d) for d in deltas)


IN_PLACE_WRITES = (".fill_", ".copy_")  # tensor methods that assign their argument to the tensor


class Stub:
    """Whatever the training loop touches that was not loaded (the model, optimisers, the data):
    accepts every operation, and records the numbers assigned to its attributes and items."""

    def __init__(self, path, log):
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_log", log)

    def _child(self, suffix):
        return Stub(self._path + suffix, self._log)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._child(f".{name}")

    def __setattr__(self, name, value):
        self._log(f"{self._path}.{name}", value)

    def __getitem__(self, key):
        return self._child(f"[{key!r}]" if isinstance(key, (str, int)) else "[*]")

    def __setitem__(self, key, value):
        self._log(f"{self._path}[{key!r}]" if isinstance(key, (str, int)) else f"{self._path}[*]", value)

    def __call__(self, *a, **kw):
        for write in IN_PLACE_WRITES:  # model.window.fill_(n): n is assigned to model.window
            if self._path.endswith(write) and len(a) == 1 and not kw:
                self._log(self._path.removesuffix(write).removesuffix(".data"), a[0])
        return self._child("()")

    def __iter__(self):
        yield self._child("[*]")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __len__(self):
        return 1

    def __bool__(self):
        return False

    def _same(self, *a):
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _same
    __floordiv__ = __rfloordiv__ = __pow__ = __neg__ = __iadd__ = __isub__ = __imul__ = __itruediv__ = _same
    __lt__ = __le__ = __gt__ = __ge__ = lambda self, other: False


class Locals(dict):
    """The loop's local names; a name nothing defined is a Stub."""

    def __init__(self, log, scope):
        super().__init__()
        self.log, self.scope = log, scope

    def __missing__(self, name):
        if name in BUILTINS or name in self.scope:
            raise KeyError(name)
        return Stub(name, self.log)


def top_level_bodies(tree) -> list[list]:
    """The statement lists where a script's own flow runs: the module's, each top-level function's
    and its ``if __name__ == "__main__":`` block's."""
    return [tree.body] + [n.body for n in tree.body if isinstance(n, ast.FunctionDef) or _main_block(n)]


def _main_block(node) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in node.test.comparators)
    )


def own_definitions(tree) -> dict[str, ast.AST]:
    """The script's top-level functions and classes, by name."""
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def _training_loop(tree):
    """(statements before the loop in the same body, the loop): the ``for`` over a ``range`` (or over
    a ``zip`` of one with streams of per-step values: ``for step, lr in zip(range(n), lr_stream)``)
    with the largest body, at module level or in a top-level function."""
    best = None
    for body in top_level_bodies(tree):
        for i, node in enumerate(body):
            if isinstance(node, ast.For) and _step_position(node) is not None:
                size = sum(1 for _ in ast.walk(node))
                if best is None or size > best[0]:
                    best = (size, body[:i], node)
    if best is None:
        raise LookupError("no training loop (a for over a range)")
    return best[1], best[2]


def _is_range(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"


def _step_position(loop) -> int | None:
    """Where a loop's step is among its targets: 0 for ``for step in range(n)``, the range's place
    for ``for step, lr in zip(range(n), lr_stream)``; None for a loop over anything else."""
    if isinstance(loop.target, ast.Name):
        return 0 if _is_range(loop.iter) else None
    zipped = loop.iter
    if not (isinstance(zipped, ast.Call) and isinstance(zipped.func, ast.Name) and zipped.func.id == "zip"):
        return None
    names = loop.target.elts if isinstance(loop.target, ast.Tuple) else []
    if len(names) != len(zipped.args) or not all(isinstance(n, ast.Name) for n in names):
        return None
    return next((k for k, a in enumerate(zipped.args) if _is_range(a)), None)


def _setup_statement(node, defined) -> bool:
    """An assignment before the loop that builds nothing of the script's own (no model, optimiser or
    data loader at full size): those stay Stubs."""
    if not isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) or node.value is None:
        return False
    names = {n.func.id for n in ast.walk(node.value) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return not names & defined.keys()


def _compiled(stmts):
    out = []
    for s in stmts:
        try:
            out.append(compile(ast.Module([s], []), "probed", "exec"))
        except SyntaxError:  # a break or continue of the loop: the statement is left out
            continue
    return out


STATEMENT_LIMIT_S = 4.0  # CPU seconds of one statement of the script's flow; a full-size model builds in one


class _RanTooLong(BaseException):
    """A statement of the script ran past its limit. Not an Exception, so that the script's own
    ``except Exception`` cannot swallow it and go on waiting."""


def _ran_too_long(signum, frame):
    raise _RanTooLong


@contextlib.contextmanager
def _cpu_alarm():
    """While in force, SIGPROF raises :class:`_RanTooLong`; yields ``arm(seconds)``, which sets it
    to go off once this process has used ``seconds`` more of CPU time (0: not at all). A generator
    of the script's that spins over data files the sandbox does not hold (``while True: for f in
    []``) would otherwise hold up every probe of the request. CPU time, not the clock, so that other
    work on a busy machine does not cut a slow statement short (a statement that blocks without
    working is left to the request's own timeout). Where signals cannot be used (not the main
    thread) it never goes off."""
    try:
        previous = signal.signal(signal.SIGPROF, _ran_too_long)
    except ValueError:
        yield lambda seconds: None
        return
    try:
        yield lambda seconds: signal.setitimer(signal.ITIMER_PROF, seconds)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _setup(module, text, build: bool, log=None):
    """Run the statements before the training loop (``build``: all of them, so the model (tiny, see
    :func:`_tiny_builders`) and the optimisers are built; else only those that build nothing of the script's
    own). Returns (the names they define, the module scope, the loop, a runner of more statements
    that hands every name's value to ``log(name, value)``). A statement that fails is skipped."""
    tree = ast.parse(text)
    defined = own_definitions(tree)
    before, loop = _training_loop(tree)
    # compiler settings are left out here as when loading (reaching them imports the compiler)
    before = [s for s in before if not (isinstance(s, (ast.Assign, ast.AnnAssign)) and _compiler_setting(s))]
    # the script's top-level definitions are the module's already (and its model class stands in), and
    # so are the patches and the tables filled at loading: run again, a patch would wrap what it wrapped
    # and ``OPTIMIZERS = {}`` would empty the registry its decorators filled
    top_level = {id(s) for s in tree.body}
    before = [s for s in before if s is not defined.get(getattr(s, "name", None))]
    before = [s for s in before if not (id(s) in top_level and s.lineno in module.settled_lines)]
    if not build:
        before = [s for s in before if _setup_statement(s, defined)]
    log = log or (lambda name, value: None)
    scope = dict(module.__dict__)
    if build:
        scope.update(_tiny_builders(module))
    local = Locals(log, scope)
    # statements that ran too long once are skipped after that, by every probe of the script
    too_long = module.__dict__.setdefault("_statements_too_long", set())

    def run(codes):
        with _cpu_alarm() as arm:  # the handler once per pass; the alarm per statement
            for code in codes:
                if code in too_long:
                    continue
                arm(STATEMENT_LIMIT_S)
                try:
                    exec(code, scope, local)
                except _RanTooLong:
                    too_long.add(code)
                    continue
                except (Exception, SystemExit):  # noqa: BLE001, S112 - it needs what was not loaded (or parses argv)
                    continue
                finally:
                    arm(0)
                # a function the flow defines (get_lr in a main block) reads the flow's names as its globals
                scope.update(local)
        # every log keeps a name's last value of the step, so the names are handed over once, at its end
        for name, value in list(local.items()):
            log(name, value)

    with _random_fills_skipped() if build else contextlib.nullcontext():
        run(_compiled(before))
    return local, scope, loop, run


def _tiny_builders(module) -> dict:
    """Stand-ins for the script's model class and ``build_model``, called by the statements before
    the training loop: a copy of the probes' tiny model (same layers, parameters of the same ranks,
    so the optimisers' groups are the script's), built anew only where no probe has built it. What
    these probes read (learning rates, the update of given gradients) does not depend on the width,
    and the speedrun's model takes most of a second to build at its own size; a model that cannot be
    built tiny is built by the script's own call."""
    makers = {c.__name__: c for c in (getattr(module, "GPT", None), module.model_class) if isinstance(c, type)}
    if callable(getattr(module, "build_model", None)):
        makers["build_model"] = module.build_model

    def tiny(maker):
        def build(*args, **kwargs):
            try:
                with _random_fills_kept():
                    return _model(module)
            except Exception:  # noqa: BLE001 - no tiny build: the script's own, at its size
                return maker(*args, **kwargs)

        return build

    return {name: tiny(maker) for name, maker in makers.items()}


_REAL_FILLS: dict = {}  # torch.Tensor's random fills, while _random_fills_skipped stands in for them


@contextlib.contextmanager
def _random_fills_skipped():
    """Weights still built at the script's size (by a function of the script's, or a model that cannot
    be built tiny) start at zero instead of random: what these probes read
    (learning rates, an update computed from given gradients) does not depend on them, and drawing
    the speedrun's 124M random numbers takes more than a second."""
    import torch

    _REAL_FILLS.update({name: getattr(torch.Tensor, name) for name in ("normal_", "uniform_")})
    for name in _REAL_FILLS:
        setattr(torch.Tensor, name, lambda self, *a, **kw: self.zero_())
    try:
        yield
    finally:
        for name, fill in _REAL_FILLS.items():
            setattr(torch.Tensor, name, fill)
        _REAL_FILLS.clear()


@contextlib.contextmanager
def _random_fills_kept():
    """Inside :func:`_random_fills_skipped`, the real fills: the probes' tiny model, built there for
    the first time, is kept for the probes after it, which read its weights."""
    import torch

    stand_ins = {name: getattr(torch.Tensor, name) for name in _REAL_FILLS}
    for name, fill in _REAL_FILLS.items():
        setattr(torch.Tensor, name, fill)
    try:
        yield
    finally:
        for name, stand_in in stand_ins.items():
            setattr(torch.Tensor, name, stand_in)


def _run_loop(module, text, log, observe=None, build: bool = False, prepare=None) -> list:
    """Run the training loop's body at up to 120 of its steps (its last three among them), then
    (``build``) one step past its last; ``log(path, value, step)`` hears every value assigned,
    ``prepare(step, names)`` is called before each step and ``observe(step, names)`` after it;
    returns the steps run. ``build``: the statements before the loop run whole (the model and
    optimisers are built; the data, which the sandbox does not hold, stays a Stub), else only those
    that build nothing of the script's own. A statement that fails is skipped."""
    step = [0]
    local, scope, loop, run = _setup(module, text, build, lambda path, value: log(path, value, step[0]))
    at = _step_position(loop)
    names = [t.id for t in loop.target.elts] if isinstance(loop.target, ast.Tuple) else [loop.target.id]
    try:
        rows = list(eval(compile(ast.Expression(loop.iter), "probed", "eval"), scope, local))
    except Exception as exc:  # noqa: BLE001
        raise LookupError(f"the loop's range cannot be evaluated: {exc}") from exc
    rows = [row if len(names) > 1 else (row,) for row in rows]  # each step's values of the targets
    if len(rows) > 120:  # 117 spread over the run, and its last three, where a schedule ends
        rows = [rows[round(k * (len(rows) - 4) / 116)] for k in range(117)] + rows[-3:]
    if build and rows and isinstance(rows[-1][at], int):  # the streams' values held past their end
        rows.append((*rows[-1][:at], rows[-1][at] + 1, *rows[-1][at + 1 :]))
    body = _compiled(loop.body)
    for row in rows:
        step[0] = row[at]
        local.update(zip(names, row, strict=True))
        if prepare is not None:
            prepare(row[at], local)
        run(body)
        if observe is not None:
            observe(row[at], local)
    return [row[at] for row in rows]


def _number(value) -> float | None:
    """A value the loop assigned, as a number: an int, a float or a one-element tensor (not a bool)."""
    import torch

    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# other names of a quantity a schedule ramps up: the speedrun's first window warmup called its window
# attn_blocksize (the mini track's block_size is the sequence length, which the loop never sets); an
# attention span is a window too
SPELLED = {"window": ("window", "blocksize", "block_size", "span")}


def schedule(module, text, word):
    """Whether a number the training loop sets, whose name says ``word``, rises over the run (of
    those that change at all)."""

    seen = {}

    def log(path, value, step):
        value = _number(value)
        if value is not None and any(w in path.lower() for w in SPELLED.get(word, (word,))):
            seen.setdefault(path, {})[step] = value

    def changing() -> list[list[float]]:  # a constant is no schedule (a setting the loop sees at every step)
        return [[v[k] for k in sorted(v)] for v in seen.values() if len(set(v.values())) >= 2]

    def groups(step, names):
        """Each optimiser's own setting of ``word`` (a group's ``momentum``), however the loop set it:
        through a name the loop keeps, or a function built before the loop from the script's own."""
        for o, opt in enumerate(_optimisers([*names.values(), *vars(module).values()])):
            for g, group in enumerate(opt.param_groups):
                log(f"optimiser {o}.param_groups[{g}].{word}", group.get(word), step)

    _run_loop(module, text, log)
    series = changing()
    if not series:  # kept by an object of the script's own, built before the loop (a scheduler class)
        _single_process_group()
        seen.clear()
        _run_loop(module, text, log, build=True, observe=groups)
        series = changing()
    if not series and word == "momentum":  # a ramp the optimiser keeps itself, by its own step count
        series = _momentum_in_step(module)
    if not series:
        raise LookupError(f"the loop sets no changing number named after {word!r}")
    return any(_rises(xs) for xs in series)


def _rises(xs: list) -> bool:
    return all(b >= a - 1e-6 for a, b in zip(xs, xs[1:], strict=False)) and xs[-1] > xs[0] + 1e-3


MOMENTUM_STEPS = 600  # past the speedrun's 300-500-step momentum warmups
SETTLED = 40  # steps of one momentum that end the stepping (none changed so far, or the ramp is over)


def _momentum_in_step(module) -> list[list[float]]:
    """The momentum each optimiser class of the script applies at each of its first steps, read from
    its momentum buffer: built as the script builds it (its call's literal keywords, else the
    defaults) on one small weight, stepped with one constant gradient G. A buffer ``b = m b + G``
    or ``b = m b + (1 - m) G`` gives m from consecutive buffers. Only series that change are kept."""
    import torch

    with contextlib.suppress(Exception):
        _single_process_group()
    out = []
    for cls in _classes(module, torch.optim.Optimizer):
        w = torch.nn.Parameter(torch.zeros(8, 8))
        grad = torch.linspace(0.5, 1.5, 64).view(8, 8)
        try:
            opt = cls([w], **_call_keywords(module, cls.__name__))
        except Exception:  # noqa: BLE001 - not buildable here: another class may be
            continue
        buffers, momenta = [], []
        try:
            for _ in range(MOMENTUM_STEPS):
                w.grad = grad.clone()
                opt.step()
                held = [t for t in opt.state[w].values() if isinstance(t, torch.Tensor) and t.shape == w.shape]
                if not held:
                    break
                buffers.append(held[0].detach().float().clone())
                if len(buffers) >= 2:
                    # b = m b + G (the first buffer is G), else a lerp toward G
                    base = buffers[-2] if torch.allclose(buffers[0], grad) else buffers[-2] - grad
                    momenta.append(float(((buffers[-1] - grad) * base).sum() / (base * base).sum().clamp_min(1e-30)))
                if len(momenta) > SETTLED and max(momenta[-SETTLED:]) - min(momenta[-SETTLED:]) < 1e-6:
                    break  # constant from the start, or settled after its ramp
        except Exception:  # noqa: BLE001 - a step this machine cannot take
            continue
        if momenta and max(momenta) - min(momenta) > 1e-3:
            out.append(momenta)
    return out


def _optimisers(values) -> list:
    """The optimisers among ``values``, in the lists and tuples among them, and held by an object of
    the script's own (a combined optimiser's list), each once."""
    import torch

    values = list(values)
    held = [
        v for value in values if type(value).__module__ == "probed" for v in getattr(value, "__dict__", {}).values()
    ]
    return list({id(o): o for o in _instances([*values, *held], torch.optim.Optimizer)}.values())


def _instances(values, kind):
    """The objects of type ``kind`` among ``values`` and in the lists and tuples among them."""
    for value in values:
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, kind):
                yield item


def _no_update(*args, **kwargs):
    return None


LR_NAME = re.compile(r"(^|[^a-z])lr([^a-z]|$)|learning_rate")  # lr, lr_scale, group['lr'], current_lr


@dataclasses.dataclass
class _Followed:
    """The learning rates followed through the training loop (:func:`_followed_rates`)."""

    steps: list  # the steps run, one past the loop's last among them
    series: list[dict]  # step -> rate, one per parameter group (or per number the loop names lr)
    params: list[list]  # the parameters of each series' group ([] for a number the loop names)
    modules: list  # the modules the script built


def _followed_rates(module, text) -> _Followed:
    """The learning rates followed through the training loop. The loop runs against the script's own
    optimisers, built over the tiny model in a one-process group, one step past its last; the rate
    is read from their parameter groups after every step. Where none could be built (a model handed
    to DDP on a GPU), the numbers the loop assigns under a name that says lr are followed instead."""
    import torch

    _single_process_group()  # a script built for torchrun reads its rank and world size
    rates: dict[tuple[int, int], dict] = {}
    groups: dict[tuple[int, int], list] = {}
    named: dict[str, dict] = {}
    objects = {}
    modules = {}

    def prepare(step, names):
        """Only the rate is followed: an optimiser's step (whose gradients and collectives the probe
        does not have) updates nothing, and a scheduler counts the loop's step, of which only some
        are run, rather than its own calls."""
        values = [*names.values(), *vars(module).values()]
        for opt in _optimisers(values):
            opt.step = _no_update
        for owner in _instances(values, (torch.optim.Optimizer, torch.nn.Module)):
            owner.zero_grad = _no_update  # no gradient is read: clearing them (every step) is time only
        for scheduler in _instances(values, torch.optim.lr_scheduler.LRScheduler):
            scheduler.last_epoch = step - 1

    def observe(step, names):
        values = [*names.values(), *vars(module).values()]
        if not modules:  # the model is built before the loop: read once, not at every step
            modules.update((id(m), m) for m in _instances(values, torch.nn.Module))
        for opt in _optimisers(values):
            objects[id(opt)] = opt  # kept alive: ids stay unique
            for g, group in enumerate(opt.param_groups):
                if isinstance(group.get("lr"), (int, float)):
                    rates.setdefault((id(opt), g), {})[step] = float(group["lr"])
                    if (id(opt), g) not in groups:
                        groups[(id(opt), g)] = list(group["params"])

    def log(path, value, step):
        value = _number(value)
        if value is not None and LR_NAME.search(path.lower()):
            named.setdefault(path, {})[step] = value

    with warnings.catch_warnings():  # a scheduler stepped before its optimiser says so
        warnings.simplefilter("ignore", UserWarning)
        steps = _run_loop(module, text, log, observe, build=True, prepare=prepare)
    if rates:
        return _Followed(steps, list(rates.values()), [groups[k] for k in rates], list(modules.values()))
    return _Followed(steps, list(named.values()), [[] for _ in named], list(modules.values()))


def lr_floor(module, text):
    """The learning rate of every parameter group one step past the training loop's last, as a share
    of the highest it had: 0 for a cooldown to zero, the floor for one that ends above it (the
    lowest share over the groups)."""
    followed = _followed_rates(module, text)
    steps = followed.steps
    shares = []
    for series in followed.series:
        top = max(series[k] for k in steps[:-1] if k in series) if len(series) > 1 else 0.0
        if top > 0 and steps[-1] in series:
            shares.append(series[steps[-1]] / top)
    if not shares:
        raise LookupError("no optimiser's learning rate could be followed through the loop")
    return max(0.0, min(shares))


def learning_rates(module, text):
    """The peak learning rate of each kind of parameter (see the module docstring): kind -> rate."""
    followed = _followed_rates(module, text)
    held = {id(p) for params in followed.params for p in params}
    model = max(followed.modules, key=lambda m: sum(id(p) in held for p in m.parameters()), default=None)
    if model is None or not held:
        raise LookupError("no optimiser over the model's parameters was built before the training loop")
    kinds = _parameter_kinds(model)
    logs: dict[str, list[float]] = {}
    for series, params in zip(followed.series, followed.params, strict=True):
        peak = max((v for k, v in series.items() if k != followed.steps[-1]), default=0.0)
        for p in params:
            if peak > 0 and id(p) in kinds:
                logs.setdefault(kinds[id(p)], []).append(math.log(peak))
    if not logs:
        raise LookupError("no parameter of the model has a positive learning rate")
    return {kind: float(f"{math.exp(sum(v) / len(v)):.6g}") for kind, v in sorted(logs.items())}


def _parameter_kinds(model) -> dict[int, str]:
    """id(parameter) -> its kind: ``embedding`` (a token-indexed table), ``head`` (the output layer's
    weight, where not the table), ``matrix`` (the other weights of two or more dimensions) or
    ``scalar`` (gains, biases, learned scalars)."""
    import torch

    tables = [m.weight for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    head = _head(model, vocab=tables[0].shape[0]) if tables else None
    head_weight = getattr(head, "weight", None)
    kinds = {}
    for p in model.parameters():
        if any(p is t for t in tables):
            kinds[id(p)] = "embedding"
        elif p is head_weight:
            kinds[id(p)] = "head"
        else:
            kinds[id(p)] = "matrix" if p.ndim >= 2 else "scalar"
    return kinds


PEAK = 0.999  # a step at this share of the highest rate or above holds the peak


def _plateau(series: dict) -> bool | None:
    """A trapezoid (True), a decay from the peak to a floor (False), or neither (None)."""
    values = [series[k] for k in sorted(series)]
    top = max(values)
    if top <= 0:
        return None
    first = next(i for i, v in enumerate(values) if v >= PEAK * top)
    held = sum(v >= PEAK * top for v in values[first:]) / len(values[first:])
    if held >= 0.5 and first <= len(values) / 2:
        return True
    if held <= 0.2 and values[-1] > 0.02 * top:
        return False
    return None


def lr_plateau(module, text):
    """Whether every learning rate the loop follows holds its peak for most of the run (see the
    module docstring)."""
    followed = _followed_rates(module, text)
    steps = followed.steps
    # the run's steps only
    followed = [{k: v for k, v in series.items() if k != steps[-1]} for series in followed.series]
    # a constant rate holds its peak all along: a trapezoid whose warmup and cooldown the script's
    # defaults leave empty (the speedrun's record 2 ships --warmdown_iters 0)
    shapes = {_plateau(series) for series in followed if len(series) >= 3}
    if len(shapes) != 1 or None in shapes:
        raise LookupError(f"no learning rate of one clear shape was followed through the loop ({shapes or 'none'})")
    return shapes.pop()


PROBES = {
    "squared_relu": squared_relu,
    "bounded_logits": bounded_logits,
    "zero_projections": zero_projections,
    "fp32_logits": fp32_logits,
    "qk_normalised": qk_normalised,
    "stacked_orthogonal": stacked_orthogonal,
    "untied_head": untied_head,
    "relative_positions": relative_positions,
    "rotation_free_channels": rotation_free_channels,
    "attention_scale": attention_scale,
    "gram_squaring_share": gram_squaring_share,
    "head_width": head_width,
    "attention_calls": attention_calls,
    "block_window": block_window,
    "mixed_windows": mixed_windows,
    "fp8_head": fp8_head,
    "cast_linears": cast_linears,
    "init_scale": init_scale,
    "mirrored_value_embeddings": mirrored_value_embeddings,
    "values_read_embeddings": values_read_embeddings,
    "values_read_first_attention": values_read_first_attention,
    "ends_only_value_embeddings": ends_only_value_embeddings,
    "separate_value_tables": separate_value_tables,
    "embedding_skips": embedding_skips,
    "normalised_embedding": normalised_embedding,
}


def unit_gradients(module, text):
    """Whether the gradients reach the optimisers' steps at norm 1 each (see the module docstring)."""
    import torch

    _single_process_group()
    given: dict[int, float] = {}
    stepped: list[tuple[float, float]] = []  # (the norm given, the norm the step reads)

    def read(opt):
        def step(*args, **kwargs):
            for group in opt.param_groups:
                for p in group["params"]:
                    if p.grad is not None and id(p) in given:
                        stepped.append((given[id(p)], float(p.grad.float().norm())))
            raise _PassDecided  # one step shows what the loop's body does to gradients

        return step

    def prepare(step, names):
        generator = torch.Generator().manual_seed(0)
        for opt in _optimisers([*names.values(), *vars(module).values()]):
            for group in opt.param_groups:
                for p in group["params"]:
                    grad = torch.randn(p.shape, generator=generator) * 10.0 ** (len(given) % 5 - 2)
                    p.grad = (grad / grad.norm() * 10.0 ** (len(given) % 5 - 2)).to(p.dtype)
                    given[id(p)] = float(p.grad.float().norm())
            opt.step = read(opt)

    with contextlib.suppress(_PassDecided):
        _run_loop(module, text, lambda *a: None, build=True, prepare=prepare)
    if not stepped:
        raise LookupError("no optimiser of the script stepped in the loop's body")
    if all(abs(after - before) <= 1e-3 * before for before, after in stepped):
        raise LookupError("the loop's body leaves the gradients as they are")
    return all(abs(after - 1.0) < 1e-2 for _, after in stepped)


def bf16_embeddings(module, text):
    """Whether the model the script builds before its training loop keeps its embedding tables,
    and them alone among its parameters, in bfloat16 (see the module docstring)."""
    import torch

    names = _setup(module, text, build=True)[0]
    models = [v for v in names.values() if isinstance(v, torch.nn.Module)]
    model = max(models, key=lambda m: sum(p.numel() for p in m.parameters()), default=None)
    if model is None:
        raise LookupError("the statements before the training loop build no model")
    tables = [m.weight for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    others = [p for p in model.parameters() if not any(p is t for t in tables)]
    if not tables or not others:
        raise LookupError("the model has no embedding table" if not tables else "the model has no other weight")
    return all(t.dtype == torch.bfloat16 for t in tables) and not any(p.dtype == torch.bfloat16 for p in others)


SCRIPT_PROBES = {  # probes that also read the script's training code
    "orthogonal_update": orthogonal_update,
    "bf16_embeddings": bf16_embeddings,
    "unit_gradients": unit_gradients,
    "blockwise_orthogonal": blockwise_orthogonal,
    "lr_floor": lr_floor,
    "lr_plateau": lr_plateau,
    "learning_rates": learning_rates,
    "update_shape_scale": update_shape_scale,
    "sharded_orthogonalisation": sharded_orthogonalisation,
}


def measure(text: str, names: list) -> dict:
    with _devices_read_as_cpu(text), _no_arguments():
        return _measure(text, names)


@contextlib.contextmanager
def _no_arguments():
    """A script that parses its command line (argparse) reads none: it runs with its defaults."""
    saved = sys.argv
    sys.argv = ["probed"]
    try:
        yield
    finally:
        sys.argv = saved


def _measure(text: str, names: list) -> dict:
    import torch

    torch.set_num_threads(1)
    try:
        module = load(text)
    except SyntaxError as exc:
        return {n: {"value": None, "why": f"does not parse: {exc.msg}"} for n in names}
    out = {}
    for done, name in enumerate(names):
        module.probes_left = len(names) - done
        try:
            kind, _, word = name.partition(":")
            if kind == "rising":
                value = schedule(module, text, word)
            elif name in SCRIPT_PROBES:
                value = SCRIPT_PROBES[name](module, text)
            else:
                value = PROBES[name](module)
            if isinstance(value, float) and not math.isfinite(value):
                value = 1e30
            out[name] = {"value": value, "why": ""}
        except Exception as exc:  # noqa: BLE001 - any failure means: this probe cannot measure here
            out[name] = {"value": None, "why": f"{type(exc).__name__}: {str(exc)[:120]}"}
    return out


def isolated(text: str, names: list) -> dict:
    """:func:`measure` in a forked child, so that whatever a script changes in the libraries (a
    patched ``nn.Linear.forward``, a default dtype, a backend flag) dies with it instead of reaching
    the scripts measured after it. The script's own imports run first, in this process: installed
    libraries only (a script is one file), loaded once for every later script."""
    _import_libraries(text)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, answer through the pipe, leave without any cleanup of the parent's
        os.close(read)
        try:
            answer = json.dumps(measure(text, names))
        except BaseException as exc:  # noqa: BLE001 - a script may even raise SystemExit at import
            answer = json.dumps({n: {"value": None, "why": f"{type(exc).__name__} while measuring"} for n in names})
        with os.fdopen(write, "w") as pipe:
            pipe.write(answer)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    if not answer:
        return {n: {"value": None, "why": "the measuring process ended without an answer"} for n in names}
    return json.loads(answer)


def _import_libraries(text: str) -> None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not (isinstance(node, ast.ImportFrom) and node.level):
            with contextlib.suppress(BaseException):
                exec(compile(ast.Module([node], []), "<imports>", "exec"), {})  # noqa: S102 - the sandbox confines it
    if "custom_op" in text:
        _custom_ops_warmed()


@functools.cache
def _custom_ops_warmed() -> None:
    """Call a custom operator once, here: the first call of one in a process imports most of torch's
    compiler and symbolic machinery (over a second), which every script measured after it then
    finds loaded (the speedrun's FP8 head is a custom operator)."""
    import torch

    @torch.library.custom_op("probe_worker::identity", mutates_args=())
    def identity(x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    with contextlib.suppress(Exception):
        identity(torch.zeros(1))


PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4


def clear_leftovers(scratch: list[str]) -> None:
    """Kill every process a measured script left behind and empty the ``scratch`` folders (keeping
    this file). A process orphaned by its parent is re-parented to this one (a child subreaper), so
    killing this process's children until none is left reaches every descendant, and nothing else:
    unsandboxed, the rest of the machine is untouched."""
    me = os.getpid()
    for _ in range(1000):
        children = [pid for pid in _process_ids() if _parent(pid) == me]
        if not children:
            break
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
    for folder in scratch:
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if entry.path == os.path.abspath(__file__):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _process_ids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])  # the command name may hold spaces and ")"
    except (OSError, ValueError, IndexError):
        return None


def main():
    answers = _protocol_out()
    scratch = sys.argv[1:]
    # a file a script writes beside this one is never imported by the scripts measured after it
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != here]
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        # not dumpable: a measured script (same uid, no capabilities) cannot ptrace this process or
        # write its memory through /proc, where it would outlive the script and reach the next one
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    import torch  # noqa: F401 - once, in the parent: every script's child starts with it loaded

    for line in sys.stdin:
        request = json.loads(line)
        answer = isolated(request["script"], request["probes"])
        clear_leftovers(scratch)
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
