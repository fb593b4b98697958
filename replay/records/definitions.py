"""The qualified names a script defines: the one implementation behind every use of them.

A record's ``record.toml`` names parts of its code — ``Muon``, ``CausalSelfAttention.forward``,
``Hyperparameters.num_iterations``, a module-level variable such as ``training_time_ms``.
``records add`` rejects a label that names nothing, the agent's protected-name rule compares
the source of each protected definition, and attribution gives every statement the name of
the definition it belongs to; all three read the names from here, so they cannot disagree.

Definitions are classes, functions, methods and definitions nested in them (``Muon.step.inner``),
and every variable assigned at module or class level, also inside ``if``/``for``/``while``/
``with``/``try`` blocks at that level; optionally the names imports bind. Variables local to a
function are not definitions. A definition's lines are those of the statement that binds it,
decorators included and comments after its last line of code excluded.

The names are read from tree-sitter-python's syntax tree, the tree attribution already parses
(:func:`definitions_in_tree` takes it as it is, so nothing is parsed twice); the parser is built
here because this is its lowest user.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import tree_sitter
import tree_sitter_python


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

_DEFINITIONS = {"class_definition": Kind.CLASS, "function_definition": Kind.FUNCTION}
_ASSIGNMENTS = ("assignment", "augmented_assignment")
_BLOCK_STATEMENTS = ("if_statement", "for_statement", "while_statement", "try_statement", "with_statement")
_CLAUSES = ("elif_clause", "else_clause", "except_clause", "except_group_clause", "finally_clause")
_IMPORTS = ("import_statement", "import_from_statement", "future_import_statement")


@dataclass(frozen=True)
class Definition:
    """One binding of a qualified name: its kind and the lines of the statement that binds it
    (1-based, decorators included)."""

    qualname: str
    kind: Kind
    first_line: int
    last_line: int


@functools.cache
def python_language() -> tree_sitter.Language:
    return tree_sitter.Language(tree_sitter_python.language())


@functools.cache
def python_parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(python_language())


def definitions(source: str, imports: bool = False) -> list[Definition]:
    """Every definition of ``source``, in source order (what parses of a broken script)."""
    return definitions_in_tree(python_parser().parse(source.encode()).root_node, imports)


def definitions_in_tree(root: tree_sitter.Node, imports: bool = False) -> list[Definition]:
    """Every definition under a tree-sitter ``module`` node, in source order."""
    return list(_visit(root.children, "", False, imports))


def defined_names(source: str) -> set[str]:
    """Every qualified name the script defines."""
    return {d.qualname for d in definitions(source)}


def _visit(body: list[tree_sitter.Node], prefix: str, in_function: bool, imports: bool) -> Iterator[Definition]:
    for node in body:
        first = node.start_point[0] + 1
        inner = node.child_by_field_name("definition") if node.type == "decorated_definition" else node
        if inner is not None and inner.type in _DEFINITIONS:
            qualname = prefix + _text(inner.child_by_field_name("name"))
            kind = _DEFINITIONS[inner.type]
            yield Definition(qualname, kind, first, _last_line(node))
            yield from _visit(
                _statements(inner.child_by_field_name("body")), qualname + ".", kind == Kind.FUNCTION, imports
            )
        elif not in_function:
            kind, names = _bound(node, imports)
            last = _last_line(node)
            yield from (Definition(prefix + name, kind, first, last) for name in names)
            if node.type in _BLOCK_STATEMENTS:
                for block in _blocks(node):
                    yield from _visit(_statements(block), prefix, in_function, imports)


def _bound(node: tree_sitter.Node, imports: bool) -> tuple[Kind, list[str]]:
    """The kind of binding a statement makes and the names it binds, in source order."""
    if node.type in _IMPORTS:
        return Kind.IMPORT, _imported_names(node) if imports else []
    if node.type == "expression_statement" and node.named_child_count and node.named_children[0].type in _ASSIGNMENTS:
        targets, assignment = [], node.named_children[0]
        while assignment is not None and assignment.type in _ASSIGNMENTS:  # a = b = 1 binds a, then b
            targets.append(assignment.child_by_field_name("left"))
            assignment = assignment.child_by_field_name("right")
        return Kind.VARIABLE, [name for target in targets for name in _target_names(target)]
    if node.type == "for_statement":
        return Kind.TARGET, _target_names(node.child_by_field_name("left"))
    if node.type == "with_statement":
        names = []
        for clause in (c for c in node.children if c.type == "with_clause"):
            for item in clause.named_children:
                value = item.child_by_field_name("value")
                if value is not None and value.type == "as_pattern":  # with open(f) as handle
                    names += _target_names(value.child_by_field_name("alias"))
        return Kind.TARGET, names
    return Kind.VARIABLE, []


def _target_names(target: tree_sitter.Node | None) -> list[str]:
    """The variable names in an assignment target: ``a``, ``a, (b, *c)``; for ``x.y`` and
    ``x[k]``, the names the expression reads (``x``, ``k``), as Python's own parser has them."""
    if target is None:
        return []
    if target.type == "identifier":
        return [_text(target)]
    # An attribute's own name and a keyword's name are not variables.
    skipped = {"attribute": "attribute", "keyword_argument": "name"}.get(target.type)
    not_a_name = target.child_by_field_name(skipped) if skipped else None
    return [name for child in target.named_children if child != not_a_name for name in _target_names(child)]


def _imported_names(node: tree_sitter.Node) -> list[str]:
    names = []
    for child in node.children_by_field_name("name"):
        if child.type == "aliased_import":
            names.append(_text(child.child_by_field_name("alias")))
        else:
            names.append(_text(child).split(".")[0])
    return names


def _blocks(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    """The blocks of a compound statement and of its elif/else/except/finally clauses."""
    for child in node.children:
        if child.type == "block":
            yield child
        elif child.type in _CLAUSES:
            yield from _blocks(child)


def _statements(block: tree_sitter.Node | None) -> list[tree_sitter.Node]:
    return [] if block is None else [c for c in block.named_children if c.type != "comment"]


def _last_line(node: tree_sitter.Node) -> int:
    """The last line of a statement's code (tree-sitter counts a block's trailing comments in it)."""
    while node.child_count:
        code = [c for c in node.children if c.type != "comment"]
        if not code:
            break
        node = code[-1]
    return node.end_point[0] + 1


def _text(node: tree_sitter.Node) -> str:
    return node.text.decode()


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

    def owner(self, line: int) -> str | None:
        """The qualified name that ``line`` belongs to (None: module-level code outside any)."""
        return self._owner.get(line)

    def defined_at(self, first_line: int, kind: Kind) -> str | None:
        """The qualified name of the class or function whose statement starts at ``first_line``."""
        return self._defined_at.get((first_line, kind))
