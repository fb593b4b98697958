"""The attribution report as one self-contained HTML page (no scripts, fonts or links outside it).

From the top: the per-innovation summary (score, verdict, the layer that decided); per innovation
the idea-level evidence — what the candidate changed like record i+1 and what is missing — as
line ranges that link into the panes; a hunk index; then three side-by-side panes — record i,
record i+1 and the candidate — with record i+1's changes highlighted green where the candidate
reproduced them and red where it missed them, and the candidate's novel edits amber. Unchanged
code more than a few lines from any change is folded (``<details>``), so each pane opens on its
first changed hunk; every hunk links to the previous and the next one. Hovering a line names the
innovation it belongs to.
"""

from __future__ import annotations

from html import escape

from analysis.attribute import Attribution
from analysis.report import feature_text, line_span

CONTEXT = 3  # unchanged lines shown around a change
FOLD_MIN = 6  # a run of at least this many other unchanged lines is folded

CSS = """
body{font-family:system-ui,sans-serif;margin:1em;color:#222}
table.summary{border-collapse:collapse;margin-bottom:1em}
table.summary td,table.summary th{border:1px solid #bbb;padding:2px 8px;text-align:left}
.yes{color:#176b1c;font-weight:bold}.no{color:#a11;font-weight:bold}
.note{background:#fff4d6;border:1px solid #e0b44c;padding:4px 8px;margin-bottom:1em}
.evidence{font-size:13px;margin:0 0 1em 1em}.evidence li{margin:2px 0}
.hunks{font-size:13px}.hunks a{margin-right:6px}
.panes{display:grid;grid-template-columns:1fr 1fr 1fr;gap:6px}
.pane{border:1px solid #999;overflow:auto;max-height:80vh}
.pane h2{font-size:14px;margin:0;padding:4px;background:#eee;position:sticky;top:0}
.code{font:12px/1.35 monospace;white-space:pre}
.l{min-height:1.35em}
.ln{display:inline-block;width:3.5em;color:#888;text-align:right;padding-right:6px;user-select:none}
.hit{background:#d5f5d5}.miss{background:#fbd3d3}.novel{background:#ffe9b0}
.hunk{display:block;background:#eef;color:#447;font:11px system-ui,sans-serif;padding:1px 4px}
.hunk a{margin-left:6px}
details.fold summary{color:#888;font:11px system-ui,sans-serif;cursor:pointer;padding:1px 4px}
.legend span{padding:0 6px;margin-right:6px}
"""


def _marks(res: Attribution):
    """line -> (class, tooltip) for each pane: idea evidence where the idea layer decided,
    statement matches elsewhere, novel edits."""
    base, target, cand = {}, {}, {}

    def mark(table, lines, cls, title):
        for ln in range(lines[0], lines[1] + 1):
            if table.get(ln, ("", ""))[0] != "miss":
                table[ln] = (cls, title)

    for group in res.innovations + res.groups:
        m = group.idea
        if group.decided_by == "ideas" and m is not None:
            for f, _, credit in m.matched:
                tip = f"{group.name}: {f} ({credit:.2f})"
                for side, atom in m.truth_atoms(f):
                    mark(target if side == "new" else base, atom.lines, "hit", tip)
                for side, atom in m.candidate_atoms(f):
                    mark(cand if side == "new" else base, atom.lines, "hit", tip)
            for f, _ in m.missing:
                for side, atom in m.truth_atoms(f):
                    mark(target if side == "new" else base, atom.lines, "miss", f"{group.name}: missing {f}")
            continue
        for match in group.matches:
            cls = "hit" if match.credit > 0 else "miss"
            tip = f"{group.name}: {match.truth.kind}, {match.how} ({match.credit:.2f})"
            for atom, table in ((match.truth.old, base), (match.truth.new, target)):
                if atom is not None:
                    mark(table, atom.lines, cls, tip)
            if match.cand is not None and match.credit > 0 and match.cand.new is not None:
                mark(cand, match.cand.new.lines, "hit", tip)
    for e in res.novel:
        if e.new is not None:
            mark(cand, e.new.lines, "novel", f"novel {e.kind}")
    return base, target, cand


def hunks(marks: dict, n_lines: int) -> list[tuple[int, int]]:
    """Changed line ranges of a pane (marked lines at most two apart belong to one hunk)."""
    out: list[list[int]] = []
    for ln in sorted(k for k in marks if 1 <= k <= n_lines):
        if out and ln <= out[-1][1] + 3:
            out[-1][1] = ln
        else:
            out.append([ln, ln])
    return [(a, b) for a, b in out]


def _pane(pane_id: str, title: str, lines: list[str], marks: dict) -> str:
    spans = hunks(marks, len(lines))
    starts = {a: i for i, (a, _) in enumerate(spans)}
    shown = set()
    for a, b in spans:
        shown.update(range(a - CONTEXT, b + CONTEXT + 1))
    rows, fold = [], []

    def flush():
        if len(fold) >= FOLD_MIN:
            first, last = fold[0][0], fold[-1][0]
            rows.append(
                f'<details class="fold"><summary>{len(fold)} unchanged lines ({first}-{last})</summary>'
                + "".join(r for _, r in fold)
                + "</details>"
            )
        else:
            rows.extend(r for _, r in fold)
        fold.clear()

    for ln, line in enumerate(lines, start=1):
        cls, tip = marks.get(ln, ("", ""))
        attrs = f' title="{escape(tip)}"' if cls else ""
        row = f'<div class="l {cls}" id="{pane_id}-L{ln}"{attrs}><span class="ln">{ln}</span>{escape(line)}</div>'
        if ln in starts:
            i = starts[ln]
            nav = "".join(
                f'<a href="#{pane_id}-h{j + 1}">{label}</a>'
                for j, label in ((i - 1, "previous"), (i + 1, "next"))
                if 0 <= j < len(spans)
            )
            row = f'<span class="hunk" id="{pane_id}-h{i + 1}">hunk {i + 1}/{len(spans)}{nav}</span>' + row
        if ln in shown or spans == []:
            flush()
            rows.append(row)
        else:
            fold.append((ln, row))
    flush()
    return (
        f'<div class="pane" id="pane-{pane_id}"><h2>{escape(title)}</h2><div class="code">'
        + "".join(rows)
        + "</div></div>"
    )


def _links(pane: str, spans) -> str:
    return ", ".join(f'<a href="#{pane}-L{a}">{line_span((a, b))}</a>' for a, b in spans)


def _evidence(doc: dict) -> str:
    """Per innovation decided by ideas: matched and missing features as linked line ranges."""
    out = []
    for g in doc["innovations"]:
        idea = g.get("idea")
        if g["layer"] != "ideas" or not idea:
            continue
        items = []
        for m in idea["matched"][:8]:
            cand = _links("candidate", m["candidate"]["candidate"]) or _links("base", m["candidate"]["base"])
            truth = _links("target", m["truth"]["target"]) or _links("base", m["truth"]["base"])
            items.append(f"<li>{escape(feature_text(m))}: candidate {cand} &larr; record i+1 {truth}</li>")
        for m in idea["missing"][:6]:
            truth = _links("target", m["truth"]["target"]) or _links("base", m["truth"]["base"])
            items.append(f'<li><span class="no">missing</span> {escape(feature_text(m))}: record i+1 {truth}</li>')
        out.append(f'<h3>{escape(g["name"])} ({g["score"]:.2f})</h3><ul class="evidence">' + "".join(items) + "</ul>")
    return "".join(out)


def _judge(judge: dict | None) -> str:
    """The model's second opinion (``attribute --judge``), beside the score and never in it."""
    if not judge:
        return ""
    rows = "".join(
        f"<tr><td>{escape(v['innovation'])}</td>"
        f"<td>{'no verdict' if v['reproduced'] is None else 'yes' if v['reproduced'] else 'no'}</td>"
        f"<td>{'yes' if v['ours'] else 'no'}</td><td>{escape(v['reason'])}</td></tr>"
        for v in judge["verdicts"]
    )
    problem = f"; {escape(judge['problem'])}" if judge["problem"] else ""
    return (
        f'<div id="judge"><h2>Second opinion: {escape(judge["model"])} (not in the score)</h2>'
        f"<p>Agrees with attribution on {judge['agree']} of {judge['of']} innovations{problem}.</p>"
        "<table><thead><tr><th>innovation</th><th>model</th><th>attribution</th><th>model's reason</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></div>"
    )


def to_html(res: Attribution, doc: dict) -> str:
    """The page for an attribution ``res`` whose JSON document is ``doc``."""
    rows = []
    for g in doc["innovations"] + doc["groups"]:
        kind = "innovation" if g in doc["innovations"] else "group"
        ok = '<span class="yes">yes</span>' if g["reproduced"] else '<span class="no">no</span>'
        rows.append(
            f'<tr class="{kind}"><td>{escape(g["name"])}</td><td>{g["score"]:.2f}</td><td>{ok}</td>'
            f"<td>{escape(g['layer'])}</td><td>{escape(', '.join(g['anchors']))}</td></tr>"
        )
    note = f'<div class="note" id="fallback">Fallback: {escape(doc["fallback"])}</div>' if doc["fallback"] else ""
    base, target, cand = _marks(res)
    index = []
    for pane, label, lines, marks in (
        ("candidate", "candidate", res.candidate.lines, cand),
        ("target", "record i+1", res.target.lines, target),
    ):
        spans = hunks(marks, len(lines))
        links = "".join(f'<a href="#{pane}-h{i + 1}">{line_span(s)}</a>' for i, s in enumerate(spans))
        index.append(f"<p>{label}: {links or 'no changes'}</p>")
    title = f"Attribution: {doc['track']} task {doc['task']} - {doc['candidate']['label']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>{CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
{note}
<table class="summary" id="summary"><thead><tr><th>innovation</th><th>score</th><th>reproduced</th>
<th>layer</th><th>anchors</th></tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<p>{doc["summary"]["reproduced"]} of {doc["summary"]["innovations"]} innovations reproduced
(threshold {doc["threshold"]}); {len(doc["novel"])} novel edits.</p>
<div id="evidence">{_evidence(doc)}</div>{_judge(doc.get("judge"))}
<div class="hunks" id="hunks">{"".join(index)}</div>
<p class="legend"><span class="hit">reproduced</span><span class="miss">missed</span>
<span class="novel">novel</span></p>
<div class="panes">
{_pane("base", "record i: " + res.base.label, res.base.lines, base)}
{_pane("target", "record i+1: " + res.target.label, res.target.lines, target)}
{_pane("candidate", "candidate: " + res.candidate.label, res.candidate.lines, cand)}
</div>
</body></html>
"""
