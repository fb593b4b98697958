"""The qualified names a script defines: the one implementation behind every use of them.

A record's ``record.toml`` names parts of its code — ``Muon``, ``CausalSelfAttention.forward``,
``Hyperparameters.num_iterations``, a module-level variable such as ``training_time_ms``.
``records add`` rejects a label that names nothing, the agent's protected-name rule compares
the source of each protected definition, and attribution gives every statement the name of
the definition it belongs to; all three read the names from here, so they cannot disagree.

Definitions are classes, functions, methods and definitions nested in them (``Muon.step.inner``),
and every variable assigned at module or class level, also inside ``if``/``for``/``while``/
``with``/``try`` blocks at that level; optionally the names imports bind. Variables local to a
function are not definitions.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What binds a name."""

    CLASS = "class"
    FUNCTION = "function"
    VARIABLE = "variable"  # an assignment statement
    TARGET = "target"  # the target of a ``for`` or ``with`` (its statement is the whole block)
    IMPORT = "import"


# The kinds whose lines hold only the definition itself: the statements inside those lines
# belong to it. A ``for`` block binds its target but holds other code.
ENCLOSING = frozenset({Kind.CLASS, Kind.FUNCTION, Kind.VARIABLE})


@dataclass(frozen=True)
class Definition:
    """One binding of a qualified name: its kind and the lines of the statement that binds it
    (1-based, decorators included)."""

    qualname: str
    kind: Kind
    first_line: int
    last_line: int


def parse_quietly(source: str) -> ast.Module:
    """Parse a script without warnings: invalid escapes in old scripts are not ours to report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
        return ast.parse(source)


def definitions(source: str, imports: bool = False) -> list[Definition]:
    """Every definition of ``source`` in source order (``SyntaxError`` if it does not parse)."""
    return list(_visit(parse_quietly(source).body, "", False, imports))


def defined_names(source: str) -> set[str]:
    """Every qualified name the script defines."""
    return {d.qualname for d in definitions(source)}


def _visit(body: list[ast.stmt], prefix: str, in_function: bool, imports: bool) -> Iterator[Definition]:
    for node in body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            qualname = prefix + node.name
            kind = Kind.CLASS if isinstance(node, ast.ClassDef) else Kind.FUNCTION
            yield Definition(qualname, kind, _first_line(node), node.end_lineno)
            yield from _visit(node.body, qualname + ".", kind == Kind.FUNCTION, imports)
        elif not in_function:
            kind, targets = _bound(node, imports)
            for target in targets:
                yield Definition(prefix + target, kind, node.lineno, node.end_lineno)
            for block in _blocks(node):
                yield from _visit(block, prefix, in_function, imports)


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _bound(node: ast.stmt, imports: bool) -> tuple[Kind, list[str]]:
    """The kind of binding a statement makes and the names it binds, in order."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return Kind.IMPORT, [(alias.asname or alias.name).split(".")[0] for alias in node.names] if imports else []
    if isinstance(node, ast.Assign):
        kind, targets = Kind.VARIABLE, node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        kind, targets = Kind.VARIABLE, [node.target]
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        kind, targets = Kind.TARGET, [node.target]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        kind, targets = Kind.TARGET, [item.optional_vars for item in node.items if item.optional_vars is not None]
    else:
        return Kind.VARIABLE, []
    return kind, [sub.id for target in targets for sub in ast.walk(target) if isinstance(sub, ast.Name)]


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    """Statement blocks nested in a compound statement (if/for/while/with/try) at the same scope."""
    blocks = [
        getattr(node, name) for name in ("body", "orelse", "finalbody") if isinstance(getattr(node, name, None), list)
    ]
    blocks += [handler.body for handler in getattr(node, "handlers", [])]
    return blocks


class LineOwners:
    """Which definition each line of a script belongs to: the innermost class, function or
    assignment whose lines hold it (the first of several on one line)."""

    def __init__(self, found: list[Definition]):
        self._owner: dict[int, str] = {}
        self._defined_at: dict[tuple[int, Kind], str] = {}
        enclosing = [d for d in found if d.kind in ENCLOSING]
        # Widest first, so inner definitions overwrite their container's lines; among equal
        # spans the earliest is painted last and wins (``a = b = 1`` belongs to ``a``).
        order = sorted(enumerate(enclosing), key=lambda pair: (pair[1].first_line - pair[1].last_line, -pair[0]))
        for _, definition in order:
            for line in range(definition.first_line, definition.last_line + 1):
                self._owner[line] = definition.qualname
            self._defined_at.setdefault((definition.first_line, definition.kind), definition.qualname)

    @classmethod
    def of(cls, source: str) -> LineOwners:
        return cls(definitions(source))

    def owner(self, line: int) -> str | None:
        """The qualified name that ``line`` belongs to (None: module-level code outside any)."""
        return self._owner.get(line)

    def defined_at(self, first_line: int, kind: Kind) -> str | None:
        """The qualified name of the class or function whose statement starts at ``first_line``."""
        return self._defined_at.get((first_line, kind))
