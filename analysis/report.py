"""Attribution reports as JSON (versioned schema) and Markdown, and diffs as terminal text.

JSON schema 2::

    {schema: 2, track, task, base: {label}, target: {label}, candidate: {kind, spec, label},
     threshold, fallback: null | "why",
     innovations: [{name, anchors, score, reproduced, layer, statement_score, edits,
                    idea: IDEA, probe: PROBE, evidence: [EVIDENCE], missed: [EVIDENCE]}],
     groups: [same shape, for "hyperparameters" and "other" (not innovations)],
     novel: [{kind, unit, base_lines, candidate_lines, text}],
     summary: {reproduced, innovations}}

    IDEA = {weight, matched: [{feature, weight, credit, truth: RANGES, candidate: RANGES}],
            missing: [{feature, weight, truth: RANGES}]}        (null where the idea layer did not run)
    PROBE = {probe, base, target, candidate, decided, why}  (null where the innovation has no probe)
    RANGES = {target: [[first, last], ...], base: [[first, last], ...]} for record i+1's side,
             {candidate: [...], base: [...]} for the candidate's: merged line ranges
    EVIDENCE = {kind, unit, how, credit, truth: {base_lines, target_lines, text},
                candidate: {base_lines, candidate_lines, text} | null}

``layer`` says which layer gave the score: ``probe`` (a behavioural probe, :mod:`analysis.probes`,
where it tells record i from record i+1 and measures the candidate), ``ideas`` (the idea-level
comparison of :mod:`analysis.ideas`) or ``statements`` (statement matching, where an innovation's
changes leave no idea signature or a script could not be parsed). ``evidence``/``missed`` are the statement
matches, kept for the side-by-side view. Schema 1 documents (no ``layer``, ``idea``,
``statement_score``) are read by :func:`upgrade`. Line ranges are ``[first, last]``, 1-based,
or ``null`` for the side an edit has no atom on.
"""

from __future__ import annotations

from analysis.attribute import THRESHOLD, Attribution, Group, Match
from analysis.versions import Edit, FileDiff

SCHEMA = 2


def _lines(atom):
    return list(atom.lines) if atom is not None else None


def _snippet(atom, version, limit: int = 160) -> str:
    if atom is None:
        return ""
    first, last = atom.lines
    text = " ".join(" ".join(version.lines[first - 1 : last]).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _evidence(m: Match, res: Attribution) -> dict:
    g, a = m.truth, m.cand
    new = g.new or g.old
    out = {
        "kind": g.kind,
        "unit": new.qualname,
        "how": m.how,
        "credit": m.credit,
        "truth": {
            "base_lines": _lines(g.old),
            "target_lines": _lines(g.new),
            "text": _snippet(g.new, res.target) or _snippet(g.old, res.base),
        },
        "candidate": None,
    }
    if a is not None:
        out["candidate"] = {
            "base_lines": _lines(a.old),
            "candidate_lines": _lines(a.new),
            "text": _snippet(a.new, res.candidate) or _snippet(a.old, res.base),
        }
    return out


def ranges(lines: list[tuple[int, int]]) -> list[list[int]]:
    """Line spans merged where they touch or overlap: [[first, last], ...] in order."""
    out: list[list[int]] = []
    for a, b in sorted(lines):
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def _sides(atoms, new_side: str) -> dict:
    spans: dict[str, list] = {new_side: [], "base": []}
    for side, atom in atoms:
        spans[new_side if side == "new" else "base"].append(atom.lines)
    return {k: ranges(v) for k, v in spans.items()}


def _idea(g: Group) -> dict | None:
    m = g.idea
    if m is None:
        return None
    return {
        "weight": round(m.weight, 3),
        "matched": [
            {
                "feature": f,
                "sign": m.truth.features.get(f, 1),
                "weight": round(w, 3),
                "credit": credit,
                "truth": _sides(m.truth_atoms(f), "target"),
                "candidate": _sides(m.candidate_atoms(f), "candidate"),
            }
            for f, w, credit in sorted(m.matched, key=lambda t: -t[1])
        ],
        "missing": [
            {
                "feature": f,
                "sign": m.truth.features.get(f, 1),
                "weight": round(w, 3),
                "truth": _sides(m.truth_atoms(f), "target"),
            }
            for f, w in sorted(m.missing, key=lambda t: -t[1])
        ],
    }


def _group(g: Group, res: Attribution) -> dict:
    return {
        "name": g.name,
        "anchors": list(g.anchors),
        "score": g.score,
        "reproduced": g.reproduced,
        "layer": g.decided_by,
        "statement_score": g.statement_score,
        "edits": len(g.matches),
        "idea": _idea(g),
        "probe": g.probe.to_json() if g.probe else None,
        "evidence": [_evidence(m, res) for m in g.matches if m.credit > 0],
        "missed": [_evidence(m, res) for m in g.matches if m.credit <= 0],
    }


def upgrade(doc: dict) -> dict:
    """A schema 1 document read as schema 2 (the idea layer did not exist: statements decided)."""
    if doc.get("schema") == 1:
        doc = dict(doc, schema=SCHEMA)
        for key in ("innovations", "groups"):
            doc[key] = [dict(g, layer="statements", statement_score=g["score"], idea=None) for g in doc[key]]
    return doc


def to_json(res: Attribution, track: str, task: int | None, candidate: dict) -> dict:
    innovations = [_group(g, res) for g in res.innovations]
    return {
        "schema": SCHEMA,
        "track": track,
        "task": task,
        "base": {"label": res.base.label},
        "target": {"label": res.target.label},
        "candidate": candidate,
        "threshold": THRESHOLD,
        "fallback": res.fallback,
        "innovations": innovations,
        "groups": [_group(g, res) for g in res.groups],
        "novel": [
            {
                "kind": e.kind,
                "unit": (e.new or e.old).qualname,
                "base_lines": _lines(e.old),
                "candidate_lines": _lines(e.new),
                "text": _snippet(e.new, res.candidate) or _snippet(e.old, res.base),
            }
            for e in res.novel
        ],
        "summary": {"reproduced": sum(i["reproduced"] for i in innovations), "innovations": len(innovations)},
    }


def to_markdown(doc: dict) -> str:
    out = [
        f"# Attribution: {doc['track']} task {doc['task']}",
        "",
        f"Base {doc['base']['label']}, ground truth {doc['target']['label']}, "
        f"candidate {doc['candidate']['label']}. Reproduced = score >= {doc['threshold']}.",
        "",
    ]
    if doc["fallback"]:
        out += [f"> **Fallback:** {doc['fallback']} (attribution compares lines, not structure).", ""]
    doc = upgrade(doc)
    out += ["| innovation | score | reproduced | layer | edits matched |", "|---|---|---|---|---|"]
    for g in doc["innovations"] + doc["groups"]:
        name = g["name"] if g in doc["innovations"] else f"*{g['name']}*"
        out.append(
            f"| {name} | {g['score']:.2f} | {'yes' if g['reproduced'] else 'no'} | {g['layer']} "
            f"| {len(g['evidence'])}/{g['edits']} |"
        )
    out.append("")
    for g in doc["innovations"]:
        out += [f"## {g['name']} ({g['score']:.2f}, {g['layer']})", ""]
        idea, probe = g.get("idea"), g.get("probe")
        if g["layer"] == "probe" and probe:
            out.append(
                f"- behaviour `{probe['probe']}`: record i {_measured(probe['base'])}, record i+1 "
                f"{_measured(probe['target'])}, candidate {_measured(probe['candidate'])}: {probe['why']}"
            )
            if idea and idea["weight"]:
                out += _idea_lines(idea)
        elif g["layer"] == "ideas" and idea:
            out += _idea_lines(idea)
        else:
            for ev in g["evidence"]:
                c = ev["candidate"]
                out.append(
                    f"- {ev['kind']} `{ev['unit']}` truth {_span(ev['truth'])} -> candidate "
                    f"{_span_c(c)}: {ev['how']} ({ev['credit']:.2f})"
                )
            for ev in g["missed"]:
                out.append(
                    f"- **missed** {ev['kind']} `{ev['unit']}` truth {_span(ev['truth'])}: `{ev['truth']['text']}`"
                )
        out.append("")
    out += [f"## Novel edits ({len(doc['novel'])})", ""]
    for e in doc["novel"]:
        out.append(
            f"- {e['kind']} `{e['unit']}` base {line_span(e['base_lines'])} "
            f"candidate {line_span(e['candidate_lines'])}: `{e['text']}`"
        )
    if doc.get("judge"):
        out += ["", *judge_lines(doc["judge"])]
    return "\n".join(out) + "\n"


def judge_lines(judge: dict) -> list[str]:
    """The model's second opinion (``attribute --judge``) as Markdown: never part of the score."""
    out = [
        f"## Second opinion: {judge['model']} (not in the score)",
        "",
        f"Agrees with attribution on {judge['agree']} of {judge['of']} innovations"
        + (f"; {judge['problem']}." if judge["problem"] else "."),
        "",
        "| innovation | model | attribution | model's reason |",
        "|---|---|---|---|",
    ]
    for v in judge["verdicts"]:
        said = "no verdict" if v["reproduced"] is None else "yes" if v["reproduced"] else "no"
        reason = v["reason"].replace("|", "\\|").replace("\n", " ")
        out.append(f"| {v['innovation']} | {said} | {'yes' if v['ours'] else 'no'} | {reason} |")
    return out


MAX_FEATURES = 6  # features named per evidence line (the heaviest first)


def _measured(value) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):  # a number per kind (the learning rate of each kind of parameter)
        return ", ".join(f"{kind} {number:g}" for kind, number in value.items())
    return "unbounded" if value >= 1e3 else f"{value:g}"


def _idea_lines(idea: dict) -> list[str]:
    """Two lines: where the candidate changed what record i+1 changed (merged line ranges on both
    sides, the heaviest features named), and what is missing (record i+1's ranges)."""
    out = []
    total = idea["weight"] or 1.0
    if idea["matched"]:
        got = sum(m["weight"] * m["credit"] for m in idea["matched"])
        cand = _merged(m["candidate"] for m in idea["matched"])
        truth = _merged(m["truth"] for m in idea["matched"])
        out.append(
            f"- changed like record i+1 ({got / total:.0%} of the idea): candidate {_rng(cand, 'candidate', 'L')} "
            f"<- record i+1 {_rng(truth, 'target', 'L')}: {_names(idea['matched'])}"
        )
        elsewhere = [m for m in idea["matched"] if m["credit"] < 1]
        if elsewhere:
            out.append(f"  (in another place than record i+1, partial credit: {_names(elsewhere)})")
    if idea["missing"]:
        lost = sum(m["weight"] for m in idea["missing"])
        truth = _merged(m["truth"] for m in idea["missing"])
        out.append(
            f"- **missing** ({lost / total:.0%} of the idea): record i+1 {_rng(truth, 'target', 'L')}: "
            f"{_names(idea['missing'])}"
        )
    return out


def _merged(sides) -> dict:
    spans: dict[str, list] = {}
    for s in sides:
        for key, rs in s.items():
            spans.setdefault(key, []).extend(tuple(r) for r in rs)
    return {k: ranges(v) for k, v in spans.items()}


def _names(items: list[dict]) -> str:
    shown = ", ".join(feature_text(m) for m in items[:MAX_FEATURES])
    return shown + (f" and {len(items) - MAX_FEATURES} more" if len(items) > MAX_FEATURES else "")


def _rng(sides: dict, new_key: str, new_label: str) -> str:
    parts = []
    if sides.get(new_key):
        parts.append(", ".join(line_span(r) for r in sides[new_key]))
    if sides.get("base"):
        parts.append("record i " + ", ".join(line_span(r) for r in sides["base"]))
    return " and ".join(parts) or "-"


def feature_text(m: dict) -> str:
    """A feature in words: `call:rms_norm` -> `rms_norm()`, `tune:lr:up` -> `lr up`; a removal is
    prefixed with "no more"."""
    f = m["feature"]
    kind, _, name = f.partition(":")
    sign = "no more " if m.get("sign", 1) < 0 else ""
    return sign + {
        "call": f"{name}()",
        "kw": f"{name}=",
        "kwn": f"{name}=<number>",
        "op": f"operator {name}",
        "opn": f"operator {name.replace(':', ' by ~2^')}",
        "tune": name.replace(":", " "),
        "ramp": f"ramps {name}",
        "ref": f"reads {name}",
        "attr": f".{name}",
        "num": f"number {name}",
        "edge": name.replace(">", " of "),
        "str": f'"{name}"',
        "dtype": name,
        "imp": f"import {name}",
    }.get(kind, f)


def line_span(span) -> str:
    return "-" if not span else (f"L{span[0]}" if span[0] == span[1] else f"L{span[0]}-{span[1]}")


def _span(t: dict) -> str:
    return f"base {line_span(t['base_lines'])} / target {line_span(t['target_lines'])}"


def _span_c(c: dict | None) -> str:
    return "-" if c is None else f"base {line_span(c['base_lines'])} / cand {line_span(c['candidate_lines'])}"


def diff_text(d: FileDiff) -> str:
    """A structural diff for the terminal: units changed (a renamed unit once, ``old -> new``),
    added and removed with their line spans, renames, and every edit with its lines, in file
    order."""
    out = [f"--- {d.old.label}", f"+++ {d.new.label}"]
    if d.fallback:
        out.append(f"note: {d.fallback}")
    if d.renames:
        out.append("renamed: " + ", ".join(f"{a} -> {b}" for a, b in sorted(d.renames.items())))
    back = {id(v): u for u, v in d.pairs.items()}
    by_unit: dict[str, list[Edit]] = {}
    titles: dict[str, tuple[str, str, object]] = {}
    for e in d.edits:
        atom = e.old or e.new
        unit = atom.unit if e.old is not None else back.get(id(e.new.unit), e.new.unit)
        key = unit.key if e.old is not None or id(e.new.unit) in back else "new:" + unit.key
        by_unit.setdefault(key, []).append(e)
        if key not in titles:
            titles[key] = _unit_title(d, unit, e.old is None and id(e.new.unit) not in back)
    whole = {u.qualname for u in d.added_units() + d.removed_units() if u.kind == "class"}
    for key, edits in sorted(by_unit.items(), key=lambda kv: _unit_order(d, kv[1])):
        mark, name, unit = titles[key]
        if mark != "~" and unit.qualname.rpartition(".")[0] in whole:
            continue  # a method of a class added or removed whole: shown with its class
        out.append(f"\n{mark} {name}")
        if mark != "~":
            what = "added" if mark == "+" else "removed"
            methods = sorted(
                u.qualname.rpartition(".")[2]
                for u in (d.new.units if mark == "+" else d.old.units)
                if unit.kind == "class" and u.qualname.rpartition(".")[0] == unit.qualname
            )
            extra = f"; methods {', '.join(methods)}" if methods else ""
            out.append(f"    ({what} {unit.kind}, lines {unit.start}-{unit.end}{extra})")
            continue
        for e in sorted(edits, key=lambda e: _edit_order(d, e)):
            if e.old is not None:
                out += [f"  - {ln:4d} | {d.old.lines[ln - 1]}" for ln in range(e.old.lines[0], e.old.lines[1] + 1)]
            if e.new is not None:
                out += [f"  + {ln:4d} | {d.new.lines[ln - 1]}" for ln in range(e.new.lines[0], e.new.lines[1] + 1)]
    moved = {v.qualname: u.qualname for u, v in d.pairs.items() if u.qualname != v.qualname}
    if moved and not d.fallback:
        out.append("\nmatched under new names: " + ", ".join(f"{a} -> {b}" for b, a in moved.items()))
    added, removed = d.added_units(), d.removed_units()
    out.append(f"\n{len(d.edits)} edits, {len(added)} units added, {len(removed)} removed, {d.moves} statements moved")
    return "\n".join(out) + "\n"


def _unit_title(d: FileDiff, unit, added: bool) -> tuple[str, str, object]:
    if added:
        return "+", unit.qualname, unit
    paired = d.pairs.get(unit)
    if paired is None:
        return "-", unit.qualname, unit
    name = unit.qualname if paired.qualname == unit.qualname else f"{unit.qualname} -> {paired.qualname}"
    return "~", name, unit


def _edit_order(d: FileDiff, e: Edit) -> tuple[float, int]:
    """Where an edit sits in record i's order: its old line, or (an insertion) just before the next
    statement of its unit that record i has, so a replaced statement reads - then +."""
    if e.old is not None:
        return (e.old.lines[0], 0)
    atoms = e.new.unit.atoms
    for nxt in atoms[e.new.index + 1 :]:
        old = d.counterpart.get(id(nxt))
        if old is not None:
            return (old.lines[0] - 0.5, e.new.lines[0])
    back = {id(v): u for u, v in d.pairs.items()}
    unit = back.get(id(e.new.unit))
    return ((unit.end if unit is not None else 0) + 0.5, e.new.lines[0])


def _unit_order(d: FileDiff, edits: list[Edit]) -> tuple[float, int]:
    """Units in file order: changed and removed ones by their first line in record i, added ones
    by their line in the new version (after the others that start before them)."""
    first = min(edits, key=lambda e: _edit_order(d, e))
    if first.old is not None:
        return (first.old.unit.start, 0)
    unit = first.new.unit
    if first.context[0] == "unit":
        return (_edit_order(d, first)[0], 0)
    return (_new_unit_position(d, unit), 1)


def _new_unit_position(d: FileDiff, unit) -> int:
    back = {id(v): u for u, v in d.pairs.items()}
    best = 0
    for v in d.new.units:
        if v.order >= unit.order:
            break
        if id(v) in back:
            best = back[id(v)].end
    return best
