"""The fallback: a line diff (difflib's unified diff, read back with unidiff).

Used when a side cannot be parsed or is over a limit; the :class:`~analysis.versions.FileDiff` it
returns carries the reason in ``fallback``, and every report shows it. Each non-blank line is
an atom, compared by its whitespace-normalised text. Where a side does parse, its lines keep
the qualified name of the definition around them, so attribution by anchors still works.
"""

from __future__ import annotations

import difflib
from collections import Counter

from analysis.syntax import Node
from analysis.units import MODULE, Atom, Unit
from analysis.versions import Edit, FileDiff, Version


def _normal(line: str) -> str:
    text = line.split("#", 1)[0] if "#" in line and "'" not in line and '"' not in line else line
    return " ".join(text.split())


def line_units(version: Version) -> list[Unit]:
    """One unit holding every non-blank line of ``version`` as an atom, made once per version so
    that two line diffs of one base share its atoms."""
    if version.line_units is None:
        version.line_units = _line_units(version)
    return version.line_units


def _line_units(version: Version) -> list[Unit]:
    owners: dict[int, str] = {}
    for unit in version.units:  # empty when the version did not parse
        for atom in unit.atoms:
            for ln in range(atom.lines[0], atom.lines[1] + 1):
                owners.setdefault(ln, atom.qualname)
    unit = Unit("region", "<lines>", 1, max(1, len(version.lines)), 0)
    for ln, line in enumerate(version.lines, start=1):
        text = _normal(line)
        if not text:
            continue
        node = Node("line", text, [], ln, ln, h=hash(text), size=max(1, len(text.split())))
        atom = Atom(
            node,
            owners.get(ln, MODULE),
            unit,
            index=len(unit.atoms),
            exact=node.h,
            abstract=node.h,
            toks=Counter(text.split()),
        )
        unit.atoms.append(atom)
    return [unit]


def line_diff(old: Version, new: Version, reason: str) -> FileDiff:
    """A :class:`~analysis.versions.FileDiff` from a unified line diff, with ``fallback=reason``."""
    from unidiff import PatchSet

    (uo,), (un,) = line_units(old), line_units(new)
    a = [x.node.label + "\n" for x in uo.atoms]
    b = [x.node.label + "\n" for x in un.atoms]
    patch = PatchSet("".join(difflib.unified_diff(a, b, "a/old", "b/new", n=0)))
    edits = []
    ctx = ("unit", uo.key)
    for patched in patch:
        for hunk in patched:
            for line in hunk:
                if line.is_removed:
                    edits.append(Edit("delete", uo.atoms[line.source_line_no - 1], None, ctx))
                elif line.is_added:
                    edits.append(Edit("insert", None, un.atoms[line.target_line_no - 1], ctx))
    return FileDiff(old, new, {uo: un}, edits, {}, 0, fallback=f"line diff: {reason}")
