"""What structural diffs are made of: a :class:`Version` (one script, with its units or the
reason it has none), an :class:`Edit` (one inserted, deleted or updated atom) and a
:class:`FileDiff` (the edits that turn one version into another, and the units they pair)."""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis.syntax import Module
from analysis.units import Atom, Unit


@dataclass(eq=False)
class Version:
    """One script: label, text, and either its module and units or the reason it has none."""

    label: str
    text: str
    module: Module | None = None
    units: list[Unit] = field(default_factory=list)
    failure: str | None = None
    line_units: list[Unit] | None = None  # the script as one unit of line atoms, once a line diff needs it

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


@dataclass(eq=False)
class Edit:
    """One change: an inserted, deleted or updated atom."""

    kind: str  # insert | delete | update
    old: Atom | None
    new: Atom | None
    context: tuple[str, str]  # ("unit", old unit key) or ("new", new unit key)

    @property
    def atoms(self) -> list[Atom]:
        return [a for a in (self.old, self.new) if a is not None]

    @property
    def weight(self) -> int:
        return min(40, max(a.size for a in self.atoms))


@dataclass
class FileDiff:
    """The diff of ``old`` -> ``new``."""

    old: Version
    new: Version
    pairs: dict[Unit, Unit]
    edits: list[Edit]
    renames: dict[str, str]  # identifier renames applied consistently
    moves: int = 0
    fallback: str | None = None
    counterpart: dict[int, Atom] = field(default_factory=dict)  # id(new atom) -> aligned old atom

    def added_units(self) -> list[Unit]:
        paired = {id(v) for v in self.pairs.values()}
        return [u for u in self.new.units if id(u) not in paired] if not self.fallback else []

    def removed_units(self) -> list[Unit]:
        return [u for u in self.old.units if u not in self.pairs] if not self.fallback else []
