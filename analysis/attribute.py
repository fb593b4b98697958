"""Attribution: which ground-truth innovations a candidate reproduced, with evidence.

Ground truth G = diff(record i, record i+1); candidate A = diff(record i, candidate). Both diffs
share record i's atoms, so they are compared directly:

* G deletes or updates a base statement: A must delete or update the *same* base statement;
  for an update, the credit is 1 if A's new statement is equal up to consistent renaming, else
  its token similarity to G's new statement.
* G inserts a statement: A must insert an equal statement (exact, or up to renaming: credit 1)
  or a similar one (similarity >= :data:`INSERT_MIN`: credit = similarity) in the *same place*:
  the same base unit, or a new unit that pairs with G's new unit. Equal statements of at least
  :data:`ANYWHERE_MIN_SIZE` nodes count anywhere (code moved to another function), at 0.9.

Each G edit is matched at most once and each A edit at most once (best credits first). G's edits
are grouped by record i+1's innovation anchors: an edit *inside* an anchor (the anchor is its
qualified name or a prefix of it; a scoped anchor ``GPT.forward@tanh`` takes only the statements
inside ``GPT.forward`` that mention ``tanh``, to split two techniques that share a method) belongs
to the most specific (longest) such anchor's innovation; failing
that, an edit that *references* an anchor (its name, or a configuration field ``C.x`` as ``.x``)
belongs to those innovations; failing that, it goes to ``hyperparameters`` if it lives in a
configuration class (a class holding only assignments) or changes only numbers, else ``other``.

An innovation's score is the weighted mean credit of its edits (weight = atom size, capped at
40 nodes); ``reproduced`` is score >= :data:`THRESHOLD` (0.5: more than half of the innovation's
code, by size, is in the candidate). A's unmatched edits are ``novel``: they never raise a score.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from analysis.diff import diff_versions
from analysis.match import match_units
from analysis.syntax import abstract_key, identifiers, similarity
from analysis.versions import Edit, FileDiff, Version

THRESHOLD = 0.5
INSERT_MIN = 0.6
ANYWHERE_MIN_SIZE = 6
OTHER, HYPER = "other", "hyperparameters"


@dataclass
class Innovation:
    name: str
    anchors: tuple[str, ...]


@dataclass
class Match:
    truth: Edit
    cand: Edit | None
    credit: float
    how: str


@dataclass
class Group:
    """An innovation (or the other / hyperparameters group) and its matched ground-truth edits."""

    name: str
    anchors: tuple[str, ...]
    matches: list[Match] = field(default_factory=list)

    @property
    def weight(self) -> int:
        return sum(m.truth.weight for m in self.matches)

    @property
    def score(self) -> float:
        w = self.weight
        return round(sum(m.truth.weight * m.credit for m in self.matches) / w, 4) if w else 0.0

    @property
    def reproduced(self) -> bool:
        return self.weight > 0 and self.score >= THRESHOLD


@dataclass
class Attribution:
    base: Version
    target: Version
    candidate: Version
    truth: FileDiff
    agent: FileDiff
    innovations: list[Group]
    groups: list[Group]
    novel: list[Edit]

    @property
    def fallback(self) -> str | None:
        return self.truth.fallback or self.agent.fallback


def attribute(base: Version, target: Version, candidate: Version, innovations: list[Innovation]) -> Attribution:
    """Score ``candidate`` against the ground truth ``base`` -> ``target``."""
    if candidate.failure and not (base.failure or target.failure):
        # One side of A is lines: make G lines too, over the same base atoms.
        base = Version(base.label, base.text, base.module, base.units, failure=candidate.failure)
        target = Version(target.label, target.text, target.module, target.units, failure=candidate.failure)
    truth = diff_versions(base, target)
    agent = diff_versions(base, candidate)
    groups = {i.name: Group(i.name, tuple(i.anchors)) for i in innovations}
    other, hyper = Group(OTHER, ()), Group(HYPER, ())
    assigned = group_truth(truth, innovations)
    matches = _match(truth, agent)
    used = {id(m.cand) for m in matches.values() if m.cand is not None}
    for e in truth.edits:
        m = matches.get(id(e)) or Match(e, None, 0.0, "missed")
        names = assigned[id(e)]
        for name in names:
            (groups.get(name) or (hyper if name == HYPER else other)).matches.append(m)
    novel = [e for e in agent.edits if id(e) not in used]
    return Attribution(base, target, candidate, truth, agent, list(groups.values()), [hyper, other], novel)


def group_truth(truth: FileDiff, innovations: list[Innovation]) -> dict[int, list[str]]:
    """id(G edit) -> the names of the groups it belongs to (see the module docstring)."""
    base, target = truth.old, truth.new
    config_units = _config_units(target) | _config_units(base)
    methods = _method_names(target)
    return {id(e): _group_of(e, innovations, methods, config_units, base, target) for e in truth.edits}


def _config_units(v: Version) -> set[str]:
    out = set()
    for u in v.units:
        if (
            u.kind == "class"
            and not u.defines
            and all(a.node.kind in ("assignment", "class_definition:header", "expression_statement") for a in u.atoms)
        ):
            out.add(u.qualname)
    return out


def _method_names(v: Version) -> set[str]:
    return {u.qualname for u in v.units if u.kind in ("method", "function", "class")}


def _group_of(e: Edit, innovations, methods, config_units, base, target) -> list[str]:
    names = [a.qualname for a in e.atoms]
    idents = set()
    for a in e.atoms:
        idents |= identifiers(a.node) if a.node.kind != "line" else set(_words(a.node.label))
    best, best_len = [], -1
    for inv in innovations:
        for anchor in inv.anchors:
            scope, _, mention = anchor.partition("@")
            inside = any(q == scope or q.startswith(scope + ".") for q in names)
            if inside and (not mention or mention in idents):
                if len(anchor) > best_len:
                    best, best_len = [inv.name], len(anchor)
                elif len(anchor) == best_len and inv.name not in best:
                    best.append(inv.name)
    if best:
        return best
    refs = []
    for inv in innovations:
        for anchor in inv.anchors:
            if "@" in anchor:
                continue  # a scoped anchor claims only statements inside its scope
            owner, _, last = anchor.rpartition(".")
            hit = (not owner and anchor in idents) or (owner and anchor not in methods and last in idents)
            if hit and inv.name not in refs:
                refs.append(inv.name)
    if refs:
        return refs
    owner_units = {a.unit.qualname for a in e.atoms} | {a.qualname.rpartition(".")[0] for a in e.atoms}
    if owner_units & config_units or _numbers_only(e, base, target):
        return [HYPER]
    return [OTHER]


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text)


def _numbers_only(e: Edit, base: Version, target: Version) -> bool:
    if e.kind != "update" or e.old.node.kind == "line" or base.module is None:
        return False
    if identifiers(e.old.node) != identifiers(e.new.node):
        return False  # `import time` -> `import contextlib` abstracts alike but is not a number change
    return abstract_key(e.old.node, base.module.bound, literals=True) == abstract_key(
        e.new.node, target.module.bound, literals=True
    )


def _match(truth: FileDiff, agent: FileDiff) -> dict[int, Match]:
    """Best one-to-one matching of G edits to A edits."""
    by_old = defaultdict(list)
    new_in_ctx = defaultdict(list)
    new_by_exact = defaultdict(list)
    new_by_abs = defaultdict(list)
    for a in agent.edits:
        if a.old is not None:
            by_old[id(a.old)].append(a)
        if a.new is not None:
            new_in_ctx[a.context].append(a)
            new_by_exact[a.new.exact].append(a)
            new_by_abs[a.new.abstract].append(a)
    pairing = _pair_new_units(truth, agent)
    options = []
    for g in truth.edits:
        for a, credit, how in _options(g, by_old, new_in_ctx, new_by_exact, new_by_abs, pairing):
            options.append((credit, g.weight, id(g), id(a), g, a, how))
    options.sort(key=lambda t: t[:2], reverse=True)
    out: dict[int, Match] = {}
    used = set()
    for credit, _, gid, aid, g, a, how in options:
        if gid in out or aid in used or credit <= 0:
            continue
        out[gid] = Match(g, a, round(credit, 4), how)
        used.add(aid)
    return out


def _pair_new_units(truth: FileDiff, agent: FileDiff) -> dict[str, str]:
    """G's new units -> A's new units (both absent from the base)."""
    left, right = truth.added_units(), agent.added_units()
    if not left or not right:
        return {}
    return {u.key: v.key for u, v in match_units(left, right).items()}


def _same(x, y) -> tuple[float, str] | None:
    if x.exact == y.exact:
        return 1.0, "identical"
    if x.abstract == y.abstract:
        return 1.0, "equal up to renaming"
    return None


def _options(g: Edit, by_old, new_in_ctx, new_by_exact, new_by_abs, pairing):
    if g.old is not None:
        for a in by_old.get(id(g.old), []):
            if g.kind == "delete":
                yield a, 1.0, "deleted" if a.kind == "delete" else "replaced"
            elif a.kind == "update":
                same = _same(g.new, a.new)
                yield (a, *same) if same else (a, similarity(g.new.toks, a.new.toks), "changed similarly")
            else:
                yield a, 0.25, "deleted instead of changed"
    if g.new is None:
        return
    ctx = g.context
    if ctx[0] == "new":
        ctx = ("new", pairing.get(ctx[1], "-"))
    elif g.kind == "update":
        ctx = ("unit", g.context[1])
    in_ctx = new_in_ctx.get(ctx, [])
    same = [(a, _same(g.new, a.new)) for a in in_ctx if a.new.exact == g.new.exact or a.new.abstract == g.new.abstract]
    for a, (credit, how) in same:
        yield a, credit, how
    if len(same) < 2:  # similarity only when equal statements are not plentiful (it is the costly part)
        for a in in_ctx:
            if a.new.exact != g.new.exact and a.new.abstract != g.new.abstract:
                s = similarity(g.new.toks, a.new.toks)
                if s >= INSERT_MIN:
                    yield a, s, "similar"
    if g.new.size >= ANYWHERE_MIN_SIZE:
        for a in new_by_exact.get(g.new.exact, []) + new_by_abs.get(g.new.abstract, []):
            yield a, 0.9, "equal, elsewhere"
