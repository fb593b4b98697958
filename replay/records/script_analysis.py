"""What each statement of a training script touches: the timer, the validation data, the step
lines, the seed, the time the clock is stopped and the training done before it starts.

This is the analysis behind :mod:`replay.records.script_rules` (which states the rules and
why). A script is cut into *units*: every simple statement, at any depth, and the header of
every compound statement (``if`` test, ``for`` target and iterable, ``def`` signature and
decorators, ...). A unit's identity is ``(scope, chain, ast.dump)``: the function or class it
is in, the kinds of the ``for``/``while``/``if``/``else``/``except``/``finally`` blocks around it
inside that scope, and its syntax tree without positions, so formatting and comments do not
count while moving a statement into another function or out of its ``if`` does.

What a unit touches is found from roots and followed through assignments:

* **roots**: a reference to the ``time``, ``datetime`` or ``timeit`` modules, whatever name
  the import gave them (``import time as t``, ``from time import perf_counter as pc``,
  ``clock = time``); a name or attribute spelled like validation (``val_tokens``,
  ``input_val_bin``, ``x_val``) or a seed (``seed``, ``manual_seed``); a string naming the
  validation shards or ``SPEEDRUN_SEED``; a string that prints a step line (``step:``,
  ``val_loss``, ``train_time``, constant parts of f-strings and ``+`` concatenations joined).
* **propagation**, to a fixpoint: a variable gets the categories of what is assigned to it
  (every plain assignment must carry them, so a name reused for training and validation
  batches does not make the training loop "validation"; an augmented assignment or a
  container's mutating call such as ``timings.append(...)`` is enough on its own); an attribute
  (``self.t0``) gets those of any assignment to it; a parameter gets those that every call
  site passes; a function gets those its body touches and a class those its ``__init__``
  does, so calling ``evaluate(...)`` or ``clock.peek()`` touches what they do. Validation
  does not spread into parameters nor inside classes: the model's constructor reads
  ``val_seq_len`` to size its buffers, and the model is the candidate's to change (what a
  class does during validation is held as code run while the clock is stopped instead).
* **guards**: an ``if``/``while`` whose block holds a touching statement touches it too (the
  ``if step == 10:`` that resets the clock decides what is timed).
* **the clock's structure**: a *stop* reads the time and adds it to an accumulator
  (``training_time_ms += 1000 * (time.perf_counter() - t0)``, or calls a function that does);
  a *start* stores a fresh time (``t0 = time.perf_counter()``, ``TrainingClock()``). Every
  statement between a stop and the next start of the same block runs untimed, and so does
  every function it calls (by name; methods by their name): that is where validation runs,
  and any other work there would be free. Statements executed before the first start
  (following calls such as ``main()``) that train — ``backward``, ``step``,
  ``load_state_dict``, or a call to a function that does — are work before the clock, unless
  they lie between saving the state (``x = ... state_dict() ...``) and restoring it
  (``load_state_dict``, or reading what was saved): the speedrun's untimed warm-up, whose
  saving and restoring statements are held instead.

The analysis is static and deliberately conservative; what it cannot see is listed in
:mod:`replay.records.script_rules`.
"""

from __future__ import annotations

import ast
import copy
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class Touch(StrEnum):
    """What a statement touches; the value is how a violation names it."""

    TIMER = "timer"
    VALIDATION = "validation"
    STEP_LINE = "step line"
    SEED = "seed"
    UNTIMED = "untimed"  # runs while the clock is stopped
    PRE_CLOCK = "before the clock"  # training work before the clock starts


# The categories that roots and assignments carry; UNTIMED and PRE_CLOCK come from structure.
MEASURES = frozenset({Touch.TIMER, Touch.VALIDATION, Touch.STEP_LINE, Touch.SEED})
STRUCTURE = frozenset({Touch.UNTIMED, Touch.PRE_CLOCK})

TIMER_MODULES = frozenset({"time", "datetime", "timeit"})
SEED_CALLS = frozenset(
    {"manual_seed", "manual_seed_all", "seed", "seed_all", "set_rng_state", "set_rng_state_all", "RandomState"}
)
SYNC_CALLS = frozenset({"synchronize"})
MUTATORS = frozenset({"append", "extend", "insert", "add", "update", "setdefault", "appendleft", "put", "push"})
WORK_CALLS = frozenset({"backward", "step", "load_state_dict", "grad"})
# Validation data, its size and its loss: val_tokens, val_files, input_val_bin, val_loader, val_steps,
# val_batch_size, val_seq_len, x_val, inputs_val, val_loss; not values (max_val, val_fut) nor how
# often validation runs (val_loss_every: validation pauses the clock, and what runs then is held).
VAL_NAME = re.compile(
    r"^(?:[a-z]+_)?val_(?:loss(?!_every)|loader|steps?|tokens|files?|bin|batch|bs|seq|data|max_steps)"
    r"|^(?:x|y|inputs?|targets?)_val$|^input_val",
    re.IGNORECASE,
)
SEED_NAME = re.compile(r"(?:^|_)seeds?(?:_|$)", re.IGNORECASE)
VAL_STRING = re.compile(r"_val_|fineweb_val|NANOGPT_VAL", re.IGNORECASE)
SEED_STRING = re.compile(r"SPEEDRUN_SEED")
STEP_STRING = re.compile(r"step:|val_loss:|train_time:|step_avg:|train_loss:")

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

Key = tuple[str, str]  # (scope qualname, name) of a variable; ("." , attr) of an attribute


class Scope:
    """A module, function or class body: the names it binds decide where a name resolves."""

    def __init__(self, qualname: str, kind: str, parent: Scope | None, node: ast.AST | None):
        self.qualname, self.kind, self.parent, self.node = qualname, kind, parent, node
        self.locals: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.params: list[str] = []

    def key(self, name: str) -> Key:
        """Where ``name`` read or written in this scope lives."""
        scope: Scope | None = self
        first = True
        while scope is not None:
            if scope.kind == "module":
                return ("", name)
            if scope.kind == "class" and not first:
                scope = scope.parent  # a class body is not visible from its methods
                continue
            if name in scope.globals:
                return ("", name)
            if name in scope.locals and name not in scope.nonlocals:
                return (scope.qualname, name)
            scope, first = scope.parent, False
        return ("", name)


@dataclass(eq=False)
class Unit:
    """One simple statement, or the header of a compound one."""

    stmt: ast.stmt
    scope: Scope
    chain: tuple[str, ...]
    dump: str
    nodes: list[ast.AST]  # every node of the header (for a simple statement, of the statement)
    blocks: list[list[Unit]] = field(default_factory=list)
    parent: Unit | None = None
    touches: set[Touch] = field(default_factory=set)
    direct_clock: bool = False  # reads the time module itself
    stop: bool = False
    start: bool = False
    sync: bool = False  # a bare torch.cuda.synchronize() next to the timer
    defines: str | None = None  # the qualname of the function or class this header defines

    @property
    def key(self) -> tuple[str, tuple[str, ...], str]:
        return (self.scope.qualname, self.chain, self.dump)

    @property
    def placed(self) -> tuple:
        """The key and whether the statement runs while the clock is stopped or before it
        starts: the same ``opt.step()`` is another statement there."""
        return (self.key, frozenset(self.touches & STRUCTURE))

    @property
    def line(self) -> int:
        return self.stmt.lineno

    def descendants(self) -> Iterator[Unit]:
        for block in self.blocks:
            for unit in block:
                yield unit
                yield from unit.descendants()


# -----------------------------------------------------------------------------
# Cutting a script into units


def _header(stmt: ast.stmt) -> tuple[ast.AST, list[ast.AST]]:
    """The statement without its blocks (for the dump) and the nodes of what remains."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        head = copy.copy(stmt)
        head.body, head.returns = [], None
        head.args = copy.deepcopy(stmt.args)  # annotations do nothing at run time: not compared
        for arg in (*head.args.posonlyargs, *head.args.args, *head.args.kwonlyargs, head.args.vararg, head.args.kwarg):
            if arg is not None:
                arg.annotation = None
        parts: list[ast.AST] = [*stmt.decorator_list, stmt.args] + ([stmt.returns] if stmt.returns else [])
    elif isinstance(stmt, ast.ClassDef):
        head = copy.copy(stmt)
        head.body = []
        parts = [*stmt.decorator_list, *stmt.bases, *stmt.keywords]
    elif isinstance(stmt, (ast.If, ast.While)):
        head, parts = type(stmt)(test=stmt.test, body=[], orelse=[]), [stmt.test]
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        head = type(stmt)(target=stmt.target, iter=stmt.iter, body=[], orelse=[], type_comment=None)
        parts = [stmt.target, stmt.iter]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        head, parts = type(stmt)(items=stmt.items, body=[], type_comment=None), list(stmt.items)
    elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
        handlers = [ast.ExceptHandler(type=h.type, name=h.name, body=[]) for h in stmt.handlers]
        head = type(stmt)(body=[], handlers=handlers, orelse=[], finalbody=[])
        parts = [h.type for h in stmt.handlers if h.type is not None]
    elif isinstance(stmt, ast.Match):
        cases = [ast.match_case(pattern=c.pattern, guard=c.guard, body=[]) for c in stmt.cases]
        head, parts = ast.Match(subject=stmt.subject, cases=cases), [stmt.subject, *cases]
    else:
        return stmt, [stmt]
    return head, parts


def _blocks(stmt: ast.stmt) -> list[tuple[str | None, list[ast.stmt]]]:
    """The blocks of a compound statement with the chain label each adds (None: none)."""
    if isinstance(stmt, (ast.If,)):
        return [("if", stmt.body), ("else", stmt.orelse)]
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return [("for", stmt.body), ("for-else", stmt.orelse)]
    if isinstance(stmt, ast.While):
        return [("while", stmt.body), ("while-else", stmt.orelse)]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [(None, stmt.body)]
    if isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
        handlers = [("except", h.body) for h in stmt.handlers]
        return [(None, stmt.body), *handlers, ("try-else", stmt.orelse), ("finally", stmt.finalbody)]
    if isinstance(stmt, ast.Match):
        return [("case", c.body) for c in stmt.cases]
    return []


def _split_imports(stmts: list[ast.stmt]) -> Iterator[ast.stmt]:
    """``import os, time`` as ``import os`` and ``import time``: one unit per imported name."""
    for stmt in stmts:
        if isinstance(stmt, ast.Import) and len(stmt.names) > 1:
            for alias in stmt.names:
                yield ast.copy_location(ast.Import(names=[alias]), stmt)
        elif isinstance(stmt, ast.ImportFrom) and len(stmt.names) > 1:
            for alias in stmt.names:
                yield ast.copy_location(ast.ImportFrom(module=stmt.module, names=[alias], level=stmt.level), stmt)
        else:
            yield stmt


def _walk_header(parts: list[ast.AST]) -> list[ast.AST]:
    nodes: list[ast.AST] = []
    for part in parts:
        nodes.extend(ast.walk(part))
    return nodes


def _target_names(target: ast.AST) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _bound_here(stmts: list[ast.stmt]) -> tuple[set[str], set[str], set[str]]:
    """Names a body binds (not inside nested scopes), and its global and nonlocal declarations."""
    bound, globals_, nonlocals = set(), set(), set()
    stack = list(stmts)
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES):
            bound.add(node.name)
            stack.extend(node.decorator_list)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Global):
            globals_.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            nonlocals.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    return bound, globals_, nonlocals


def _params(args: ast.arguments) -> list[str]:
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    names += [a.arg for a in args.kwonlyargs]
    return names


class _Builder:
    def __init__(self, source: str, tree: ast.Module):
        self.source = source
        self.units: list[Unit] = []
        self.scopes: dict[str, Scope] = {}
        self.defs: dict[str, Unit] = {}
        module = Scope("", "module", None, tree)
        module.locals, _, _ = _bound_here(tree.body)
        self.scopes[""] = module
        self.top = self.block(tree.body, module, (), None)

    def block(self, stmts: list[ast.stmt], scope: Scope, chain: tuple[str, ...], parent: Unit | None) -> list[Unit]:
        out = []
        for stmt in _split_imports(stmts):
            head, parts = _header(stmt)
            unit = Unit(stmt, scope, chain, ast.dump(head), _walk_header(parts), parent=parent)
            self.units.append(unit)
            out.append(unit)
            if isinstance(stmt, _SCOPES):
                qualname = f"{scope.qualname}.{stmt.name}" if scope.qualname else stmt.name
                kind = "class" if isinstance(stmt, ast.ClassDef) else "function"
                inner = Scope(qualname, kind, scope, stmt)
                inner.locals, inner.globals, inner.nonlocals = _bound_here(stmt.body)
                if kind == "function":
                    inner.params = _params(stmt.args)
                    extra = [a.arg for a in (stmt.args.vararg, stmt.args.kwarg) if a is not None]
                    inner.locals.update(inner.params, extra)
                self.scopes.setdefault(qualname, inner)
                self.defs.setdefault(qualname, unit)
                unit.defines = qualname
                unit.blocks = [self.block(stmt.body, inner, (), unit)]
            else:
                unit.blocks = [
                    self.block(body, scope, chain + ((label,) if label else ()), unit)
                    for label, body in _blocks(stmt)
                    if body
                ]
        return out


# -----------------------------------------------------------------------------
# Strings


def _folded(node: ast.AST) -> str | None:
    """The constant text of a string expression: f-string parts joined (a placeholder as
    ``{}``), ``+`` of strings joined; None when it is not a string expression."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        return node.value if isinstance(node.value, str) else node.value.decode("latin-1")
    if isinstance(node, ast.JoinedStr):
        return "".join(_folded(v) or "{}" for v in node.values)
    if isinstance(node, ast.FormattedValue):
        return "{}"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _folded(node.left), _folded(node.right)
        if left is not None or right is not None:
            return (left or "{}") + (right or "{}")
    return None


def string_touches(text: str) -> set[Touch]:
    found = set()
    if VAL_STRING.search(text):
        found.add(Touch.VALIDATION)
    if SEED_STRING.search(text):
        found.add(Touch.SEED)
    if STEP_STRING.search(text):
        found.add(Touch.STEP_LINE)
    return found


def name_touches(name: str) -> set[Touch]:
    found = set()
    if VAL_NAME.search(name):
        found.add(Touch.VALIDATION)
    if SEED_NAME.search(name) or name in SEED_CALLS:
        found.add(Touch.SEED)
    return found


# -----------------------------------------------------------------------------
# The analysis


class Analysis:
    """A parsed script, its units (every one in source order, and the module's own block), its
    functions and classes (qualname -> header unit), the variables and attributes that carry a
    category (``taint``) and the names bound to modules (``modules``)."""

    def __init__(self, source: str, seed: dict[Key, frozenset[Touch]] | None = None):
        self.first_start: Unit | None = None
        tree = ast.parse(source)
        built = _Builder(source, tree)
        self.source, self.units, self.top = source, built.units, built.top
        self.scopes, self.defs = built.scopes, built.defs
        self.seed = dict(seed or {})
        self.methods: dict[str, list[str]] = {}
        for qualname, unit in self.defs.items():
            if unit.scope.kind == "class":
                self.methods.setdefault(qualname.rsplit(".", 1)[1], []).append(qualname)
        self.modules = self._modules()
        self._atoms: dict[object, tuple[frozenset[Touch], tuple[Key, ...]]] = {}
        self.taint: dict[Key, frozenset[Touch]] = {}
        self._propagate()
        for unit in self.units:
            unit.touches = self.touches(unit)
        self._guards()
        self._clock()

    def text(self, unit: Unit, limit: int = 110) -> str:
        """The unit's source as one line (a compound statement: its first line)."""
        if unit.blocks or unit.defines:
            lines = self.source.splitlines()
            decorators = getattr(unit.stmt, "decorator_list", None)
            first = decorators[0].lineno if decorators else unit.line
            segment = lines[first - 1] if first - 1 < len(lines) else ""
        else:
            segment = ast.get_source_segment(self.source, unit.stmt) or ast.unparse(unit.stmt)
        one = " ".join(segment.split())
        return one if len(one) <= limit else one[: limit - 3] + "..."

    def sensitive(self) -> list[Unit]:
        return [u for u in self.units if u.touches]

    def counts(self) -> Counter:
        """How many units of each placed key (see :attr:`Unit.placed`)."""
        return Counter(u.placed for u in self.units)

    # --- names and modules -------------------------------------------------

    def _modules(self) -> dict[Key, set[str]]:
        """Names bound to modules: imports, then plain aliases of them (``clock = time``)."""
        found: dict[Key, set[str]] = {}
        for unit in self.units:
            stmt = unit.stmt
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        found.setdefault(unit.scope.key(alias.asname), set()).add(alias.name)
                    else:
                        head = alias.name.split(".")[0]
                        found.setdefault(unit.scope.key(head), set()).add(head)
            elif isinstance(stmt, ast.ImportFrom):
                base = "." * stmt.level + (stmt.module or "")
                for alias in stmt.names:
                    found.setdefault(unit.scope.key(alias.asname or alias.name), set()).add(f"{base}.{alias.name}")
        for _ in range(5):  # aliases of aliases
            changed = False
            for unit in self.units:
                stmt = unit.stmt
                if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    paths = self._paths(stmt.value, unit.scope, found)
                    for target in targets:
                        if isinstance(target, ast.Name) and paths:
                            known = found.setdefault(unit.scope.key(target.id), set())
                            if not paths <= known:
                                known |= paths
                                changed = True
            if not changed:
                break
        return found

    def _paths(self, node: ast.AST, scope: Scope, modules: dict[Key, set[str]] | None = None) -> set[str]:
        """The dotted module paths an expression names (``t.perf_counter`` -> time.perf_counter)."""
        modules = self.modules if modules is None else modules
        if isinstance(node, ast.Name):
            return set(modules.get(scope.key(node.id), ()))
        if isinstance(node, ast.Attribute):
            return {f"{p}.{node.attr}" for p in self._paths(node.value, scope, modules)}
        return set()

    def paths(self, node: ast.AST, scope: Scope) -> set[str]:
        return self._paths(node, scope)

    def _callees(self, call: ast.Call, scope: Scope) -> list[str]:
        """The script's functions a call may run: a name's def, a method by its name, a class's
        ``__init__``."""
        func = call.func
        found: list[str] = []
        if isinstance(func, ast.Name):
            key = scope.key(func.id)
            qualname = key[1] if key[0] == "" else f"{key[0]}.{key[1]}"
            if qualname in self.defs:
                found.append(qualname)
        elif isinstance(func, ast.Attribute) and not _dunder(func.attr):
            found.extend(self.methods.get(func.attr, ()))
        out = []
        for qualname in found:
            if self.scopes[qualname].kind == "class":
                init = f"{qualname}.__init__"
                out.append(qualname)
                if init in self.defs:
                    out.append(init)
            else:
                out.append(qualname)
        return out

    # --- categories --------------------------------------------------------

    def _name_cats(self, scope: Scope, name: str) -> set[Touch]:
        key = scope.key(name)
        cats = set(self.taint.get(key, ())) | set(self.seed.get(key, ())) | name_touches(name)
        for path in self.modules.get(key, ()):
            cats |= self._path_cats(path)
        return cats

    def _attr_cats(self, attr: str) -> set[Touch]:
        key = (".", attr)
        return set(self.taint.get(key, ())) | set(self.seed.get(key, ())) | name_touches(attr)

    @staticmethod
    def _path_cats(path: str) -> set[Touch]:
        parts = path.lstrip(".").split(".")
        cats = set()
        if parts[0] in TIMER_MODULES:
            cats.add(Touch.TIMER)
        if parts[-1] in SEED_CALLS:
            cats.add(Touch.SEED)
        return cats

    def expr_cats(self, node: ast.AST | None, scope: Scope) -> set[Touch]:
        if node is None:
            return set()
        atoms = self._atoms.get(id(node))
        if atoms is None:
            atoms = self._atoms[id(node)] = self._atomise(list(ast.walk(node)), scope)
        return self._evaluate(atoms)

    def _nodes_cats(self, nodes: list[ast.AST], scope: Scope, cache_key: object = None) -> set[Touch]:
        atoms = self._atoms.get(cache_key) if cache_key is not None else None
        if atoms is None:
            atoms = self._atomise(nodes, scope)
            if cache_key is not None:
                self._atoms[cache_key] = atoms
        return self._evaluate(atoms)

    def _evaluate(self, atoms: tuple[frozenset[Touch], tuple[Key, ...]]) -> set[Touch]:
        static, keys = atoms
        cats = set(static)
        for key in keys:
            cats.update(self.taint.get(key, ()))
            cats.update(self.seed.get(key, ()))
        return cats

    def _atomise(self, nodes: list[ast.AST], scope: Scope) -> tuple[frozenset[Touch], tuple[Key, ...]]:
        """What an expression's categories depend on: those fixed by its text (roots), and the
        variables and attributes whose taint it reads (looked up on every evaluation)."""
        inner = _inner_names(nodes)  # a comprehension's or lambda's own variables
        static: set[Touch] = set()
        keys: list[Key] = []

        def name(scope: Scope, bare: str) -> None:
            key = scope.key(bare)
            keys.append(key)
            static.update(name_touches(bare))
            for path in self.modules.get(key, ()):
                static.update(self._path_cats(path))

        for node in nodes:
            if isinstance(node, ast.Name):
                if node.id not in inner:
                    name(scope, node.id)
            elif isinstance(node, ast.Attribute):
                keys.append((".", node.attr))
                static.update(name_touches(node.attr))
                for path in self.paths(node, scope):
                    static.update(self._path_cats(path))
            elif isinstance(node, (ast.Constant, ast.JoinedStr, ast.BinOp)):
                text = _folded(node)
                if text:
                    static.update(string_touches(text))
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                for bare in node.names:
                    name(scope, bare)
            elif isinstance(node, ast.alias):
                name(scope, (node.asname or node.name).split(".")[0])
                static.update(self._path_cats(node.name))
        return frozenset(static), tuple(dict.fromkeys(keys))

    def touches(self, unit: Unit) -> set[Touch]:
        if _is_docstring(unit.stmt):
            return set()  # a bare string does nothing
        cats = self._nodes_cats(unit.nodes, unit.scope, cache_key=("unit", id(unit)))
        if _is_report(unit.stmt):
            cats &= {Touch.STEP_LINE}  # printing what the loader holds measures nothing
        if unit.defines:
            inner = self.scopes[unit.defines]
            for param in inner.params:
                cats |= self._name_cats(inner, param)
            cats |= set(self.taint.get(self._def_key(unit), ()))
        if isinstance(unit.stmt, ast.ImportFrom):
            cats |= self._path_cats(unit.stmt.module or "")
        return {c for c in cats if c in MEASURES}

    def _in_class(self, scope: Scope) -> bool:
        while scope is not None:
            if scope.kind == "class":
                return True
            scope = scope.parent
        return False

    def _def_key(self, unit: Unit) -> Key:
        return unit.scope.key(unit.stmt.name)

    # --- propagation -------------------------------------------------------

    def _propagate(self) -> None:
        for _ in range(30):
            plain: dict[Key, list[set[Touch]]] = {}
            extra: dict[Key, set[Touch]] = {}
            for unit in self.units:
                self._flows(unit, plain, extra)
            taint: dict[Key, frozenset[Touch]] = {}
            for key in set(plain) | set(extra):
                if key[1] == "_":
                    continue  # the throwaway name carries nothing
                cats = set(extra.get(key, ()))
                if key in plain:
                    cats |= set.intersection(*plain[key])
                if cats:
                    taint[key] = frozenset(cats)
            if taint == self.taint:
                return
            self.taint = taint

    def _flows(self, unit: Unit, plain: dict, extra: dict) -> None:
        stmt, scope = unit.stmt, unit.scope

        in_class = self._in_class(scope)

        def store(target: ast.AST, cats: set[Touch], weak: bool) -> None:
            if in_class:
                # Inside a class (the model, an optimizer, a loader) validation settings are the
                # class's configuration: they do not spread through it (what runs during
                # validation is held as untimed code instead).
                cats = cats - {Touch.VALIDATION}
            if isinstance(target, ast.Name):
                key = scope.key(target.id)
                if scope.kind == "class":
                    extra.setdefault((".", target.id), set()).update(cats)
                if weak:
                    extra.setdefault(key, set()).update(cats)
                else:
                    plain.setdefault(key, []).append(set(cats))
            elif isinstance(target, (ast.Tuple, ast.List)):
                for element in target.elts:
                    store(element, cats, weak)
            elif isinstance(target, ast.Starred):
                store(target.value, cats, weak)
            elif isinstance(target, ast.Attribute):
                extra.setdefault((".", target.attr), set()).update(cats)
            elif isinstance(target, ast.Subscript):
                store(target.value, cats, True)

        if isinstance(stmt, ast.Assign):
            cats = self.expr_cats(stmt.value, scope)
            for target in stmt.targets:
                store(target, cats, False)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            store(stmt.target, self.expr_cats(stmt.value, scope), False)
        elif isinstance(stmt, ast.AugAssign):
            store(stmt.target, self.expr_cats(stmt.value, scope), True)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            store(stmt.target, self.expr_cats(stmt.iter, scope), False)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if item.optional_vars is not None:
                    store(item.optional_vars, self.expr_cats(item.context_expr, scope), False)
        elif isinstance(stmt, _SCOPES):
            # A function carries what its body touches; a class what constructing it runs (its
            # fields and methods carry their own, as attributes).
            runs = unit
            if isinstance(stmt, ast.ClassDef):
                runs = self.defs.get(f"{unit.defines}.__init__")
            body = set().union(*(self.touches(u) for u in runs.descendants())) if runs is not None else set()
            if in_class or isinstance(stmt, ast.ClassDef):
                body.discard(Touch.VALIDATION)
            plain.setdefault(self._def_key(unit), []).append(body)
            if scope.kind == "class" and not _dunder(stmt.name):
                extra.setdefault((".", stmt.name), set()).update(body)
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            owner = call.func.value if isinstance(call.func, ast.Attribute) else None
            mutates = isinstance(call.func, ast.Attribute) and call.func.attr in MUTATORS
            if mutates and isinstance(owner, (ast.Name, ast.Attribute)) and not self.paths(owner, scope):
                cats = set().union(*(self.expr_cats(a, scope) for a in [*call.args, *call.keywords]))
                if cats:  # a mutating call: timings.append(t1 - t0) (not a module's function)
                    store(owner, cats, True)
        for node in unit.nodes:
            if isinstance(node, ast.NamedExpr):
                store(node.target, self.expr_cats(node.value, scope), False)
            elif isinstance(node, ast.Call):
                self._call_flows(node, scope, plain)

    def _call_flows(self, call: ast.Call, scope: Scope, plain: dict) -> None:
        """Arguments to parameters: a parameter keeps what every call site passes it."""
        for qualname in self._callees(call, scope):
            inner = self.scopes[qualname]
            if inner.kind != "function":
                continue
            params = list(inner.params)
            if inner.parent is not None and inner.parent.kind == "class" and params:
                params = params[1:]  # self
            for index, param in enumerate(params):
                if index < len(call.args) and not isinstance(call.args[index], ast.Starred):
                    cats = self.expr_cats(call.args[index], scope)
                else:
                    value = next((k.value for k in call.keywords if k.arg == param), None)
                    cats = self.expr_cats(value, scope)
                # Validation settings reach the model's constructor (max_seq_len=max(train_seq_len,
                # val_seq_len)): the model is the candidate's to change, so they stop here.
                plain.setdefault((qualname, param), []).append(cats - {Touch.VALIDATION})

    # --- guards and the clock ---------------------------------------------

    def _guards(self) -> None:
        def visit(unit: Unit) -> None:
            for child in (u for block in unit.blocks for u in block):
                visit(child)
            if isinstance(unit.stmt, (ast.If, ast.While)):
                for child in (u for block in unit.blocks for u in block):
                    unit.touches |= child.touches & MEASURES

        for unit in self.top:
            visit(unit)
        for unit in self.units:  # a bare synchronize next to a timer statement times the GPU's work
            if not unit.touches and is_sync(unit.stmt):
                siblings = self._siblings(unit)
                index = siblings.index(unit)
                near = siblings[max(index - 1, 0) : index + 2]
                if any(Touch.TIMER in u.touches for u in near if u is not unit):
                    unit.touches.add(Touch.TIMER)
                    unit.sync = True

    def _siblings(self, unit: Unit) -> list[Unit]:
        if unit.parent is None:
            return self.top
        return next(block for block in unit.parent.blocks if unit in block)

    def _clock(self) -> None:
        timer_keys = {k for k, v in self.taint.items() if Touch.TIMER in v}
        for unit in self.units:
            if Touch.TIMER not in unit.touches:
                continue
            unit.direct_clock = any(  # calls the time module: time.perf_counter(), pc()
                Touch.TIMER in self._path_cats(p)
                for node in unit.nodes
                if isinstance(node, ast.Call)
                for p in self.paths(node.func, unit.scope)
            )
            if unit.direct_clock:
                unit.stop, unit.start = self._stop_or_start(unit, timer_keys)
        kinds = self._function_kinds()
        for unit in self.units:
            if unit.stop or unit.start or unit.defines:
                continue
            called = {
                kinds.get(q)
                for node in unit.nodes
                if isinstance(node, ast.Call)
                for q in self._callees(node, unit.scope)
            }
            if "stop" in called:
                unit.stop = True
            elif "start" in called:
                unit.start = True
        self._untimed()
        self._pre_clock()

    def _stop_or_start(self, unit: Unit, timer_keys: set[Key]) -> tuple[bool, bool]:
        stmt, scope = unit.stmt, unit.scope

        def key_of(node: ast.AST) -> Key | None:
            if isinstance(node, ast.Name):
                return scope.key(node.id)
            if isinstance(node, ast.Attribute):
                return (".", node.attr)
            return None

        if isinstance(stmt, ast.AugAssign):
            return key_of(stmt.target) in timer_keys or Touch.TIMER in self.expr_cats(stmt.target, scope), False
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            stored = {key_of(t) for t in targets} - {None}
            loaded = {
                key_of(n)
                for n in ast.walk(stmt.value)
                if isinstance(n, (ast.Name, ast.Attribute)) and not self.paths(n, scope)
            } - {None}
            loaded_timer = {k for k in loaded if k in timer_keys}
            if stored & loaded:
                return True, False
            return False, not loaded_timer
        return False, False

    def _function_kinds(self) -> dict[str, str]:
        """What calling a function leaves the clock doing: 'stop' or 'start', from the last
        stop or start its body runs (a class: its ``__init__``)."""
        kinds: dict[str, str] = {}
        for _ in range(5):
            for qualname, header in self.defs.items():
                if self.scopes[qualname].kind == "class":
                    init = self.defs.get(f"{qualname}.__init__")
                    header = init if init is not None else header
                    if init is None:
                        continue
                last = None
                for unit in header.descendants():
                    if unit.stop or unit.start:
                        last = "stop" if unit.stop else "start"
                    for node in unit.nodes:
                        if isinstance(node, ast.Call):
                            for q in self._callees(node, unit.scope):
                                last = kinds.get(q, last)
                if last:
                    kinds[qualname] = last
        return kinds

    def _untimed(self) -> None:
        """Between a stop and the next start of a block, and whatever that code calls."""
        marked: list[Unit] = []
        for block in [self.top] + [b for u in self.units for b in u.blocks]:
            paused = False
            for unit in block:
                if paused and unit.start:
                    paused = False
                elif paused:
                    marked.append(unit)
                    marked.extend(unit.descendants())
                if unit.stop:
                    paused = True
        seen_defs: set[str] = set()
        while marked:
            unit = marked.pop()
            unit.touches.add(Touch.UNTIMED)
            for node in unit.nodes:
                if isinstance(node, ast.Call):
                    for qualname in self._callees(node, unit.scope):
                        if qualname not in seen_defs and self.scopes[qualname].kind == "function":
                            seen_defs.add(qualname)
                            marked.extend(self.defs[qualname].descendants())
                            # its signature and decorators, and the class it belongs to (its bases
                            # decide what runs): the header units of every enclosing definition
                            header: Unit | None = self.defs[qualname]
                            while header is not None:
                                if header.defines:
                                    header.touches.add(Touch.UNTIMED)
                                header = header.parent

    def _pre_clock(self) -> None:
        """Training work executed before the first start of the clock."""
        work = self._work_functions()
        visited_defs: set[str] = set()
        order: list[Unit] = []

        def walk(block: list[Unit]) -> bool:
            for unit in block:
                if unit.defines:
                    continue
                for node in unit.nodes:  # main(): what it runs comes first
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                        for qualname in self._callees(node, unit.scope):
                            if qualname not in visited_defs and self.scopes[qualname].kind == "function":
                                visited_defs.add(qualname)
                                if walk(self.defs[qualname].blocks[0] if self.defs[qualname].blocks else []):
                                    return True
                if unit.start:
                    self.first_start = unit
                    return True
                order.append(unit)
                for inner in unit.blocks:
                    if walk(inner):
                        return True
            return False

        if not walk(self.top):
            return  # no clock start: nothing is "before" it
        snapshots, resets = self._warmup_bounds(order)
        if snapshots and resets and snapshots[0] < resets[-1]:
            # The speedrun's untimed warm-up: the state is saved, trained on (compiling the
            # kernels), and restored before the clock starts. What is trained in between is
            # undone, so it is free; the saving and the restoring are held, and work outside
            # them is not free.
            for index in snapshots + resets:
                order[index].touches.add(Touch.PRE_CLOCK)
            free = range(snapshots[0] + 1, resets[-1])
        else:
            free = range(0)
        for index, unit in enumerate(order):
            if index not in free and self._does_work(unit, work):
                unit.touches.add(Touch.PRE_CLOCK)

    def _warmup_bounds(self, order: list[Unit]) -> tuple[list[int], list[int]]:
        """Where, before the clock, the state is saved (an assignment from ``state_dict()``) and
        restored (``load_state_dict``, or a statement reading the saved state)."""
        saved: set[Key] = set()
        snapshots, resets = [], []
        for index, unit in enumerate(order):
            calls = {n.func.attr for n in unit.nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
            inner = _inner_names(unit.nodes)
            names = [n for n in unit.nodes if isinstance(n, ast.Name) and n.id not in inner]
            loads = {unit.scope.key(n.id) for n in names if isinstance(n.ctx, ast.Load)}
            stores = {unit.scope.key(n.id) for n in names if isinstance(n.ctx, ast.Store)}
            if "state_dict" in calls and stores and not loads & saved:
                snapshots.append(index)
                saved |= stores
            elif "load_state_dict" in calls or loads & saved:
                resets.append(index)
                saved |= stores  # for opt, opt_state in zip(optimizers, initial_state["optimizers"])
        return snapshots, resets

    def _does_work(self, unit: Unit, work: set[str]) -> bool:
        for node in unit.nodes:
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in WORK_CALLS:
                    return True
                callees = self._callees(node, unit.scope)
                if isinstance(node.func, ast.Attribute) and len(callees) > 1:
                    continue  # a method name several classes define (reset): which one is not known
                if any(q in work for q in callees):
                    return True
        return False

    def _work_functions(self) -> set[str]:
        work: set[str] = set()
        for _ in range(10):
            grown = {
                q
                for q, header in self.defs.items()
                if self.scopes[q].kind == "function" and any(self._does_work(u, work) for u in header.descendants())
            }
            if grown <= work:
                break
            work |= grown
        return work


def _inner_names(nodes: list[ast.AST]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.comprehension):
            names.update(_target_names(node.target))
        elif isinstance(node, ast.Lambda):
            names.update(a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs))
    return names


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


_REPORTS = frozenset({"print", "write", "info", "warning", "debug", "log"})
_PURE = frozenset(
    {"len", "str", "repr", "int", "float", "round", "sum", "max", "min", "abs", "format", "type", "sorted"}
)


def _is_report(stmt: ast.stmt) -> bool:
    """A bare ``print(...)``/``print0(...)``/``f.write(...)`` whose arguments only read (no call
    but ``len``, ``str`` and the like)."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    func = stmt.value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if not (name in _REPORTS or name.startswith("print")):
        return False
    for node in ast.walk(ast.Module(body=[*stmt.value.args, *[k.value for k in stmt.value.keywords]], type_ignores=[])):
        if isinstance(node, ast.NamedExpr | ast.Yield | ast.YieldFrom | ast.Await | ast.Lambda):
            return False
        if isinstance(node, ast.Call):
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if callee not in _PURE:
                return False
    return True


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def is_sync(stmt: ast.stmt) -> bool:
    """A bare ``torch.cuda.synchronize()``."""
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Attribute)
        and stmt.value.func.attr in SYNC_CALLS
    )


def analyse(source: str, seed: dict[Key, frozenset[Touch]] | None = None) -> Analysis:
    """The units of ``source`` and what each touches. ``seed``: variables and attributes to treat
    as touching their categories whatever this script assigns them (a candidate is analysed with
    its record's, so renaming or re-assigning them does not hide them). Raises SyntaxError."""
    return Analysis(source, seed)
