"""Attribution reports as JSON (versioned schema) and Markdown, and diffs as terminal text.

JSON schema 1::

    {schema: 1, track, task, base: {label}, target: {label}, candidate: {kind, spec, label},
     threshold, fallback: null | "why",
     innovations: [{name, anchors, score, reproduced, edits, evidence: [EVIDENCE], missed: [EVIDENCE]}],
     groups: [same shape, for "hyperparameters" and "other" (not innovations)],
     novel: [{kind, unit, base_lines, candidate_lines, text}],
     summary: {reproduced, innovations}}

    EVIDENCE = {kind, unit, how, credit, truth: {base_lines, target_lines, text},
                candidate: {base_lines, candidate_lines, text} | null}

Line ranges are ``[first, last]``, 1-based, or ``null`` for the side an edit has no atom on.
"""

from __future__ import annotations

from enum import StrEnum

from analysis.attribute import THRESHOLD, Attribution, Group, Match
from analysis.versions import Edit, FileDiff

SCHEMA = 1


class ReportFormat(StrEnum):
    """The formats an attribution report is written in."""

    JSON = "json"
    MARKDOWN = "md"
    HTML = "html"


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


def _group(g: Group, res: Attribution) -> dict:
    return {
        "name": g.name,
        "anchors": list(g.anchors),
        "score": g.score,
        "reproduced": g.reproduced,
        "edits": len(g.matches),
        "evidence": [_evidence(m, res) for m in g.matches if m.credit > 0],
        "missed": [_evidence(m, res) for m in g.matches if m.credit <= 0],
    }


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
    out += ["| innovation | score | reproduced | edits matched |", "|---|---|---|---|"]
    for g in doc["innovations"] + doc["groups"]:
        name = g["name"] if g in doc["innovations"] else f"*{g['name']}*"
        out.append(
            f"| {name} | {g['score']:.2f} | {'yes' if g['reproduced'] else 'no'} | {len(g['evidence'])}/{g['edits']} |"
        )
    out.append("")
    for g in doc["innovations"]:
        out += [f"## {g['name']} ({g['score']:.2f})", ""]
        for ev in g["evidence"]:
            c = ev["candidate"]
            out.append(
                f"- {ev['kind']} `{ev['unit']}` truth {_span(ev['truth'])} -> candidate "
                f"{_span_c(c)}: {ev['how']} ({ev['credit']:.2f})"
            )
        for ev in g["missed"]:
            out.append(f"- **missed** {ev['kind']} `{ev['unit']}` truth {_span(ev['truth'])}: `{ev['truth']['text']}`")
        out.append("")
    out += [f"## Novel edits ({len(doc['novel'])})", ""]
    for e in doc["novel"]:
        out.append(
            f"- {e['kind']} `{e['unit']}` base {_fmt(e['base_lines'])} candidate {_fmt(e['candidate_lines'])}: "
            f"`{e['text']}`"
        )
    return "\n".join(out) + "\n"


def _fmt(span) -> str:
    return "-" if not span else (f"L{span[0]}" if span[0] == span[1] else f"L{span[0]}-{span[1]}")


def _span(t: dict) -> str:
    return f"base {_fmt(t['base_lines'])} / target {_fmt(t['target_lines'])}"


def _span_c(c: dict | None) -> str:
    return "-" if c is None else f"base {_fmt(c['base_lines'])} / cand {_fmt(c['candidate_lines'])}"


def diff_text(d: FileDiff) -> str:
    """A structural diff for the terminal: units changed, added, removed, renames, edits with lines."""
    out = [f"--- {d.old.label}", f"+++ {d.new.label}"]
    if d.fallback:
        out.append(f"note: {d.fallback}")
    if d.renames:
        out.append("renamed: " + ", ".join(f"{a} -> {b}" for a, b in sorted(d.renames.items())))
    by_unit: dict[str, list[Edit]] = {}
    for e in d.edits:
        by_unit.setdefault((e.new or e.old).unit.qualname, []).append(e)
    added = {u.qualname for u in d.added_units()}
    removed = {u.qualname for u in d.removed_units()}
    for name, edits in by_unit.items():
        mark = "+" if name in added else "-" if name in removed else "~"
        out.append(f"\n{mark} {name}")
        if mark != "~":
            first = min((e.new or e.old).lines[0] for e in edits)
            last = max((e.new or e.old).lines[1] for e in edits)
            out.append(f"    ({'added' if mark == '+' else 'removed'}, lines {first}-{last})")
            continue
        for e in sorted(edits, key=lambda e: (e.new or e.old).lines[0]):
            if e.old is not None:
                out += [f"  - {ln:4d} | {d.old.lines[ln - 1]}" for ln in range(e.old.lines[0], e.old.lines[1] + 1)]
            if e.new is not None:
                out += [f"  + {ln:4d} | {d.new.lines[ln - 1]}" for ln in range(e.new.lines[0], e.new.lines[1] + 1)]
    moved = {v.qualname: u.qualname for u, v in d.pairs.items() if u.qualname != v.qualname}
    if moved and not d.fallback:
        out.append("\nmatched under new names: " + ", ".join(f"{a} -> {b}" for b, a in moved.items()))
    out.append(f"\n{len(d.edits)} edits, {len(added)} units added, {len(removed)} removed, {d.moves} statements moved")
    return "\n".join(out) + "\n"
