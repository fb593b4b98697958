"""Lineage: for each definition of record N, the record that introduced or last changed it.

Walks the track backwards one structural diff at a time, following each unit through matches
(so a definition renamed on the way keeps its history). A unit is *changed* in record k if
diff(record k-1, record k) has an edit in it, *introduced* if it has no match in record k-1.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.diff import diff_versions, load


@dataclass
class BlameLine:
    qualname: str
    kind: str
    lines: tuple[int, int]
    record: str  # label of the record that last changed or introduced it
    change: str  # introduced | changed
    innovations: list[str]


def blame(store, track: str, index: int) -> list[BlameLine]:
    from analysis.sources import record_script

    store.record(track, index)  # the store's clear error if there is no such record
    records = [r for r in store.records(track) if r.index <= index]
    from analysis.syntax import Cache

    cache = Cache()
    versions = [load(*reversed(record_script(store, r)), cache=cache) for r in records]
    if versions[-1].failure:
        from replay.errors import SpeedrunError

        raise SpeedrunError(f"cannot blame: {versions[-1].failure}")
    current = {id(u): u for u in versions[-1].units}
    result: dict[int, tuple[int, str]] = {}
    for k in range(len(versions) - 1, 0, -1):
        if not current:
            break
        d = diff_versions(versions[k - 1], versions[k])
        if d.fallback:
            for uid in current:
                result[uid] = (k, "changed")
            current = {}
            break
        touched = {id(a.unit) for e in d.edits for a in e.atoms}
        back = {id(v): u for u, v in d.pairs.items()}
        nxt = {}
        for uid, unit in current.items():
            if id(unit) not in back:
                result[uid] = (k, "introduced")
            elif id(unit) in touched or id(back[id(unit)]) in touched:
                result[uid] = (k, "changed")
            else:
                nxt[uid] = back[id(unit)]
        current = nxt
    for uid in current:
        result[uid] = (0, "introduced")
    out = []
    for unit in versions[-1].units:
        k, change = result[id(unit)]
        rec = records[k]
        names = [
            i.name
            for i in rec.meta.innovations
            if any(
                unit.qualname == a or unit.qualname.startswith(a + ".") or a.startswith(unit.qualname + ".")
                for a in i.anchors
            )
        ]
        out.append(BlameLine(unit.qualname, unit.kind, (unit.start, unit.end), rec.label, change, names))
    return out


def blame_text(lines: list[BlameLine]) -> str:
    width = max((len(b.qualname) for b in lines), default=10)
    rows = [
        f"{b.qualname:<{width}}  {b.kind:<8} L{b.lines[0]:<4}-{b.lines[1]:<4}  {b.record:<10} {b.change:<10} "
        f"{', '.join(b.innovations)}".rstrip()
        for b in lines
    ]
    return "\n".join(rows) + "\n"
