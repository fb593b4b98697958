"""Attribution: which ground-truth innovations a candidate reproduced, with evidence.

Ground truth G = diff(record i, record i+1); candidate A = diff(record i, candidate).

**Grouping.** G's edits are grouped by record i+1's innovation anchors: an edit *inside* an anchor
(the anchor is its qualified name or a prefix of it; a scoped anchor ``GPT.forward@tanh`` takes
only the statements inside ``GPT.forward`` that mention ``tanh``, and ``backward@`` only those
inside ``backward``, never a statement that merely calls a ``backward``) belongs to the most specific
(longest) such anchor's innovation; failing that, an edit that *references* an anchor (its name,
or a configuration field ``C.x`` as ``.x``, unless the innovation is a pure re-tune of fields)
belongs to those innovations; failing that, it goes to ``hyperparameters`` if it lives in a
configuration class or changes only numbers, else ``other``. Then :func:`slice_by_names` moves
plumbing to the idea it serves: an edit that uses names only another innovation defines goes
there, a definition only one innovation uses goes with it, a deleted statement goes with the
innovation that defines its names anew. Statements whose text is unchanged but whose meaning
changed (they read a re-tuned field or call a rewritten helper) go with the innovation that
changed that definition.

**Score.** Each innovation (and the hyperparameters/other groups) is scored by the idea-level
comparison of :mod:`analysis.ideas`: the share, by weight, of the feature changes record i+1 made
for it that the candidate also made, the same way, in the same or a related place. Where an
innovation leaves no idea signature (its changes cancel out) or a script could not be parsed, the
statement layer below decides instead, and ``Group.decided_by`` says which layer did.

**Statement layer** (evidence for every report, and the fallback score). Both diffs share record
i's atoms, so they are compared directly:

* G deletes or updates a base statement: A must delete or update the *same* base statement;
  for an update, the credit is 1 if A's new statement is equal up to consistent renaming, else
  its token similarity to G's new statement.
* G inserts a statement: A must insert an equal statement (exact, or up to renaming: credit 1)
  or a similar one (similarity >= :data:`INSERT_MIN`: credit = similarity) in the *same place*:
  the same base unit, or a new unit that pairs with G's new unit. Equal statements of at least
  :data:`ANYWHERE_MIN_SIZE` nodes count anywhere (code moved to another function), at 0.9.

Each G edit is matched at most once and each A edit at most once (best credits first); the
statement score is the weighted mean credit (weight = atom size, capped at 40 nodes).
``reproduced`` is score >= :data:`THRESHOLD` (0.5). A's unmatched edits are ``novel``: they never
raise a score.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from analysis.diff import diff_versions
from analysis.ideas import Comparison, IdeaMatch, Signature, words_of
from analysis.innovation import Innovation
from analysis.match import match_units
from analysis.probes import Prober, ProbeVerdict, behaviour, prepare
from analysis.syntax import abstract_key, identifiers, similarity
from analysis.versions import Edit, FileDiff, Version

THRESHOLD = 0.5
INSERT_MIN = 0.6
ANYWHERE_MIN_SIZE = 6
OTHER, HYPER = "other", "hyperparameters"
REFACTOR = "refactor"  # the innovation name labels give behaviour-preserving changes
MOVED_SIMILARITY_MIN = 0.5  # a statement removed in one place and one added in another: one moved


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
    idea: IdeaMatch | None = None  # the idea-level comparison (None where it could not run)
    probe: ProbeVerdict | None = None  # the behavioural probe's verdict (None: the innovation has none)

    @property
    def weight(self) -> int:
        return sum(m.truth.weight for m in self.matches)

    @property
    def statement_score(self) -> float:
        w = self.weight
        return round(sum(m.truth.weight * m.credit for m in self.matches) / w, 4) if w else 0.0

    @property
    def decided_by(self) -> str:
        """Which layer gave the score: "probe" (behaviour), "ideas" (feature changes) or "statements"."""
        if self.probe is not None and self.probe.decided is not None:
            return "probe"
        return "ideas" if self.idea is not None and self.idea.weight > 0 else "statements"

    @property
    def static_score(self) -> float:
        """The score of the static layers (ideas, else statements), whatever the probe says."""
        return self.idea.score if self.idea is not None and self.idea.weight > 0 else self.statement_score

    @property
    def score(self) -> float:
        if self.decided_by == "probe":
            return 1.0 if self.probe.decided else 0.0
        return self.static_score

    @property
    def reproduced(self) -> bool:
        return (self.weight > 0 or self.decided_by != "statements") and self.score >= THRESHOLD


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


def attribute(
    base: Version, target: Version, candidate: Version, innovations: list[Innovation], prober: Prober | None = None
) -> Attribution:
    """Score ``candidate`` against the ground truth ``base`` -> ``target``; with a ``prober``, the
    behavioural probes (:mod:`analysis.probes`) decide where they tell the records apart."""
    probed = prober is not None and not (base.failure or target.failure or candidate.failure)
    if probed:
        prepare(prober, base.text, target.text, candidate.text, innovations)
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
    if not truth.fallback and not agent.fallback:
        _ideas(truth, agent, innovations, groups, hyper, other)
    if probed:
        for name, verdict in behaviour(prober, base.text, target.text, candidate.text, innovations).items():
            groups[name].probe = verdict
    return Attribution(base, target, candidate, truth, agent, list(groups.values()), [hyper, other], novel)


def _ideas(truth: FileDiff, agent: FileDiff, innovations: list[Innovation], groups, hyper, other) -> None:
    """Score every group by the idea-level comparison (:mod:`analysis.ideas`)."""
    comp = Comparison(truth, agent)
    assigned = group_truth(truth, innovations, comp.truth_edits)
    _semantic_groups(truth, comp.truth_edits, assigned, {i.name for i in innovations})
    fields: dict[str, list[str]] = {}  # a field's name -> the groups of the edit that re-tunes it
    for e in comp.truth_edits:
        name = _field_name(e)
        # a field's definition, not its deletion or another field's definition paired with it
        paired_with_another = e.old is not None and not comp.truth_contributions[id(e)]
        if name and e.new is not None and not paired_with_another:
            fields.setdefault(name, []).extend(assigned[id(e)])
    per_group: dict[str, list] = defaultdict(list)
    for e in comp.truth_edits:
        for c in comp.truth_contributions[id(e)]:
            names = assigned[id(e)]
            if c.feature.startswith("tune:"):
                key = c.feature.split(":")[1]
                names = fields.get(key, names)
            for name in dict.fromkeys(names):
                per_group[name].append(c)
    described = {i.name: i for i in innovations}
    everything = [*groups.values(), hyper, other]
    sigs = {g.name: Signature.of(per_group.get(g.name, [])) for g in everything}
    _drop_moves(sigs, [*per_group.get(REFACTOR, []), *per_group.get(OTHER, [])], {u.key for u in truth.removed_units()})
    for g in everything:
        claimed: dict[str, set[str]] = defaultdict(set)
        for name, sig in sigs.items():
            if name != g.name and name in described:
                for f, sign in sig.features.items():
                    claimed[f"{'+' if sign > 0 else '-'}{f}"] |= sig.places[f]
        inv = described.get(g.name)
        words = words_of(g.name, inv.description if inv else "")
        g.idea = comp.score(sigs[g.name], words, claimed, words_of(g.name))


def _drop_moves(sigs: dict[str, Signature], reorganised: list, deleted: set[str]) -> None:
    """A feature an innovation adds in a statement much like one of a definition record i+1 deleted,
    where the behaviour-preserving refactor or a change no innovation claims removes it (or the
    reverse), was moved, not introduced: record 4 builds Muon at module level with the arguments
    record 3 gave it in ``configure_optimizers``, which record 4 deleted. It drops out of the
    innovation's signature, so a candidate that implements the idea where record i had the code is
    not asked to move it too. A removal from a definition that stays (the wide value embedding that
    record 16's split replaces) or in an unlike statement moves nothing."""
    removed: dict[tuple[str, int], list] = defaultdict(list)
    for c in reorganised:
        if c.atom is not None and c.place in deleted:
            removed[(c.feature, c.sign)].append(c.atom)
    for name, sig in sigs.items():
        if name in (REFACTOR, OTHER):
            continue
        for f in [f for f, sign in sig.features.items() if _moved(sig.atoms.get(f, []), removed[(f, -sign)])]:
            sig.drop(f)


def _moved(here: list, there: list) -> bool:
    return any(similarity(a.toks, b.toks) >= MOVED_SIMILARITY_MIN for _, a, _ in here for b in there)


def slice_by_names(edits: list[Edit], assigned: dict[int, list[str]], innovations: set[str], base: Version) -> None:
    """Move plumbing to the innovation it serves: an edit that uses names (new in record i+1)
    which only one other innovation defines, and none its own groups define, goes to that
    innovation (``y, v1 = self.attn(x, v1)`` in a block anchored by the embedding skip belongs to
    the value residual that defines ``v1``). Repeated until nothing moves."""
    known = _known_names(base)
    defs, uses = {}, {}
    for e in edits:
        k = known.get(e.context[1], known[""]) if e.context[0] == "unit" else known[""]
        defs[id(e)] = _defined(e) - k
        uses[id(e)] = (identifiers(e.new.node) if e.new is not None else set()) - k
    for _ in range(4):
        by_edit: dict[str, list[int]] = defaultdict(list)
        for e in edits:
            for name in defs[id(e)]:
                by_edit[name].append(id(e))
        moved = False
        users: dict[str, set[str]] = defaultdict(set)
        for e in edits:
            for name in uses[id(e)] - defs[id(e)]:
                users[name].update(n for n in assigned[id(e)] if n in innovations)
        redefined: dict[str, set[str]] = defaultdict(set)
        for e in edits:
            if e.new is not None:
                for name in _defined(e, e.new) | _defined(e, e.old):
                    redefined[name].update(n for n in assigned[id(e)] if n in innovations)
        for e in edits:
            mine = set(assigned[id(e)])
            if e.kind == "delete":
                # a deleted statement goes with the one innovation that defines its names anew
                replaced = set().union(*(redefined.get(n, set()) for n in _defined(e, e.old)))
                if len(replaced) == 1 and not (replaced & mine):
                    assigned[id(e)] = sorted(replaced)
                    moved = True
                continue
            if not (mine & innovations) and defs[id(e)]:
                # a definition outside every innovation that only one innovation uses serves it
                served = set().union(*(users.get(n, set()) for n in defs[id(e)]))
                if len(served) == 1:
                    assigned[id(e)] = sorted(served)
                    moved = True
                    continue
            found = set()
            for name in uses[id(e)]:
                others = set()
                for eid in by_edit.get(name, ()):
                    if eid != id(e):
                        others.update(n for n in assigned[eid] if n in innovations)
                found |= others
            if len(found) == 1 and not (found & mine):
                assigned[id(e)] = sorted(found)
                moved = True
        if not moved:
            break


def _known_names(base: Version) -> dict[str, set[str]]:
    """Unit key -> the names record i already has there: module-level names, attribute names and
    the unit's own locals ("" -> the module-level and attribute names alone)."""
    glob: set[str] = set()
    local: dict[str, set[str]] = {}
    for u in base.units:
        names: set[str] = set()
        for a in u.atoms:
            node = a.node
            for n in node.walk():
                if n.kind == "attribute":
                    glob.add(n.children[-1].label)
            if node.kind in ("assignment", "augmented_assignment", "for_statement:header"):
                names |= {n.label for t in node.children[:-1] for n in t.walk() if n.kind == "identifier"}
            elif node.kind == "function_definition:header":
                names |= {n.label for n in node.walk() if n.kind == "identifier"}
        if u.kind == "region" or u.kind == "class":
            glob |= names
        else:
            glob.add(u.qualname.rpartition(".")[2])
        local[u.key] = names
    out = {key: names | glob for key, names in local.items()}
    out[""] = glob
    return out


def _defined(e: Edit, atom=None) -> set[str]:
    """Names an edit's new statement (or ``atom``) gives a value of its own: assignment targets (not
    where the value only passes the name through, ``v1 = f(v1)``, or initialises it, ``v1 =
    None``), and a def's or class's name."""
    atom = e.new if atom is None else atom
    if atom is None:
        return set()
    node = atom.node
    out = set()
    if node.kind == "assignment":
        value = node.children[-1]
        if value.kind in ("none", "integer", "float", "true", "false", "string"):
            return out
        mentioned = identifiers(value)
        for t in node.children[:-1]:
            if t.kind == "type":
                continue
            if t.kind == "attribute":
                out.add(t.children[-1].label)
            else:
                out |= {n.label for n in t.walk() if n.kind == "identifier"}
        out -= mentioned
    elif node.kind in ("function_definition:header", "class_definition:header"):
        out |= {c.label for c in node.children if c.kind == "identifier"}
    return out


def _semantic_groups(truth: FileDiff, edits: list[Edit], assigned: dict[int, list[str]], innovations: set[str]):
    """A statement record i+1 left as it was but whose meaning changed (it reads a field, calls a
    helper or an attribute whose definition changed) belongs with the innovation that changed that
    definition, else to ``other``: never to ``hyperparameters`` for looking like a numbers-only
    edit (its re-tuned numbers go with the field's own edit anyway)."""
    textual = {id(e) for e in truth.edits}
    definers: dict[str, set[str]] = defaultdict(set)
    for e in edits:  # and a rewritten statement the comparison pairs as an update (record 19's Adam)
        rewritten = e.old is not None and e.new is not None and e.old.exact != e.new.exact
        if id(e) in textual or rewritten:
            for name in _defined(e) | _defined(e, e.old):
                definers[name].update(n for n in assigned[id(e)] if n in innovations)
    for e in edits:
        if id(e) in textual or e.new is None:
            continue
        owners = set().union(*(definers.get(n, set()) for n in identifiers(e.new.node)))
        if len(owners) == 1:
            assigned[id(e)] = sorted(owners)
        elif assigned[id(e)] == [HYPER]:
            assigned[id(e)] = [OTHER]


def _field_name(e: Edit) -> str | None:
    """The name a configuration field or module constant edit defines."""
    atom = e.old or e.new
    node = atom.node
    if node.kind != "assignment" or not node.children or node.children[0].kind != "identifier":
        return None
    if atom.unit.kind not in ("class", "region"):
        return None
    return node.children[0].label


def group_truth(
    truth: FileDiff, innovations: list[Innovation], edits: list[Edit] | None = None
) -> dict[int, list[str]]:
    """id(G edit) -> the names of the groups it belongs to (see the module docstring)."""
    base, target = truth.old, truth.new
    config_units = _config_units(target) | _config_units(base)
    methods = _method_names(target)
    edits = truth.edits if edits is None else edits
    renamed = {u.key: v.qualname for u, v in truth.pairs.items() if u.qualname != v.qualname}
    assigned = {id(e): _group_of(e, innovations, methods, config_units, base, target, renamed) for e in edits}
    if not truth.fallback:
        slice_by_names(edits, assigned, {i.name for i in innovations}, base)
    return assigned


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


def _group_of(e: Edit, innovations, methods, config_units, base, target, renamed=None) -> list[str]:
    names = [a.qualname for a in e.atoms]
    if e.new is None and renamed and e.context[1] in renamed:
        names.append(renamed[e.context[1]])  # deleted from a unit record i+1 renamed: anchored by the new name
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
            if owner in config_units and all(a.rpartition(".")[0] in config_units for a in inv.anchors):
                continue  # a pure re-tune claims its fields' definitions; their readers are other ideas' plumbing
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
