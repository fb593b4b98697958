"""Behavioural probes, run inside the sandbox: load a script's definitions, measure what they do.

This file is copied into a scratch folder and started there by :mod:`analysis.probes`, inside the
sandbox that confines every run of untrusted code; it imports nothing of the toolkit (which the
sandbox hides), only the standard library and torch. It never trains and never runs a script's
``main()``: it keeps a script's imports, function and class definitions and its simple
module-level assignments (constants and argument-less calls: ``args = Hyperparameters()``,
``BLOCK = 64``), executes them one by one (a statement that fails is skipped: distributed setup,
CUDA, data loading), then builds the pieces a probe needs at a tiny size on CPU and measures them.

Protocol: one JSON object per line on stdin, ``{"script": TEXT, "probes": [NAME, ...]}``; one JSON
object per line on stdout, ``{NAME: {"value": V, "why": TEXT}}``, ``value`` ``null`` where the
probe could not measure (``why`` says what was missing). Whatever a script prints goes to stderr.

Probes (a value each):

* ``squared_relu`` (bool): the MLP's activation is relu(x)^2. The MLP class (a module class whose
  name says MLP / FeedForward / FFN) is built; its first linear layer is made to emit a fixed
  tensor and its last one records what it receives.
* ``bounded_logits`` (float): the largest |logit| reaching the loss when the head's weights are
  huge: a cap gives the cap, no cap gives ~1e5.
* ``qk_normalised`` (bool): the per-head norms of the queries and keys reaching attention
  (``scaled_dot_product_attention``) are the same at every position.
* ``relative_positions`` (bool): attention scores of a repeated token depend on the offset of the
  two positions only, and do depend on it (rotary embeddings, however computed).
* ``rising:WORD`` (bool): a number named after WORD (``momentum``, ``window``) that the training
  loop sets rises over the run. The loop (the ``for`` over a ``range`` with the largest body) runs
  at up to 120 of its steps against stubs: the model, optimisers and data are not built (statements
  that need them fail and are skipped); every number the loop assigns to a name, an attribute or an
  item whose path contains WORD is recorded per step.
* ``orthogonal_update`` (bool): an optimiser class of the script, stepping a 2-D weight whose
  gradient has singular values from 1 down to 0.1, moves it by a matrix whose singular values
  are all within a factor 4 of each other (orthogonalised), not by one shaped like the gradient.
"""

import ast
import contextlib
import json
import math
import os
import sys
import types

BUILTINS = set(dir(__import__("builtins")))

LINEAR_KINDS = ("MLP", "FEEDFORWARD", "FFN")
TINY = dict(vocab_size=256, n_layer=4)
CONTAINERS = {"dict", "list", "tuple", "set", "frozenset", "int", "float", "str"}


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
        if value is None:
            return False
        calls = [n for n in ast.walk(value) if isinstance(n, ast.Call)]
        # constants, and a configuration built from its defaults (args = Hyperparameters()); not a
        # model or an optimiser built at full size
        if isinstance(value, ast.Call) and len(calls) == 1 and not value.args and not value.keywords:
            return isinstance(value.func, ast.Name)
        return all(isinstance(c.func, ast.Name) and c.func.id in CONTAINERS for c in calls)
    return False


def load(text: str):
    """The script's definitions as a module; statements that fail are skipped."""
    import torch

    torch.compile = lambda fn=None, **kw: fn if fn is not None else (lambda f: f)  # no compilation here
    module = types.ModuleType("probed")
    module.__dict__["__name__"] = "probed"
    tree = ast.parse(text)
    for node in tree.body:
        if not _kept(node):
            continue
        code = compile(ast.Module([node], []), "probed", "exec")
        try:
            exec(code, module.__dict__)
        except Exception:  # noqa: BLE001 - a definition this machine cannot make; probes then say so
            continue
    return module


def _classes(module, base):
    values = vars(module).values()
    return [v for v in values if isinstance(v, type) and issubclass(v, base) and v.__module__ == "probed"]


def _config(module):
    """A model configuration at a tiny size: the script's own config class, or its build_model()'s."""
    build = getattr(module, "build_model", None)
    if callable(build):
        return None, build
    for cls in vars(module).values():
        if isinstance(cls, type) and cls.__name__.lower().endswith("config") and hasattr(cls, "__dataclass_fields__"):
            fields = cls.__dataclass_fields__
            try:
                cfg = cls(**{k: v for k, v in TINY.items() if k in fields})
            except TypeError:
                continue
            return cfg, None
    return None, None


def _model(module):
    import torch

    cfg, build = _config(module)
    gpt = getattr(module, "GPT", None)
    if build is not None:
        return build()
    if cfg is not None and isinstance(gpt, type) and issubclass(gpt, torch.nn.Module):
        return gpt(cfg)
    raise LookupError("no build_model() and no GPT(config) to build")


def _linears(mod):
    return [m for m in mod.modules() if getattr(m, "weight", None) is not None and m.weight.dim() == 2]


def squared_relu(module):
    import torch

    kinds = [c for c in _classes(module, torch.nn.Module) if any(k in c.__name__.upper() for k in LINEAR_KINDS)]
    cls = kinds[0] if kinds else None
    if cls is None:
        raise LookupError("no MLP class")
    cfg, build = _config(module)
    if cfg is None and build is not None:
        cfg = build().config
    mlp = cls(cfg)
    layers = _linears(mlp)
    if len(layers) < 2:
        raise LookupError("the MLP has fewer than two linear layers")
    first, last = layers[0], layers[-1]
    x = torch.linspace(-3, 3, first.weight.shape[0]).repeat(2, 1)
    seen = {}
    first.forward = lambda inp: x.to(inp.dtype)

    def capture(inp):
        seen["h"] = inp.detach().float()
        return torch.zeros(inp.shape[:-1] + (last.weight.shape[0],))

    last.forward = capture
    with torch.no_grad():
        mlp(torch.zeros(2, first.weight.shape[1]))
    if "h" not in seen:
        raise LookupError("the MLP's last layer was not reached")
    return bool(torch.allclose(seen["h"], torch.relu(x) ** 2, rtol=1e-2, atol=1e-3))


@contextlib.contextmanager
def _spy(name):
    """Record the arguments of every call of torch.nn.functional.NAME."""
    import torch.nn.functional as F

    original = getattr(F, name)
    calls = []

    def spy(*a, **kw):
        calls.append(a)
        return original(*a, **kw)

    setattr(F, name, spy)
    try:
        yield calls
    finally:
        setattr(F, name, original)


def _forward(model, T=64):
    import torch

    torch.manual_seed(0)
    vocab = next(m for m in model.modules() if isinstance(m, torch.nn.Embedding)).num_embeddings
    idx = torch.randint(0, vocab, (1, T))
    try:
        return model(idx, idx)
    except TypeError:
        return model(idx)


def bounded_logits(module):
    import torch

    model = _model(module)
    head = getattr(model, "lm_head", None)
    if head is None:
        raise LookupError("no lm_head")
    raw = []
    head.register_forward_hook(lambda mod, inp, out: raw.append(out.detach().float().reshape(-1)))

    def run():
        raw.clear()
        with torch.no_grad(), _spy("cross_entropy") as calls:
            _forward(model)
        if not calls or not raw:
            raise LookupError("no cross_entropy call" if not calls else "the head was not called")
        return raw[-1], calls[-1][0].detach().float().reshape(-1)

    with torch.no_grad():
        head.weight.normal_(0, 1e4)
    huge, capped = run()
    bound = float(capped.abs().max())
    if bound > 1e3 or huge.numel() != capped.numel():
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


def relative_positions(module):
    """Whether attention scores depend on positions through their offset only (rotary-like): for a
    sequence of one repeated token, the first attention's q.k scores are the same along every
    diagonal and not all equal (learned absolute positions break the first, no positions the second)."""
    import torch

    model = _model(module)
    vocab = next(m for m in model.modules() if isinstance(m, torch.nn.Embedding)).num_embeddings
    idx = torch.full((1, 32), vocab // 3, dtype=torch.long)
    with torch.no_grad(), _spy("scaled_dot_product_attention") as calls:
        try:
            model(idx, idx)
        except TypeError:
            model(idx)
    if not calls:
        raise LookupError("no scaled_dot_product_attention call")
    q, k = (t.detach().double()[0, 0] for t in calls[0][:2])
    scores = q @ k.T
    scale = float(scores.abs().max()) or 1.0
    diagonals = [torch.diagonal(scores, -d) for d in range(scores.shape[0] - 1)]
    toeplitz = max(float((d - d.mean()).abs().max()) for d in diagonals) / scale < 1e-4
    varies = float(torch.stack([d.mean() for d in diagonals]).std()) / scale > 1e-3
    return toeplitz and varies


def orthogonal_update(module):
    import torch

    with contextlib.suppress(Exception):
        _single_process_group()
    classes = _classes(module, torch.optim.Optimizer)
    if not classes:
        raise LookupError("no optimiser class")
    torch.manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(64, 32))
    v, _ = torch.linalg.qr(torch.randn(32, 32))
    s = torch.logspace(0, -1, 32)
    grad = (u * s) @ v.T
    results = []
    for cls in classes:
        w = torch.nn.Parameter(torch.randn(64, 32) * 0.02)
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
            opt.step()
        except Exception:  # noqa: BLE001 - e.g. a distributed optimiser
            continue
        delta = (w.detach() - before).float()
        sv = torch.linalg.svdvals(delta)
        if sv[0] > 0:
            results.append(float(sv[-1] / sv[0]) > 0.25)
    if not results:
        raise LookupError("no optimiser class could take a step here")
    return any(results)


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


def _training_loop(tree, defined):
    """(statements before the loop in the same body, the loop): the ``for`` over a ``range`` with
    the largest body, at module level or in a top-level function."""
    bodies = [tree.body] + [n.body for n in tree.body if isinstance(n, ast.FunctionDef)]
    best = None
    for body in bodies:
        for i, node in enumerate(body):
            if (
                isinstance(node, ast.For)
                and isinstance(node.target, ast.Name)
                and isinstance(node.iter, ast.Call)
                and isinstance(node.iter.func, ast.Name)
                and node.iter.func.id == "range"
            ):
                size = sum(1 for _ in ast.walk(node))
                if best is None or size > best[0]:
                    before = [s for s in body[:i] if _setup_statement(s, defined)]
                    best = (size, before, node)
    if best is None:
        raise LookupError("no training loop (a for over a range)")
    return best[1], best[2]


def _setup_statement(node, defined) -> bool:
    """An assignment before the loop that builds nothing of the script's own (no model, optimiser or
    data loader at full size): those stay Stubs."""
    if not isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) or node.value is None:
        return False
    names = {n.func.id for n in ast.walk(node.value) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return not names & defined


def schedule(module, text, word):
    """Whether a number the training loop sets, whose name says ``word``, rises over the run."""
    import torch

    tree = ast.parse(text)
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    before, loop = _training_loop(tree, defined)
    seen = {}
    step = [0]

    def log(path, value):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and word in path.lower():
            seen.setdefault(path, {})[step[0]] = float(value)

    scope = dict(module.__dict__)
    local = Locals(log, scope)

    def compiled(stmts):
        out = []
        for s in stmts:
            try:
                out.append(compile(ast.Module([s], []), "probed", "exec"))
            except SyntaxError:  # a break or continue of the loop: the statement is left out
                continue
        return out

    def run(codes):
        for code in codes:
            try:
                exec(code, scope, local)
            except Exception:  # noqa: BLE001, S112 - a statement that needs what was not loaded
                continue
            for name, value in list(local.items()):
                log(name, value)

    run(compiled(before))
    try:
        steps = list(eval(compile(ast.Expression(loop.iter), "probed", "eval"), scope, local))
    except Exception as exc:  # noqa: BLE001
        raise LookupError(f"the loop's range cannot be evaluated: {exc}") from exc
    if len(steps) > 120:
        steps = [steps[round(k * (len(steps) - 1) / 119)] for k in range(120)]
    body = compiled(loop.body)
    for s in steps:
        step[0] = s
        local[loop.target.id] = s
        run(body)
    series = [[v[k] for k in sorted(v)] for v in seen.values() if len(v) >= 2]
    if not series:
        raise LookupError(f"the loop sets no number named after {word!r}")
    return any(all(b >= a - 1e-12 for a, b in zip(xs, xs[1:], strict=False)) and xs[-1] > xs[0] for xs in series)


PROBES = {
    "squared_relu": squared_relu,
    "bounded_logits": bounded_logits,
    "qk_normalised": qk_normalised,
    "orthogonal_update": orthogonal_update,
    "relative_positions": relative_positions,
}


def measure(text: str, names: list) -> dict:
    import torch

    torch.set_num_threads(1)
    try:
        module = load(text)
    except SyntaxError as exc:
        return {n: {"value": None, "why": f"does not parse: {exc.msg}"} for n in names}
    out = {}
    for name in names:
        try:
            kind, _, word = name.partition(":")
            value = schedule(module, text, word) if kind == "rising" else PROBES[name](module)
            if isinstance(value, float) and not math.isfinite(value):
                value = 1e30
            out[name] = {"value": value, "why": ""}
        except Exception as exc:  # noqa: BLE001 - any failure means: this probe cannot measure here
            out[name] = {"value": None, "why": f"{type(exc).__name__}: {str(exc)[:120]}"}
    return out


def main():
    answers = _protocol_out()
    for line in sys.stdin:
        request = json.loads(line)
        answers.write(json.dumps(measure(request["script"], request["probes"])) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
