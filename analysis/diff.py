"""Structural diff of two versions of a script: matched units, then edits per matched pair.

:func:`load` makes a :class:`~analysis.versions.Version` of a script: its parsed units or, where
parsing failed or a limit was hit, its lines with the reason. :func:`diff_versions` matches
units (:mod:`analysis.match`), aligns each matched pair's atoms by exact hash, then aligns what
differs by structure-up-to-renaming, then by similarity; what remains is inserted or deleted.
Pure renames that agree with the file-wide rename map (``n_embd`` -> ``model_dim`` everywhere)
and moves of identical statements are not edits. Where either side is a fallback, the diff is a
line diff (:mod:`analysis.linediff`). Diffs of the same base share its atoms, so edits of two
diffs can be compared by identity.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from difflib import SequenceMatcher

from analysis.linediff import line_diff
from analysis.match import match_units
from analysis.syntax import Cache, ParseFailure, bound_sequence, parse, similarity
from analysis.units import Atom, Unit, split_units
from analysis.versions import Edit, FileDiff, Version

UPDATE_MIN = 0.5  # two unaligned statements this similar are one updated statement
MOVE_MIN_SIZE = 4  # identical statements at least this big, deleted here and inserted there, moved


def load(text: str, label: str, cache: Cache | None = None) -> Version:
    """Parse ``text`` into a :class:`Version` (a fallback one if it cannot be parsed). Versions
    that will be compared should share a :class:`~analysis.syntax.Cache`."""
    cache = cache or Cache()
    try:
        module = parse(text, cache)
        units = split_units(module, cache)
    except ParseFailure as exc:
        return Version(label, text, failure=f"{label}: {exc}")
    return Version(label, text, module, units)


def changed_definitions(old_text: str, new_text: str) -> list[str]:
    """Qualified names of the definitions that a structural diff of two scripts changes in the new
    one, in diff order, once each; empty where either script cannot be parsed."""
    cache = Cache()
    old, new = load(old_text, "old", cache), load(new_text, "new", cache)
    if old.failure or new.failure:
        return []
    edited = (edit.new.qualname for edit in diff_versions(old, new).edits if edit.new is not None)
    return list(dict.fromkeys(edited))


def diff_versions(old: Version, new: Version) -> FileDiff:
    """Structural diff, or a line diff if either side could not be parsed."""
    reason = old.failure or new.failure
    if reason:
        return line_diff(old, new, reason)
    pairs = match_units(old.units, new.units)
    votes: Counter = Counter()
    for u, v in pairs.items():
        a, b = u.qualname.rpartition(".")[2], v.qualname.rpartition(".")[2]
        if a != b:
            votes[(a, b)] += 5
    aligned = []  # (old unit, new unit, matched abstract pairs, leftovers old, leftovers new)
    counterpart: dict[int, Atom] = {}
    for u, v in pairs.items():
        aligned.append(_align(u, v, old.module.bound, new.module.bound, votes, counterpart))
    mapping = _rename_map(votes)
    edits: list[Edit] = []
    for entry in aligned:
        edits.extend(_aligned_edits(entry, mapping, old, new, counterpart))
    paired_new = {id(v) for v in pairs.values()}
    for u in old.units:
        if u not in pairs:
            edits.extend(Edit("delete", a, None, ("unit", u.key)) for a in u.atoms)
    for v in new.units:
        if id(v) not in paired_new:
            edits.extend(Edit("insert", None, b, ("new", v.key)) for b in v.atoms)
    edits, moves = _drop_moves(edits)
    renames = {a: b for a, b in mapping.items() if a != b}
    return FileDiff(old, new, pairs, edits, renames, moves, counterpart=counterpart)


def unit_edits(u: Unit, old: Version, v: Unit, new: Version, counterpart: dict) -> list[Edit]:
    """The edits that turn unit ``u`` of ``old`` into unit ``v`` of ``new``, as if the diff had
    paired them (``counterpart`` gains ``v``'s aligned atoms)."""
    entry = _align(u, v, old.module.bound, new.module.bound, Counter(), counterpart)
    return _aligned_edits(entry, {}, old, new, counterpart)


def _aligned_edits(entry, mapping: dict, old: Version, new: Version, counterpart: dict) -> list[Edit]:
    """One aligned pair of units as edits: its aligned statements that differ other than by the
    file-wide renames, then its leftovers paired by similarity, inserted or deleted."""
    u, _v, candidates, rest_old, rest_new = entry
    ctx = ("unit", u.key)
    edits = []
    for a, b in candidates:
        seq = zip(bound_sequence(a.node, old.module.bound), bound_sequence(b.node, new.module.bound), strict=False)
        if not all(mapping.get(x, x) == y for x, y in seq):
            edits.append(Edit("update", a, b, ctx))
    return edits + _pair_leftovers(rest_old, rest_new, ctx, counterpart)


def _align(u: Unit, v: Unit, bound_old, bound_new, votes: Counter, counterpart: dict):
    xs, ys = u.atoms, v.atoms
    candidates, rest_old, rest_new = [], [], []
    outer = SequenceMatcher(None, [a.exact for a in xs], [b.exact for b in ys], autojunk=False)
    for tag, i1, i2, j1, j2 in outer.get_opcodes():
        if tag == "equal":
            for a, b in zip(xs[i1:i2], ys[j1:j2], strict=True):
                counterpart[id(b)] = a
            continue
        sub_old, sub_new = xs[i1:i2], ys[j1:j2]
        inner = SequenceMatcher(None, [a.abstract for a in sub_old], [b.abstract for b in sub_new], autojunk=False)
        for tag2, k1, k2, l1, l2 in inner.get_opcodes():
            if tag2 == "equal":
                for a, b in zip(sub_old[k1:k2], sub_new[l1:l2], strict=True):
                    candidates.append((a, b))
                    counterpart[id(b)] = a
                    for x, y in zip(bound_sequence(a.node, bound_old), bound_sequence(b.node, bound_new), strict=False):
                        votes[(x, y)] += 1
            else:
                rest_old.extend(sub_old[k1:k2])
                rest_new.extend(sub_new[l1:l2])
    return u, v, candidates, rest_old, rest_new


def _rename_map(votes: Counter) -> dict[str, str]:
    best: dict[str, tuple[int, str]] = {}
    for (x, y), n in votes.items():
        if x not in best or n > best[x][0]:
            best[x] = (n, y)
    return {x: y for x, (n, y) in best.items()}


def _pair_leftovers(rest_old: list[Atom], rest_new: list[Atom], ctx, counterpart: dict) -> list[Edit]:
    scored = []
    for a in rest_old:
        for b in rest_new:
            if a.node.kind == b.node.kind or a.size > 3:
                s = similarity(a.toks, b.toks)
                if s >= UPDATE_MIN:
                    scored.append((s, a.qualname == b.qualname, -abs(a.index - b.index), a, b))
    scored.sort(key=lambda t: t[:3], reverse=True)
    used_a, used_b, edits = set(), set(), []
    for _score, _, _, a, b in scored:
        if id(a) in used_a or id(b) in used_b:
            continue
        used_a.add(id(a))
        used_b.add(id(b))
        counterpart[id(b)] = a
        edits.append(Edit("update", a, b, ctx))
    edits += [Edit("delete", a, None, ctx) for a in rest_old if id(a) not in used_a]
    edits += [Edit("insert", None, b, ctx) for b in rest_new if id(b) not in used_b]
    return edits


def _drop_moves(edits: list[Edit]) -> tuple[list[Edit], int]:
    deleted = defaultdict(list)
    for e in edits:
        if e.kind == "delete" and e.old.size >= MOVE_MIN_SIZE:
            deleted[e.old.exact].append(e)
    drop = set()
    for e in edits:
        if e.kind == "insert" and deleted.get(e.new.exact):
            drop.add(id(deleted[e.new.exact].pop()))
            drop.add(id(e))
    return [e for e in edits if id(e) not in drop], len(drop) // 2
