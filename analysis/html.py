"""The attribution report as one self-contained HTML page (no scripts, fonts or links outside it).

A per-innovation summary table, then three side-by-side panes — record i, record i+1 and the
candidate — with every ground-truth edit highlighted: green where the candidate reproduced it,
red where it missed it, and the candidate's novel edits in amber. Hovering a line names the
innovation it belongs to.
"""

from __future__ import annotations

from html import escape

from analysis.attribute import Attribution

CSS = """
body{font-family:system-ui,sans-serif;margin:1em;color:#222}
table.summary{border-collapse:collapse;margin-bottom:1em}
table.summary td,table.summary th{border:1px solid #bbb;padding:2px 8px;text-align:left}
.yes{color:#176b1c;font-weight:bold}.no{color:#a11;font-weight:bold}
.note{background:#fff4d6;border:1px solid #e0b44c;padding:4px 8px;margin-bottom:1em}
.panes{display:grid;grid-template-columns:1fr 1fr 1fr;gap:6px}
.pane{border:1px solid #999;overflow:auto;max-height:80vh}
.pane h2{font-size:14px;margin:0;padding:4px;background:#eee;position:sticky;top:0}
.code{font:12px/1.35 monospace;white-space:pre;margin:0}
.ln{display:inline-block;width:3.5em;color:#888;text-align:right;padding-right:6px;user-select:none}
.hit{background:#d5f5d5}.miss{background:#fbd3d3}.novel{background:#ffe9b0}
.legend span{padding:0 6px;margin-right:6px}
"""


def _marks(res: Attribution):
    base, target, cand = {}, {}, {}

    def mark(table, atom, cls, title):
        if atom is None:
            return
        for ln in range(atom.lines[0], atom.lines[1] + 1):
            if table.get(ln, ("", ""))[0] != "miss":
                table[ln] = (cls, title)

    for group in res.innovations + res.groups:
        for m in group.matches:
            cls = "hit" if m.credit > 0 else "miss"
            title = f"{group.name}: {m.truth.kind}, {m.how} ({m.credit:.2f})"
            mark(base, m.truth.old, cls, title)
            mark(target, m.truth.new, cls, title)
            if m.cand is not None and m.credit > 0:
                mark(cand, m.cand.new or None, "hit", title)
                mark(base, m.cand.old, cls, title)
    for e in res.novel:
        mark(cand, e.new, "novel", f"novel {e.kind}")
    return base, target, cand


def _pane(pane_id: str, title: str, lines: list[str], marks: dict) -> str:
    rows = []
    for ln, line in enumerate(lines, start=1):
        cls, tip = marks.get(ln, ("", ""))
        attrs = f' class="{cls}" title="{escape(tip)}"' if cls else ""
        rows.append(f'<span{attrs}><span class="ln">{ln}</span>{escape(line)}</span>')
    return (
        f'<div class="pane" id="pane-{pane_id}"><h2>{escape(title)}</h2>'
        f'<pre class="code">' + "\n".join(rows) + "</pre></div>"
    )


def to_html(res: Attribution, doc: dict) -> str:
    """The page for an attribution ``res`` whose JSON document is ``doc``."""
    rows = []
    for g in doc["innovations"] + doc["groups"]:
        kind = "innovation" if g in doc["innovations"] else "group"
        ok = '<span class="yes">yes</span>' if g["reproduced"] else '<span class="no">no</span>'
        rows.append(
            f'<tr class="{kind}"><td>{escape(g["name"])}</td><td>{g["score"]:.2f}</td><td>{ok}</td>'
            f"<td>{len(g['evidence'])}/{g['edits']}</td><td>{escape(', '.join(g['anchors']))}</td></tr>"
        )
    note = f'<div class="note" id="fallback">Fallback: {escape(doc["fallback"])}</div>' if doc["fallback"] else ""
    base, target, cand = _marks(res)
    title = f"Attribution: {doc['track']} task {doc['task']} - {doc['candidate']['label']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>{CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
{note}
<table class="summary" id="summary"><thead><tr><th>innovation</th><th>score</th><th>reproduced</th>
<th>edits matched</th><th>anchors</th></tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<p>{doc["summary"]["reproduced"]} of {doc["summary"]["innovations"]} innovations reproduced
(threshold {doc["threshold"]}); {len(doc["novel"])} novel edits.</p>
<p class="legend"><span class="hit">reproduced</span><span class="miss">missed</span>
<span class="novel">novel</span></p>
<div class="panes">
{_pane("base", "record i: " + res.base.label, res.base.lines, base)}
{_pane("target", "record i+1: " + res.target.label, res.target.lines, target)}
{_pane("candidate", "candidate: " + res.candidate.label, res.candidate.lines, cand)}
</div>
</body></html>
"""
