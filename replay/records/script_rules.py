"""The rules a candidate script must keep where the script itself reports its score.

On a track whose records cannot follow the harness-measured protocol (the real speedrun's
scripts as written: they time themselves, validate themselves and print their own step
lines), the score is what the script prints. A candidate — an agent's node, a branch to
replay, anything submitted by hand — is then held to record *i*'s script: it must measure
exactly as record *i* does. The same functions decide on every path, so they live here, in
the records layer, below both the replayer and the agent.

**Protected definitions** (:func:`protected_violations`): every definition of each name that
``record.toml``'s ``protected.names`` lists must stay byte-identical, and none may be added.

**The whole script** (:func:`whole_script_violations`): every statement of record *i*, at any
depth (module level, ``main()``, loops, nested functions), that touches

* the timer — ``time``/``datetime``/``timeit`` however imported, whatever their values flow
  into (``t0``, ``training_time_ms``, ``self.elapsed_ms``, ``clock``), a bare
  ``torch.cuda.synchronize()`` next to them;
* the validation data and its size — ``val_tokens``, the validation files, the loader built
  from them, ``val_steps``, the validation loss;
* the step lines — the strings that print ``step:``/``val_loss``/``train_time``;
* the seed — ``manual_seed``, ``seed``, ``SPEEDRUN_SEED``;
* code that runs while the clock is stopped (after a stop, before the next start, and every
  function it calls — validation, and anything else that would be free there);
* training work before the clock first starts (``backward``, ``step``, ``load_state_dict``) —
  except the speedrun's untimed warm-up between saving the state and restoring it, where the
  saving and restoring are held instead;

must be in the candidate unchanged (same syntax tree, so formatting and comments are free;
same function, same enclosing ``for``/``if`` blocks, and still inside or outside the stopped
clock and the time before it), in the same order, and the candidate may add no statement
touching them. "Touches" follows names through assignments, calls and
aliases (:mod:`replay.records.script_analysis`), so ``import time as t``, ``from time import
perf_counter as pc`` or ``clock = time`` reach the same roots. Adding a
``torch.cuda.synchronize()`` is allowed (it only makes the timer wait for the GPU); removing
one next to the timer is not.

**Indirect access**: anything in the candidate that could reach those from afar is refused
unless record *i* has the same statement — ``globals()``/``vars()``/``locals()``,
``setattr``/``delattr``, ``exec``/``eval``/``compile``/``__import__``, ``importlib``,
``sys.modules``, ``builtins``/``__builtins__``, ``gc.get_objects``, ``ctypes``, ``inspect`` and
frame attributes (``f_globals``, ``f_back``, ...), rebinding a builtin such as ``print``,
assigning an attribute of an imported module (``time.perf_counter = ...``,
``torch.manual_seed = ...``; compiler settings under ``*.config``/``torch.backends`` are
allowed) or of one of the script's own classes or functions from outside it
(``DataLoader.next_batch = ...``), writing ``os.environ`` entries the harness sets (``NANOGPT_*``, ``SPEEDRUN_*``) or
entries named at run time, starting threads or processes.

What these rules cannot see, the harness's per-step observation of time
(:mod:`replay.score.step_timing`) partly covers: a step line built from characters at run time
(``chr``), a loss that the model's own ``forward`` computes differently when not training, a
data loader whose code is shared with training and changed where validation does not call it.
A report of a run held to these rules says so ("checked script", not "harness-measured").
:func:`whole_record_violations` applies the same to every Python file of a record and refuses
files that would replace an installed module or run at start-up.

**Measured** with ``python bench/script_rules.py`` (record *i+1* as the candidate against
record *i*, every consecutive pair of a track; 2026-11-28):

* the real track, all 87 records of the 2026-11 snapshot imported (``--records <repo> --track
  nanogpt``, 86 pairs): **45 flagged**, 41 clean. Pairs by reason (a pair counts under each of
  its reasons): validation statements 37 (the validation loop, loader and ``val_steps``
  rewritten — the model's call gaining inputs, batch sizes in tokens, renamed files, the
  model's constructor reading ``val_seq_len``), the validation block's own code 31, functions
  validation runs while the clock is stopped 29 (the data loader or generator, its classes and
  helpers, ``print0``, the schedule's forward arguments; 5 pairs are flagged for this alone),
  timer 6 (records 3, 4, 12, 15, 17, 22: ``time.time`` to ``perf_counter``, the step-10 reset,
  the checkpoint block that paused the clock commented out, the warm-up), the warm-up's saving
  and restoring 6, step-line format 5 (``train_loss`` dropped, ``print`` to ``print0``),
  indirect access 2 (data-loader threads), seed 1 (record 3's ``seed_offset``). Every flag
  names a statement that measures the run and that the record changed; none is a cheat, but
  none is a change the harness could have verified either, which is the point: on this track
  a candidate that makes such a change is reported, not trusted.
* the mini track as it measured itself before the harness did (``--ref refs/pre-harness/mini``):
  1 of 20 — record 21 builds its validation loader from ``val_batch_size`` instead of the
  training batch (the same 65,536 tokens: a flag a reviewer clears).
* the mini track now (harness-measured: the script has no validation): 0 of 20.
"""

from __future__ import annotations

import ast
import difflib
import functools
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath

from replay.records.definitions import definitions
from replay.records.script_analysis import Analysis, Touch, Unit, analyse, is_sync

# -----------------------------------------------------------------------------
# Protected definitions (record.toml's protected.names)


def protected_definitions(source: str, names: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
    """Qualified name -> the source text of each statement that defines it, in order."""
    found: dict[str, list[str]] = {name: [] for name in names}
    lines = source.splitlines(keepends=True)
    for definition in definitions(source, imports=True):
        if definition.qualname in found:
            found[definition.qualname].append("".join(lines[definition.first_line - 1 : definition.last_line]))
    return found


def protected_violations(original: str, candidate: str, names: tuple[str, ...] | list[str]) -> list[str]:
    """Why ``candidate`` breaks the protected definitions of ``original`` (empty: it does not).

    ``candidate`` must parse (check syntax first)."""
    before = protected_definitions(original, names)
    after = protected_definitions(candidate, names)
    problems = []
    for name in names:
        if before[name] == after[name]:
            continue
        if not after[name]:
            problems.append(f"protected definition `{name}` was removed")
        elif len(after[name]) > len(before[name]):
            problems.append(f"protected name `{name}` was defined again")
        else:
            problems.append(f"protected definition `{name}` was changed")
    return problems


def syntax_error(source: str) -> str | None:
    """The syntax error of a script, as one line (None if it parses)."""
    try:
        ast.parse(source)
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    return None


# -----------------------------------------------------------------------------
# The whole script

_LABELS = {
    Touch.TIMER: "timer",
    Touch.VALIDATION: "validation",
    Touch.STEP_LINE: "step line",
    Touch.SEED: "seed",
    Touch.UNTIMED: "untimed code",
    Touch.PRE_CLOCK: "training before the clock",
}
_ORDER = list(_LABELS)


def _label(touches: set[Touch]) -> str:
    return "/".join(_LABELS[t] for t in _ORDER if t in touches)


def summary(violations: list[str], limit: int = 10) -> list[str]:
    """At most ``limit`` lines for a report or a prompt: the first violations, then one line
    counting the rest by reason (a rewritten validation loop yields dozens)."""
    if len(violations) <= limit:
        return list(violations)
    rest = Counter(line.split(": ", 1)[0] for line in violations[limit - 1 :])
    reasons = ", ".join(f"{reason} {count}" for reason, count in rest.most_common())
    return [*violations[: limit - 1], f"... and {len(violations) - limit + 1} more ({reasons})"]


def _where(unit: Unit) -> str:
    return f" (in `{unit.scope.qualname}`)" if unit.scope.qualname else ""


def whole_script_violations(original: str, candidate: str) -> list[str]:
    """Why ``candidate`` does not measure exactly as ``original`` does, one line per statement
    (empty: it does). Raises ValueError if ``original`` does not parse; a candidate that does
    not parse gets its syntax error."""
    try:
        before = _record_analysis(original)
    except SyntaxError as exc:
        raise ValueError(f"the record's script does not parse: {exc.msg} (line {exc.lineno})") from exc
    if candidate == original:
        return []
    problem = syntax_error(candidate)
    if problem:
        return [problem]
    after = analyse(candidate, seed=before.taint)
    return _compare(before, after) + indirect_violations(before, after)


@functools.lru_cache(maxsize=4)
def _record_analysis(source: str) -> Analysis:
    """A record's analysis, kept: a replay or an agent run checks many candidates against one."""
    return analyse(source)


def _compare(before: Analysis, after: Analysis) -> list[str]:
    """Statements of the record missing from the candidate and new ones, by count of each
    placed key; which of several equal statements is reported follows an alignment of the two
    scripts, so the line named is the one that changed."""
    matched_before, matched_after = _alignment(before, after)
    problems = []
    deficit = Counter(u.placed for u in before.sensitive())
    deficit.subtract(after.counts())
    for unit in _unmatched_first(before.sensitive(), matched_before):
        if deficit[unit.placed] > 0:
            deficit[unit.placed] -= 1
            where = f"record line {unit.line}{_where(unit)}"
            problems.append((unit.line, f"{_label(unit.touches)}: {where} `{before.text(unit)}` is changed or missing"))
    surplus = Counter(u.placed for u in after.sensitive())
    surplus.subtract(before.counts())
    new = []
    for unit in _unmatched_first(after.sensitive(), matched_after):
        if surplus[unit.placed] > 0:
            surplus[unit.placed] -= 1
            if is_sync(unit.stmt):
                continue  # waiting for the GPU can only make the timer honest
            where = f"candidate line {unit.line}{_where(unit)}"
            new.append((unit.line, f"{_label(unit.touches)}: {where} `{after.text(unit)}` is new"))
    found = [line for _, line in sorted(problems)] + [line for _, line in sorted(new)]
    return found or _order_violations(before, after)


def _alignment(before: Analysis, after: Analysis) -> tuple[set[int], set[int]]:
    """The units (by id) that an alignment of the two scripts' statement sequences pairs up."""
    old, new = [u.placed for u in before.units], [u.placed for u in after.units]
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    matched_before, matched_after = set(), set()
    for block in matcher.get_matching_blocks():
        matched_before.update(id(u) for u in before.units[block.a : block.a + block.size])
        matched_after.update(id(u) for u in after.units[block.b : block.b + block.size])
    return matched_before, matched_after


def _unmatched_first(units: list[Unit], matched: set[int]) -> list[Unit]:
    return [u for u in units if id(u) not in matched] + [u for u in units if id(u) in matched]


def _order_violations(before: Analysis, after: Analysis) -> list[str]:
    """Same statements, other order (within each function)."""
    keys = {u.placed for u in before.sensitive() if not is_sync(u.stmt)}

    def sequences(analysis: Analysis) -> dict[str, list]:
        found: dict[str, list] = {}
        for unit in analysis.sensitive():
            if unit.placed in keys:
                found.setdefault(unit.scope.qualname, []).append(unit.placed)
        return found

    old, new = sequences(before), sequences(after)
    problems = []
    for scope, sequence in old.items():
        if new.get(scope) != sequence:
            where = f"`{scope}`" if scope else "module level"
            problems.append(f"order: the statements that measure the run are reordered at {where}")
    return problems


# -----------------------------------------------------------------------------
# Indirect access

_DYNAMIC = {
    "globals": "`globals()`",
    "vars": "`vars()`",
    "locals": "`locals()`",
    "setattr": "`setattr`",
    "delattr": "`delattr`",
    "exec": "`exec`",
    "eval": "`eval`",
    "compile": "`compile` (the builtin)",
    "__import__": "`__import__`",
    "breakpoint": "`breakpoint`",
}
_FORBIDDEN_MODULES = {
    "importlib": "importlib",
    "ctypes": "ctypes",
    "cffi": "cffi",
    "inspect": "inspect",
    "builtins": "the builtins module",
    "__builtin__": "the builtins module",
    "gc.get_objects": "gc.get_objects",
    "gc.get_referrers": "gc.get_referrers",
    "gc.get_referents": "gc.get_referents",
    "sys.modules": "sys.modules",
    "sys._getframe": "sys._getframe",
    "sys.settrace": "sys.settrace",
    "sys.setprofile": "sys.setprofile",
    "sys.meta_path": "sys.meta_path",
    "sys.path_hooks": "sys.path_hooks",
    "threading.settrace": "threading.settrace",
    "threading": "a thread",
    "_thread": "a thread",
    "multiprocessing": "a process",
    "torch.multiprocessing": "a process",
    "concurrent.futures": "a thread or process pool",
    "subprocess": "a process",
    "os.system": "a process",
    "os.popen": "a process",
    "os.fork": "a process",
    "os.forkpty": "a process",
    "os.posix_spawn": "a process",
    "os.posix_spawnp": "a process",
    "pty": "a process",
    "signal": "signals",
}
_FORBIDDEN_PREFIXES = ("os.exec", "os.spawn")
_FRAME_ATTRS = frozenset(
    {
        "f_globals",
        "f_locals",
        "f_back",
        "f_builtins",
        "f_code",
        "tb_frame",
        "gi_frame",
        "cr_frame",
        "ag_frame",
        "__globals__",
        "__code__",
        "__closure__",
        "__dict__",
        "__builtins__",
        "__subclasses__",
    }
)
_REBOUND_ATTRS = frozenset({"__class__", "__bases__", "__defaults__", "__kwdefaults__"})
_SHADOWED_BUILTINS = frozenset(
    {
        "print",
        "open",
        "globals",
        "vars",
        "locals",
        "setattr",
        "getattr",
        "delattr",
        "hasattr",
        "exec",
        "eval",
        "compile",
        "__import__",
        "__build_class__",
        "float",
        "int",
        "round",
        "max",
        "min",
        "sum",
        "len",
        "range",
        "str",
        "repr",
        "format",
        "isinstance",
        "super",
        "object",
        "type",
        "abs",
        "iter",
        "next",
        "enumerate",
        "zip",
        "bool",
    }
)
_HARNESS_ENV = re.compile(r"^(NANOGPT_|SPEEDRUN_)")
_ENV_CALLS = {"update", "clear", "popitem", "setdefault", "pop", "__setitem__", "__delitem__"}


def _settings(path: str) -> bool:
    """A compiler or library setting that scripts assign freely (``torch._inductor.config.x``)."""
    parts = path.lstrip(".").split(".")
    return (
        "config" in parts or parts[0] == "torch" and len(parts) > 1 and parts[1] in ("backends", "_inductor", "_dynamo")
    )


def _forbidden(path: str) -> str | None:
    path = path.lstrip(".")
    for prefix, what in _FORBIDDEN_MODULES.items():
        if path == prefix or path.startswith(prefix + "."):
            return what
    if path.startswith(_FORBIDDEN_PREFIXES):
        return "a process"
    return None


_USE_ONLY = frozenset({"a thread", "a process", "a thread or process pool", "signals"})  # importing is harmless


def _nvidia_smi(call: ast.Call) -> bool:
    """``subprocess.run(['nvidia-smi'], ...)``: the speedrun's logs record the GPUs this way."""
    first = call.args[0] if call.args else None
    return (
        isinstance(first, (ast.List, ast.Tuple))
        and bool(first.elts)
        and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in first.elts)
        and first.elts[0].value == "nvidia-smi"
    )


def _names_a_class(analysis: Analysis, unit: Unit, node: ast.AST) -> bool:
    """``node`` names a class or function the script defines (``DataLoader``, not ``self``)."""
    if isinstance(node, ast.Name):
        scope_name, bare = unit.scope.key(node.id)
        qualname = f"{scope_name}.{bare}" if scope_name else bare
        return qualname in analysis.defs
    return False


def _builtin(analysis: Analysis, unit: Unit, name: str) -> bool:
    """``name`` in this unit is the builtin, not something the script binds."""
    scope_name, bare = unit.scope.key(name)
    return bare not in analysis.scopes[scope_name].locals if scope_name in analysis.scopes else True


def _env_key_reason(key: ast.AST | None) -> str | None:
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return f"writes the harness's environment variable {key.value}" if _HARNESS_ENV.match(key.value) else None
    return "writes an environment variable named at run time"


def indirect_reasons(analysis: Analysis, unit: Unit) -> Iterator[str]:
    """Why a unit could reach the timer, the data or the output indirectly."""
    scope = unit.scope
    skip: set[int] = set()
    used: set[str] = set()
    for node in unit.nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in _DYNAMIC and _builtin(analysis, unit, node.func.id):
                yield f"calls {_DYNAMIC[node.func.id]}"
        if isinstance(node, ast.Name) and node.id == "__builtins__":
            yield "uses __builtins__"
        if isinstance(node, ast.Attribute) and node.attr in _FRAME_ATTRS:
            # Reading an ordinary object's __dict__ (args.__dict__ into a log) is harmless; a
            # module's, a class's or a measuring object's is a way to patch it.
            harmless = node.attr == "__dict__" and not (
                analysis.paths(node.value, scope)
                or analysis.expr_cats(node.value, scope)
                or _names_a_class(analysis, unit, node.value)
            )
            if not harmless:
                yield f"uses `.{node.attr}`"
        if isinstance(node, ast.Call) and _nvidia_smi(node):
            skip.update(id(n) for n in ast.walk(node))
        if isinstance(node, (ast.Name, ast.Attribute)) and id(node) not in skip:
            for path in analysis.paths(node, scope):
                what = _forbidden(path)
                if what and what not in used:
                    used.add(what)
                    yield f"uses {what} (`{path}`)"
        if isinstance(node, ast.alias):
            imported = node.name
            if isinstance(unit.stmt, ast.ImportFrom):
                imported = f"{unit.stmt.module or ''}.{node.name}"
            what = _forbidden(imported)
            if what and what not in _USE_ONLY:
                yield f"imports {what} (`{imported}`)"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            for path in analysis.paths(node.func, scope):
                head, _, call = path.rpartition(".")
                if head == "os.environ" and call in _ENV_CALLS:
                    if call in ("setdefault", "pop", "__setitem__", "__delitem__"):
                        reason = _env_key_reason(node.args[0] if node.args else None)
                        if reason:
                            yield reason
                    else:
                        yield f"calls os.environ.{call}"
                elif path in ("os.putenv", "os.unsetenv"):
                    reason = _env_key_reason(node.args[0] if node.args else None)
                    if reason:
                        yield reason
    yield from _store_reasons(analysis, unit)


def _store_reasons(analysis: Analysis, unit: Unit) -> Iterator[str]:
    stmt, scope = unit.stmt, unit.scope
    targets: list[ast.AST] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, ast.Delete):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        targets = [i.optional_vars for i in stmt.items if i.optional_vars is not None]
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        if stmt.name in _SHADOWED_BUILTINS:
            yield f"rebinds the builtin `{stmt.name}`"
    elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for alias in stmt.names:
            bound = (alias.asname or alias.name).split(".")[0]
            if bound in _SHADOWED_BUILTINS:
                yield f"rebinds the builtin `{bound}`"
    stack = list(targets)
    stack += [n.target for n in unit.nodes if isinstance(n, ast.NamedExpr)]
    while stack:
        target = stack.pop()
        if isinstance(target, (ast.Tuple, ast.List)):
            stack.extend(target.elts)
        elif isinstance(target, ast.Starred):
            stack.append(target.value)
        elif isinstance(target, ast.Name):
            if target.id in _SHADOWED_BUILTINS:
                yield f"rebinds the builtin `{target.id}`"
        elif isinstance(target, ast.Attribute):
            if target.attr in _REBOUND_ATTRS:
                yield f"assigns `.{target.attr}`"
            if _names_a_class(analysis, unit, target.value):
                yield f"patches the script's own `{ast.unparse(target)}` from outside its definition"
            for path in analysis.paths(target.value, scope):
                if path == "os.environ":
                    continue
                if not _settings(path):
                    yield f"patches the module attribute `{path}.{target.attr}`"
        elif isinstance(target, ast.Subscript):
            if "os.environ" in analysis.paths(target.value, scope):
                reason = _env_key_reason(target.slice)
                if reason:
                    yield reason


def indirect_violations(before: Analysis, after: Analysis) -> list[str]:
    """The candidate's statements that reach the measures indirectly and that the record does
    not have as they are."""
    allowed = before.counts()
    problems = []
    for unit in after.units:
        reasons = list(dict.fromkeys(indirect_reasons(after, unit)))
        if not reasons:
            continue
        if allowed[unit.placed] > 0:
            allowed[unit.placed] -= 1
            continue
        problems.append(f"indirect access: candidate line {unit.line} `{after.text(unit)}` {'; '.join(reasons)}")
    return problems


# -----------------------------------------------------------------------------
# A whole record (several files)

_STARTUP_FILES = ("sitecustomize.py", "usercustomize.py")


def _local(files: Mapping[str, str], module: str) -> bool:
    return f"{module}.py" in files or any(p.startswith(f"{module}/") for p in files)


def whole_record_violations(
    original: Mapping[str, str], candidate: Mapping[str, str], entry: str = "train_gpt.py"
) -> list[str]:
    """:func:`whole_script_violations` for the entry script and every other Python file of a
    record (path -> text), each against the record's file of the same path (a new file against
    nothing), and files that would be imported instead of a module the scripts import
    (``torch.py``, ``datetime/``) or run at start-up (``sitecustomize.py``, ``*.pth``)."""
    problems = whole_script_violations(original.get(entry, ""), candidate.get(entry, ""))
    imported = set()  # what the record's scripts import (a new local file must not replace it)
    for text in original.values():
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    for path in sorted(set(candidate) | set(original)):
        if path == entry:
            continue
        pure = PurePosixPath(path)
        if path not in original:
            top = pure.parts[0].removesuffix(".py")
            if pure.name in _STARTUP_FILES or pure.suffix == ".pth":
                problems.append(f"{path}: a file Python runs at start-up")
            elif top in imported and path.endswith(".py") and not _local(original, top):
                problems.append(f"{path}: would be imported instead of the installed module `{top}`")
        if pure.suffix != ".py":
            continue
        try:
            found = whole_script_violations(original.get(path, ""), candidate.get(path, ""))
        except ValueError:
            continue  # the record's own file does not parse: nothing to hold the candidate to
        problems.extend(f"{path}: {line}" for line in found)
    return problems
