"""Match the units of two versions of a script.

In the order difftastic and GumTree taught: identical units first (same exact hash, unique on
both sides, so identical subtrees never reach the expensive steps), then the same qualified
name, then the same structure up to consistent renaming, then token similarity for what is
left (renamed and edited definitions), then a function renamed a little and rewritten a lot (its
name nearly the same, some code in common). A unit left unmatched was added or removed.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from difflib import SequenceMatcher

from analysis.syntax import similarity
from analysis.units import Unit

SIMILARITY_MIN = 0.5  # below this, two units are an add and a remove, not an edit
# Two definitions whose names share no word must be clearly alike to be one definition renamed: at
# 0.5, two short unrelated helpers pass (vocab_size_next_multiple_of and get_sliding_window_blocks).
UNRELATED_SIMILARITY_MIN = 0.7
RENAME_NAME_MIN, RENAME_SIMILARITY_MIN = 0.85, 0.25  # a slightly renamed, heavily rewritten unit


def match_units(old: list[Unit], new: list[Unit]) -> dict[Unit, Unit]:
    """Old unit -> new unit, one-to-one."""
    pairs: dict[Unit, Unit] = {}
    taken: set[int] = set()

    def free_old():
        return [u for u in old if u not in pairs]

    def free_new():
        return [u for u in new if id(u) not in taken]

    def by_key(attr: str, same_kind: bool = False) -> None:
        left, right = defaultdict(list), defaultdict(list)
        for u in free_old():
            left[(getattr(u, attr), u.kind if same_kind else "")].append(u)
        for u in free_new():
            right[(getattr(u, attr), u.kind if same_kind else "")].append(u)
        for k, us in left.items():
            vs = right.get(k)
            if vs and len(us) == 1 and len(vs) == 1:
                pairs[us[0]] = vs[0]
                taken.add(id(vs[0]))

    by_key("exact")
    by_key("qualname", same_kind=True)
    by_key("abstract", same_kind=True)
    _match_methods_of_paired_classes(pairs, taken, free_old(), free_new())
    scored = []
    for u in free_old():
        for v in free_new():
            if _compatible(u, v):
                s = similarity(u.toks, v.toks)
                if s >= (SIMILARITY_MIN if _names_related(u, v) else UNRELATED_SIMILARITY_MIN):
                    scored.append((s, -abs(u.order - v.order), u.order, v.order, u, v))
    scored.sort(key=lambda t: t[:4], reverse=True)
    for *_, u, v in scored:
        if u not in pairs and id(v) not in taken:
            pairs[u] = v
            taken.add(id(v))
    _match_renamed(pairs, taken, free_old(), free_new())
    return pairs


def _match_renamed(pairs, taken, old: list[Unit], new: list[Unit]) -> None:
    """A function renamed a little (configure_optimizer -> configure_optimizers) and rewritten: the
    only unit of its kind whose name is that close, with some code in common."""
    for u in old:
        if u.kind not in ("function", "method"):
            continue
        close = [
            v
            for v in new
            if id(v) not in taken
            and _compatible(u, v)
            and SequenceMatcher(None, u.qualname, v.qualname).ratio() >= RENAME_NAME_MIN
            and similarity(u.toks, v.toks) >= RENAME_SIMILARITY_MIN
        ]
        if len(close) == 1:
            pairs[u] = close[0]
            taken.add(id(close[0]))


def _names_related(u: Unit, v: Unit) -> bool:
    """Whether two units' names share a word (``DistributedDataLoader.next_batch`` and
    ``distributed_data_generator`` share two); a region's name is not its author's, so any two are."""
    return u.kind == "region" or bool(name_words(u.qualname) & name_words(v.qualname))


@functools.lru_cache(maxsize=1024)  # every pair of free units asks again
def name_words(name: str) -> frozenset[str]:
    """The words of a name, lower-cased, of three letters or more (``val_seq_len``: val, seq, len)."""
    return frozenset(w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+", name) if len(w) > 2)


def _compatible(u: Unit, v: Unit) -> bool:
    if u.kind == v.kind:
        return True
    return {u.kind, v.kind} == {"function", "method"}


def _match_methods_of_paired_classes(pairs, taken, old, new) -> None:
    """Methods of a renamed class: same method name under paired classes."""
    renamed = {u.qualname: v.qualname for u, v in pairs.items() if u.kind == "class" and u.qualname != v.qualname}
    if not renamed:
        return
    index = {v.qualname: v for v in new}
    for u in old:
        owner, _, method = u.qualname.rpartition(".")
        if owner in renamed:
            v = index.get(f"{renamed[owner]}.{method}")
            if v is not None and id(v) not in taken:
                pairs[u] = v
                taken.add(id(v))
