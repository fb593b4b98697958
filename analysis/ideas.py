"""Idea-level comparison: does the candidate change what record i+1 changed, in the same direction?

Both diffs (record i -> record i+1 and record i -> candidate) are read as changes of canonical
features (:mod:`analysis.canon`), not of statements:

1. **Deltas.** Every changed statement contributes the features its new form has and its old form
   lacks (``+``) and the reverse (``-``). Statements whose text is unchanged but whose canonical
   form changed (a configuration field they read was re-tuned, a small helper they call was
   rewritten) count as changed too. Code the candidate adds in new functions or classes counts
   where it is used (helpers are substituted or their features added at their call sites); a
   method of a subclass of one of record i's classes that the script builds is an edit of the
   method it overrides. A name
   assigned by one old statement and one inserted statement that the diff did not pair (new
   definitions split the region around it) is one updated statement.
2. **Numbers.** A statement whose canonical form changed only in numbers contributes *tune*
   features instead: ``tune:KEY:up|down`` per changed number, KEY being the configuration field
   the number comes from (``learning_rate``), or the variable and keyword it is assigned to
   (``optimizer1.lr``). A re-tune therefore matches only the same field moved the same way;
   another field, or the right field moved the other way, matches nothing. A field set after its
   definition (``args.lr = 3e-3`` after parsing, also under a switch on by default: a feature
   flag) has that value wherever it is read; a field whose
   readers were all rewritten is re-tuned at its definition; a number passed as the same field or
   library keyword in a statement that changed otherwise too is a re-tune of that keyword.
3. **Signatures.** Record i+1's deltas are grouped by innovation (the anchors of record.toml, as
   :func:`analysis.attribute.group_truth` assigns statements; a tune feature goes with the edit of
   the field it re-tunes). Within an innovation, a feature added in one place and removed in
   another cancels: moves, renames and equivalent rewrites (behaviour-preserving refactors) drop
   out of every signature. What is left is the innovation's *signature*: features with a sign and
   the places (units of record i) where record i+1 changed them.
4. **Weights.** A feature weighs by kind (a call or keyword more than an operator or a name), by
   rarity in record i (``1 / (1 + ln(1 + n))``: a call record i makes everywhere says little),
   half for removals, and three times when the innovation's name or description mentions it
   (``RMS-normalised`` -> ``rms_norm``, ``epsilon`` -> ``eps``), or, for a re-tuned setting, when
   the innovation's name does (``reduced batch size`` -> ``tune:batch_size``).
5. **Score.** Each signature feature is credited if the candidate's net change has it with the
   same sign: 1 in one of the same places, 0.85 in a related place (a unit that calls or is called
   by it, its class's constructor, module-level code for module-level code), 0.7 in another class
   of the same model, 0.4 in an unrelated method of the same class, nothing elsewhere (tune
   features anywhere: their key says where). The score is the weighted share of
   the signature credited; ``reproduced`` is score >= 0.5.

Gold (record i+1 itself) reproduces every signature exactly and null (record i) has no change,
so both verdicts stay exact. An innovation whose edits leave no signature (everything cancels)
falls back to the statement-level score of :mod:`analysis.attribute`.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from analysis.canon import (
    ALIASES,
    DIM_SECOND,
    KW_DEFAULTS,
    TYPED,
    BaseNames,
    Canon,
    Facts,
    Function,
    Num,
    Scope,
    last_name,
    literal_table,
    table_entries,
)
from analysis.diff import unit_edits
from analysis.match import name_words
from analysis.settings_text import settings_text
from analysis.syntax import identifiers
from analysis.units import Atom, Unit
from analysis.versions import Edit, FileDiff, Version

REMOVED = 0.5  # weight of a removed feature relative to an added one
BOOSTABLE = frozenset({"call", "kw", "kwn", "opn", "dtype", "ramp", "attr", "guard"})  # operations and parts, not keys
BOOST = 3.0  # weight factor of a feature the innovation's description mentions
# Credit of a feature found elsewhere than record i+1 has it: in a related place (a unit that calls
# or is called by it, its class's constructor, module-level code and main), in another class of the
# same model (a class and those it builds), in a method of the same class that neither calls nor is
# called by it (an optimiser helper beside forward), in an unrelated place.
SAME_CLASS, MODEL, SIBLING, ELSEWHERE = 0.85, 0.7, 0.4, 0.0
KIND_WEIGHT = {
    "call": 1.0,
    "tune": 1.0,
    "ramp": 2.0,
    "opt": 0.5,
    "guard": 0.8,
    "kw": 0.8,
    "kwn": 0.8,
    "dtype": 0.6,
    "edge": 0.5,
    "opn": 0.6,
    "str": 0.4,
    "num": 0.4,
    "imp": 0.3,
    "ref": 0.3,
    "attr": 0.3,
    "op": 0.25,
}
# Plumbing: calls every change makes whatever its idea (a new parameter, a list, a shape).
LOW = {
    "call:layout": 0.1,
    "call:make_tensor": 0.2,
    "call:make_zeros": 0.2,
    "call:Parameter": 0.4,
    "call:size": 0.2,
    "call:combine": 0.6,
    "call:super": 0.1,
    "call:__init__": 0.1,
    "call:dict": 0.2,
    "call:list": 0.2,
    "call:tuple": 0.2,
    "call:len": 0.2,
    "call:range": 0.2,
    "call:enumerate": 0.2,
    "call:zip": 0.2,
    "call:append": 0.2,
    "call:extend": 0.2,
    "call:pop": 0.3,
    "call:isinstance": 0.2,
    "call:getattr": 0.2,
    "call:print0": 0.1,
    "call:print": 0.1,
    "call:format": 0.1,
}
SYNONYMS = {
    "rms_norm": "rms rmsnorm normalised normalized norm normalisation normalization",
    "layer_norm": "layernorm layer norm",
    "zero_init": "zero zeros zeroed zero-init zero-initialised initialised",
    "square": "squared square ^2 relu^2 relu²",
    "cast": "cast float32 fp32 bf16 bfloat16 dtype precision",
    "mix": "mix mixed mixes residual lerp weighted blend",
    "combine": "mix mixed mixes residual skip weighted learnable",
    "tanh": "tanh softcap cap capped",
    "sigmoid": "sigmoid softcap",
    "attention": "attention attend attends",
    "Embedding": "embedding embeddings table tables",
    "cat": "concatenated stacked",
    "split": "split splits blocks chunks slices",
    "linear": "linear layer matrix",
    "mT": "batched batch stack stacks",
    "stack": "batched batch stack stacks",
    "@": "matrix",
    "eps": "epsilon eps",
    "fused": "fused",
    "set_flush_denormal": "flush denormal denormals",
    "pin_memory": "pinned pin page-locked",
    "async_copy": "non-blocking asynchronous async",
    "cumsum": "document documents",
    "orthogonalize": "newton-schulz newton schulz orthogonalised orthogonalises orthogonalized orthogonal quintic",
    "gram": "newton-schulz newton schulz quintic",
    "ramp": "warmup warms warm rises grows increase",
    "attn": "attention",
    "mlp": "mlp feed-forward",
    "lm_head": "head",
    "wte": "embedding",
}


# Words a description uses for every change (no evidence of which operation carries the idea).
MENTION_STOP = frozenset(
    "lr learning rate rates params parameters parameter weight weights dim size model the and of to with a in "
    "is are by for from new every each one two layer layers block blocks value values".split()
)


@dataclass
class Contribution:
    feature: str
    sign: int
    place: str
    atom: Atom | None
    side: str  # "old" | "new"


@dataclass
class Signature:
    """A signed feature set with the places and statements behind each feature."""

    features: dict[str, int] = field(default_factory=dict)  # feature -> +1 | -1
    places: dict[str, set[str]] = field(default_factory=dict)  # feature -> places of that sign
    atoms: dict[str, list[tuple[str, Atom, str]]] = field(default_factory=dict)  # feature -> (side, atom, place)

    @classmethod
    def present(cls, contributions: list[Contribution]) -> Signature:
        """Every (feature, sign) some edit contributes, without netting (a candidate's change: each
        of its edits is already net, and any of them may carry a feature record i+1 has)."""
        sig = cls()
        for c in contributions:
            key = f"{'+' if c.sign > 0 else '-'}{c.feature}"
            sig.features[key] = c.sign
            sig.places.setdefault(key, set()).add(c.place)
            if c.atom is not None:
                sig.atoms.setdefault(key, []).append((c.side, c.atom, c.place))
        return sig

    def drop(self, feature: str) -> None:
        """Take ``feature`` out, with its places and statements."""
        del self.features[feature]
        self.places.pop(feature, None)
        self.atoms.pop(feature, None)

    @classmethod
    def of(cls, contributions: list[Contribution]) -> Signature:
        net: Counter = Counter()
        for c in contributions:
            net[c.feature] += c.sign
        sig = cls()
        for c in contributions:
            n = net[c.feature]
            if n == 0 or (n > 0) != (c.sign > 0):
                continue
            sig.features[c.feature] = 1 if n > 0 else -1
            sig.places.setdefault(c.feature, set()).add(c.place)
            if c.atom is not None:
                sig.atoms.setdefault(c.feature, []).append((c.side, c.atom, c.place))
        return sig


@dataclass
class Side:
    """One script's canonical view: its facts and the features of every atom."""

    version: Version
    facts: Facts
    feats: dict[int, Counter]
    trees: dict[int, object]
    fields: frozenset[str]  # configuration field and constant names
    definitions: dict[int, tuple[str, ...]]  # id(atom) of a field's or constant's definition -> its names
    values: dict[str, float]  # its fields' and constants' values
    processes: frozenset[str] = frozenset()  # module-level names of the process count (world_size)


@dataclass
class IdeaMatch:
    """The idea-level verdict of one innovation."""

    score: float
    weight: float
    matched: list[tuple[str, float, float]]  # (feature, weight, credit)
    missing: list[tuple[str, float]]  # (feature, weight)
    truth: Signature
    candidate: Signature
    credited: dict[str, set[str]] = field(default_factory=dict)  # feature -> candidate places that earned it

    def truth_atoms(self, feature: str) -> list[tuple[str, Atom]]:
        """(side, atom) of record i+1's change behind ``feature`` ("old": record i's line)."""
        return [(side, atom) for side, atom, _ in self.truth.atoms.get(feature, [])]

    def candidate_atoms(self, feature: str) -> list[tuple[str, Atom]]:
        """(side, atom) of the candidate's change that earned ``feature`` its credit."""
        sign = self.truth.features.get(feature, 1)
        places = self.credited.get(feature)
        return [
            (side, atom)
            for side, atom, place in self.candidate.atoms.get(f"{'+' if sign > 0 else '-'}{feature}", [])
            if places is None or place in places
        ]


class Comparison:
    """Record i, record i+1 and a candidate, read as feature changes."""

    def __init__(self, truth: FileDiff, agent: FileDiff):
        base = truth.old
        vocab = base.module.bound
        self.base_side = side_of(base, vocab, None)
        fields = self.base_side.values
        names = BaseNames.of(self.base_side.facts, (a.node for u in base.units for a in u.atoms), base.text)
        self.rarity = Counter()
        for f in self.base_side.feats.values():
            self.rarity.update(f)
        paired = {v.qualname: u for u, v in truth.pairs.items() if u.kind in ("function", "method")}
        self.truth_side = side_of(truth.new, vocab, fields, paired, _renamed(truth), names)
        self.agent_side = side_of(agent.new, vocab, fields, None, _renamed(agent), names)
        self.truth = truth
        self.agent = agent
        truth_overrides, agent_overrides = overrides(truth), overrides(agent)
        self.truth_edits = edits_of(truth, self.base_side, self.truth_side, truth_overrides)
        self.agent_edits = edits_of(agent, self.base_side, self.agent_side, agent_overrides)
        self.related = call_graph(base, truth.new, agent.new)
        truth_places = places_of(truth, self.truth_side, truth_overrides)
        agent_places = places_of(agent, self.agent_side, agent_overrides)
        self.truth_contributions = all_contributions(self.truth_edits, self.base_side, self.truth_side, truth_places)
        agent_contributions = all_contributions(self.agent_edits, self.base_side, self.agent_side, agent_places)
        self.agent_sig = Signature.present([c for e in self.agent_edits for c in agent_contributions[id(e)]])

    def weight(self, feature: str, sign: int, words: set[str], named: set[str] = frozenset()) -> float:
        """``named``: the words of the innovation's name; a setting it names (``reduced batch size``:
        the batch) is the idea, and re-tuning only the settings around it is not."""
        kind = feature.partition(":")[0]
        w = LOW.get(feature, KIND_WEIGHT.get(kind, 0.3))
        if kind == "edge":
            outer, _, inner = feature[5:].partition(">")
            if "call:" + outer in LOW or "call:" + inner in LOW:
                w = 0.1
        if kind not in ("tune", "ramp"):
            w /= 1.0 + math.log1p(self.rarity.get(feature, 0))
        if sign < 0:
            words = words | {word[1:] for word in words if word.startswith("!")}  # "without X": X's removal
        if (kind in BOOSTABLE and mentions(feature, words)) or (kind == "tune" and mentions(feature, named)):
            w *= BOOST
        return w * (REMOVED if sign < 0 else 1.0)

    def score(
        self, sig: Signature, words: set[str], claimed: dict[str, set[str]] | None = None, named: set[str] = frozenset()
    ) -> IdeaMatch:
        """``claimed``: signed feature -> places where another innovation's signature has it (a
        candidate's change there is explained by that innovation and earns this one exact-place
        credit only). ``named``: the words of the innovation's name (see :meth:`weight`)."""
        total = got = 0.0
        add_total = add_got = removed_got = 0.0
        matched, missing = [], []
        cand = self.agent_sig
        claimed = claimed or {}
        earned: dict[str, set[str]] = {}
        for f, sign in sig.features.items():
            w = self.weight(f, sign, words, named)
            total += w
            if sign > 0:
                add_total += w
            credit = 0.0
            key = f"{'+' if sign > 0 else '-'}{f}"
            if key in cand.features:
                if f.startswith("tune:") or f.startswith("ramp:"):
                    credit = 1.0
                    earned[f] = set(cand.places[key])
                else:
                    taken = claimed.get(key, set())
                    by_place = {
                        q: max(
                            locality(p, q, self.related) if (q == p or q not in taken) else 0.0 for p in sig.places[f]
                        )
                        for q in cand.places[key]
                    }
                    credit = max(by_place.values())
                    earned[f] = {q for q, c in by_place.items() if c == credit}
            if credit > 0:
                if sign > 0:
                    add_got += w * credit
                else:
                    removed_got += w * credit
                matched.append((f, w, credit))
            else:
                missing.append((f, w))
                opposite = _opposite(f)
                against = f"{'+' if sign > 0 else '-'}{opposite}"
                if opposite and opposite not in sig.features and against in cand.features:
                    total += w  # the candidate did the opposite (a decay for a warmup): counts against
                    missing.append((opposite + " (the opposite)", w))
        # Removing what record i+1 removed is evidence only as far as the candidate also adds what it
        # added: a decoy replacing the same old code earns no credit for the removal.
        got = add_got + removed_got * (min(1.0, 2 * add_got / add_total) if add_total else 1.0)
        score = round(got / total, 4) if total else 0.0
        return IdeaMatch(score, total, matched, missing, sig, cand, earned)


def _renamed(d: FileDiff) -> dict[str, str]:
    """New name -> record i's name of the functions, methods and classes the diff pairs under
    another name (calls of a renamed helper are calls of the same helper)."""
    out = {}
    for u, v in d.pairs.items():
        a, b = u.qualname.rpartition(".")[2], v.qualname.rpartition(".")[2]
        if a != b and u.kind in ("function", "method", "class"):
            out[b] = a
    return out


def _opposite(feature: str) -> str | None:
    """ramp:up <-> ramp:down, tune:KEY:up <-> tune:KEY:down."""
    for a, b in ((":up", ":down"), (":down", ":up")):
        if feature.endswith(a) and feature.startswith(("ramp:", "tune:")):
            return feature[: -len(a)] + b
    return None


def locality(p: str, q: str, related: dict[str, set[str]]) -> float:
    """Credit of a feature record i+1 changed in place ``p`` that the candidate changed in ``q``."""
    if p == q:
        return 1.0
    cp, cq = _class_of(p), _class_of(q)
    if q in related.get(p, ()) or p in related.get(q, ()):
        return SAME_CLASS
    if cp is not None and cp == cq:  # the constructor sets up what every method of its class uses
        return SAME_CLASS if _builds(p) or _builds(q) else SIBLING
    if _top_level(p) and _top_level(q):
        return SAME_CLASS
    if cp is not None and cq is not None and "class:" + cq in related.get("model:" + cp, ()):
        return MODEL
    return ELSEWHERE


def _builds(place: str) -> bool:
    """A constructor or initialiser of its class (or the class body itself)."""
    return place.startswith("class:") or place.rpartition(".")[2] in ("__init__", "reset_parameters", "_init_weights")


def _top_level(place: str) -> bool:
    """Module-level code and main(): the program's own flow."""
    return place.startswith("region:") or place == "function:main"


def call_graph(*versions: Version) -> dict[str, set[str]]:
    """Unit key -> keys of the units it calls or references by name (functions, methods through
    ``self.name``, classes), over the given versions (record i's keys)."""
    out: dict[str, set[str]] = defaultdict(set)
    for v in versions:
        if v.module is None:
            continue
        names: dict[str, list[str]] = defaultdict(list)
        for u in v.units:
            if u.kind in ("function", "method", "class"):
                names[u.qualname.rpartition(".")[2]].append(u.key)
        classes: dict[str, set[str]] = defaultdict(set)  # class -> classes it uses (composition)
        for u in v.units:
            refs = set()
            for a in u.atoms[1:] if u.kind != "region" else u.atoms:
                refs |= identifiers(a.node)
            for r in refs & names.keys():
                if len(names[r]) == 1 and names[r][0] != u.key:  # forward, __init__: too many to tell
                    out[u.key].add(names[r][0])
            owner = _class_of(u.key)
            if owner is not None:
                for r in refs & names.keys():
                    if any(k.startswith("class:") for k in names[r]) and r != owner:
                        classes[owner].add(r)
                        classes[r].add(owner)
        # classes of one model (a class and those it builds, transitively) are related
        for start in list(classes):
            seen, todo = {start}, [start]
            while todo:
                for nxt in classes[todo.pop()]:
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            out["model:" + start].update("class:" + c for c in seen)
    return out


def _class_of(place: str) -> str | None:
    kind, _, name = place.partition(":")
    if kind == "method":
        return name.rpartition(".")[0]
    if kind == "class":
        return name
    return None


WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-^²]*|\d+(?:\.\d+)?(?:e-?\d+)?")


def words_of(*texts: str) -> set[str]:
    """The words of a name and description; a word after "without" is marked ``!word``: it names
    what the innovation removes ("without numpy"), so it boosts only removed features."""
    out = set()
    for t in texts:
        previous = ""
        for w in WORD.findall(t.lower()):
            mark = "!" if previous == "without" else ""
            out.add(mark + w)
            out.update(mark + p for p in re.split(r"[_\-]", w) if p)
            previous = w
    return out


def mentions(feature: str, words: set[str]) -> bool:
    kind, _, name = feature.partition(":")
    if kind == "edge":
        return False
    if kind == "tune":
        name = name.rsplit(":", 1)[0]
    if kind == "num":
        return False
    if kind == "ramp":
        return bool(words & set(SYNONYMS["ramp"].split()))
    if kind in ("opt", "guard"):
        return bool((words - MENTION_STOP) & ({name.lower()} | set(SYNONYMS.get(name, "").split())))
    name = name.lower()
    parts = {p for p in re.split(r"[_.\-]", name) if len(p) > 2} | {name}
    syn = set(SYNONYMS.get(feature.partition(":")[2], "").lower().split())
    return bool(set(map(_singular, parts | syn)) & set(map(_singular, words - MENTION_STOP)))


def _singular(word: str) -> str:
    """``sequences`` -> ``sequence``: a name says ``64K-token sequences`` of ``sequence_length``."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


# ---- one script's canonical view --------------------------------------------------------------


def side_of(
    version: Version,
    vocab: frozenset[str],
    base_values: dict[str, float] | None,
    helpers: dict[str, Unit] | None = None,
    renamed: dict[str, str] | None = None,
    base_names: BaseNames | None = None,
) -> Side:
    """``base_values``: record i's configuration fields and constants with their values (None: this
    is record i). ``helpers``: qualname -> record i's unit, for functions whose calls are to be read
    with record i's body (record i+1's side: a rewritten helper then changes only its own place, so
    the innovation that rewrote it is not charged again at every call site). ``base_names``: record
    i's parameters and attributes (None: this is record i)."""
    facts = facts_of(version, vocab, frozenset(base_values or ()), helpers or {})
    facts.renamed = renamed or {}
    values = {name: float(v) for name, v in {**facts.module, **facts.consts}.items()}
    own = frozenset(values)
    base_values = values if base_values is None else base_values
    canon = Canon(facts, vocab, frozenset(facts.own), frozenset(base_values), base_names)
    canon.base_values = base_values
    feats, trees = {}, {}
    parts = _self_attributes(version)
    for unit in version.units:
        scope = unit_scope(unit, facts)
        for atom in unit.atoms:
            try:
                tree = canon.statement(atom.node, scope)
                found = canon.features(tree)
            except RecursionError:  # a pathological statement: no features rather than no attribution
                tree, found = ("u", "unreadable", atom.node.h), Counter()
            trees[id(atom)] = tree
            feats[id(atom)] = found
        _guards(unit, trees, feats, parts)
    return Side(version, facts, feats, trees, own, facts.definitions, values, _process_counts(version.text))


# The speedrun's process count (8 GPUs): a per-process share times the process count is the setting
# it makes at that scale, so ``world_size * args.seq_len`` in place of ``args.batch_size`` re-tunes
# the batch (record 21: 8 x 48K tokens where there were 512K).
PROCESSES = 8
PROCESS_COUNT = re.compile(r"^(\w+)\s*(?::[^=\n]*)?=[^\n]*\b(?:WORLD_SIZE|get_world_size)\b", re.MULTILINE)


def _process_counts(text: str) -> frozenset[str]:
    """Module-level names assigned the process count (``world_size = int(os.environ["WORLD_SIZE"])``)."""
    return frozenset(PROCESS_COUNT.findall(text))


def _at_full_scale(tree, names: frozenset[str]):
    """``tree`` with each process-count name read as :data:`PROCESSES` and products of numbers folded
    (only to tell whether a changed statement changed only numbers at the speedrun's scale)."""
    if not names or not isinstance(tree, tuple) or not tree:
        return tree
    if tree[0] == "n" and len(tree) == 2 and tree[1] in names:
        return Num(PROCESSES)
    if tree[0] == "o" and tree[1] == "*" and len(tree) == 3:
        factors = tuple(_at_full_scale(f, names) for f in tree[2])
        if all(isinstance(f, Num) for f in factors):
            origin = next((f.origin for f in factors if f.origin), None)
            return Num(math.prod(factors), origin)
        return ("o", "*", factors)
    return tuple(_at_full_scale(c, names) if isinstance(c, tuple) else c for c in tree)


GUARDS = ("if_statement:header", "elif_clause:header", "else_clause:header")


def _self_attributes(version: Version) -> set[str]:
    """Attributes the script assigns on ``self`` (its model's parts: attn, mlp, lm_head, ...)."""
    out = set()
    for u in version.units:
        for a in u.atoms:
            if a.node.kind == "assignment":
                for t in a.node.children[:-1]:
                    if t.kind == "attribute" and t.children and t.children[0].label == "self":
                        out.add(t.children[-1].label)
    return out


def _guards(unit: Unit, trees: dict, feats: dict, parts: set[str]) -> None:
    """An ``if`` says which of the model's parts it guards: ``guard:NAME`` for the calls of
    attributes the script assigns (``if self.attn is not None: x = x + self.attn(...)`` and ``if
    not skip: x = x + self.attn(...)`` both guard ``attn``). Library calls are not parts: a loop
    unrolled or a branch folded into a helper changes no guard."""
    for atom in unit.atoms:
        if atom.node.kind not in GUARDS:
            continue
        names = set()
        for child in unit.atoms[atom.index + 1 :]:
            if child.parent != atom.index:
                continue
            for f in feats.get(id(child), ()):
                if f.startswith("call:") and f[5:] in parts:
                    names.add(f[5:])
        for name in names:
            feats[id(atom)]["guard:" + name] += 1
        if names:
            trees[id(atom)] = (trees[id(atom)], ("guard", tuple(sorted(names))))


def unit_scope(unit: Unit, facts: Facts) -> Scope:
    owner = unit.qualname.rpartition(".")[0] if unit.kind == "method" else None
    assigned: Counter = Counter()
    for atom in unit.atoms:
        for name in _assigned_names(atom.node):
            assigned[name] += 1
    multi = frozenset(n for n, c in assigned.items() if c > 1)
    scope = Scope(owner=owner, multi=multi, module=facts.module)
    scope.module_level = unit.kind == "region"
    if unit.kind in ("function", "method"):
        head = unit.atoms[0].node
        for c in head.children:
            if c.kind == "parameters":
                for p in c.children:
                    for n in p.walk():
                        if n.kind == "identifier":
                            scope.shadow(n.label)
                            break
    return scope


def _assigned_names(node) -> list[str]:
    if node.kind not in ("assignment", "augmented_assignment", "for_statement:header"):
        return []
    out = []
    targets = node.children[:-1] if node.kind != "for_statement:header" else node.children[:1]
    for t in targets:
        if t.kind == "type":
            continue
        if t.kind == "identifier":
            out.append(t.label)
        elif t.kind in ("tuple_pattern", "pattern_list"):
            out += [c.label for c in t.children if c.kind == "identifier"]
    if node.kind in ("augmented_assignment", "for_statement:header"):
        out = out * 2  # never a constant
    return out


def facts_of(version: Version, vocab: frozenset[str], base_fields: frozenset[str], helpers: dict[str, Unit]) -> Facts:
    facts = Facts()
    units = version.units
    for unit in units:
        if unit.kind == "class":
            facts.classes.add(unit.qualname)
        if unit.kind in ("function", "method"):
            fn = _function(helpers.get(unit.qualname, unit))
            facts.functions[unit.qualname] = fn
            facts.by_name.setdefault(unit.qualname.rpartition(".")[2], []).append(fn)
    facts.own = set(version.module.bound)
    subclasses = _library_bases(units)
    facts.partials.update(_forwarding_subclasses(units))
    for unit in units:
        for atom in unit.atoms:
            _types_and_keys(atom.node, facts, subclasses)
    canon = Canon(facts, vocab, frozenset(facts.own), base_fields)
    config = _config_classes(units)
    on = _flags_on(units, config)
    facts.switches = frozenset(on)
    module_counts: Counter = Counter()
    for unit in units:
        if unit.kind == "region":
            for atom in unit.atoms:
                for name in _assigned_names(atom.node):
                    module_counts[name] += not _passed_through(atom.node, name) and not _untaken(unit, atom, on)
    # module-level constants first (fields may use them), then configuration fields and argparse
    texts: dict[str, str] = {}  # module-level names bound to a string literal -> its text
    views: dict[str, tuple[str, tuple]] = {}  # names bound to a table's section -> (table, keys)
    for unit in units:
        if unit.kind != "region":
            continue
        scope = Scope(module=facts.module)
        for atom in unit.atoms:
            node = atom.node
            if node.kind != "assignment" or len(node.children) < 2 or _untaken(unit, atom, on):
                continue
            target = node.children[0]
            names = [target] if target.kind == "identifier" else target.children
            if target.kind not in ("identifier", "pattern_list", "tuple_pattern") or not all(
                n.kind == "identifier" and module_counts[n.label] == 1 for n in names
            ):
                continue
            if target.kind == "identifier" and node.children[-1].kind == "lambda":
                fn = _lambda_function(target.label, node.children[-1])
                facts.functions[fn.qualname] = fn
                facts.by_name.setdefault(fn.qualname, []).append(fn)
                continue
            applied = _partial_application(node.children[-1]) if target.kind == "identifier" else None
            if applied is not None:
                facts.partials[target.label] = applied
                continue
            if target.kind == "identifier" and node.children[-1].kind == "string" and not node.children[-1].children:
                texts[target.label] = node.children[-1].label
            table = _parsed_settings(node.children[-1], texts)
            value = table if table is not None else canon.expr(node.children[-1], scope)
            if target.kind == "identifier" and _keyword_dict(value):
                facts.keyword_dicts[target.label] = value  # passed as **name: its entries are keywords
            if target.kind == "identifier" and literal_table(value):
                facts.tables[target.label] = _named_entries(value)  # a table of presets, read by constant keys
                continue
            # a, b = 1530, 600 or = PRESETS["fast"]: one number per name
            values = [value] if target.kind == "identifier" else _unpacked(value, len(names))
            if values and all(literal_table(v) for v in values):
                # opt, ev = HP["opt"], HP["eval"]: sections of a table, each read as one
                sources = [node.children[-1]] if target.kind == "identifier" else node.children[-1].children
                for n, v, source in zip(names, values, sources, strict=False):
                    facts.tables[n.label] = _named_entries(v)
                    view = _table_path(source) if source.kind == "subscript" else None
                    if view and view[1] and view[0] in facts.tables:
                        views[n.label] = view
            elif values and all(isinstance(v, Num) for v in values):
                for n, v in zip(names, values, strict=True):
                    facts.module[n.label] = Num(v, v.origin or n.label, True)
                facts.definitions[id(atom)] = tuple(n.label for n in names)
    _keyword_dict_entries(units, canon, facts)
    _written_entries_dropped(units, facts, views)
    keywords: dict[str, list] = defaultdict(list)  # configuration class -> its constant fields
    for unit in units:
        if unit.qualname in config:
            scope = Scope(module=facts.module)
            for atom in unit.atoms[1:]:
                node = atom.node
                kids = [c for c in node.children if c.kind != "type"]
                if node.kind == "assignment" and len(kids) == 2 and kids[0].kind == "identifier":
                    value = canon.expr(kids[1], scope)
                    if isinstance(value, Num) or (isinstance(value, tuple) and value[0] == "s"):  # a number, a switch
                        keywords[unit.qualname].append((kids[0].label, value))
                    if isinstance(value, Num):
                        name = kids[0].label
                        facts.class_fields.setdefault(unit.qualname, {})[name] = Num(value, name, True)
                        facts.consts.setdefault(name, Num(value, name, True))
                        facts.definitions[id(atom)] = (name,)
                    elif _numbers_tuple(value):
                        facts.tuples.setdefault(kids[0].label, ("q", "tuple", tuple(Num(v) for v in value[2])))
                        facts.definitions[id(atom)] = (kids[0].label,)
                    elif _keyword_dict(made := _field_default(value)):
                        facts.keyword_dicts.setdefault(kids[0].label, made)  # passed as **cfg.name
        for atom in unit.atoms:
            name = _argparse_default(atom.node, canon, facts)
            if name:
                facts.definitions[id(atom)] = (name,)
    facts.instances = _configuration_objects(units, config, module_counts)
    for name, cls in facts.instances.items():  # an object's fields as keywords: **asdict(ddp_options)
        if keywords.get(cls):
            facts.keyword_dicts.setdefault(name, ("c", "dict", (), tuple(sorted(keywords[cls]))))
    _namespace_settings(units, canon, facts, module_counts)
    _settings_objects(units, canon, facts)
    _field_overrides(units, canon, facts, config, on)
    _class_aliases(units, canon, facts, config)
    return facts


def _parsed_settings(value, texts: dict[str, str]) -> tuple | None:
    """``load(TEXT)``, ``json.loads('{"lr": 0.02}')``: a call on one string of settings (a literal or
    a module-level name bound to one) is the table of that text (:mod:`analysis.settings_text`)."""
    if value.kind != "call" or len(value.children) < 2:
        return None
    positional = [a for a in value.children[1].children if a.kind != "keyword_argument"]
    if len(positional) != 1:
        return None
    text = positional[0]
    if text.kind == "string" and not text.children:
        return settings_text(text.label)
    return settings_text(texts[text.label]) if text.kind == "identifier" and text.label in texts else None


# methods of a dict that read it; any other method called on a table (update, setdefault, pop) may write it
READING_METHODS = frozenset({"get", "items", "keys", "values", "copy", "index", "count"})


def _written_entries_dropped(units: list[Unit], facts: Facts, views: dict[str, tuple[str, tuple]]) -> None:
    """A table's entries the script writes anywhere (``cfg["len"]["rope"] = ...``, ``cfg["opt"]["lr"] *= 2``)
    are not its literal values: they are dropped from it, and a table written by a key that is not a
    constant, or by a method (``cfg.update(...)``), is no table of constants at all. A section bound
    to a name of its own (``views``: ``opt = cfg["opt"]`` -> ("cfg", ("opt",))) is the same dict, so
    a write through either drops the entry from both, and from the table's dotted paths."""
    for node in (n for unit in units for atom in unit.atoms for n in atom.node.walk()):
        written = []
        if node.kind in ("assignment", "augmented_assignment") and node.children:
            target = node.children[0]
            targets = target.children if target.kind in ("pattern_list", "tuple_pattern") else [target]
            written = [t for t in targets if t.kind == "subscript"]  # a name bound anew is counted elsewhere
        elif node.kind == "call" and node.children and node.children[0].kind == "attribute":
            method = node.children[0]
            if method.children[-1].label not in READING_METHODS:
                written = [method.children[0]]
        for name, keys in filter(None, map(_table_path, written)):
            root, prefix = views.get(name, (name, ()))
            path = (*prefix, *keys) if keys is not None else None
            # (table, path within it) of every name that sees the written entry
            seen = [(root, path)] + [
                (view, path[len(within) :] if path is not None else None)
                for view, (source, within) in views.items()
                if source == root and (path is None or path[: len(within)] == within and len(path) > len(within))
            ]
            if path is not None and len(path) > 1:
                seen.append((root, (".".join(path),)))
            for table_name, table_keys in seen:
                if table_name not in facts.tables:
                    continue
                table = _without(facts.tables[table_name], table_keys) if table_keys else None
                if table is None or not literal_table(table):
                    del facts.tables[table_name]
                else:
                    facts.tables[table_name] = table


def _named_entries(table, path: tuple[str, ...] = ()):
    """A table whose dicts' numbers are named after their keys, as a configuration field's number is
    named after the field: ``{"len": {"val": 262144}}`` holds ``len_val``, ``dict(num_iterations=1200)``
    holds ``num_iterations``."""
    if table[:2] != ("c", "dict") or table[2]:
        return table
    entries = []
    for key, value in table[3]:
        if isinstance(value, Num):
            value = Num(value, "_".join((*path, key)).replace(".", "_"), True)  # "opt.lr": a dotted path
        elif isinstance(value, tuple):
            value = _named_entries(value, (*path, key))
        entries.append((key, value))
    return ("c", "dict", (), tuple(entries))


def _table_settings(tables) -> set[str]:
    """The names of the numbers that tables hold (see :func:`_named_entries`)."""
    out = set()
    for table in tables:
        for entry in table_entries(table):
            if isinstance(entry, Num) and entry.origin:
                out.add(entry.origin)
            elif isinstance(entry, tuple):
                out |= _table_settings([entry])
    return out


def _table_path(node) -> tuple[str, tuple | None] | None:
    """``name["a"]["b"]`` -> (name, ("a", "b")); (name, None) where a key is not a constant string;
    ``name`` alone -> (name, None) only as the receiver of a method (the caller passes it so)."""
    keys = []
    while node.kind == "subscript" and len(node.children) == 2:
        key = node.children[1]
        keys.append(key.label.strip("\"'") if key.kind == "string" and not key.children else None)
        node = node.children[0]
    if node.kind != "identifier":
        return None
    return node.label, (tuple(reversed(keys)) if keys and None not in keys else None)


def _without(table: tuple, keys: tuple):
    """A canonical dict table with the entry at the path ``keys`` removed (None: the path leads into
    something that is not a dict of keywords)."""
    if table[:2] != ("c", "dict") or table[2]:
        return None
    entries = dict(table[3])
    head, rest = keys[0], keys[1:]
    if head in entries and rest:
        inner = _without(entries[head], rest) if isinstance(entries[head], tuple) else None
        if inner is None:
            return None
        entries[head] = inner
    else:
        entries.pop(head, None)
    return ("c", "dict", (), tuple(sorted(entries.items(), key=lambda kv: kv[0])))


def _passed_through(node, name: str) -> bool:
    """``name = f(name)``: the name handed to a function of the script's that gives it back (a pass of
    overrides from the environment over a table of settings, which keeps the table's literal values,
    as the sandbox's environment sets none) does not bind it anew."""
    if node.kind != "assignment" or len(node.children) != 2 or node.children[0].kind != "identifier":
        return False
    value = node.children[1]
    if value.kind != "call" or len(value.children) < 2 or value.children[0].kind != "identifier":
        return False
    arguments = value.children[1].children
    return len(arguments) == 1 and arguments[0].kind == "identifier" and arguments[0].label == name


def _module_calls(units: list[Unit]):
    """(name, call) of every module-level ``name = f(...)``."""
    for atom in (a for unit in units if unit.kind == "region" for a in unit.atoms):
        kids = atom.node.children
        if atom.node.kind == "assignment" and len(kids) == 2 and (kids[0].kind, kids[1].kind) == ("identifier", "call"):
            yield kids[0].label, kids[1]


def _configuration_objects(units: list[Unit], config: set[str], module_counts: Counter) -> dict[str, str]:
    """Module-level names bound once to a configuration class built from its defaults
    (``retune = ScheduleRetune()``) -> that class."""
    out = {}
    for name, call in _module_calls(units):
        if call.children[0].kind != "identifier" or call.children[0].label not in config:
            continue
        no_arguments = len(call.children) < 2 or not call.children[1].children
        if no_arguments and module_counts[name] == 1:
            out[name] = call.children[0].label
    return out


# calls that make an attribute view of their keywords: ``SimpleNamespace(**d).steps`` is ``d["steps"]``
NAMESPACE_CALLS = frozenset({"SimpleNamespace", "Namespace"})


def _namespace_settings(units: list[Unit], canon: Canon, facts: Facts, module_counts: Counter) -> None:
    """A module-level name bound once to an attribute view of a table of settings (``args =
    SimpleNamespace(**RUN)``, ``argparse.Namespace(**RUN)``) or of its own keywords (``args =
    SimpleNamespace(num_iterations=1480, ...)``): the numbers are configuration fields, named after
    their keys, so ``args.num_iterations`` reads ``RUN["num_iterations"]`` and the table's statement
    (or the view's own) defines them."""
    regions = [a for unit in units if unit.kind == "region" for a in unit.atoms]
    scope = Scope(module=facts.module)
    for view, call in _module_calls(units):
        arguments = call.children[1].children if len(call.children) == 2 else []
        if module_counts[view] != 1 or last_name(call.children[0]) not in NAMESPACE_CALLS or not arguments:
            continue
        if all(a.kind == "keyword_argument" for a in arguments):
            entries = [(a.children[0].label, canon.expr(a.children[-1], scope)) for a in arguments]
            name = view
        elif len(arguments) == 1 and arguments[0].kind == "dictionary_splat":
            name = arguments[0].children[0].label if arguments[0].children[0].kind == "identifier" else None
            table = facts.tables.get(name)
            if table is None or table[:2] != ("c", "dict"):
                continue
            entries = table[3]
        else:
            continue
        fields = [(key, value) for key, value in entries if isinstance(value, Num)]
        for key, value in fields:
            facts.consts.setdefault(key, Num(value, key, True))
        definition = next((a for a in regions if _assigned_names(a.node) == [name]), None)
        if definition is not None and fields:
            facts.definitions[id(definition)] = tuple(key for key, _ in fields)


def _keyword_dict_entries(units: list[Unit], canon: Canon, facts: Facts) -> None:
    """Entries module-level code adds to a dict of keywords after building it (``kw["name"] = v``,
    ``kw.update(name=v)``): they are keywords of the call it is passed to as well."""
    scope = Scope(module=facts.module)
    for atom in (a for unit in units if unit.kind == "region" for a in unit.atoms):
        node, added = atom.node, []
        target = node.children[0] if node.children else None
        if node.kind == "assignment" and len(node.children) == 2 and target.kind == "subscript":
            name, key = target.children[0], target.children[-1]
            if name.kind == "identifier" and key.kind == "string" and len(target.children) == 2:
                added = [(name.label, key.label.strip("\"'"), node.children[-1])]
        elif node.kind == "call" and target.kind == "attribute" and target.children[-1].label == "update":
            name = target.children[0]
            arguments = node.children[-1].children if len(node.children) > 1 else []
            if name.kind == "identifier" and all(a.kind == "keyword_argument" for a in arguments):
                added = [(name.label, a.children[0].label, a.children[-1]) for a in arguments]
        for name, key, value in added:
            built = facts.keyword_dicts.get(name)
            if built is not None:
                entries = {**dict(built[3]), key: canon.expr(value, scope)}
                facts.keyword_dicts[name] = ("c", "dict", (), tuple(sorted(entries.items())))  # keys are unique


def _field_default(value):
    """What a field's default makes: a dataclass ``field(default_factory=lambda: dict(...))``'s dict,
    else the value itself."""
    if isinstance(value, tuple) and value[:2] == ("c", "field"):
        factory = dict(value[3]).get("default_factory")
        if isinstance(factory, tuple) and factory[0] == "l" and len(factory) == 2:
            return factory[1]
    return value


def _keyword_dict(value) -> bool:
    """A canonical ``dict(name=value, ...)`` or ``{"name": value, ...}`` with keywords only."""
    return isinstance(value, tuple) and value[:2] == ("c", "dict") and not value[2] and bool(value[3])


def _unpacked(value, count: int) -> list:
    """The entries of a canonical tuple or list of ``count`` entries, else none."""
    if isinstance(value, tuple) and value[0] == "q" and value[1] in ("tuple", "list", "expression_list"):
        return list(value[2]) if len(value[2]) == count else []
    return []


def _settings_objects(units: list[Unit], canon: Canon, facts: Facts) -> None:
    """A class whose ``__init__`` does nothing but set its own attributes (``self.lr = 3e-3``,
    ``self.steps = env_value("STEPS", 6200)``, ``self.lo, self.hi = lo, hi``) is a settings object:
    its numbers are configuration fields, as a dataclass's are. An attribute set from a parameter
    holds the number every construction of the class gives it (its default where none passes one):
    a schedule or a hook object keeps its settings that way."""
    for unit in units:
        body = unit.atoms[1:]
        if not (unit.kind == "method" and unit.qualname.endswith(".__init__")):
            continue
        fields = [_self_fields(atom.node) for atom in body]
        if not all(fields) or sum(map(len, fields)) < 2:
            continue
        scope = unit_scope(unit, facts)
        given = _constructed_with(unit, units, canon, scope)
        cls = unit.qualname.rpartition(".")[0]
        state = _mutated_fields(cls, units)
        for atom, pairs in zip(body, fields, strict=True):
            names = []
            for name, node in pairs:
                value = (
                    given[node.label] if node.kind == "identifier" and node.label in given else canon.expr(node, scope)
                )
                if isinstance(value, Num) and name not in state:
                    facts.consts.setdefault(name, Num(value, name, True))
                    facts.held.setdefault(cls, {}).setdefault(name, Num(value, name, True))
                    names.append(name)
            if names:
                facts.definitions[id(atom)] = tuple(names)


def _mutated_fields(cls: str, units: list[Unit]) -> set[str]:
    """Attributes a class's methods other than ``__init__`` assign (``self.t += 1``): its state,
    not its settings."""
    return {
        target.children[-1].label
        for unit in units
        if unit.kind == "method" and unit.qualname.rpartition(".")[0] == cls and not unit.qualname.endswith(".__init__")
        for atom in unit.atoms
        if atom.node.kind in ("assignment", "augmented_assignment")
        for target in _targets(atom.node)
        if _self_attribute(target)
    }


def _targets(node) -> list:
    """The attribute nodes an assignment writes (tuple targets unpacked)."""
    first = node.children[0]
    return list(first.children) if first.kind in ("tuple_pattern", "pattern_list") else [first]


def _self_fields(node) -> list[tuple[str, object]]:
    """(attribute, value node) of ``self.name = value`` (annotated or not) and of ``self.a, self.b =
    x, y``; else none."""
    kids = node.children
    if _self_field(node):
        return [(kids[0].children[-1].label, kids[-1])]
    if node.kind != "assignment" or len(kids) != 2 or kids[0].kind not in ("tuple_pattern", "pattern_list"):
        return []
    targets, values = kids[0].children, kids[1].children if kids[1].kind in ("tuple", "expression_list") else []
    if len(targets) != len(values) or not all(_self_attribute(t) for t in targets):
        return []
    return [(t.children[-1].label, v) for t, v in zip(targets, values, strict=True)]


def _self_field(node) -> bool:
    """``self.name = value`` (annotated or not)."""
    kids = node.children
    return node.kind == "assignment" and len(kids) >= 2 and _self_attribute(kids[0])


def _self_attribute(node) -> bool:
    return node.kind == "attribute" and len(node.children) == 2 and node.children[0].label == "self"


def _constructed_with(init: Unit, units: list[Unit], canon: Canon, scope: Scope) -> dict[str, Num]:
    """Parameter of a class's ``__init__`` -> the one number every construction of the class in the
    script gives it (passed, or its default where a call passes none); a parameter given different
    numbers, or anything but a number, is left out, and so is every one where a call spreads its
    arguments."""
    cls = init.qualname.rpartition(".")[0].rpartition(".")[-1]
    params, defaults = _parameters(next((c for c in init.atoms[0].node.children if c.kind == "parameters"), None))
    params = params[1:]  # self
    calls = [
        n
        for unit in units
        for atom in unit.atoms
        for n in atom.node.walk()
        if n.kind == "call"
        and len(n.children) > 1
        and n.children[0].kind == "identifier"
        and n.children[0].label == cls
    ]
    values: dict[str, set] = {name: set() for name in params}
    for call in calls:
        passed = {}
        for i, a in enumerate(call.children[1].children):
            if a.kind in ("list_splat", "dictionary_splat"):
                return {}
            if a.kind == "keyword_argument":
                passed[a.children[0].label] = a.children[-1]
            elif i < len(params):
                passed[params[i]] = a
        for name in params:
            node = passed.get(name, defaults.get(name))
            values[name].add(canon.expr(node, Scope(module=scope.module)) if node is not None else None)
    if not calls:
        values = {name: {canon.expr(node, Scope(module=scope.module))} for name, node in defaults.items()}
    return {name: v.pop() for name, v in values.items() if len(v) == 1 and isinstance(next(iter(v)), Num)}


def _field_overrides(units: list[Unit], canon: Canon, facts: Facts, config: set[str], on: set[str]) -> None:
    """A field set after its definition, once, in the program's straight-line flow (or under a switch
    on by default): ``args.lr = 3e-3`` and ``args.lr, args.steps = 3e-3, 6200`` after parsing,
    ``setattr(args, "lr", 3e-3)``,
    ``parser.set_defaults(lr=3e-3)``, a loop of ``setattr`` over a literal table of fields, the
    configuration built with keywords (``args = Hyperparameters(lr=3e-3)``) or copied with some
    replaced (``args = dataclasses.replace(Hyperparameters(), lr=3e-3)``).
    The field then has that value wherever it is read, as if its default had been re-tuned (the
    statement itself is a definition: it shows where the value is used)."""
    assigned: Counter = Counter()
    found = []
    flow = [unit for unit in units if unit.kind == "region" or unit.qualname == "main"]
    tables = _literal_tables([atom for unit in flow for atom in unit.atoms])
    builders = _alternative_constructors(units, config)
    fields = set(facts.consts) | _declared_fields(units, config)
    for unit in flow:
        for index, atom in enumerate(unit.atoms):
            pairs = (
                _override_pairs(atom.node, tables)
                or _loop_override_pairs(unit, index)
                or _constructor_pairs(atom.node, config, tables, builders)
            )
            if pairs and all(name in fields for name, _ in pairs) and _straight_line(unit, atom, on):
                assigned.update(name for name, _ in pairs)
                found.append((atom, pairs))
    for atom, pairs in found:
        values = [(name, canon.expr(v, Scope(module=facts.module))) for name, v in pairs]
        numbers = [(name, value) for name, value in values if isinstance(value, Num)]
        # paths and switches beside the numbers (``input_bin="..."``) are no settings to re-tune
        if numbers and all(assigned[name] == 1 for name, _ in values):
            for name, value in numbers:
                facts.consts[name] = Num(value, name, True)
            facts.definitions[id(atom)] = tuple(name for name, _ in numbers)


def _literal_tables(atoms) -> dict[str, object]:
    """Names the program's flow binds once, to a literal table of settings (``dict(lr=3e-3)`` or
    ``{"lr": 3e-3}``) -> that table's node."""
    counts = Counter(name for atom in atoms for name in _assigned_names(atom.node))
    out = {}
    for atom in atoms:
        kids = atom.node.children
        if atom.node.kind == "assignment" and len(kids) == 2 and kids[0].kind == "identifier":
            if counts[kids[0].label] == 1 and _table_pairs(kids[1]):
                out[kids[0].label] = kids[1]
    return out


def _named_table_pairs(node, tables: dict) -> list[tuple[str, object]]:
    """(field, value node) of a literal table, or of a name bound once to one (``tables``)."""
    table = tables.get(node.label) if node.kind == "identifier" else node
    return _table_pairs(table) if table is not None else []


def _spread_pairs(arguments: list, tables: dict) -> list[tuple[str, object]]:
    """(keyword, value node) of an argument list of keywords and ``**table`` (see
    :func:`_named_table_pairs`), else none."""
    pairs = []
    for a in arguments:
        if a.kind == "keyword_argument":
            pairs.append((a.children[0].label, a.children[-1]))
            continue
        found = _named_table_pairs(a.children[0], tables) if a.kind == "dictionary_splat" and a.children else []
        if not found:
            return []
        pairs += found
    return pairs


def _override_pairs(node, tables: dict) -> list[tuple[str, object]]:
    """(field, value node) of ``obj.field = value`` (tuples too), ``setattr(obj, "field", value)``,
    ``parser.set_defaults(field=value)`` and ``vars(obj).update(...)`` or ``obj.__dict__.update(...)``
    with keywords or a literal table (``tables``: names bound to one, which ``**name`` or the
    argument may name)."""
    kids = node.children
    if node.kind == "call" and kids and kids[0].label == "setattr" and len(kids) > 1:
        args = kids[1].children
        if len(args) == 3 and args[1].kind == "string" and args[1].label.isidentifier():
            return [(args[1].label, args[2])]
        return []
    method = kids[0].children[-1].label if node.kind == "call" and kids and kids[0].kind == "attribute" else None
    arguments = kids[1].children if method and len(kids) > 1 else []
    if method == "set_defaults":
        return _spread_pairs(arguments, tables)
    if method == "update" and _fields_of_object(kids[0].children[0]):
        table = _named_table_pairs(arguments[0], tables) if len(arguments) == 1 else []
        return _spread_pairs(arguments, tables) or table
    if node.kind != "assignment" or len(kids) != 2:
        return []
    target, value = kids
    if target.kind == "attribute":
        return [(target.children[-1].label, value)]
    if target.kind in ("tuple_pattern", "pattern_list") and value.kind in ("tuple", "expression_list"):
        if len(target.children) == len(value.children) and all(t.kind == "attribute" for t in target.children):
            return [(t.children[-1].label, v) for t, v in zip(target.children, value.children, strict=True)]
    return []


def _constructor_pairs(node, config: set[str], tables: dict, builders: dict) -> list[tuple[str, object]]:
    """(field, value node) of ``args = Hyperparameters(field=value, ...)``, a configuration class built
    with keywords that override its defaults, also through one of its alternative constructors
    (``builders``: ``Hyperparameters.from_env()``), and of a copy made with some fields replaced
    (``dataclasses.replace(Hyperparameters(), field=value)``, ``defaults._replace(field=value)``);
    keywords may come spread from a literal table (see :func:`_spread_pairs`). A section replaced in
    turn gives its own fields (``replace(run, optim=replace(run.optim, steps=1875))``: ``steps``)."""
    kids = node.children
    if node.kind != "assignment" or len(kids) != 2:
        return []
    return _copied_pairs(kids[1], config, tables, builders)


def _copied_pairs(call, config: set[str], tables: dict, builders: dict) -> list[tuple[str, object]]:
    """(field, value node) that a configuration built or copied by ``call`` is given, a section's
    given in turn (see :func:`_constructor_pairs`)."""
    if call.kind != "call" or len(call.children) < 2:
        return []
    callee, arguments = call.children[0], call.children[1].children
    name = callee.children[-1].label if callee.kind == "attribute" else callee.label
    built = builders.get(_method_path(callee)) if not arguments else None
    if built is not None:  # Hyperparameters.from_env(): the keywords of the cls(...) it returns
        pairs = _spread_pairs(built, tables)
    elif callee.kind == "identifier" and callee.label in config or name == "_replace":
        pairs = _spread_pairs(arguments, tables)
    elif name == "replace" and arguments and arguments[0].kind not in ("keyword_argument", "dictionary_splat"):
        pairs = _spread_pairs(arguments[1:], tables)
    else:
        return []
    nested = (_copied_pairs(value, config, tables, builders) for _, value in pairs)
    return [inner for (field, value), found in zip(pairs, nested, strict=True) for inner in found or [(field, value)]]


def _alternative_constructors(units: list[Unit], config: set[str]) -> dict[str, list]:
    """``Hyperparameters.from_env`` -> the arguments of the call it returns, for a method of a
    configuration class whose last statement returns the class built with keywords
    (``return cls(lr=..., steps=...)``)."""
    out = {}
    for unit in units:
        owner, _, method = unit.qualname.rpartition(".")
        if unit.kind != "method" or owner not in config or not unit.atoms:
            continue
        last = unit.atoms[-1].node
        returned = last.children[0] if last.kind == "return_statement" and last.children else None
        if returned is not None and returned.kind == "call" and len(returned.children) == 2:
            if returned.children[0].kind == "identifier" and returned.children[0].label in ("cls", owner):
                out[f"{owner}.{method}"] = returned.children[1].children
    return out


def _declared_fields(units: list[Unit], config: set[str]) -> set[str]:
    """Fields a configuration class declares without a default (``steps: int``): set by its builder."""
    out = set()
    for unit in units:
        if unit.qualname in config:
            for atom in unit.atoms[1:]:
                kids = [c for c in atom.node.children if c.kind != "type"]
                if atom.node.kind == "assignment" and len(kids) == 1 and kids[0].kind == "identifier":
                    out.add(kids[0].label)
    return out


def _loop_override_pairs(unit: Unit, index: int) -> list[tuple[str, object]]:
    """(field, value node) of ``for k, v in TABLE.items(): setattr(obj, k, v)``, TABLE a literal
    ``dict(field=value, ...)`` or ``{"field": value, ...}``: the loop unrolled."""
    header = unit.atoms[index].node
    if header.kind != "for_statement:header" or len(header.children) != 2:
        return []
    body = [a.node for a in unit.atoms[index + 1 :] if a.parent == index]
    if len(body) != 1:
        return []
    target, iterable = header.children
    call = body[0]
    if not (
        target.kind in ("tuple_pattern", "pattern_list")
        and [t.kind for t in target.children] == ["identifier", "identifier"]
        and iterable.kind == "call"
        and iterable.children[0].kind == "attribute"
        and iterable.children[0].children[-1].label == "items"
        and call.kind == "call"
        and call.children[0].label == "setattr"
        and len(call.children) > 1
        and [a.label for a in call.children[1].children[1:]] == [t.label for t in target.children]
    ):
        return []
    return _table_pairs(iterable.children[0].children[0])


def _table_pairs(table) -> list[tuple[str, object]]:
    """(field, value node) of a literal table: ``dict(field=value, ...)`` or ``{"field": value, ...}``."""
    if table.kind == "call" and table.children[0].label == "dict" and len(table.children) > 1:
        arguments = table.children[1].children
        if len(arguments) == 1 and arguments[0].kind in ("list", "tuple"):  # dict([("lr", 3e-3), ...])
            items = arguments[0].children
            if items and all(
                len(i.children) == 2 and i.kind == "tuple" and i.children[0].kind == "string" for i in items
            ):
                return [(i.children[0].label, i.children[1]) for i in items]
            return []
        return _keyword_pairs(arguments)
    if table.kind == "dictionary" and table.children:
        if all(e.kind == "pair" and e.children[0].kind == "string" for e in table.children):
            return [(e.children[0].label, e.children[-1]) for e in table.children]
    return []


def _fields_of_object(node) -> bool:
    """``vars(obj)`` or ``obj.__dict__``: an object's fields as a table."""
    if node.kind == "call":
        return node.children[0].label == "vars" and len(node.children) > 1 and len(node.children[1].children) == 1
    return node.kind == "attribute" and node.children[-1].label == "__dict__"


def _keyword_pairs(arguments: list) -> list[tuple[str, object]]:
    """(keyword, value node) of an argument list made of keyword arguments only, else none."""
    if arguments and all(a.kind == "keyword_argument" for a in arguments):
        return [(a.children[0].label, a.children[-1]) for a in arguments]
    return []


def _flags_on(units: list[Unit], config: set[str]) -> set[str]:
    """The names of the switches a run has on unless told otherwise: a command-line option whose
    default is True (or that ``store_false`` turns off), a settings class's field and a module-level
    name set to True."""
    on = set()
    for unit in units:
        for atom in unit.atoms:
            node = atom.node
            option = _option(node)
            if option is not None:
                _, name, keywords = option
                default, action = keywords.get("default"), keywords.get("action")
                if (default is not None and default.kind == "true") or (
                    action is not None and action.label == "store_false"
                ):
                    on.add(name)
            kids = [c for c in node.children if c.kind != "type"]
            settable = unit.kind == "region" or unit.qualname in config
            if settable and node.kind == "assignment" and len(kids) == 2 and kids[0].kind == "identifier":
                if kids[1].kind == "true":
                    on.add(kids[0].label)
    return on


def _straight_line(unit: Unit, atom: Atom, on: frozenset[str] | set[str] = frozenset()) -> bool:
    """Not inside a loop, a branch or a nested definition (``if __name__ == "__main__":`` aside, and
    a branch taken when a switch in ``on`` is, as it is by default: ``if args.short_schedule:``)."""
    parent = atom.parent
    while parent >= 0:
        header = unit.atoms[parent]
        kind = header.node.kind
        if kind == "if_statement:header":
            if "__name__" not in identifiers(header.node) and not _switch_on(header.node, on):
                return False
        elif not (kind == "function_definition:header" and parent == 0):
            return False
        parent = header.parent
    return True


def _untaken(unit: Unit, atom: Atom, on: set[str]) -> bool:
    """In the ``else`` (or an ``elif``) of a switch on by default (``if args.lean_ddp: ... else:``):
    code the run does not reach unless told otherwise, which binds nothing."""
    parent = atom.parent
    while parent >= 0:
        header = unit.atoms[parent]
        if header.node.kind in ("else_clause:header", "elif_clause:header") and header.parent >= 0:
            if _switch_on(unit.atoms[header.parent].node, on):
                return True
        parent = header.parent
    return False


def _switch_on(header, on: set[str]) -> bool:
    """An ``if`` whose test is a switch (a name or an attribute) in ``on``: on by default."""
    test = header.children[0] if header.kind == "if_statement:header" and header.children else None
    return test is not None and test.kind in ("identifier", "attribute") and last_name(test) in on


def _numbers_tuple(value) -> bool:
    """A canonical tuple or list literal of numbers only."""
    return (
        isinstance(value, tuple)
        and len(value) == 3
        and value[:2] in (("q", "tuple"), ("q", "list"))
        and bool(value[2])
        and all(isinstance(v, Num) for v in value[2])
    )


def _partial_application(node) -> tuple | None:
    """(what it calls, positional argument nodes, (keyword, node) pairs) of ``partial(f, a, k=v)``
    (``functools.partial``), else None."""
    if node.kind != "call" or len(node.children) != 2 or last_name(node.children[0]) != "partial":
        return None
    wrapped, *args = node.children[1].children or [None]
    if wrapped is None or wrapped.kind in ("keyword_argument", "list_splat", "dictionary_splat"):
        return None
    positional = [a for a in args if a.kind != "keyword_argument"]
    if any(a.kind in ("list_splat", "dictionary_splat") for a in args) or positional != args[: len(positional)]:
        return None
    keywords = [(a.children[0].label, a.children[-1]) for a in args[len(positional) :]]
    return wrapped, positional, keywords


def _forwarding_subclasses(units: list[Unit]) -> dict[str, tuple]:
    """Library subclasses whose constructor only passes its arguments on, some with defaults of its own
    (``class TinyEpsAdam(torch.optim.Adam)`` with ``def __init__(self, params, eps=1e-10, **kw):
    super().__init__(params, eps=eps, **kw)``): a partial application of the library class, as
    :func:`_partial_application` reads one."""
    own = {u.qualname for u in units if u.kind == "class"}
    members: dict[str, list[Unit]] = defaultdict(list)
    for u in units:
        owner, _, _ = u.qualname.rpartition(".")
        if owner in own:
            members[owner].append(u)
    out = {}
    for u in units:
        header = u.atoms[0].node if u.kind == "class" and u.atoms else None
        bases = [c for c in header.children if c.kind == "argument_list"] if header is not None else []
        inherited = bases[0].children if bases else []
        inits = members.get(u.qualname, [])
        if (
            len(inherited) != 1
            or last_name(inherited[0]) in own
            or [m.qualname for m in inits] != [f"{u.qualname}.__init__"]
        ):
            continue
        init = inits[0]
        if len(init.atoms) != 2:
            continue
        params, defaults = _parameters(next((c for c in init.atoms[0].node.children if c.kind == "parameters"), None))
        passed = _super_init_arguments(init.atoms[1].node)
        if passed is None:
            continue
        positional, keywords = passed
        required = [p for p in params if p != "self" and p not in defaults]
        if positional != required or any(k != v or v not in defaults for k, v in keywords):
            continue
        out[u.qualname] = (inherited[0], [], [(k, defaults[k]) for k, _ in keywords])
    return out


def _super_init_arguments(node) -> tuple[list[str], list[tuple[str, str]]] | None:
    """The names a ``super().__init__(a, k=b, **rest)`` statement passes on: ([a], [(k, b)]), else
    None (anything but plain names, or another statement)."""
    call_node = node.children[0] if node.kind == "expression_statement" and node.children else node
    if call_node.kind != "call" or len(call_node.children) != 2:
        return None
    callee = call_node.children[0]
    if callee.kind != "attribute" or last_name(callee) != "__init__" or callee.children[0].kind != "call":
        return None
    if last_name(callee.children[0].children[0]) != "super":
        return None
    positional, keywords = [], []
    for a in call_node.children[1].children:
        if a.kind == "identifier":
            positional.append(a.label)
        elif a.kind == "keyword_argument" and a.children[-1].kind == "identifier":
            keywords.append((a.children[0].label, a.children[-1].label))
        elif a.kind not in ("dictionary_splat", "list_splat"):
            return None
    return positional, keywords


def _library_bases(units: list[Unit]) -> dict[str, str]:
    """Classes of the script that subclass a library module: class name -> that module."""
    out = {}
    for u in units:
        if u.kind != "class":
            continue
        for c in u.atoms[0].node.children:
            if c.kind == "argument_list":
                for base in c.children:
                    name = base.children[-1].label if base.kind == "attribute" and base.children else base.label
                    name = ALIASES.get(name, name)
                    if name in TYPED:
                        out[u.qualname] = name
    return out


def _types_and_keys(node, facts: Facts, subclasses: dict[str, str]) -> None:
    """Attributes that hold library modules (``x.norm = nn.RMSNorm(d)``, ``nn.ModuleDict(dict(
    vte=nn.Embedding(...)))``, ``nn.ModuleList([nn.Embedding(...) for ...])``) and the names a
    script gives through ``dict(...)`` keywords (its own names, like variables)."""
    for n in node.walk():
        if n.kind == "call" and n.children and len(n.children) > 1:
            callee = n.children[0]
            cname = (
                callee.label
                if callee.kind == "identifier"
                else callee.children[-1].label
                if callee.kind == "attribute"
                else ""
            )
            if cname in ("ModuleDict", "ParameterDict"):
                # its keys become attributes the script names itself (self.transformer.vte)
                inner = n.children[1].children
                pairs = inner[0].children[1].children if inner and inner[0].kind == "call" else inner
                for a in pairs:
                    if a.kind == "keyword_argument":
                        facts.own.add(a.children[0].label)
                        kind = _module_kind(a.children[-1], subclasses)
                        if kind:
                            facts.attr_types[a.children[0].label] = kind
    if node.kind == "assignment" and len(node.children) >= 2 and node.children[0].kind == "attribute":
        kind = _module_kind(node.children[-1], subclasses)
        if kind:
            facts.attr_types[node.children[0].children[-1].label] = kind


def _module_kind(value, subclasses: dict[str, str] | None = None) -> str | None:
    """The library class a constructor call builds ("list:C" for a ModuleList of them); a class of
    the script that subclasses one (``class CastedLinear(nn.Linear)``) builds that one."""
    if value.kind != "call" or not value.children:
        return None
    callee = value.children[0]
    name = (
        callee.children[-1].label if callee.kind == "attribute" else callee.label if callee.kind == "identifier" else ""
    )
    name = ALIASES.get(name, name)
    name = (subclasses or {}).get(name, name)
    if name in ("ModuleList", "Sequential") and len(value.children) > 1 and value.children[1].children:
        inner = value.children[1].children[0]
        if inner.kind in ("list", "tuple") and inner.children:
            kinds = {_module_kind(c, subclasses) for c in inner.children}
            return f"list:{kinds.pop()}" if len(kinds) == 1 and None not in kinds else None
        if inner.kind in ("list_comprehension", "generator_expression") and inner.children:
            kind = _module_kind(inner.children[0], subclasses)
            return f"list:{kind}" if kind else None
        return None
    return name if name in TYPED else None


def _function(unit: Unit) -> Function:
    head = unit.atoms[0].node
    params, defaults = _parameters(next((c for c in head.children if c.kind == "parameters"), None))
    owner = unit.qualname.rpartition(".")[0] if unit.kind == "method" else None
    return Function(unit.qualname, params, defaults, unit.atoms, owner)


def _lambda_function(name: str, node) -> Function:
    """``name = lambda params: expression`` at module level, a helper like a ``def`` of one return."""
    params, defaults = _parameters(next((c for c in node.children if c.kind == "lambda_parameters"), None))
    return Function(name, params, defaults, [], None, expression=node.children[-1])


def _parameters(node) -> tuple[list[str], dict]:
    """(names, name -> default node) of a ``parameters`` or ``lambda_parameters`` node."""
    params, defaults = [], {}
    for p in node.children if node is not None else []:
        if p.kind == "identifier":
            params.append(p.label)
        elif p.kind in ("default_parameter", "typed_default_parameter", "typed_parameter"):
            name = next((n.label for n in p.children if n.kind == "identifier"), None)
            if name:
                params.append(name)
                if p.kind != "typed_parameter":
                    defaults[name] = p.children[-1]
    return params, defaults


def _config_classes(units: list[Unit]) -> set[str]:
    """Classes whose body assigns settings: only assignments, or a plain class (no base) whose
    methods compute from them (a settings object with a schedule method)."""
    out = set()
    for u in units:
        if u.kind == "class" and len(u.atoms) > 1:
            plain = not any(c.kind == "argument_list" for c in u.atoms[0].node.children)
            if (plain or not u.defines) and all(
                a.node.kind in ("assignment", "class_definition:header") for a in u.atoms
            ):
                out.add(u.qualname)
    return out


def _option(node) -> tuple[str, str, dict] | None:
    """(as written, as a field, keyword nodes) of ``parser.add_argument("--name", ...)``."""
    if node.kind != "call" or not node.children or node.children[0].kind != "attribute":
        return None
    if node.children[0].children[-1].label != "add_argument" or len(node.children) < 2:
        return None
    args = node.children[1].children
    if not args or args[0].kind != "string":
        return None
    keywords = {a.children[0].label: a.children[-1] for a in args if a.kind == "keyword_argument"}
    return args[0].label, args[0].label.lstrip("-").replace("-", "_"), keywords


def _argparse_default(node, canon: Canon, facts: Facts) -> str | None:
    """The option ``parser.add_argument("--name", default=<number>)`` defines, if it is one."""
    option = _option(node)
    if option is None or not option[0].startswith("--") or "default" not in option[2]:
        return None
    _, name, keywords = option
    value = canon.expr(keywords["default"], Scope(module=facts.module))
    if isinstance(value, Num):
        facts.consts.setdefault(name, Num(value, name, True))
        return name
    return None


def _class_aliases(units: list[Unit], canon: Canon, facts: Facts, config: set[str]) -> None:
    """self.A = <number> in __init__, or A = <number> in the body of a class that is not a settings
    class (a module's fixed attention scale), for attributes nothing else assigns."""
    assigned_elsewhere: set[str] = set()
    inits = []
    for unit in units:
        is_init = unit.kind == "method" and unit.qualname.endswith(".__init__")
        if is_init:
            inits.append(unit)
        for atom in unit.atoms:
            if atom.node.kind in ("assignment", "augmented_assignment"):
                for t in atom.node.children[:-1]:
                    if t.kind == "attribute" and not (is_init and t.children[0].label == "self"):
                        assigned_elsewhere.add(t.children[-1].label)
    bodies = [u for u in units if u.kind == "class" and u.qualname not in config]
    for unit in bodies + inits:  # an instance attribute set in __init__ hides the class's
        owner = unit.qualname if unit.kind == "class" else unit.qualname.rpartition(".")[0]
        scope = unit_scope(unit, facts)
        for atom in unit.atoms[1:]:
            node = atom.node
            if node.kind != "assignment" or len(node.children) != 2:
                continue
            t = node.children[0]
            in_body = unit.kind == "class" and t.kind == "identifier"
            if in_body or (t.kind == "attribute" and t.children[0].label == "self"):
                name = t.label if in_body else t.children[-1].label
                if name in assigned_elsewhere:
                    continue
                value = canon.expr(node.children[-1], scope)
                if isinstance(value, Num):
                    facts.aliases.setdefault(owner, {})[name] = Num(
                        value, value.origin or f"{owner}.{name}", value.direct or not value.origin
                    )
                else:
                    facts.aliases.get(owner, {}).pop(name, None)


# ---- deltas -----------------------------------------------------------------------------------


def edits_of(d: FileDiff, base: Side, new: Side, overridden: dict[Unit, tuple[Unit, bool]]) -> list[Edit]:
    """The diff's edits plus semantic ones: aligned statements with the same text whose canonical
    features differ (a re-tuned field they read, a helper they call). An assignment deleted and one
    to the same target inserted elsewhere are one update (the model built after new definitions).
    A subclass's method that replaces record i's method (``overridden``, :func:`overrides` of the
    diff) is an edit of it."""
    replaced = {id(v): old for v, (old, wraps) in overridden.items() if not wraps}
    edits = [e for e in d.edits if e.kind != "insert" or id(e.new.unit) not in replaced]
    for v in d.new.units:
        if id(v) in replaced:
            edits += unit_edits(replaced[id(v)], d.old, v, d.new, d.counterpart)
    edits = _reassignments(edits)
    touched = {id(a) for e in d.edits for a in e.atoms}
    for u, v in d.pairs.items():
        for b in v.atoms:
            if id(b) in touched:
                continue
            a = d.counterpart.get(id(b))
            if a is None or id(a) in touched:
                continue
            if base.trees.get(id(a)) != new.trees.get(id(b)):  # numbers compare by value
                edits.append(Edit("update", a, b, ("unit", u.key)))
    return edits


def _assigned(atom: Atom | None) -> str | None:
    """The name a plain ``name = value`` statement assigns."""
    node = atom.node if atom is not None else None
    if node is not None and node.kind == "assignment" and len(node.children) == 2:
        return node.children[0].label if node.children[0].kind == "identifier" else None
    return None


def _reassignments(edits: list[Edit]) -> list[Edit]:
    """Statements assigning one name, paired where the diff did not pair them: a name assigned by
    exactly one old statement (deleted, or aligned with a new statement assigning another name) and
    exactly one inserted statement is one update of that statement. New definitions placed before
    ``model = GPT(...)`` split its region (deleted and inserted); a new ``arch = dict(...)`` took its
    place in the alignment (the new statement so freed is an insert)."""
    olds, news = defaultdict(list), defaultdict(list)
    for e in edits:
        for name, side in ((_assigned(e.old), olds), (_assigned(e.new), news)):
            if name is not None:
                side[name].append(e)
    out = {id(e): [e] for e in edits}
    for name, (old, *more) in olds.items():
        found = news.get(name, [])
        if more or len(found) != 1 or found[0].kind != "insert" or old.kind == "insert":
            continue
        freed = [Edit("insert", None, old.new, old.context)] if old.kind == "update" else []
        out[id(old)], out[id(found[0])] = [Edit("update", old.old, found[0].new, old.context), *freed], []
    return [x for e in edits for x in out[id(e)]]


def overrides(d: FileDiff) -> dict[Unit, tuple[Unit, bool]]:
    """Methods of a class the new script adds as a subclass of one of record i's classes and uses
    (the model built from ``class UNetGPT(GPT)``; with a mixin of the new script's before the base,
    ``class Merged(QKVMixin, CausalSelfAttention)``, the mixin's methods too), each with record i's
    method it overrides and whether it wraps it (calls ``super()`` or the base class). The subclass's
    model is record i's with those methods rewritten: a rewrite is an edit of record i's method, a
    wrapper adds its statements there."""
    if d.old.module is None or d.new.module is None:
        return {}
    old_units = {u.qualname: u for u in d.old.units}
    paired_new = {id(v) for v in d.pairs.values()}
    out: dict[Unit, tuple[Unit, bool]] = {}
    for cls in d.new.units:
        if cls.kind != "class" or id(cls) in paired_new or "." in cls.qualname:
            continue
        header = cls.atoms[0].node
        bases = [n.label for arg in header.children[1:2] for n in arg.children if n.kind == "identifier"]
        base = next((b for b in bases if old_units.get(b) is not None and old_units[b].kind == "class"), None)
        if base is None:
            continue
        inside = cls.qualname + "."
        if not any(
            cls.qualname in identifiers(a.node)
            for v in d.new.units
            if v is not cls and not v.qualname.startswith(inside)
            for a in v.atoms
        ):
            continue  # defined, never built: it changes nothing
        # a new class listed before the base (a mixin) gives its methods first, after the class's own
        added = {v.qualname for v in d.new.units if v.kind == "class" and id(v) not in paired_new}
        owners = [cls.qualname, *(b for b in bases[: bases.index(base)] if b in added)]
        methods = {}
        for v in d.new.units:
            owner, _, method = v.qualname.rpartition(".")
            if owner in owners and v.kind == "method" and f"{base}.{method}" in old_units:
                if method not in methods or owners.index(owner) < owners.index(methods[method][0]):
                    methods[method] = (owner, v)
        for method, (_, v) in methods.items():
            wraps = any({"super", base} & identifiers(a.node) for a in v.atoms[1:])
            out[v] = (old_units[f"{base}.{method}"], wraps)
    out.update(_patched_methods(d, old_units, paired_new))
    return out


def _patched_methods(d: FileDiff, old_units: dict[str, Unit], paired_new: set[int]) -> dict[Unit, tuple[Unit, bool]]:
    """Functions the new script adds and assigns over one of record i's methods at module level
    (``Muon.step = _sharded_step``), each with that method and whether it wraps it (calls the
    original, saved first: ``_init = GPT.__init__``). Every instance then runs the function: it is a
    rewrite of the method."""
    added = {v.qualname: v for v in d.new.units if v.kind == "function" and id(v) not in paired_new}
    pairs = [
        tuple(a.node.children)
        for v in d.new.units
        if v.kind == "region"
        for a in v.atoms
        if a.parent < 0 and a.node.kind == "assignment" and len(a.node.children) == 2
    ]
    saved = {t.label: _method_path(value) for t, value in pairs if t.kind == "identifier" and _method_path(value)}
    out = {}
    for target, value in pairs:
        path = _method_path(target)
        replaced = old_units.get(path) if path else None
        if replaced is None or replaced.kind != "method" or value.kind != "identifier" or value.label not in added:
            continue
        originals = {name for name, saved_path in saved.items() if saved_path == path} | {"super"}
        function = added[value.label]
        out[function] = (replaced, any(originals & identifiers(a.node) for a in function.atoms[1:]))
    return out


def _method_path(node) -> str | None:
    """``Cls.method`` of an attribute node naming a class's attribute, else None."""
    if node.kind == "attribute" and len(node.children) == 2 and all(c.kind == "identifier" for c in node.children):
        return f"{node.children[0].label}.{node.children[1].label}"
    return None


def places_of(d: FileDiff, new: Side, overridden: dict[Unit, tuple[Unit, bool]]) -> dict[int, set[str]]:
    """id(atom of the new script) -> places (record i's unit keys) its features count in. An atom of
    a unit record i lacks counts where that unit is used; a helper substituted at its call sites
    counts nowhere of its own; a method in ``overridden`` counts where the method it overrides is."""
    back = {id(v): u for u, v in d.pairs.items()}
    out: dict[int, set[str]] = {}
    added = [v for v in new.version.units if id(v) not in back]
    for v in new.version.units:
        if id(v) in back:
            for a in v.atoms:
                out[id(a)] = {back[id(v)].key}
    if not added:
        return out
    short: dict[str, list[Unit]] = defaultdict(list)
    new_classes = {v.qualname for v in added if v.kind == "class"}
    for v in added:
        owner, _, name = v.qualname.rpartition(".")
        if v.kind == "class":
            short[name].append(v)
            for w in added:
                if w.qualname.startswith(v.qualname + "."):
                    short[name].append(w)
        elif owner in new_classes or (name.startswith("__") and name.endswith("__")):
            continue  # a new class's methods go where the class is used
        elif v.kind == "region":
            # a table the script's code looks things up in (a registry of helpers, settings) counts
            # where it is read too, and so do the helpers it lists
            for a in v.atoms:
                if a.parent < 0 and a.node.kind == "assignment":
                    for bound in set(_assigned_names(a.node)):
                        short[bound].append(v)
        elif v.qualname not in new.facts.inlined:
            short[name].append(v)
    # module-level code the candidate adds is module-level code: the program's own flow, wherever it sits
    where: dict[int, set[str]] = {id(v): {v.key} if v.kind == "region" else set() for v in added}
    # what a substituted helper refers to, its callers refer to (a factory building a new class)
    through: dict[str, frozenset[str]] = {}
    for v in new.version.units:
        if v.qualname in new.facts.inlined:
            refs = frozenset().union(*(identifiers(a.node) for a in v.atoms[1:]))
            through[v.qualname.rpartition(".")[2]] = refs
    # units of record i (and units placed already) that reference an added unit give it their place
    for _ in range(3):
        changed = False
        for v in new.version.units:
            home = {back[id(v)].key} if id(v) in back else where.get(id(v), set())
            if not home:
                continue
            for a in v.atoms:
                names = identifiers(a.node)
                names = names.union(*(through[n] for n in names & through.keys())) if through else names
                for name in names & short.keys():
                    for w in short[name]:
                        if w is v:
                            continue
                        if not home <= where[id(w)]:
                            where[id(w)] |= home
                            changed = True
        if not changed:
            break
    for v in added:
        if v.qualname in new.facts.inlined and not where[id(v)]:
            continue  # substituted at its call sites
        places = where[id(v)] or {"new:" + v.key}
        for a in v.atoms:
            out[id(a)] = places
    for v, (replaced, _wraps) in overridden.items():
        for a in v.atoms:
            out[id(a)] = {replaced.key}
    return out


def all_contributions(
    edits: list[Edit], base: Side, new: Side, places: dict[int, set[str]]
) -> dict[int, list[Contribution]]:
    """id(edit) -> its contributions. A field whose value changed, but whose readers were all
    rewritten (none reads as a re-tune), is re-tuned at its definition: record 4 moves record 3's
    argparse defaults into a settings class and rewrites the schedule that reads them."""
    unrenamed = _unrenamed_definitions(edits, base, new)
    separate = _split_settings(edits, base, new, unrenamed)
    out = {id(e): [] if id(e) in unrenamed else contributions(e, base, new, places, separate) for e in edits}
    tuned = {c.feature.split(":")[1] for cs in out.values() for c in cs if c.feature.startswith("tune:")}
    renamed = _renamed_fields(edits, base, new)
    for e in edits:
        if e.new is None or id(e.new) not in places:
            continue
        for name in new.definitions.get(id(e.new), ()):
            key = renamed.get(name, name)
            old, now = base.values.get(key), new.values.get(name)
            if old is None or now is None or old == now or key in tuned:
                continue
            tuned.add(key)
            feature = f"tune:{key}:{'up' if now > old else 'down'}"
            out[id(e)] += [Contribution(feature, 1, p, e.new, "new") for p in places[id(e.new)]]
    return out


def _renamed_fields(edits: list[Edit], base: Side, new: Side) -> dict[str, str]:
    """A new field -> the field of record i it renames: record i's field is gone, the new one is new,
    and they are each other's only such partner, by name (a shared word, ``val_every`` for
    ``val_loss_every``, :func:`_related_names`) or, failing that, by a reader of the one rewritten
    into a reader of the other (``learning_rate=args.learning_rate`` ->
    ``learning_rate=hp.adam_lr``). Its re-tune is then a re-tune of record i's field."""
    gone = [name for name in base.values if name not in new.values]
    added = [name for name in new.values if name not in base.values]
    read_for = defaultdict(set)  # a gone field -> the added fields its rewritten readers read instead
    for e in edits:
        if e.old is not None and e.new is not None:
            was, now = _origins(base.trees.get(id(e.old))), _origins(new.trees.get(id(e.new)))
            for old_name in was.difference(now).intersection(gone):
                read_for[old_name] |= now.difference(was).intersection(added)
    out = {}
    for related in (_related_names, lambda old, new: new in read_for[old] and len(read_for[old]) == 1):
        left = [old for old in gone if old not in out.values()]
        unpaired = [new for new in added if new not in out]
        for old in left:
            partners = [new for new in unpaired if related(old, new)]
            if len(partners) == 1 and sum(related(other, partners[0]) for other in left) == 1:
                out[partners[0]] = old
    return out


def _related_names(old: str, new: str) -> bool:
    """Names of one setting: at least half the words of each are words of the other, or abbreviate
    one, and not only qualifiers (``warmdown_steps`` and ``warmdown_iters``; ``seq_len`` and
    ``sequence_length``; not ``val_tokens`` and ``val_max_steps``, nor ``num_layers`` and
    ``num_iterations``)."""
    a, b = name_words(old), name_words(new)

    def shared(xs, ys):
        return {x for x in xs if any(x.startswith(y) or y.startswith(x) for y in ys)}

    common = shared(a, b)
    return bool(common - QUALIFIER_WORDS) and 2 * len(common) >= len(a) and 2 * len(shared(b, a)) >= len(b)


def _unrenamed_definitions(edits: list[Edit], base: Side, new: Side) -> set[int]:
    """id() of the edits that pair a field's definition with another field's, the old one gone and
    the new one new, where no other edit rewrites a reader of the old name into a reader of the new
    one and the names share no word: a field removed and another added that the diff happened to
    pair (record 21 drops ``batch_size`` and adds ``val_seq_len``), not a rename, so neither is a
    re-tune of the other."""
    out = set()
    for e in edits:
        if e.old is None or e.new is None:
            continue
        old_names, new_names = set(base.definitions.get(id(e.old), ())), set(new.definitions.get(id(e.new), ()))
        if not old_names or not new_names or old_names & new_names:
            continue
        if old_names & new.values.keys() or new_names & base.values.keys():
            continue
        readers_renamed = any(
            f is not e
            and f.old is not None
            and f.new is not None
            and old_names & identifiers(f.old.node)
            and new_names & identifiers(f.new.node)
            for f in edits
        )
        if not readers_renamed and not _share_a_word(old_names, new_names):
            out.add(id(e))
    return out


def _share_a_word(old_names: set[str], new_names: set[str]) -> bool:
    """``seq_len`` and ``train_seq_len`` may be one field renamed; ``batch_size`` and ``val_seq_len``
    are not."""
    words = {w for name in old_names for w in name_words(name)}
    return any(words & name_words(name) for name in new_names)


def _split_settings(edits: list[Edit], base: Side, new: Side, unrenamed: set[int]) -> frozenset[str]:
    """Record i's fields that a statement now reads under a new name while the field itself keeps a
    job: it is still read, or still defined with a new value (re-tuned), or its definition was
    renamed to yet another name (not a definition ``unrenamed`` pairs with it), or its readers now
    read two or more new names in its place (the same number of a statement that changed only in
    numbers), or it is gone and two or more new fields are named after it (``train_seq_len`` and
    ``val_seq_len`` for ``seq_len``). A setting split in two (record 21's ``seq_len`` for training
    beside a new ``val_seq_len``), not one renamed or moved (into a settings object)."""
    fields = base.values.keys()
    still_read: set[str] = set()
    for unit in new.version.units:
        for atom in unit.atoms:
            if id(atom) not in new.definitions:
                still_read |= _origins(new.trees.get(id(atom)))
    renamed: dict[str, str] = {}
    successors: dict[str, set[str]] = defaultdict(set)
    for e in edits:
        if e.old is None or e.new is None:
            continue
        pairs = zip(base.definitions.get(id(e.old), ()), new.definitions.get(id(e.new), ()), strict=False)
        for old_name, new_name in () if id(e) in unrenamed else pairs:
            if old_name not in new.values and new_name not in fields:  # the old one gone, the new one new
                renamed[old_name] = new_name
        numbers = _changed_numbers(e, base, new)
        if numbers is None:
            continue  # only a statement that changed in numbers says which field took which one's place
        old_t, new_t = numbers
        was, now = [], []
        _walk_numbers(old_t, [], was)
        _walk_numbers(new_t, [], now)
        for (x, _), (y, _) in zip(was, now, strict=False):
            if x.origin in fields and y.origin and y.origin not in fields:
                successors[x.origin].add(y.origin)
    added = (new.values.keys() | _table_settings(new.facts.tables.values())) - fields
    return frozenset(
        name
        for name, after in successors.items()
        if after
        and (
            name in still_read
            or (name in new.values and new.values[name] != base.values[name])  # kept, and re-tuned
            or len(after) > 1
            or renamed.get(name) not in (None, *after)
            or (name not in new.values and sum(_named_after(name, f) for f in added) > 1)
        )
    )


def _named_after(old: str, new: str) -> bool:
    """Whether a new field's name extends an old one's (``train_seq_len`` and ``val_seq_len`` after
    ``seq_len``): a field gone whose place two such names take was split, not renamed."""
    o, n = old.lower().split("_"), new.lower().split("_")
    return len(n) > len(o) and any(n[i : i + len(o)] == o for i in range(len(n) - len(o) + 1))


def _changed_numbers(e: Edit, base: Side, new: Side) -> tuple | None:
    """(old tree, new tree) of an update that changed only numbers, read at the speedrun's scale
    where that makes it one (:func:`_at_full_scale`); None for any other edit."""
    old_t, new_t = base.trees.get(id(e.old)), new.trees.get(id(e.new))
    if old_t is None or new_t is None:
        return None
    if _numbers(old_t) != _numbers(new_t):
        old_t, new_t = _at_full_scale(old_t, base.processes), _at_full_scale(new_t, new.processes)
    return (old_t, new_t) if _numbers(old_t) == _numbers(new_t) else None


def _origins(tree) -> set[str]:
    """The fields and constants the numbers of a canonical tree were read from."""
    found: list = []
    _walk_numbers(tree, [], found)
    return {x.origin for x, _ in found if x.origin}


def contributions(
    e: Edit, base: Side, new: Side, places: dict[int, set[str]], separate: frozenset[str] = frozenset()
) -> list[Contribution]:
    """The features edit ``e`` adds (+1) and removes (-1), in the places they count."""
    if e.new is not None and id(e.new) not in places:
        return []  # a helper counted at its call sites
    if (e.old is None or id(e.old) in base.definitions) and (e.new is None or id(e.new) in new.definitions):
        if e.old is None or e.new is None:
            return []  # a field or constant added or removed shows where its value is used
    old_f = base.feats.get(id(e.old), Counter()) if e.old is not None else Counter()
    new_f = new.feats.get(id(e.new), Counter()) if e.new is not None else Counter()
    new_places = places.get(id(e.new), set()) if e.new is not None else set()
    old_places = {e.old.unit.key} if e.old is not None else set()
    if e.old is not None and e.new is not None:
        numbers = _changed_numbers(e, base, new)
        tunes = []
        if numbers is not None:
            tunes = tune_keys(*numbers, e.old, base.fields, new.fields, identifiers(e.new.node), separate)
        if tunes:  # else only dimension indices changed (or nothing canonical): read as changed code
            out = []
            for key, direction in tunes:
                for p in new_places or old_places:
                    out.append(Contribution(f"tune:{key}:{direction}", 1, p, e.new, "new"))
            return out
    out = []
    for f in new_f - old_f:
        for p in new_places or old_places:
            out.append(Contribution(f, 1, p, e.new, "new"))
    for f in old_f - new_f:
        for p in old_places or new_places:
            out.append(Contribution(f, -1, p, e.old, "old"))
    if e.old is not None and e.new is not None:
        old_t, new_t = base.trees.get(id(e.old)), new.trees.get(id(e.new))
        for key, direction in keyword_tunes(old_t, new_t, base.fields | new.fields):
            for p in new_places or old_places:
                out.append(Contribution(f"tune:{key}:{direction}", 1, p, e.new, "new"))
    return out


def keyword_tunes(old_t, new_t, fields: frozenset[str]) -> list[tuple[str, str]]:
    """(key, up | down) of the numbers a changed statement passes, in both versions, to the same
    call as the same configuration field or library keyword (``n_head=12`` -> ``n_head=6`` beside a
    rewritten ``vocab_size=`` argument): a re-tune inside a statement that changed otherwise too."""
    old, new = _keyword_numbers(old_t), _keyword_numbers(new_t)
    out = []
    for site in old.keys() & new.keys():
        x, y = old[site], new[site]
        if float(x) != float(y) and _named(site[1], fields) and site[1] not in DIMENSION_KEYWORDS:
            out.append((site[1], "up" if y > x else "down"))
    return list(dict.fromkeys(out))


def _keyword_numbers(tree) -> dict[tuple[str, str], Num]:
    """(call, keyword) -> the number passed, for every call in the tree that passes one exactly once."""
    found: dict[tuple[str, str], list[Num]] = defaultdict(list)
    todo = [tree]
    while todo:
        node = todo.pop()
        if not isinstance(node, tuple):
            continue
        if node and node[0] == "c" and len(node) == 4 and isinstance(node[1], str):
            for k, v in node[3]:
                if isinstance(v, Num):
                    found[(node[1], k)].append(v)
        todo.extend(node)
    return {site: vs[0] for site, vs in found.items() if len(vs) == 1}


def _numbers(tree):
    """The tree with every number and every variable name replaced by a placeholder (for the
    numbers-only test: a re-tuned statement whose locals were also renamed is still a re-tune)."""
    if isinstance(tree, Num):
        return "#"
    if isinstance(tree, tuple):
        if len(tree) == 2 and tree[0] == "n":
            return ("n", "$")
        return tuple(_numbers(c) for c in tree)
    return tree


# Calls whose arguments after the tensor are dimension indices (canonical forms pass a reduction's dim
# there), and the keywords that name one.
DIMENSION_CALLS = frozenset({"size", "transpose", "flatten", "permute", "movedim", "swapaxes"}) | DIM_SECOND
DIMENSION_KEYWORDS = frozenset({"@dim", "dim", "dims", "dim0", "dim1", "start_dim", "end_dim"})


def _walk_numbers(tree, ctx: list, out: list) -> None:
    if isinstance(tree, Num):
        out.append((tree, list(ctx)))
        return
    if not isinstance(tree, tuple) or not tree:
        return
    tag = tree[0]
    if not isinstance(tag, str):  # a tuple of nodes (a statement's values, a call's arguments)
        for c in tree:
            _walk_numbers(c, ctx, out)
        return
    if tag == "=" and len(tree) == 3:
        targets = [t[1] if t[0] == "n" else t[2] for t in tree[1] if isinstance(t, tuple) and t and t[0] in ("n", "a")]
        _walk_numbers(tree[2], ctx + (["=" + targets[0]] if len(targets) == 1 else []), out)
        return
    if tag == "c":
        for i, a in enumerate(tree[2]):
            _walk_numbers(a, ctx + ["@dim"] if i and tree[1] in DIMENSION_CALLS else ctx, out)
        for k, v in tree[3]:
            _walk_numbers(v, ctx + [k], out)
        return
    for c in tree[1:]:
        _walk_numbers(c, ctx, out)


def _named(name: str, fields: frozenset[str]) -> bool:
    """A number passed as this name is a setting with a key of its own: a configuration field or a
    library keyword with a known default."""
    return name in fields or name in KW_DEFAULTS


VALIDATION_WORDS = frozenset({"val", "valid", "validation", "eval", "evaluation", "test"})
QUALIFIER_WORDS = VALIDATION_WORDS | {"num", "max", "min", "total", "train", "default", "base", "init"}


def tune_keys(
    old_t,
    new_t,
    old_atom: Atom,
    base_fields: frozenset[str],
    new_fields: frozenset[str],
    read: frozenset[str] = frozenset(),
    separate: frozenset[str] = frozenset(),
) -> list[tuple[str, str]]:
    """(key, up | down) of every number that differs. The key is record i's configuration field the
    number comes from, or the field or library keyword it is passed as (``vocab_size=``, ``eps=``),
    else record i's statement and the keyword (or position) it sits at: never a local variable's
    name, so a rename changes no key, and a literal moved into a new field of the script's own (a
    settings object) keeps the key of the place it was moved from. A statement that now names a new
    field where it named one of record i that was split in two (``read``: the names the statement
    reads; ``separate``: the split fields, :func:`_split_settings`) re-tunes neither: record 21's
    validation reads ``val_seq_len``, and ``seq_len`` is still the training length. A field renamed
    or moved (into a settings object) keeps its key."""
    fields = base_fields | new_fields
    a, b = [], []
    _walk_numbers(old_t, [], a)
    _walk_numbers(new_t, [], b)
    out = []
    for i, ((x, ctx), (y, _)) in enumerate(zip(a, b, strict=False)):
        if float(x) == float(y):
            continue
        if ctx and ctx[-1] in DIMENSION_KEYWORDS:
            continue  # which dimension, not how much: ``size(0)`` -> ``size(-2)`` is read as changed code
        direction = "up" if y > x else "down"
        keys = []
        origin = next((o for o in (x.origin, y.origin) if o in base_fields), None)
        if y.origin not in (None, *base_fields) and x.origin not in read and x.origin in separate:
            # names a new field split from it: validation's own length is a setting of its own; the
            # other new name (``train_seq_len``, a dict's ``len.train``) goes on with the field's job
            origin = None if name_words(y.origin) & VALIDATION_WORDS else origin
        if origin:
            keys.append(origin)
        last = ctx[-1].lstrip("=") if ctx else None  # the keyword or the variable the number is given to
        named = last if last and _named(last, fields) else None
        if named:
            keys.append(named)
        if not keys:
            keyword = ctx[-1] if ctx and not ctx[-1].startswith("=") else None
            keys.append(f"{old_atom.unit.key}#{old_atom.index}" + (f".{keyword}" if keyword else f"#{i}"))
        for k in dict.fromkeys(keys):
            out.append((k, direction))
    return out
