"""Split a parsed script into units and each unit into atoms.

Units are what the speedrun's history is made of: classes, functions, methods, and regions of
consecutive module-level statements (much of a speedrun script's logic is module-level code).
Each unit is a sequence of *atoms*: its header (``def f(x):``, ``class C(nn.Module):``) and
every statement inside it, compound statements contributing their header and then their
bodies' statements. Atoms are what edits are made of; each knows its qualified name
(``Hyperparameters.learning_rate``, ``GPT.forward``, a module-level variable's name), its
lines and its hashes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from analysis.syntax import (
    COMPOUND,
    Cache,
    Module,
    Node,
    ParseFailure,
    abstract_and_tokens,
    finish,
    header,
    identifiers,
)
from replay.records.definitions import Kind, LineOwners

DEFINITIONS = ("function_definition", "class_definition")
MODULE = "<module>"  # the qualified name of module-level code outside any definition


@dataclass(eq=False)
class Atom:
    """One statement (or compound header) of a unit."""

    node: Node
    qualname: str
    unit: Unit
    offset: int = 0  # the node's lines are relative: add this
    index: int = 0
    parent: int = -1  # position in the unit of the compound header this statement is nested in
    exact: int = 0
    abstract: int = 0
    toks: Counter | None = None  # set by hashing

    @property
    def lines(self) -> tuple[int, int]:
        return (self.node.start + self.offset, self.node.end + self.offset)

    @property
    def size(self) -> int:
        return self.node.size

    def text(self, module_lines: list[str]) -> str:
        first, last = self.lines
        return "\n".join(module_lines[first - 1 : last])


@dataclass(eq=False)
class Unit:
    """A class, function, method or module-level region, with its atoms."""

    kind: str  # class | function | method | region
    qualname: str
    start: int
    end: int
    order: int
    atoms: list[Atom] = field(default_factory=list)
    defines: set[str] = field(default_factory=set)  # method names (for classes)
    exact: int = 0
    abstract: int = 0
    toks: Counter = field(default_factory=Counter)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.qualname}"


def split_units(module: Module, cache: Cache | None = None) -> list[Unit]:
    """The units of a parsed module, in source order, with hashed atoms. Qualified names come
    from the module's definitions, the names ``records add`` checks anchors against."""
    owners = LineOwners(module.definitions)
    units: list[Unit] = []
    region: list[tuple[Node, int]] = []
    cache = cache or Cache()

    def flush():
        if region:
            units.append(_region_unit(region, len(units), owners))
            region.clear()

    for stmt, offset in zip(module.statements, module.offsets, strict=True):
        definition, decorators = _unwrap(stmt)
        if definition is None:
            region.append((stmt, offset))
            continue
        flush()
        _definition_units(definition, decorators, False, units, offset, owners)
    flush()
    for unit in units:
        _hash_unit(unit, module.bound, cache)
    return units


def _unwrap(stmt: Node) -> tuple[Node | None, list[Node]]:
    if stmt.kind in DEFINITIONS:
        return stmt, []
    if stmt.kind == "decorated_definition":
        inner = [c for c in stmt.children if c.kind in DEFINITIONS]
        if inner:
            return inner[0], [c for c in stmt.children if c.kind == "decorator"]
    return None, []


def _name(definition: Node) -> str:
    for child in definition.children:
        if child.kind == "identifier":
            return child.label
    return "?"


def _definition_units(
    definition: Node, decorators: list[Node], in_class: bool, units: list[Unit], offset: int, owners: LineOwners
) -> None:
    is_class = definition.kind == "class_definition"
    start = min([definition.start] + [d.start for d in decorators])
    name = owners.defined_at(start + offset, Kind.CLASS if is_class else Kind.FUNCTION)
    if name is None:
        raise ParseFailure(f"tree-sitter and Python disagree about the definition at line {start + offset}")
    kind = "class" if is_class else ("method" if in_class else "function")
    unit = Unit(kind, name, start + offset, definition.end + offset, len(units))
    units.append(unit)
    head = header(definition)
    if decorators:
        head = finish(Node(head.kind, head.label, decorators + head.children, start, head.end))
    unit.atoms.append(Atom(head, name, unit, offset))
    for stmt in definition.body:
        inner, inner_decorators = _unwrap(stmt)
        if is_class and inner is not None:
            unit.defines.add(_name(inner))
            _definition_units(inner, inner_decorators, True, units, offset, owners)
            continue
        _flatten(stmt, unit, offset, owners)


def _flatten(stmt: Node, unit: Unit, offset: int, owners: LineOwners, parent: int = -1) -> None:
    """The statement's atoms: a compound contributes its header, then its bodies' statements (each
    knowing the position of the header it is nested in)."""
    node = header(stmt) if stmt.kind in COMPOUND else stmt
    unit.atoms.append(Atom(node, owners.owner(node.start + offset) or MODULE, unit, offset, parent=parent))
    if stmt.kind in COMPOUND:
        here = len(unit.atoms) - 1
        for child in stmt.body:
            _flatten(child, unit, offset, owners, here)


def _assigned_name(stmt: Node) -> str | None:
    if stmt.kind in ("assignment", "augmented_assignment") and stmt.children and stmt.children[0].kind == "identifier":
        return stmt.children[0].label
    return None


def _region_unit(stmts: list[tuple[Node, int]], order: int, owners: LineOwners) -> Unit:
    names = [n for n in (_assigned_name(s) for s, _ in stmts) if n]
    first = stmts[0][0]
    if names:
        label = names[0]
    elif first.kind == "if_statement" and "__name__" in identifiers(header(first)):
        label = "__main__"
    else:
        label = first.kind.replace("_statement", "").replace("_from", "")
    unit = Unit("region", f"<{label}>", first.start + stmts[0][1], stmts[-1][0].end + stmts[-1][1], order)
    for stmt, offset in stmts:
        _flatten(stmt, unit, offset, owners)
    return unit


def _hash_unit(unit: Unit, bound: frozenset[str], cache: Cache) -> None:
    """Atom hashes (cached per exact hash and the bound names it mentions); the unit's hashes."""
    exact, abstract = [], []
    toks = unit.toks
    for i, atom in enumerate(unit.atoms):
        atom.index = i
        atom.exact = atom.node.h
        # Equal exact hashes mean equal trees, so reformatted copies share the work too.
        idents = cache.idents.get(atom.exact)
        if idents is None:
            idents = cache.idents[atom.exact] = frozenset(identifiers(atom.node))
        key = (atom.exact, idents & bound)
        hashed = cache.atoms.get(key)
        if hashed is None:
            hashed = cache.atoms[key] = abstract_and_tokens(atom.node, bound)
        atom.abstract, atom.toks = hashed[0], hashed[1]
        toks.update(atom.toks)
        exact.append(atom.exact)
        abstract.append(atom.abstract)
    unit.exact = hash(tuple(exact))
    unit.abstract = hash(tuple(abstract))
