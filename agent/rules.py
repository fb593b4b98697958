"""The rules an agent's script must keep, checked by the harness rather than trusted to a prompt.

* **Protected definitions.** ``record.toml`` lists ``protected.names`` (the timer, the
  validation loop, the step-line printing, the validation data and token count). Every
  definition of each name — a class or function with its decorators, or a module- or
  class-level assignment such as ``Hyperparameters.val_tokens`` — must stay byte-identical,
  and none may be added (a second ``def evaluate`` further down would silently win). A node
  that breaks this is not run; the reason goes back to the model.
* **Plausible timer.** The script reports ``train_time`` itself, so it could stop its clock
  while training continues. The harness measures wall-clock; a complete run whose
  ``train_time`` is less than half of its wall-clock minus a start-up allowance is flagged.
  The allowance is 1.5 times what the untouched starting script itself spends outside its
  timer (its wall-clock minus its ``train_time``: imports, data loading, validation),
  measured in the same agent run, and at least :data:`MIN_STARTUP_S`; the margin absorbs the
  start-up jitter of a busy machine. Smoke runs (``--max-steps``) are not checked: a few steps
  of training are too short against start-up for the rule to mean anything.
"""

from __future__ import annotations

import ast

MIN_STARTUP_S = 5.0
STARTUP_MARGIN = 1.5
CLOCK_FRACTION = 0.5


def protected_definitions(source: str, names: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
    """Qualified name -> the source text of each statement that defines it, in order."""
    wanted = set(names)
    found: dict[str, list[str]] = {name: [] for name in names}
    lines = source.splitlines(keepends=True)

    def segment(node: ast.stmt) -> str:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return "".join(lines[first - 1:node.end_lineno])

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                qualified = prefix + node.name
                if qualified in wanted:
                    found[qualified].append(segment(node))
                if isinstance(node, ast.ClassDef):
                    visit(node.body, qualified + ".")
                continue
            for target in _targets(node):
                if prefix + target in wanted:
                    found[prefix + target].append(segment(node))
            for block in _blocks(node):
                visit(block, prefix)

    visit(ast.parse(source).body, "")
    return found


def _targets(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    else:
        return []
    return [sub.id for target in targets for sub in ast.walk(target) if isinstance(sub, ast.Name)]


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    """Bodies of compound statements at the same scope (if/for/while/with/try)."""
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    blocks = [getattr(node, name) for name in ("body", "orelse", "finalbody") if isinstance(getattr(node, name, None), list)]
    return blocks + [handler.body for handler in getattr(node, "handlers", [])]


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


def startup_allowance(reference_wall_s: float | None, reference_time_s: float | None) -> float:
    """Seconds a run may spend outside its timer, from the untouched starting script's run."""
    if reference_wall_s is None or reference_time_s is None:
        return MIN_STARTUP_S
    return max(MIN_STARTUP_S, STARTUP_MARGIN * (reference_wall_s - reference_time_s))


def clock_violation(time_s: float | None, wall_s: float, allowance_s: float) -> str | None:
    """Why a run's reported ``train_time`` is implausible against wall-clock (None if it is not)."""
    if time_s is None:
        return None
    untimed_budget = CLOCK_FRACTION * (wall_s - allowance_s)
    if time_s < untimed_budget:
        return (f"train_time {time_s:.2f} s is less than {CLOCK_FRACTION:.0%} of the wall-clock {wall_s:.2f} s minus a "
                f"start-up allowance of {allowance_s:.2f} s (measured on the starting script): training must run inside the timer")
    return None
