"""Canonical forms of statements, and the features an idea is compared by.

A statement of a script is rewritten into a small canonical expression tree in which spellings
of one operation coincide, then read out as a multiset of *features* (calls, keywords, operators,
constants, attribute names, compositions). Two candidates that do the same thing in different
words get the same features; :mod:`analysis.ideas` compares changes of features.

What is made equal (each a rule below, applied bottom-up):

* calls by their last name, whichever module or receiver spells them: ``F.relu(x)``,
  ``torch.relu(x)``, ``x.relu()``; in-place and out-of-place variants (``mul_`` / ``mul``);
* equivalent operations: ``x ** 2``, ``x * x``, ``x.square()``, ``torch.square(x)``,
  ``x.pow(2)``; ``.float()`` and ``.to(torch.float32)``; ``zeros_``, ``.zero_()``, ``fill_(0)``,
  ``constant_(w, 0)``; ``torch.cat``, ``vstack``, ``concatenate``; ``split`` and ``chunk``;
  ``x @ W.T`` and ``F.linear(x, W)``; ``clamp(min=0)`` and ``relu``; a hand-written RMS norm
  (``x * rsqrt(mean(x ** 2) + eps)``) and ``F.rms_norm``/``nn.RMSNorm``; reshapes of any kind;
* blends of two values: ``(1 - w) * a + w * b``, ``a + w * (b - a)``, ``torch.lerp(a, b, w)``
  and, for numbers, ``a + d * w`` are one ``mix(a, b, w)``, as is ``d * step / steps`` over a
  setting (a ramp from 0); a mix of two numbers also says which way it ramps;
* ``Path.cwd().glob(p)`` and ``glob.glob(p)``; ``iter(xs)`` and ``xs``;
* constants: numeric sub-expressions are folded (``2 * 0.3``, ``(50257 + 127) // 128 * 128``,
  ``math.sqrt(3)``); configuration fields (classes holding only assignments, ``argparse``
  defaults, the attributes of a settings object whose ``__init__`` only sets them), module-level
  numeric constants, single-assignment numeric locals and attributes a class sets from them in
  ``__init__`` are replaced by their values; a setting read from the environment (``os.environ.get``,
  ``os.getenv``, or a helper of the script that reads them, called with the setting's name) reads as
  its default; each value remembers the field it came from (its *origin*), so a re-tuned field is
  visible wherever it is used;
* keywords gathered in a module-level dict (``arch = dict(n_head=6, ...)``) are the keywords of a call
  that passes ``**arch``;
* small helpers the script defines: a function whose body is a ``return`` of an expression (after
  assignments of locals and asserts), or a module-level ``lambda``, is substituted at its call sites
  (``soft_cap(z, 30)`` becomes ``30 * tanh(z / 30)``; ``round_up(50257, 128)`` folds to 50304); other short
  functions contribute their features where they are called.

Features are strings: ``call:NAME``, ``kw:NAME``, ``op:SYM``, ``edge:OUTER>INNER`` (a call or
operator directly inside another), ``num:BUCKET`` (small integers exactly, others by power of
two), ``ref:FIELD`` (a value read from a configuration field that record i already has),
``attr:NAME``, ``str:TEXT``, ``ramp:up|down`` and ``imp:NAME``. Names the script binds itself
(variables, new attributes, new helpers) never become features unless record i already has them:
a rename changes nothing.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from analysis.syntax import Node

MAX_INLINE_DEPTH = 3
EXPR_HELPER_ATOMS = 6  # a helper this short whose last statement returns an expression is substituted
BAG_HELPER_ATOMS = 14  # a helper this short contributes its features where it is called

MODULES = frozenset(
    {
        "torch",
        "F",
        "nn",
        "math",
        "np",
        "numpy",
        "functional",
        "init",
        "linalg",
        "dist",
        "optim",
        "cuda",
        "utils",
        "pathlib",
    }
)


class Num(float):
    """A number; ``origin`` names the configuration field or constant it was read from, ``direct``
    says it is that field's value itself rather than computed from it (equality and hashing ignore
    both)."""

    def __new__(cls, value: float, origin: str | None = None, direct: bool = False):
        obj = float.__new__(cls, value)
        obj.origin = origin
        obj.direct = direct
        return obj


# Calls spelled differently that do the same thing (after the last-name rule).
ALIASES = {
    "relu_": "relu",
    "ReLU": "relu",
    "GELU": "gelu",
    "gelu_": "gelu",
    "SiLU": "silu",
    "Tanh": "tanh",
    "tanh_": "tanh",
    "Sigmoid": "sigmoid",
    "RMSNorm": "rms_norm",
    "normalize": "rms_norm",
    "LayerNorm": "layer_norm",
    "concat": "cat",
    "concatenate": "cat",
    "vstack": "cat",
    "hstack": "cat",
    "chunk": "split",
    "tensor_split": "split",
    "unbind": "split",
    "matmul": "@",
    "mm": "@",
    "bmm": "@",
    "ModuleDict": "ModuleList",  # containers of submodules, keyed or not
    "ParameterDict": "ParameterList",
    "lerp": "mix",
    "flip": "reversed",
    "reverse": "reversed",
    "lerp_": "mix",
    "zeros_": "zero_init",
    "zero_": "zero_init",
    "matrix_norm": "norm",
    "vector_norm": "norm",
    "flex_attention": "attention",
    "scaled_dot_product_attention": "attention",
    "minimum": "min",
    "maximum": "max",
    "clamp_min": "max",
    "clamp_max": "min",
    "clamp_min_": "max",
    "clamp_max_": "min",
    "mul_": "mul",
    "add_": "add",
    "sub_": "sub",
    "div_": "div",
    "neg_": "neg",
    "negative": "neg",
    "copy_": "copy",
    "sqrt_": "sqrt",
    "square_": "square",
    "Embedding": "Embedding",
    "tensor": "make_tensor",
    "ones": "make_tensor",
    "make_zeros": "make_zeros",
    "zeros": "make_zeros",
    "full": "make_tensor",
    "empty": "make_tensor",
    "zeros_like": "make_zeros",
    "ones_like": "make_tensor",
    "empty_like": "make_tensor",
    "new_zeros": "make_zeros",
    "new_ones": "make_tensor",
    "new_empty": "make_tensor",
    "new_tensor": "make_tensor",
    "uniform_": "random_init",
    "normal_": "random_init",
    "trunc_normal_": "random_init",
    "kaiming_uniform_": "random_init",
}
LAYOUT = frozenset(
    {"view", "reshape", "view_as", "reshape_as", "flatten", "unflatten", "squeeze", "unsqueeze", "permute", "expand"}
)
TRANSFER_FLAGS = {"pin_memory": "pin_memory", "non_blocking": "async_copy"}  # keyword=True -> the call it reads as
# canonical calls that are features even where the script binds the same word itself (a parameter
# named ``mix`` passed down to a layer would otherwise hide the blend it reads as)
SYNTHETIC = frozenset({"mix"})
# calls whose second positional argument is the dimension they work along
DIM_SECOND = frozenset(
    {"mean", "sum", "prod", "amax", "amin", "argmax", "argmin", "std", "var", "logsumexp", "cumsum"}
    | {"softmax", "log_softmax", "cat", "stack", "unbind", "unsqueeze", "squeeze"}
)
# calls that hand back what they are given, as far as an idea is concerned (``iter(files)`` is the
# sequence a loop or ``next`` walks)
IDENTITY = frozenset({"contiguous", "detach", "clone", "cuda", "cpu", "item", "requires_grad_", "iter"})
# receivers of ``.glob`` that name the working directory: ``Path.cwd().glob(p)`` is ``glob.glob(p)``
WORKING_DIRECTORY = frozenset({"cwd", "Path"})
DTYPES = {
    "float32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "float16": "float16",
    "half": "float16",
    "float8_e4m3fn": "float8",
    "float8_e5m2": "float8",
    "float64": "float64",
    "double": "float64",
}
CASTS = {"float": "float32", "bfloat16": "bfloat16", "half": "float16", "double": "float64"}
# Library modules held in attributes, and what calling one does.
TYPED = {
    "Embedding": "embedding",
    "Linear": "linear",
    "rms_norm": "rms_norm",
    "layer_norm": "layer_norm",
    "relu": "relu",
    "gelu": "gelu",
    "silu": "silu",
    "tanh": "tanh",
    "Dropout": "dropout",
}
ORTHOGONALIZE = frozenset({"gram", "svd", "qr", "polar"})
ACTIVATIONS = frozenset({"tanh", "sigmoid", "erf", "softsign"})  # bounded curves, not a rising step count
COMMUTATIVE = frozenset({"+", "*", "&", "|", "==", "!="})
FOLD = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "**": lambda a, b: a**b,
    "%": lambda a, b: a % b,
    "<<": lambda a, b: _shifted(a, b),  # 1 << 16: a power of two written as a shift
    ">>": lambda a, b: _shifted(a, -b),
}
MATH_FOLD = {"sqrt": math.sqrt, "log": math.log, "exp": math.exp, "log2": math.log2, "rsqrt": lambda v: v**-0.5}
MATH_CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf}
TAGS = frozenset(
    {"c", "o", "a", "s", "n", "b", "imp", "dtype", "=", "q", "x", "sl", "k", "i", "l", "kw", "pair", "splat", "fmt"}
    | {"u", "ret", "hdr", "for"}
)
# Keywords whose number, where a call adds them, is compared with the library's default.
KW_DEFAULTS = {"eps": 1e-8}
STATEMENT_SKIP = frozenset({"assert_statement", "pass_statement", "break_statement", "continue_statement"})


def origin_of(*values) -> str | None:
    for v in values:
        if isinstance(v, Num) and v.origin:
            return v.origin
    return None


def num(value: float, *sources) -> Num | None:
    try:
        value = float(value)
    except (OverflowError, ValueError, TypeError):
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    return Num(value, origin_of(*sources))


def call(name: str, *args, kws=()) -> tuple:
    return ("c", name, tuple(args), tuple(kws))


@dataclass
class Function:
    """A function or method of a script, as an inlining candidate."""

    qualname: str
    params: list[str]
    defaults: dict[str, Node]
    atoms: list  # analysis.units.Atom, header first
    owner: str | None  # the class of a method
    expression: Node | None = None  # a lambda's body (atoms then empty)


def literal_table(value) -> bool:
    """A canonical dict, tuple or list whose entries are all numbers, literal tables or other constants
    (a path, a switch: settings kept in nested dicts hold them beside the numbers), with a number
    among them."""
    return constants_table(value) and _holds_number(value)


def _holds_number(value) -> bool:
    return isinstance(value, Num) or constants_table(value) and any(map(_holds_number, table_entries(value)))


def constants_table(value) -> bool:
    """A canonical dict, tuple or list whose entries are all numbers, constants or such tables."""
    entries = table_entries(value)
    return bool(entries) and all(isinstance(v, Num) or _constant(v) or constants_table(v) for v in entries)


def _constant(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and value[0] == "s"


def table_entries(value) -> list:
    """The entries of a canonical dict, tuple or list (none for anything else)."""
    if not isinstance(value, tuple) or len(value) < 3:
        return []
    if value[:2] == ("c", "dict") and not value[2]:
        entries = [v for _, v in value[3]]
    elif value[:2] == ("q", "dict"):
        entries = [pair[2] for pair in value[2] if isinstance(pair, tuple) and pair[0] == "pair"]
        if len(entries) != len(value[2]):
            return []
    elif value[0] == "q" and value[1] in ("tuple", "list"):
        entries = list(value[2])
    else:
        return []
    return entries


def table_entry(table: tuple, index: tuple):
    """``table[key]`` for a constant key (a string or an integer), else None."""
    if len(index) != 1:
        return None
    key = index[0]
    if table[:2] == ("c", "dict"):
        found = [v for k, v in table[3] if isinstance(key, tuple) and key == ("s", k)]
        return found[0] if found else None
    if table[:2] == ("q", "dict"):
        found = [pair[2] for pair in table[2] if pair[1] == key]
        return found[0] if found else None
    if isinstance(key, Num) and float(key).is_integer() and -len(table[2]) <= int(key) < len(table[2]):
        return table[2][int(key)]
    return None


def _reads_environment(fn: Function, dotted) -> bool:
    """Whether a function's body reads ``os.environ`` or calls ``os.getenv``."""
    stack = [a.node for a in fn.atoms[1:]]
    while stack:
        node = stack.pop()
        if node.kind == "attribute" and dotted(node) in (["os", "environ"], ["os", "getenv"]):
            return True
        stack.extend(c for c in node.children if isinstance(c, Node))
    return False


@dataclass(frozen=True)
class BaseNames:
    """Names of record i that a change can only reuse by meaning the same thing."""

    keywords: dict[str, frozenset[str]]  # callable (function, method, or class by its __init__) -> its parameters
    attributes: frozenset[str]  # names record i uses after a dot
    words: frozenset[str]  # every word of record i's text (names, keys, strings)

    @classmethod
    def of(cls, facts: Facts, version_nodes, text: str) -> BaseNames:
        keywords: dict[str, frozenset[str]] = {}
        for qualname, fn in facts.functions.items():
            owner, _, name = qualname.rpartition(".")
            key = owner.rpartition(".")[2] if name == "__init__" and owner else name
            keywords[key] = keywords.get(key, frozenset()) | frozenset(fn.params)
        attributes = frozenset(
            n.children[-1].label for node in version_nodes for n in node.walk() if n.kind == "attribute" and n.children
        )
        return cls(keywords, attributes, frozenset(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)))


@dataclass
class Facts:
    """What canonicalisation needs to know about one script."""

    consts: dict[str, Num] = field(default_factory=dict)  # configuration fields and argparse options (obj.name)
    # a field several configuration classes define: consts holds the first class's (in script order);
    # a module-level object built from another of them (``retune = Retune()``) reads its own class's
    class_fields: dict[str, dict[str, Num]] = field(default_factory=dict)  # class -> field -> value
    # class -> attribute -> the number an object of it keeps from its construction (a schedule or hook
    # object's settings), read as that number by its own methods
    held: dict[str, dict[str, Num]] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)  # module-level name -> configuration class
    # configuration fields holding a tuple of numbers (Adam's betas), read as that tuple's literal
    tuples: dict[str, tuple] = field(default_factory=dict)
    module: dict[str, Num] = field(default_factory=dict)  # module-level numeric constants (name)
    # module-level literal tables of numbers (presets: {"fast": (1530, 600)}), read by constant keys
    tables: dict[str, tuple] = field(default_factory=dict)
    # module-level dicts of keywords (arch = dict(n_head=6, ...)), spliced where passed as **arch
    keyword_dicts: dict[str, tuple] = field(default_factory=dict)
    # names that call another with some arguments fixed (``make_adam = partial(torch.optim.Adam,
    # eps=1e-10)``, a library subclass whose constructor only passes defaults on): name -> (what it
    # calls, positional argument nodes, (keyword, node) pairs), spliced where the name is called
    partials: dict[str, tuple] = field(default_factory=dict)
    aliases: dict[str, dict[str, Num]] = field(default_factory=dict)  # class -> self.attr -> value
    functions: dict[str, Function] = field(default_factory=dict)  # qualname -> function
    by_name: dict[str, list[Function]] = field(default_factory=dict)  # last name -> functions
    classes: set[str] = field(default_factory=set)
    # switches on unless the run says otherwise (a module-level ``LONG = True``, a flag defaulting to True)
    switches: frozenset[str] = frozenset()
    bag_cache: dict[str, Counter] = field(default_factory=dict)
    inlined: set[str] = field(default_factory=set)  # qualnames substituted or bagged somewhere
    definitions: dict[int, tuple[str, ...]] = field(default_factory=dict)  # id(atom) of a definition -> names
    attr_types: dict[str, str] = field(default_factory=dict)  # attribute -> library module it holds
    own: set[str] = field(default_factory=set)  # names the script gives things (never features)
    renamed: dict[str, str] = field(default_factory=dict)  # a renamed definition's name -> record i's


class Canon:
    """Canonical trees of one script's statements (see the module docstring)."""

    def __init__(
        self,
        facts: Facts,
        vocab: frozenset[str],
        own: frozenset[str],
        base_fields: frozenset[str],
        base_names: BaseNames | None = None,
    ):
        self.facts = facts
        self.vocab = vocab  # names record i binds (features may name these)
        self.base_names = base_names  # None: this script is record i
        self.own = own  # names this script binds (features never name these unless record i has them)
        self.base_fields = base_fields  # configuration fields and constants record i has (ref: features)

    # ---- statements -------------------------------------------------------------------------

    def statement(self, node: Node, scope: Scope) -> tuple | None:
        kind = node.kind
        if kind in STATEMENT_SKIP:
            return None
        if kind == "assignment":
            return self._assignment(node, scope)
        if kind == "augmented_assignment":
            target, value = node.children[0], node.children[-1]
            sym = node.label.rstrip("=")
            return (
                "=",
                (self._target(target, scope),),  # one target, in the tuple a plain assignment has
                self._binop(sym, self.expr(target, scope), self.expr(value, scope)),
            )
        if kind in ("import_statement", "import_from_statement"):
            names = [c for n in node.children for c in n.walk() if c.kind == "identifier"]
            return ("imp", tuple(sorted({n.label for n in names})))
        if kind == "function_definition:header":
            out = []
            for c in node.children:
                if c.kind == "parameters":
                    out += [self.expr(p.children[-1], scope) for p in c.children if "default" in p.kind]
                elif c.kind == "decorator":
                    out += [self.expr(d, scope) for d in c.children]
            return ("hdr", tuple(out))
        if kind == "class_definition:header":
            return ("hdr", tuple(self.expr(c, scope) for c in node.children if c.kind == "argument_list"))
        if kind == "for_statement:header":
            target, it = node.children[0], node.children[1] if len(node.children) > 1 else None
            return ("for", self._target(target, scope), self.expr(it, scope) if it is not None else None)
        if kind.endswith(":header"):
            return ("hdr", tuple(self.expr(c, scope) for c in node.children if c.kind not in ("identifier",)))
        if kind == "return_statement":
            return ("ret", tuple(self.expr(c, scope) for c in node.children))
        return self.expr(node, scope)

    def _assignment(self, node: Node, scope: Scope) -> tuple | None:
        kids = [c for c in node.children if c.kind != "type"]
        if len(kids) < 2:
            return None  # an annotation without a value
        *targets, value = kids
        val = self.expr(value, scope)
        for t in targets:
            if t.kind == "identifier" and value.kind == "lambda" and self._lambda_helper(t.label):
                continue  # a module-level helper: substituted where it is called
            if t.kind == "identifier":
                scope.bind(t.label, val)
            elif t.kind in ("tuple_pattern", "pattern_list") and isinstance(val, tuple) and val[0] == "q":
                names = [c for c in t.children]
                if len(names) == len(val[2]):
                    for n, v in zip(names, val[2], strict=True):
                        if n.kind == "identifier":
                            scope.bind(n.label, v)
            elif t.kind in ("tuple_pattern", "pattern_list") and _learned_vector(val):
                # keep, inject = self.gates.unbind(0): each name is that entry, self.gates[i]
                vector = val if val[0] != "c" else val[2][0]
                for i, n in enumerate(t.children):
                    if n.kind == "identifier":
                        scope.bind(n.label, ("x", vector, (Num(i),)), force=n.label not in scope.multi)
            elif t.kind in ("tuple_pattern", "pattern_list") and _is_shape(val):
                # rows, cols = g.shape: each name is g.size(i)
                base = val[1] if val[0] == "a" else val[2][0]
                for i, n in enumerate(t.children):
                    if n.kind == "identifier":
                        scope.bind(n.label, call("size", base, Num(i)))
        return ("=", tuple(self._target(t, scope) for t in targets), val)

    def _lambda_helper(self, name: str) -> bool:
        return any(f.expression is not None for f in self.facts.by_name.get(name, ()))

    def _target(self, node: Node, scope: Scope) -> tuple:
        if node.kind == "identifier":
            return ("n", node.label)
        if node.kind in ("tuple_pattern", "pattern_list", "tuple", "list_pattern"):
            return ("q", "tuple", tuple(self._target(c, scope) for c in node.children))
        return self.expr(node, scope)

    # ---- expressions -----------------------------------------------------------------------

    def expr(self, node: Node | None, scope: Scope) -> tuple | Num | None:
        if node is None:
            return None
        kind = node.kind
        if kind in ("integer", "float"):
            try:
                return Num(float(node.label))
            except ValueError:
                return ("s", node.label)
        if kind == "string":
            return (
                ("s", node.label) if not node.children else ("fmt", tuple(self.expr(c, scope) for c in node.children))
            )
        if kind in ("true", "false", "none"):
            return ("s", kind)
        if kind == "identifier":
            return scope.lookup(node.label)
        if kind == "attribute":
            return self._attribute(node, scope)
        if kind == "call":
            return self._call(node, scope)
        if kind == "binary_operator":
            a, b = node.children[0], node.children[-1]
            return self._binop(node.label or "@", self.expr(a, scope), self.expr(b, scope))
        if kind == "unary_operator":
            v = self.expr(node.children[-1], scope)
            if node.label == "-":
                if isinstance(v, Num):
                    return Num(-v, v.origin)
                return ("o", "neg", (v,))
            return ("o", node.label, (v,)) if node.label != "+" else v
        if kind in ("comparison_operator", "boolean_operator", "not_operator"):
            args = tuple(self.expr(c, scope) for c in node.children)
            return self._op(node.label, args)
        if kind == "subscript":
            base = self.expr(node.children[0], scope)
            rest = node.children[1:]
            if len(rest) == 1 and rest[0].kind == "slice" and rest[0].label == ": : E":
                step = self.expr(rest[0].children[0], scope)
                if isinstance(step, Num) and step == -1:
                    return call("reversed", base)  # x[::-1]
            idx = tuple(self.expr(c, scope) for c in rest)
            named = node.children[0]
            if named.kind == "identifier" and named.label in self.facts.tables and not scope.is_local(named.label):
                table = self.facts.tables[named.label]
            else:
                table = base if constants_table(base) else None  # PRESETS["fast"][0], CFG["files"]["train"]
            entry = table_entry(table, idx) if table is not None else None
            if entry is not None:
                return entry
            return ("x", base, idx)
        if kind == "slice":
            return ("sl", tuple(self.expr(c, scope) for c in node.children))
        if kind in ("list", "tuple", "set", "expression_list"):
            return ("q", kind, tuple(self.expr(c, scope) for c in node.children))
        if kind == "dictionary":
            pairs = node.children
            if pairs and all(p.kind == "pair" and p.children[0].kind == "string" for p in pairs):
                keys = [p.children[0].label for p in pairs]
                if all(k.isidentifier() for k in keys):  # {"lr": x} is dict(lr=x)
                    kws = [(k, self.expr(p.children[-1], scope)) for k, p in zip(keys, pairs, strict=True)]
                    return ("c", "dict", (), tuple(sorted(kws, key=_kwkey)))
            return ("q", "dict", tuple(self.expr(c, scope) for c in node.children))
        if kind == "pair":
            return ("pair", self.expr(node.children[0], scope), self.expr(node.children[-1], scope))
        if kind in ("list_splat", "dictionary_splat"):
            return ("splat", self.expr(node.children[0], scope))
        if kind in ("list_comprehension", "generator_expression", "set_comprehension", "dictionary_comprehension"):
            inner = scope.child()
            clauses = []
            for c in node.children[1:]:
                if c.kind == "for_in_clause":
                    for t in c.children[:-1]:
                        for n in t.walk():
                            if n.kind == "identifier":
                                inner.shadow(n.label)
                    source = c.children[-1]
                    kind = (
                        self.facts.attr_types.get(source.children[-1].label, "") if source.kind == "attribute" else ""
                    )
                    if kind.startswith("list:") and len(c.children) == 2 and c.children[0].kind == "identifier":
                        inner.bind(c.children[0].label, ("typed", kind[5:]), force=True)
                    clauses.append(("for", self.expr(source, inner)))
                else:
                    clauses.append(tuple(self.expr(x, inner) for x in c.children))
            return ("k", "comp", self.expr(node.children[0], inner), tuple(clauses))
        if kind == "conditional_expression":
            switch = node.children[1]
            if switch.kind in ("identifier", "attribute") and last_name(switch) in self.facts.switches:
                return self.expr(node.children[0], scope)  # what the run takes: the switch is on
            a, test, b = (self.expr(c, scope) for c in node.children[:3])
            return ("i", test, a, b)
        if kind == "lambda":
            inner = scope.child()
            for c in node.children[:-1]:
                for n in c.walk():
                    if n.kind == "identifier":
                        inner.shadow(n.label)
            return ("l", self.expr(node.children[-1], inner))
        if kind == "keyword_argument":
            return ("kw", node.children[0].label, self.expr(node.children[-1], scope))
        if kind in ("ellipsis",):
            return ("s", "...")
        return ("u", kind, node.label, tuple(self.expr(c, scope) for c in node.children))

    def _dotted(self, node: Node) -> list[str] | None:
        parts = []
        while node.kind == "attribute":
            parts.append(node.children[-1].label)
            node = node.children[0]
        if node.kind != "identifier":
            return None
        parts.append(node.label)
        return parts[::-1]

    def _attribute(self, node: Node, scope: Scope):
        obj, name = node.children[0], node.children[-1].label
        dotted = self._dotted(node)
        if dotted and dotted[0] in ("torch", "math", "np", "numpy") and len(dotted) == 2:
            if dotted[1] in DTYPES:
                return ("dtype", DTYPES[dotted[1]])
            if dotted[1] in MATH_CONSTANTS:
                return Num(MATH_CONSTANTS[dotted[1]])
        if obj.kind == "identifier" and obj.label == "self":
            alias = self.facts.aliases.get(scope.owner or "", {}).get(name)
            if alias is not None:
                return alias
            setting = self.facts.held.get(scope.owner or "", {}).get(name)
            if setting is not None:
                return setting
            return ("a", ("n", "self"), name)
        base = self.expr(obj, scope)
        own = self._instance_field(dotted, scope)
        if own is not None:
            return own
        if (name in self.facts.consts or name in self.facts.tuples) and not (dotted and self._module(dotted[0], scope)):
            return self.facts.consts[name] if name in self.facts.consts else self.facts.tuples[name]
        if name in ("T", "mT", "H"):
            return call("T" if name == "T" else "mT", base)
        if name == "data" or name == "value" and isinstance(base, Num):
            return base  # a tensor's data; a number's value is an enum member's (``Knob.LR.value``)
        return ("a", base, name)

    def _instance_field(self, dotted: list[str] | None, scope: Scope) -> Num | None:
        """``obj.field`` where obj is a module-level object of a configuration class other than the
        one whose value of that field ``consts`` holds: that class's own value."""
        if not dotted or len(dotted) != 2 or scope.is_local(dotted[0]):
            return None
        owner = self.facts.instances.get(dotted[0])
        first = next((c for c, fields in self.facts.class_fields.items() if dotted[1] in fields), None)
        if owner is None or first == owner:
            return None
        return self.facts.class_fields.get(owner, {}).get(dotted[1])

    def _call(self, node: Node, scope: Scope):
        callee, arglist = node.children[0], node.children[-1] if len(node.children) > 1 else None
        args, kws = [], []
        if arglist is not None:
            for a in arglist.children:
                if a.kind == "keyword_argument":
                    kws.append((a.children[0].label, self.expr(a.children[-1], scope)))
                elif a.kind == "dictionary_splat":
                    inner = a.children[0]
                    # at module level the name is the module's table even where a branch the run
                    # does not take binds it again (``else: kw = dict()`` under a switch on by default)
                    named = inner.kind == "identifier" and (scope.module_level or not scope.is_local(inner.label))
                    expanded = self.facts.keyword_dicts.get(inner.label) if named else None
                    if inner.kind == "attribute" and len(self._dotted(inner) or ()) == 2:
                        expanded = self.facts.keyword_dicts.get(inner.children[-1].label)  # **cfg.ddp_kwargs
                    fields = _fields_of(inner)
                    if fields is not None:
                        expanded = self.facts.keyword_dicts.get(fields)  # **asdict(ddp_options)
                    expanded = expanded or self.expr(inner, scope)
                    if isinstance(expanded, tuple) and expanded[0] == "c" and expanded[1] == "dict":
                        kws.extend(expanded[3])
                    else:
                        args.append(("splat", expanded))
                else:
                    args.append(self.expr(a, scope))
        return self._apply(callee, args, kws, scope)

    def _apply(self, callee: Node, args: list, kws: list, scope: Scope, unwrapped: frozenset = frozenset()):
        """The canonical call of ``callee`` with canonical arguments; a name bound to a partial
        application (:attr:`Facts.partials`) calls what it wraps with its arguments first (once per
        name: partials that wrap each other stop there)."""
        name = callee.label if callee.kind == "identifier" else None
        partial = name in self.facts.partials and name not in unwrapped
        if partial and (scope.module_level or not scope.is_local(name)):
            wrapped, given, given_kws = self.facts.partials[name]
            module = Scope(module=self.facts.module)
            before = [self.expr(a, module) for a in given]
            fixed = {k: self.expr(v, module) for k, v in given_kws}
            merged = list({**fixed, **dict(kws)}.items())
            return self._apply(wrapped, [*before, *args], merged, scope, unwrapped | {name})
        if callee.kind == "attribute" and self._dotted(callee) in (["os", "environ", "get"], ["os", "getenv"]):
            if len(args) >= 2:
                return args[1]  # a setting read from the environment reads as its default: what the script runs with
        receiver = None
        typed = self._typed(callee, scope)
        if typed is not None:
            return self._canonical_call(typed, args, kws)
        if callee.kind == "identifier":
            name = callee.label
            if scope.is_local(name):
                return ("c", "$local", tuple(args), tuple(sorted(kws, key=_kwkey)))
            fn = self._function(name, None, scope)
            default = self._environment_default(fn, args, kws) if fn is not None else None
            if default is not None:
                return default
            if fn is not None:
                inlined = self._inline(fn, args, kws, scope)
                if inlined is not None:
                    return inlined
            name = self.facts.renamed.get(name, name)
            if name in self.facts.classes or name in self.facts.renamed.values():
                name = name if name in self.vocab else "$cls"
            elif name not in self.vocab and fn is not None:
                name = "$fn"
        elif callee.kind == "attribute":
            dotted = self._dotted(callee)
            name = callee.children[-1].label
            obj = callee.children[0]
            if obj.kind == "identifier" and obj.label == "self":
                fn = self._function(name, scope.owner, scope)
                if fn is not None:
                    inlined = self._inline(fn, args, kws, scope)
                    if inlined is not None:
                        return inlined
                name = name if name in self.vocab else "$method"
            elif not (dotted and self._module(dotted[0], scope)):
                receiver = self.expr(obj, scope)
        else:
            target = self.expr(callee, scope)
            return ("c", "$dyn", (target, *args), tuple(sorted(kws, key=_kwkey)))
        if receiver is not None:
            args.insert(0, receiver)
        return self._canonical_call(name, args, kws)

    def _environment_default(self, fn: Function, args, kws):
        """The default a helper of the script that reads the environment is called with
        (``env_value("STEPS", 6200)``): like ``os.environ.get``, it reads as what the script runs with."""
        given = dict(kws)
        if "default" in fn.params and "default" in given:
            default = given["default"]
        else:
            index = fn.params.index("default") if "default" in fn.params else 1
            default = args[index] if len(args) > index else None
        name = args[0] if args else given.get(fn.params[0]) if fn.params else None
        named = isinstance(name, tuple) and name[0] == "s"  # the setting's name, as text
        if default is None or not named or not _reads_environment(fn, self._dotted):
            return None
        return default

    def _module(self, name: str, scope: Scope) -> bool:
        """Is ``name`` (the root of a dotted call) a library module rather than a variable?"""
        return name in MODULES and name not in scope.locals and name not in self.facts.module

    def _typed(self, callee: Node, scope: Scope) -> str | None:
        """The library module a called object holds (``self.norm = nn.RMSNorm(d)`` makes
        ``self.norm(x)`` an rms_norm; an element of ``nn.ModuleList([nn.Embedding(...)])`` an
        embedding lookup)."""
        types = self.facts.attr_types
        if callee.kind == "attribute":
            kind = types.get(callee.children[-1].label)
            return TYPED.get(kind) if kind else None
        if callee.kind == "subscript" and callee.children[0].kind == "attribute":
            kind = types.get(callee.children[0].children[-1].label, "")
            return TYPED.get(kind[5:]) if kind.startswith("list:") else None
        if callee.kind == "identifier":
            value = scope.values.get(callee.label)
            if isinstance(value, tuple) and value[0] == "typed":
                return TYPED.get(value[1])
        return None

    def _function(self, name: str, owner: str | None, scope: Scope) -> Function | None:
        fns = self.facts.by_name.get(name)
        if not fns:
            return None
        if owner is not None:
            for f in fns:
                if f.owner == owner:
                    return f
        plain = [f for f in fns if f.owner is None] if owner is None else fns
        return plain[0] if len(plain) == 1 else None

    def _inline(self, fn: Function, args, kws, scope: Scope):
        if scope.depth >= MAX_INLINE_DEPTH or fn.qualname in scope.stack:
            return None
        n_atoms = len(fn.atoms)
        last = fn.atoms[-1].node if fn.atoms else None
        body = [a for a in fn.atoms[1:-1] if a.node.kind != "assert_statement"]  # asserts compute nothing
        simple = fn.expression is not None or (
            len(body) + 2 <= EXPR_HELPER_ATOMS
            and last is not None
            and last.kind == "return_statement"
            and all(a.node.kind == "assignment" for a in body)
        )
        if simple:
            inner = Scope(
                owner=fn.owner, depth=scope.depth + 1, stack=scope.stack | {fn.qualname}, module=self.facts.module
            )
            inner.substitute = True  # a helper's locals are expressions to substitute, in order
            params = [p for p in fn.params if p not in ("self", "cls")]
            for p, a in zip(params, args, strict=False):
                inner.bind(p, a, force=True)
            given = dict(kws)
            for p in params[len(args) :]:
                if p in given:
                    inner.bind(p, given[p], force=True)
                elif p in fn.defaults:
                    inner.bind(p, self.expr(fn.defaults[p], scope), force=True)
                else:
                    inner.shadow(p)
            self.facts.inlined.add(fn.qualname)
            if fn.expression is not None:
                return self.expr(fn.expression, inner)
            for atom in body:
                self.statement(atom.node, inner)
            ret = self.statement(last, inner)
            vals = ret[1] if ret else ()
            return vals[0] if len(vals) == 1 else ("q", "tuple", vals)
        if n_atoms <= BAG_HELPER_ATOMS:
            self.facts.inlined.add(fn.qualname)
            self._bag(fn, scope)
            return ("b", fn.qualname, tuple(args), tuple(sorted(kws, key=_kwkey)))
        return None

    def _bag(self, fn: Function, scope: Scope) -> Counter:
        cached = self.facts.bag_cache.get(fn.qualname)
        if cached is None:
            self.facts.bag_cache[fn.qualname] = Counter()  # recursion guard
            inner = Scope(
                owner=fn.owner, depth=scope.depth + 1, stack=scope.stack | {fn.qualname}, module=self.facts.module
            )
            for p in fn.params:
                inner.shadow(p)
            out: Counter = Counter()
            for atom in fn.atoms[1:]:
                out.update(self.features(self.statement(atom.node, inner)))
            cached = self.facts.bag_cache[fn.qualname] = out
        return cached

    def _canonical_call(self, name: str, args: list, kws: list):
        kwd = dict(kws)
        if name in ("tensor", "as_tensor", "scalar_tensor") and len(args) == 1 and isinstance(args[0], Num):
            return args[0]  # a 0-d tensor of a number is that number (dtype and device say where it lives)
        name = ALIASES.get(name, name)
        flags = [k for k in TRANSFER_FLAGS if kwd.get(k) == ("s", "true")]
        if flags:
            # pinned host memory and asynchronous copies are what a faster input pipeline is made
            # of, however the transfer is written (.cuda(), .to(...), copy_, a pinned empty tensor)
            inner = self._canonical_call(name, args, [(k, v) for k, v in kws if k not in flags])
            for flag in flags:
                inner = call(TRANSFER_FLAGS[flag], inner)
            return inner
        if not args:
            if name == "dict":
                return ("c", "dict", (), tuple(sorted(kws, key=_kwkey)))
            return ("c", name, (), tuple(sorted(kws, key=_kwkey)))
        if name in IDENTITY and args:
            return args[0]
        if name in ("list", "tuple") and len(args) == 1 and not kws:
            return args[0]
        if name == "glob" and len(args) == 2 and _working_directory(args[0]):
            return ("c", "glob", (args[1],), tuple(sorted(kws, key=_kwkey)))
        if name in ("int", "float") and len(args) == 1 and isinstance(args[0], tuple) and args[0][0] == "s":
            # int("8"), float("0.1"): a number written as text (an environment setting's default)
            with contextlib.suppress(ValueError):
                value = float(args[0][1].strip("\"'"))
                if math.isfinite(value):  # float("inf") stays a call
                    return Num(value)
        if name in ("int", "float", "str") and len(args) == 1 and not kws and isinstance(args[0], Num):
            # int(8 * SEQ_LEN), str(2048) as an environment setting's default: the number itself
            whole = name != "int" or float(args[0]).is_integer()
            return args[0] if whole else Num(math.trunc(args[0]))
        if name in CASTS and args:
            return call("cast", args[0], ("dtype", CASTS[name]))
        if name in ("to", "type") and args:
            dtype = kwd.get("dtype") or (args[1] if len(args) > 1 else None)
            if isinstance(dtype, tuple) and dtype[0] == "dtype":
                return call("cast", args[0], dtype)
            if isinstance(dtype, tuple) and dtype[0] == "a" and dtype[2] == "dtype":
                return call("cast", args[0], ("dtype", "like"))  # .to(x.dtype): type_as
            return args[0]  # a device move
        if name == "type_as" and args:
            return call("cast", args[0], ("dtype", "like"))
        if name in LAYOUT and args:
            return call("layout", args[0])
        if name in ("addmm", "baddbmm", "addmv") and len(args) == 3:
            # beta * input + alpha * (m1 @ m2), each factor left out where it is 1 (the default)
            product = self._binop("@", args[1], args[2])
            alpha, beta = kwd.get("alpha", Num(1)), kwd.get("beta", Num(1))
            if not (isinstance(alpha, Num) and alpha == 1):
                product = self._binop("*", alpha, product)
            start = args[0] if isinstance(beta, Num) and beta == 1 else self._binop("*", beta, args[0])
            return self._binop("+", start, product)
        if name == "matrix_power" and len(args) == 2 and isinstance(args[1], Num) and args[1] in (2, 3):
            power = args[0]
            for _ in range(int(args[1]) - 1):
                power = self._binop("@", power, args[0])
            return power
        if name == "pow" and len(args) == 2:
            return self._binop("**", args[0], args[1])
        if name in DIM_SECOND and len(args) == 1 and "dim" in kwd:
            # x.mean(dim=-1) is x.mean(-1): the dimension, however it is passed
            args = [args[0], kwd.pop("dim")]
            kws = [(k, v) for k, v in kws if k != "dim"]
        summed_over = args[1] if len(args) > 1 else kwd.get("dim")
        if name == "sum" and args and isinstance(summed_over, Num):
            mixed = self._weighted_stack(args[0], summed_over)
            if mixed is not None:
                return mixed
        if name == "transpose" and len(args) == 3 and all(isinstance(a, Num) for a in args[1:]):
            dims = {int(args[1]), int(args[2])}
            return call("mT" if dims == {-1, -2} else "T" if dims == {0, 1} else "layout", args[0])
        if name == "t" and len(args) == 1:
            return call("T", args[0])
        if name == "clamp" or name == "clip" or name == "clamp_":
            lo = kwd.get("min", args[1] if len(args) > 1 else None)
            hi = kwd.get("max", args[2] if len(args) > 2 else None)
            if isinstance(lo, Num) and lo == 0 and hi is None:
                return call("relu", args[0])
            if hi is None and lo is not None:
                return call("max", args[0], lo)
            if lo is None and hi is not None:
                return call("min", args[0], hi)
            return call("clamp", *args[:1], lo, hi)
        if name == "relu" or name == "max" and len(args) == 2 and isinstance(args[1], Num) and args[1] == 0:
            return call("relu", args[0]) if args else call("relu")
        if name in ("fill_", "constant_") and len(args) == 2 and isinstance(args[1], Num) and args[1] == 0:
            return call("zero_init", args[0])
        if name == "mul" and len(args) == 2 and isinstance(args[1], Num) and args[1] == 0:
            return call("zero_init", args[0])
        if name in ("add", "sub") and len(args) == 2:
            other = args[1]
            if "alpha" in kwd:
                other = self._binop("*", kwd.pop("alpha"), other)
            return self._binop("+" if name == "add" else "-", args[0], other)
        if name in ("mul", "div") and len(args) == 2:
            return self._binop("*" if name == "mul" else "/", args[0], args[1])
        if name == "neg" and len(args) == 1:
            return _neg(args[0])
        if name == "@" and len(args) == 2:
            return self._binop("@", args[0], args[1])
        if name == "mix" and len(args) == 3:
            return self._mix(args[0], args[1], args[2])
        if name in MATH_FOLD and len(args) == 1 and isinstance(args[0], Num):
            folded = num(_safe(MATH_FOLD[name], args[0]), args[0])
            if folded is not None:
                return folded
        if name in ("min", "max") and args and all(isinstance(a, Num) for a in args):
            chosen = (min if name == "min" else max)(args)
            return Num(chosen, chosen.origin)  # the chosen value keeps its own origin
        if name in ("int", "float", "round") and len(args) == 1 and isinstance(args[0], Num):
            return num(int(args[0]) if name == "int" else round(args[0]) if name == "round" else args[0], args[0])
        if name in ("rms_norm", "layer_norm") and len(args) > 1:
            return call(name, args[0])  # the normalised shape, weight and eps are the same norm's details
        if name == "sqrt" and len(args) == 1:
            return call("sqrt", args[0])
        if name == "rsqrt" and len(args) == 1:
            return call("rsqrt", args[0])
        if name == "square" and len(args) == 1:
            return call("square", args[0])
        if name == "dict" and not args:
            return ("c", "dict", (), tuple(sorted(kws, key=_kwkey)))
        return ("c", name, tuple(args), tuple(sorted(kws, key=_kwkey)))

    # ---- operators --------------------------------------------------------------------------

    def _binop(self, sym: str, a, b):
        if isinstance(a, Num) and isinstance(b, Num) and sym in FOLD:
            folded = num(_safe(FOLD[sym], a, b), a, b)
            if folded is not None:
                return folded
        if sym == "**" and isinstance(b, Num):
            if b == 2:
                return call("square", a)
            if b == 0.5:
                return call("sqrt", a)
            if b == -0.5:
                return call("rsqrt", a)
        if sym == "*" and a == b and a is not None and not isinstance(a, Num):
            return call("square", a)
        if sym == "/" and isinstance(a, Num) and a == 1 and isinstance(b, tuple) and b[:2] == ("c", "sqrt"):
            return call("rsqrt", b[2][0])
        if sym == "@" and isinstance(b, tuple) and b[:2] in (("c", "T"), ("c", "mT")):
            if b[2][0] == a:
                return call("gram", a)  # X @ X.T: the Gram matrix (Newton-Schulz's core)
            if b[1] == "T":
                return call("linear", a, b[2][0])
        if sym == "@":
            # a number factor commutes with a matrix product: (c A) @ B is c (A @ B)
            scale = [f for side in (a, b) if _scaled(side) for f in side[2] if isinstance(f, Num)]
            if scale:
                product = self._op("@", (_unscaled(a), _unscaled(b)))
                return self._op("*", (*scale, product))
        if sym == "-":
            return self._op("+", (a, _neg(b)))
        if sym == "/":  # d * step / steps
            factors = _plain_factors(a)
            for d, step in (factors, factors[::-1]) if len(factors) == 2 else ():
                if _progress_ramp(d, step, b):
                    return self._mix(Num(0.0), d, ("o", "/", (step, b)))
        if sym == "*":  # d * (step / steps)
            for d, ratio in ((a, b), (b, a)):
                if isinstance(ratio, tuple) and ratio[:2] == ("o", "/") and _progress_ramp(d, *ratio[2]):
                    return self._mix(Num(0.0), d, ratio)
        return self._op(sym, (a, b))

    def _op(self, sym: str, args: tuple):
        if sym in ("+", "*"):
            flat = []
            for a in args:
                if isinstance(a, tuple) and a[0] == "o" and a[1] == sym:
                    flat.extend(a[2])
                else:
                    flat.append(a)
            nums = [a for a in flat if isinstance(a, Num)]
            if len(nums) > 1:
                total = nums[0]
                for n in nums[1:]:
                    total = num(FOLD[sym](total, n), total, n) or total
                flat = [a for a in flat if not isinstance(a, Num)] + [total]
            if sym == "*" and any(isinstance(a, Num) and a == 1 for a in flat) and len(flat) > 1:
                flat = [a for a in flat if not (isinstance(a, Num) and a == 1)]
            if sym == "+" and any(isinstance(a, Num) and a == 0 for a in flat) and len(flat) > 1:
                flat = [a for a in flat if not (isinstance(a, Num) and a == 0)]
            if len(flat) == 1:
                return flat[0]
            if sym == "+" and len(flat) == 2:
                u = _tanh_plus_one(flat)
                if u is not None:  # tanh(u) + 1 is 2 sigmoid(2u): a tanh cap shifted up is a sigmoid cap
                    halved = isinstance(u, tuple) and u[:2] == ("o", "/") and isinstance(u[2][-1], Num)
                    doubled = self._binop("/", u[2][0], Num(u[2][1] / 2)) if halved else self._op("*", (u, Num(2.0)))
                    return self._op("*", (Num(2.0), call("sigmoid", doubled)))
            if sym == "+":
                mixed = self._mix_pattern(flat)
                if mixed is not None:
                    return mixed
            if sym == "*":
                rms = self._rms_pattern(flat)
                if rms is not None:
                    return rms
            args = tuple(sorted(flat, key=_order))
        elif sym in COMMUTATIVE:
            args = tuple(sorted(args, key=_order))
        return ("o", sym, args)

    def _weighted_stack(self, product, dim: Num):
        """``(w.view(k, 1, 1) * stack((x, y)))`` summed over the stacked dimension ``dim`` is
        ``w[0] * x + w[1] * y`` (``None`` for any other product)."""
        if not (isinstance(product, tuple) and product[:2] == ("o", "*") and len(product[2]) == 2):
            return None
        stacked = [f for f in product[2] if isinstance(f, tuple) and f[:2] == ("c", "stack")]
        if len(stacked) != 1 or len(stacked[0][2]) != 1:
            return None
        (items,), kws = stacked[0][2], dict(stacked[0][3])
        weights = _unbroadcast(next(f for f in product[2] if f is not stacked[0]))
        if kws.get("dim", Num(0)) != dim or not (isinstance(items, tuple) and items[0] == "q"):
            return None
        if not _learned_vector(weights) or not 2 <= len(items[2]) <= 4:
            return None
        terms = [self._binop("*", ("x", weights, (Num(i),)), item) for i, item in enumerate(items[2])]
        total = terms[0]
        for term in terms[1:]:
            total = self._binop("+", total, term)
        return total

    def _mix(self, a, b, w):
        return ("c", "mix", (a, b, w), ())

    def _mix_pattern(self, terms: list):
        """(1 - w) a + w b, a + w (b - a) and, for numbers, a + d w: one mix(a, b, w). The readings
        are tried in that order over both term orders, so numbers end up as the ends and the
        varying part as the weight where an expression reads both ways."""
        if len(terms) != 2:
            return None
        orders = (terms, terms[::-1])
        for first, second in orders:  # a + mix(0, d, w): from a to a + d
            if isinstance(first, Num) and _ramp_from_zero(second):
                end = num(first + second[2][1], first, second[2][1])
                if end is not None:
                    return self._mix(first, end, second[2][2])
        for first, second in orders:  # (1 - w) * a + w * b
            f1, f2 = _plain_factors(first), _plain_factors(second)
            for i, fa in enumerate(f1):
                w = _one_minus(fa)
                if w is None:
                    continue
                for j, fb in enumerate(f2):
                    if fb == w:
                        a = _product(f1[:i] + f1[i + 1 :])
                        b = _product(f2[:j] + f2[j + 1 :])
                        return self._mix(a, b, w)
        for first, second in orders:  # a + w * (b - a), w not a number
            f2 = _plain_factors(second)
            if len(f2) != 2:
                continue
            for k in range(2):
                diff, w = f2[k], f2[1 - k]
                if isinstance(w, Num) or not (isinstance(diff, tuple) and diff[:2] == ("o", "+") and len(diff[2]) == 2):
                    continue
                x, y = diff[2]
                if _negated(y) == first:
                    return self._mix(first, x, w)
                if _negated(x) == first:
                    return self._mix(first, y, w)
        for first, second in orders:
            # a + d * w with a and d numbers (d the product of the numeric factors, divisions
            # included: 64 + 32 * ((64 * step // N) // 32) ramps 64 -> 128 with step / N)
            f2 = _factors(second)
            if isinstance(first, Num) and len(f2) >= 2:
                d, rest = 1.0, []
                for f in f2:
                    if isinstance(f, Num):
                        d *= f
                    elif isinstance(f, tuple) and f[0] == "inv" and isinstance(f[1], Num) and f[1] != 0:
                        d /= f[1]
                    else:
                        rest.append(f)
                # a + d * tanh(x) or a + d * sigmoid(x) is a shifted activation (a soft cap), no ramp
                shaped = any(isinstance(f, tuple) and f[0] == "c" and f[1] in ACTIVATIONS for f in rest)
                if rest and not shaped and (d != 1.0 or len(rest) < len(f2)):
                    end = num(first + d, first)
                    if end is not None:
                        return self._mix(first, end, _product(rest))
        return None

    def _rms_pattern(self, factors: list):
        """x * rsqrt(mean(x ** 2) + eps): rms_norm(x)."""
        for i, f in enumerate(factors):
            if isinstance(f, tuple) and f[:2] == ("c", "rsqrt") and f[2]:
                inner = f[2][0]
                if isinstance(inner, tuple) and inner[0] == "o" and inner[1] == "+":
                    inner = next((t for t in inner[2] if not isinstance(t, Num)), inner)
                if isinstance(inner, tuple) and inner[:2] == ("c", "mean") and inner[2]:
                    sq = inner[2][0]
                    if isinstance(sq, tuple) and sq[:2] == ("c", "square"):
                        others = factors[:i] + factors[i + 1 :]
                        return call("rms_norm", _product(others) if others else sq[2][0])
        return None

    # ---- features ---------------------------------------------------------------------------

    def features(self, tree, out: Counter | None = None) -> Counter:
        out = Counter() if out is None else out
        self._feat(tree, out)
        return out

    def _label(self, tree) -> str | None:
        if isinstance(tree, tuple):
            if tree[0] == "c":
                return tree[1] if not tree[1].startswith("$") else None
            if tree[0] == "o":
                return "op" + tree[1]
        return None

    def _feat(self, tree, out: Counter) -> None:
        if tree is None:
            return
        if isinstance(tree, Num):
            value = self._value(tree)
            if tree.origin and tree.origin in self.base_fields:
                out["ref:" + tree.origin] += 1  # read from a field record i has
            if value is not None:
                out["num:" + bucket(value)] += 1
            return
        if not isinstance(tree, tuple):
            return
        tag = tree[0]
        if tag == "c":
            name, args, kws = tree[1], tree[2], tree[3]
            if name == "cast" and len(args) > 1 and isinstance(args[1], tuple) and args[1][0] == "dtype":
                out["call:cast_" + args[1][1]] += 1
                self._feat(args[0], out)
                return
            if not name.startswith("$") and (name in self.vocab or name in SYNTHETIC or not self._own(name)):
                out["call:" + name] += 1
                for child in [*args, *(v for _, v in kws)]:
                    inner = self._label(child)
                    if inner:
                        out[f"edge:{name}>{inner}"] += 1
            if name == "Parameter" and args and isinstance(args[0], tuple) and args[0][:2] == ("c", "make_zeros"):
                out["call:zero_init"] += 1  # a fresh all-zero parameter
            if name in ORTHOGONALIZE:
                out["call:orthogonalize"] += 1  # Newton-Schulz's Gram matrix, an SVD, a QR: U V^T
            if name == "mix":
                out["call:combine"] += 1
                a, b = args[0], args[1]
                if isinstance(a, Num) and isinstance(b, Num) and a != b:
                    out["ramp:up" if b > a else "ramp:down"] += 1
            library = not name.startswith("$") and name not in self.facts.classes and name not in self.facts.by_name
            for k, v in kws:
                if name == "dict" and self.base_names is not None:
                    # a dict's keys are the script's names for its own data (a parameter group's
                    # buffers): a key record i never writes is one record i+1 or a candidate chose
                    counts = k in self.base_names.words
                else:  # a library call's keywords are its own
                    counts = library or self._known_keyword(name, k) or not self._own(k)
                if counts:
                    default = KW_DEFAULTS.get(k)
                    if default is not None and isinstance(v, Num):
                        if float(v) != default:
                            out[f"tune:{k}:{'up' if v > default else 'down'}"] += 1
                    elif isinstance(v, Num):
                        out["kwn:" + k] += 1  # a keyword set to a constant
                    else:
                        out["kw:" + k] += 1
                self._feat(v, out)
            for a in args:
                self._feat(a, out)
            return
        if tag == "=" and len(tree) == 3:
            for t in tree[1]:
                if isinstance(t, tuple) and t and t[0] == "a" and _maybe_none(tree[2]):
                    out["opt:" + t[2]] += 1  # a part that may now be absent (self.attn = A() if c else None)
        if tag == "o" and tree[1] in ("is not", "is") and len(tree[2]) == 2:
            for x in tree[2]:
                if isinstance(x, tuple) and x[0] == "a" and ("s", "none") in tree[2]:
                    out["opt:" + x[2]] += 1
        if tag == "o":
            out["op:" + tree[1]] += 1
            for child in tree[2]:
                inner = self._label(child)
                if inner:
                    out[f"edge:op{tree[1]}>{inner}"] += 1
                elif isinstance(child, Num) and tree[1] not in ("+", "neg") and self._value(child) is not None:
                    out[f"opn:{tree[1]}:{bucket(self._value(child))}"] += 1
                self._feat(child, out)
            if tree[1] == "+" and len(tree[2]) == 2 and _learned_weights(tree[2]):
                out["call:combine"] += 1
            return
        if tag == "a":
            if self._known_attribute(tree[2]) or not self._own(tree[2]):
                out["attr:" + tree[2]] += 1
            self._feat(tree[1], out)
            return
        if tag == "s":
            text = tree[1]
            if 0 < len(text) <= 24 and text.replace("_", "").isalnum():
                out["str:" + text] += 1
            return
        if tag == "n":
            return
        if tag == "b":
            out.update(self.facts.bag_cache.get(tree[1], Counter()))
            for a in tree[2]:
                self._feat(a, out)
            for _, v in tree[3]:
                self._feat(v, out)
            return
        if tag == "imp":
            for n in tree[1]:
                out["imp:" + n] += 1
            return
        if tag == "dtype":
            out["dtype:" + tree[1]] += 1
            return
        for child in tree[1:]:
            if isinstance(child, Num):
                self._feat(child, out)
            elif isinstance(child, tuple):
                if child and isinstance(child[0], str) and child[0] in TAGS:
                    self._feat(child, out)
                else:
                    for c in child:
                        self._feat(c, out)

    def _value(self, n: Num) -> float | None:
        """The value a number compares by: a field record i has reads as record i's value (a re-tune
        shows as a re-tune, not in every statement that reads the field); a number computed from such
        a field has none; any other number is itself."""
        if n.origin and n.origin in self.base_fields:
            return self.base_values.get(n.origin) if n.direct else None
        return float(n)

    base_values: dict = {}

    def _own(self, name: str) -> bool:
        """Is ``name`` one the script binds itself (as opposed to a library's)?"""
        return name in self.own

    def _known_keyword(self, callee: str, keyword: str) -> bool:
        """A keyword passed to the script's own callable names a feature only when record i's callable
        already accepts it: a parameter that record i+1 or a candidate adds is a name it chooses
        (``x_s=`` in one, ``scales=`` in the other), even when record i uses the word elsewhere."""
        if keyword not in self.vocab:
            return False
        if self.base_names is None:
            return True
        accepted = self.base_names.keywords.get(callee)
        return not callee.startswith("$") and (accepted is None or keyword in accepted)

    def _known_attribute(self, name: str) -> bool:
        """An attribute of the script's own naming is a feature only when record i has an attribute of
        that name: ``self.x_s`` is a new name even when record i calls a parameter ``x_s``."""
        if self.base_names is None:
            return name in self.vocab
        return name in self.base_names.attributes


class Scope:
    """Names visible while canonicalising one unit: single-assignment numeric locals are replaced by
    their values; names assigned more than once, parameters and loop variables stay names."""

    def __init__(self, owner: str | None = None, depth: int = 0, stack=frozenset(), multi=frozenset(), module=None):
        self.owner = owner
        self.depth = depth
        self.stack = stack
        self.values: dict[str, object] = {}
        self.locals: set[str] = set()
        self.multi = multi  # names assigned more than once in this unit
        self.module = module  # module-level constants (a dict) when not shadowed

    def child(self) -> Scope:
        s = Scope(self.owner, self.depth, self.stack, self.multi, self.module)
        s.substitute, s.module_level = self.substitute, self.module_level
        s.values = dict(self.values)
        s.locals = set(self.locals)
        return s

    substitute = False
    module_level = False  # the module's own code: its names are the module's names

    def bind(self, name: str, value, force: bool = False) -> None:
        self.locals.add(name)
        if force or self.substitute or (name not in self.multi and _bindable(value)):
            self.values[name] = value
        else:
            self.values.pop(name, None)

    def shadow(self, name: str) -> None:
        self.locals.add(name)
        self.values.pop(name, None)

    def is_local(self, name: str) -> bool:
        return name in self.locals and name not in self.values

    def lookup(self, name: str):
        if name in self.values:
            return self.values[name]
        if name in self.locals:
            return ("n", name)
        if self.module is not None and name in self.module:
            return self.module[name]
        return ("n", name)


def last_name(node: Node) -> str:
    """``flag`` of ``flag`` and of ``args.flag``."""
    return node.label if node.kind == "identifier" else node.children[-1].label


def _is_shape(val) -> bool:
    return isinstance(val, tuple) and (
        (val[0] == "a" and val[2] == "shape") or (val[:2] == ("c", "size") and len(val[2]) == 1)
    )


# the largest expression a temporary assigned once is replaced by (tuple nodes and leaves); a statistic
# of a tensor may be twice as large (s = x.pow(2).mean(dim=-1, keepdim=True); r = rsqrt(s + eps)), and
# nothing else: a larger temporary (an optimiser built, a schedule's clamp) is a part of its own
BIND_SIZE = 24
STATISTICS = frozenset({"rsqrt", "sqrt", "mean", "square", "sum"})


def _bindable(value) -> bool:
    """Numbers, a few numbers together, keyword dicts and small expressions: a temporary assigned once
    reads as its value (``h = relu(x); c_proj(h * h)`` is ``c_proj(square(relu(x)))``)."""
    if isinstance(value, Num) or (isinstance(value, tuple) and value[:2] == ("c", "dict")):
        return True
    if isinstance(value, tuple) and value[:2] in (("q", "tuple"), ("q", "list")):
        return 0 < len(value[2]) <= 4 and all(isinstance(v, Num) for v in value[2])  # betas = (0.8, 0.95)
    if isinstance(value, tuple) and value[0] == "x" and _is_self_attr(value) and _size(value) <= 16:
        return True  # an entry of a learned vector (w = self.lambdas[0]): the weight it reads
    if not (isinstance(value, tuple) and value[0] in ("c", "o") and not value[1].startswith("$")):
        return False
    statistic = value[0] == "c" and value[1] in STATISTICS
    return _size(value, 2 * BIND_SIZE + 1) <= (2 * BIND_SIZE if statistic else BIND_SIZE)


def _size(tree, limit: int = BIND_SIZE + 1) -> int:
    n = 1
    if isinstance(tree, tuple):
        for c in tree:
            n += _size(c, limit - n)
            if n > limit:
                break
    return n


def _shifted(value: float, places: float) -> float:
    """An integer shifted by a whole number of binary places (at most 64: no more is a setting)."""
    if not (float(value).is_integer() and float(places).is_integer() and abs(places) <= 64):
        raise ValueError("not a shift of integers")
    return float(int(value) << int(places) if places >= 0 else int(value) >> -int(places))


def _safe(fn, *args):
    try:
        return fn(*args)
    except (ArithmeticError, ValueError, TypeError):
        return math.nan


def _kwkey(kv):
    return kv[0]


def _order(x) -> str:
    return repr(_strip(x))


def _strip(x):
    if isinstance(x, Num):
        return float(x)
    if isinstance(x, tuple):
        return tuple(_strip(c) for c in x)
    return x


def _plain_factors(term) -> list:
    if isinstance(term, tuple) and term[0] == "o" and term[1] == "*":
        return list(term[2])
    return [term]


def _factors(term) -> list:
    """The factors of a product, a division counting as a product with an inverse (for patterns)."""
    if isinstance(term, tuple) and term[0] == "o" and term[1] == "*":
        return [f for t in term[2] for f in _factors(t)]
    if isinstance(term, tuple) and term[0] == "o" and term[1] in ("/", "//") and len(term[2]) == 2:
        return _factors(term[2][0]) + [("inv", term[2][1])]
    return [term]


def _working_directory(tree) -> bool:
    """``Path.cwd()``, ``Path()``, ``Path(".")``: the directory a relative pattern is read from."""
    if not (isinstance(tree, tuple) and tree[0] == "c" and tree[1] in WORKING_DIRECTORY):
        return False
    if tree[1] == "cwd":
        return True
    arg = tree[2][0] if len(tree[2]) == 1 else None
    return not tree[2] or (isinstance(arg, tuple) and arg[0] == "s" and arg[1].strip("\"'") in (".", "./"))


def _progress_ramp(d, step, steps) -> bool:
    """``d * step / steps`` with ``d`` a number is a ramp from 0 to ``d`` as ``step`` goes to ``steps``
    (a window or warmup written without an offset). Only a name over a setting (a configured number,
    ``args.steps``) reads so: a tensor over its norm is no ramp."""
    return (
        isinstance(d, Num)
        and d not in (0, 1)
        and _named(step)
        and (_setting(steps) or (isinstance(steps, Num) and steps.origin is not None))
    )


def _named(tree) -> bool:
    return isinstance(tree, tuple) and (tree[0] == "n" or _setting(tree))


def _setting(tree) -> bool:
    """An attribute of an object other than ``self`` (``args.num_iterations``, ``cfg.steps``)."""
    return isinstance(tree, tuple) and tree[0] == "a" and tree[1] != ("n", "self")


def _product(factors: list):
    if not factors:
        return Num(1.0)
    if len(factors) == 1:
        return factors[0]
    return ("o", "*", tuple(sorted(factors, key=_order)))


def _fields_of(node) -> str | None:
    """``options`` of ``asdict(options)``, ``vars(options)`` or ``dataclasses.asdict(options)``."""
    if node.kind != "call" or len(node.children) != 2 or last_name(node.children[0]) not in ("asdict", "vars"):
        return None
    arguments = node.children[1].children
    return arguments[0].label if len(arguments) == 1 and arguments[0].kind == "identifier" else None


def _tanh_plus_one(terms: list):
    """``u`` where ``terms`` are ``tanh(u)`` and the number 1, else None."""
    ones = [t for t in terms if isinstance(t, Num) and t == 1]
    calls = [t for t in terms if isinstance(t, tuple) and t[:2] == ("c", "tanh") and len(t[2]) == 1 and not t[3]]
    return calls[0][2][0] if len(ones) == 1 and len(calls) == 1 else None


def _one_minus(x):
    """w if x is 1 - w."""
    if isinstance(x, tuple) and x[0] == "o" and x[1] == "+" and len(x[2]) == 2:
        a, b = x[2]
        for one, other in ((a, b), (b, a)):
            if isinstance(one, Num) and one == 1:
                neg = _negated(other)
                if neg is not None:
                    return neg
    return None


def _neg(x):
    """-x, folded where it can be."""
    if isinstance(x, Num):
        return Num(-x, x.origin)
    if isinstance(x, tuple) and x[0] == "o" and x[1] == "neg":
        return x[2][0]
    if isinstance(x, tuple) and x[0] == "o" and x[1] == "*":
        nums = [f for f in x[2] if isinstance(f, Num)]
        if len(nums) == 1:
            return _product([f if not isinstance(f, Num) else Num(-f, f.origin) for f in x[2]])
    if _ramp_from_zero(x):
        return call("mix", x[2][0], Num(-x[2][1], x[2][1].origin), x[2][2])
    return ("o", "neg", (x,))


def _ramp_from_zero(x) -> bool:
    """mix(0, d, w) with d a number: ``d * step / steps``."""
    return (
        isinstance(x, tuple)
        and x[:2] == ("c", "mix")
        and isinstance(x[2][0], Num)
        and x[2][0] == 0
        and isinstance(x[2][1], Num)
    )


def _negated(x):
    """y if x is -y (a negation or a product with -1)."""
    if isinstance(x, tuple) and x[0] == "o" and x[1] == "neg":
        return x[2][0]
    if isinstance(x, tuple) and x[0] == "o" and x[1] == "*":
        nums = [f for f in x[2] if isinstance(f, Num)]
        if len(nums) == 1 and nums[0] == -1:
            rest = [f for f in x[2] if not isinstance(f, Num)]
            return _product(rest)
    if isinstance(x, Num):
        return Num(-x, x.origin)
    return None


def _maybe_none(value) -> bool:
    return isinstance(value, tuple) and value[0] == "i" and ("s", "none") in (value[2], value[3])


def _learned_weights(terms) -> bool:
    """a[0] * x + a[1] * y or self.a * x + self.b * y: two values mixed by learned weights."""
    weights = []
    for t in terms:
        if not (isinstance(t, tuple) and t[0] == "o" and t[1] == "*" and len(t[2]) == 2):
            return False
        w = [f for f in t[2] if isinstance(f, tuple) and f[0] in ("x", "a") and _is_self_attr(f)]
        if len(w) != 1:
            return False
        weights.append(w[0])
    return len(weights) == 2 and weights[0] != weights[1]


def _scaled(tree) -> bool:
    """A product with a number factor and something else: ``c * A``."""
    return (
        isinstance(tree, tuple)
        and tree[:2] == ("o", "*")
        and any(isinstance(f, Num) for f in tree[2])
        and any(not isinstance(f, Num) for f in tree[2])
    )


def _unscaled(tree):
    """``tree`` without its number factors (itself when it is not :func:`_scaled`)."""
    if not _scaled(tree):
        return tree
    rest = tuple(f for f in tree[2] if not isinstance(f, Num))
    return rest[0] if len(rest) == 1 else ("o", "*", rest)


def _learned_vector(val) -> bool:
    """``self.p``, or ``self.p`` split into its entries (``unbind``, ``split``, ``chunk`` with no
    other argument than the first dimension, ``tolist``)."""
    if isinstance(val, tuple) and val[0] == "c" and val[1] in ("split", "chunk", "tolist") and val[2]:
        rest = val[2][1:]
        along_first_dimension = not rest or (val[1] != "chunk" and rest == (Num(0),))
        if val[3] or not along_first_dimension:
            return False
        val = val[2][0]
    return isinstance(val, tuple) and val[0] == "a" and _is_self_attr(val)


def _unbroadcast(tree):
    """``w`` from ``w.view(k, 1, 1)``, ``w[:, None, None]`` or ``w[None, None, :]``: a vector
    shaped to broadcast."""
    if isinstance(tree, tuple) and tree[:2] == ("c", "layout") and len(tree[2]) == 1:
        return tree[2][0]
    if isinstance(tree, tuple) and tree[0] == "x" and tree[2].count(("sl", ())) == 1:
        if all(i in (("sl", ()), ("s", "none")) for i in tree[2]):
            return tree[1]
    return tree


def _is_self_attr(f) -> bool:
    while isinstance(f, tuple) and f[0] in ("x", "a"):
        f = f[1]
    return f == ("n", "self")


def bucket(v: float) -> str:
    if v == int(v) and abs(v) <= 8:
        return str(int(v))
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    return f"{sign}~{round(math.log2(abs(v)))}"
