"""A leaderboard document (:mod:`analysis.leaderboard`) as a terminal table, Markdown, CSV, JSON,
or one self-contained HTML page with its plots embedded (no file or network it depends on)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from enum import StrEnum


class BoardFormat(StrEnum):
    TERMINAL = "terminal"
    MARKDOWN = "markdown"
    CSV = "csv"
    JSON = "json"
    HTML = "html"


DETAIL_HEADERS = [
    "row",
    "column",
    "FSR [95% CI]",
    "IQM [95% CI]",
    "tasks×runs",
    "counted as 0",
    "faster than record i",
    "innovations",
    "nodes b/i/m/v/+",
    "tokens",
    "USD",
    "compute h",
    "GPU h",
    "wall h",
]


def _ci(estimate: dict) -> str:
    value = f"{estimate['value']:.2f}"
    return value if estimate["ci"] is None else f"{value} [{estimate['ci'][0]:.2f}, {estimate['ci'][1]:.2f}]"


def _zeros(cell: dict) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in cell["zeros"].items() if n) or "none"


def detail_row(cell: dict) -> list[str]:
    sig, inn, nodes = cell["significant"], cell["innovations"], cell["nodes"]
    usd = f"{cell['cost_usd']:.2f}" + (f" (+{cell['unpriced_calls']} unpriced)" if cell["unpriced_calls"] else "")
    return [
        cell["row"],
        cell["column"],
        _ci(cell["fsr"]) + (" partial" if cell["partial"] else ""),
        _ci(cell["iqm"]),
        f"{cell['tasks']}×{cell['runs_per_task']}",
        _zeros(cell),
        f"{sig['task_share']:.2f} of tasks; runs {sig['faster']}/{sig['replayed']} replayed",
        f"{inn['reproduced']}/{inn['total']}",
        "/".join(str(v) for v in nodes.values()),
        f"{cell['tokens']:,}",
        usd,
        f"{cell['compute_h']:.3f}",
        f"{cell['gpu_h']:.3f}",
        f"{cell['wall_h']:.3f}",
    ]


def pivot(doc: dict) -> tuple[list[str], list[list[str]]]:
    """The paper's layout: one row per row label, one column per column label, mean FSR [95% CI]."""
    cells = {(c["row"], c["column"]): c for c in doc["cells"]}
    corner = " · ".join(doc["rows_by"]) + " \\ " + " · ".join(doc["columns_by"])
    headers = [corner] + [f"hints {c}" if doc["columns_by"] == ["hints"] else c for c in doc["columns"]]
    rows = [[r] + [_ci(cells[r, c]["fsr"]) if (r, c) in cells else "" for c in doc["columns"]] for r in doc["rows"]]
    return headers, rows


def notes(doc: dict) -> list[str]:
    counted = sum(sum(c["zeros"].values()) for c in doc["cells"])
    methods = sorted({c["interval"] for c in doc["cells"] if c["interval"]})
    out = [
        f"Mean FSR over all tasks × declared runs; {counted} of {len(doc['slots'])} runs had no FSR and count as 0 "
        "(missing, unfinished, failed, or no valid node: see 'counted as 0').",
        "Intervals: " + ("; ".join(methods) or "none (one task, one run)") + "; IQM = mean of the middle 50% of runs.",
    ]
    if doc["unreadable"]:
        out.append(
            f"UNREADABLE: {len(doc['unreadable'])} run folder(s) ({', '.join(doc['unreadable'])}): their run.json "
            "cannot be read, so their slots are unknown (`speedrun runs list` says why)."
        )
    if any(c["partial"] for c in doc["cells"]):
        out.append("partial: --max-steps runs; FSR from train_time at step K (a smoke test of speed, not a result).")
    return out


def terminal(doc: dict) -> str:
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=False)
    headers, rows = pivot(doc)
    table = Table(*headers, title="Mean FSR [95% CI]")
    for r in rows:
        table.add_row(*r)
    console.print(table)
    details = Table(*DETAIL_HEADERS, title="Per cell")
    for cell in doc["cells"]:
        details.add_row(*detail_row(cell))
    console.print(details)
    for line in notes(doc):
        console.print(line)
    return buffer.getvalue()


def _md_row(values) -> str:
    return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return [_md_row(headers), "|" + "---|" * len(headers)] + [_md_row(r) for r in rows]


def markdown(doc: dict) -> str:
    lines = [f"# Leaderboard ({doc['source']})", "", "Mean FSR [95% CI]:", ""]
    lines += _md_table(*pivot(doc))
    lines += ["", "Per cell:", ""] + _md_table(DETAIL_HEADERS, [detail_row(c) for c in doc["cells"]])
    lines += [""] + [f"- {n}" for n in notes(doc)]
    return "\n".join(lines) + "\n"


CSV_FIELDS = [
    "row",
    "column",
    "fsr",
    "fsr_low",
    "fsr_high",
    "iqm",
    "iqm_low",
    "iqm_high",
    "interval",
    "partial",
    "slots",
    "tasks",
    "runs_per_task",
    *(f"zero_{r}" for r in ("missing", "unfinished", "failed", "no_valid_node")),
    "faster",
    "replayed",
    "faster_share",
    "tasks_faster",
    "faster_task_share",
    "innovations_reproduced",
    "innovations_total",
    *(f"nodes_{o}" for o in ("buggy", "invalid", "missed_target", "valid", "improved")),
    "tokens",
    "cost_usd",
    "unpriced_calls",
    "compute_h",
    "gpu_h",
    "wall_h",
]


def _estimate_fields(name: str, estimate: dict) -> dict:
    low, high = estimate["ci"] or (None, None)
    return {name: estimate["value"], f"{name}_low": low, f"{name}_high": high}


def csv_text(doc: dict) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for c in doc["cells"]:
        writer.writerow(
            {
                **{k: c[k] for k in ("row", "column", "interval", "partial", "slots", "tasks", "runs_per_task")},
                **_estimate_fields("fsr", c["fsr"]),
                **_estimate_fields("iqm", c["iqm"]),
                **{f"zero_{r}": n for r, n in c["zeros"].items()},
                "faster": c["significant"]["faster"],
                "replayed": c["significant"]["replayed"],
                "faster_share": c["significant"]["share"],
                "tasks_faster": c["significant"]["tasks_faster"],
                "faster_task_share": c["significant"]["task_share"],
                "innovations_reproduced": c["innovations"]["reproduced"],
                "innovations_total": c["innovations"]["total"],
                **{f"nodes_{o}": n for o, n in c["nodes"].items()},
                **{k: c[k] for k in ("tokens", "cost_usd", "unpriced_calls", "compute_h", "gpu_h", "wall_h")},
            }
        )
    return buffer.getvalue()


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.2em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;font-size:.9em}
th{background:#f0f0f0}
img{max-width:48%;margin:.3em;border:1px solid #eee}
"""


def _html_table(headers: list[str], rows: list[list[str]], cls: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def html_body(doc: dict, plots: dict[str, dict[str, bytes]] | None) -> str:
    """The leaderboard as an HTML fragment (the page's body; the run viewer embeds it too)."""
    parts = [
        "<h2>Mean FSR [95% CI]</h2>",
        _html_table(*pivot(doc), "pivot"),
        "<h2>Per cell</h2>",
        _html_table(DETAIL_HEADERS, [detail_row(c) for c in doc["cells"]], "cells"),
        "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes(doc)) + "</ul>",
    ]
    if plots:
        parts.append("<h2>Plots</h2>")
        for name, formats in plots.items():
            data = base64.b64encode(formats["png"]).decode()
            parts.append(f'<img alt="{name}" src="data:image/png;base64,{data}">')
    return "\n".join(parts)


def html_page(doc: dict, plots: dict[str, dict[str, bytes]] | None, title: str = "Leaderboard") -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)} ({html.escape(doc['source'])})</h1>"
        f"{html_body(doc, plots)}</body></html>\n"
    )


def render(doc: dict, fmt: BoardFormat, plots: dict[str, dict[str, bytes]] | None = None) -> str:
    if fmt == BoardFormat.TERMINAL:
        return terminal(doc)
    if fmt == BoardFormat.MARKDOWN:
        return markdown(doc)
    if fmt == BoardFormat.CSV:
        return csv_text(doc)
    if fmt == BoardFormat.JSON:
        return json.dumps(doc, indent=2) + "\n"
    return html_page(doc, plots)
