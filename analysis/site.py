"""``speedrun view``: runs as a static HTML site (one self-contained page per run, no network).

* ``index.html``: every run with its kind, task, model, status and FSR, linked to its page, and a
  link to the leaderboard;
* an agent run's page: its tree of nodes (each with its outcome and time, linked to its section)
  and, per node, its diff against its parent and against record i (the start script), the tail
  of its log, and its attribution (which of record i+1's innovations its script reproduces);
* a replay's page: the report table, the comparison lines and notes, and each run's log tail;
* ``leaderboard.html``: the leaderboard of the agent runs shown, with its plots embedded.

Scripts are read from the work repository (every node is a commit there); a node whose commit
cannot be read, or a task whose records are not in this records.git, says so on its page.
"""

from __future__ import annotations

import difflib
import html
from pathlib import Path

from analysis.leaderboard_render import STYLE, html_body
from analysis.runs_index import RunRow
from replay import paths
from replay.atomic import write_text_atomic
from replay.run.runlog import AgentState, Node, ReplayState
from replay.score.replay_report import HEADERS, comparison_lines, notes, table_rows

LOG_TAIL_LINES = 40
INDEX = "index.html"
LEADERBOARD = "leaderboard.html"
SITE_STYLE = (
    STYLE
    + """
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:.8em;max-height:30em}
.add{color:#1a7f37}.del{color:#c0392b}.hunk{color:#6f42c1}
ul.tree,ul.tree ul{list-style:none;padding-left:1.2em;margin:.1em 0}
.valid{color:#1a7f37}.partial{color:#2471a3}.buggy,.invalid{color:#c0392b}.missed_target{color:#b9770e}
section.node{border-top:1px solid #ddd;margin-top:1em}
"""
)


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{SITE_STYLE}</style></head><body><p><a href='{INDEX}'>all runs</a> · "
        f"<a href='{LEADERBOARD}'>leaderboard</a></p><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    """A table of already-escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def diff_html(old: str | None, new: str | None, old_label: str, new_label: str) -> str:
    """A unified diff as a coloured ``<pre class="diff">`` (or why there is none)."""
    if old is None or new is None:
        return "<p>(a script could not be read from the work repository)</p>"
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), old_label, new_label, lineterm=""))
    if not lines:
        return "<p>(no change)</p>"
    css = {"+": "add", "-": "del", "@": "hunk"}
    out = []
    for line in lines:
        cls = css.get(line[:1]) if not line.startswith(("+++", "---")) else None
        text = html.escape(line)
        out.append(f"<span class='{cls}'>{text}</span>" if cls else text)
    return "<pre class='diff'>" + "\n".join(out) + "</pre>"


def log_tail(folder: Path, log: str | None) -> str:
    if not log:
        return "<p>(no log: it did not run)</p>"
    try:
        lines = (folder / log).read_text(errors="replace").splitlines()
    except OSError:
        return f"<p>(log {html.escape(log)} is missing)</p>"
    return f"<pre class='log'>{html.escape(chr(10).join(lines[-LOG_TAIL_LINES:]))}</pre>"


class Scripts:
    """The entry script of commits of the work repository (None where one cannot be read)."""

    def __init__(self, entry: str):
        self.entry = entry
        self.repo = None
        try:
            from replay.records.workrepo import open_work_repo

            self.repo = open_work_repo()
        except Exception:  # no work repository here: pages say the scripts are unavailable
            self.repo = None

    def commit(self, sha: str | None):
        import pygit2

        if self.repo is None or sha is None:
            return None
        try:
            return self.repo[sha].peel(pygit2.Commit)
        except (KeyError, ValueError):
            return None

    def script(self, sha: str | None) -> str | None:
        commit = self.commit(sha)
        if commit is None or self.entry not in commit.tree:
            return None
        return commit.tree[self.entry].data.decode(errors="replace")


def record_i_commit(state: AgentState, scripts: Scripts) -> str | None:
    """Record i's commit: the root itself, or, for a cumulative run (--from), the root's first parent."""
    if not state.request.from_run:
        return state.root.commit
    root = scripts.commit(state.root.commit)
    return str(root.parents[0].id) if root is not None and root.parents else None


def attribution_html(state: AgentState, node: Node, script: str | None, cache: dict) -> str:
    """Which of record i+1's innovations this node's script reproduces."""
    if script is None:
        return "<p>(no script to attribute)</p>"
    if script not in cache:
        try:
            from analysis.task import attribute_task
            from replay.records.store import RecordsStore

            r = state.request
            _, doc = attribute_task(RecordsStore(), r.track, r.task, node.branch or node.id, script)
            rows = [
                [html.escape(i["name"]), f"{i['score']:.2f}", "yes" if i["reproduced"] else "no"]
                for i in doc["innovations"]
            ]
            fallback = f"; fallback: {html.escape(str(doc['fallback']))}" if doc["fallback"] else ""
            table = _table(["innovation", "score", "reproduced"], rows, "attribution")
            cache[script] = f"{table}<p>{len(doc['novel'])} novel edit(s){fallback}</p>"
        except Exception as exc:  # the records of this task are not here, or the script cannot be analysed
            cache[script] = f"<p>(attribution unavailable: {html.escape(str(exc))})</p>"
    return cache[script]


def _node_line(node: Node) -> str:
    e = node.execution
    time = f"{e.time_s:.2f} s" if e and e.time_s is not None else "—"
    outcome = str(node.outcome or node.stage)
    return f"<a href='#{node.id}'>{node.id}</a> {node.action} — <span class='{outcome}'>{outcome}</span> — {time}" + (
        f" [{html.escape(str(node.problem))}]" if node.problem and node.problem != node.outcome else ""
    )


def tree_html(state: AgentState) -> str:
    def walk(node: Node) -> str:
        kids = "".join(walk(k) for k in state.children(node.id))
        return f"<li>{_node_line(node)}" + (f"<ul>{kids}</ul>" if kids else "") + "</li>"

    return f"<ul class='tree' id='tree'>{walk(state.root)}</ul>"


def agent_page(state: AgentState) -> str:
    r, s = state.request, state.summary or {}
    folder = paths.run_dir(state.run_id)
    scripts = Scripts(state.entry)
    base_sha = record_i_commit(state, scripts)
    base = scripts.script(base_sha)
    fsr = s.get("fsr_vs_record")
    head = (
        f"<p>{html.escape(r.track)} task {r.task} ({state.start_label} → {state.target_label}); model "
        f"<b>{html.escape(r.model)}</b>, scaffold {r.scaffold}, hints {'+'.join(map(str, r.hints)) or '0'}, seed "
        f"{r.seed}; status {state.status}"
        + (f" ({html.escape(state.stop_reason)})" if state.stop_reason else "")
        + f".<br>Best node: {s.get('best') or 'none'}; FSR vs record i (single runs): "
        + ("—" if fsr is None else f"{fsr:.2f}")
        + f"; {state.accounting.calls} calls, {state.accounting.prompt_tokens + state.accounting.completion_tokens:,} "
        f"tokens, ${state.accounting.cost_usd:.4f}.</p>"
    )
    sections, cache = [], {}
    for node in state.nodes:
        script = scripts.script(node.commit)
        parent = state.node(node.parent) if node.parent else None
        e = node.execution
        facts = (
            f"outcome <b class='{node.outcome}'>{node.outcome or node.stage}</b>"
            + (f"; time {e.time_s:.2f} s" if e and e.time_s is not None else "")
            + (f"; val loss {e.val_loss:.4f}" if e and e.val_loss is not None else "")
            + (f"; wall {e.wall_s:.1f} s" if e else "")
            + (f"; {html.escape(str(node.problem))}: {html.escape(node.detail or '')}" if node.problem else "")
        )
        sections.append(
            f"<section class='node' id='{node.id}'><h3>{node.id} {node.action}"
            + (f" of {parent.id}" if parent else "")
            + f"</h3><p>{facts}</p><p>branch <code>{html.escape(node.branch or '—')}</code></p>"
            + (
                "<h4>Diff against its parent</h4>"
                + diff_html(scripts.script(parent.commit), script, parent.id, node.id)
                if parent
                else ""
            )
            + "<h4>Diff against record i</h4>"
            + diff_html(base, script, state.start_label, node.id)
            + "<h4>Log tail</h4>"
            + log_tail(folder, e.log if e else None)
            + "<h4>Attribution</h4>"
            + attribution_html(state, node, script, cache)
            + "</section>"
        )
    return page(f"Agent run {state.run_id}", head + "<h2>Tree</h2>" + tree_html(state) + "".join(sections))


def replay_page(state: ReplayState) -> str:
    r = state.request
    folder = paths.run_dir(state.run_id)
    body = f"<p>{html.escape(r.track)} task {r.task}; {r.runs} run(s) per side; status {state.status}.</p>"
    if state.summary and "estimator" in state.summary:
        rows = [[html.escape(v) for v in row] for row in table_rows(state.summary)]
        body += _table([html.escape(h) for h in HEADERS], rows, "replay")
        lines = comparison_lines(state.summary) + notes(state.summary)
        body += "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"
    else:
        body += "<p>(not graded yet: no summary)</p>"
    body += "<h2>Runs</h2>"
    for run in state.runs:
        time = "—" if run["time_s"] is None else f"{run['time_s']:.2f} s"
        body += (
            f"<h3>{html.escape(run['side'])} run {run['replicate'] + 1}: {run['status']}, {time}"
            + (f", {run['failure']}" if run["failure"] else "")
            + "</h3>"
            + log_tail(folder, run["log"])
        )
    return page(f"Replay {state.run_id}", body)


def index_page(rows: list[RunRow]) -> str:
    table = [
        [
            f"<a href='{html.escape(r.run_id)}.html'>{html.escape(r.run_id)}</a>" if r.kind else html.escape(r.run_id),
            r.kind or "?",
            html.escape(r.status if r.error is None else f"damaged: {r.error}"),
            "—" if r.task is None else f"{html.escape(str(r.track))} {r.task}",
            html.escape(r.model or ""),
            html.escape(r.scaffold or ""),
            r.hint_label if r.kind == "agent" else "",
            "—" if r.fsr is None else f"{r.fsr:.2f}" + (" (partial)" if r.partial else ""),
        ]
        for r in rows
    ]
    return page("Runs", _table(["run", "kind", "status", "task", "model", "scaffold", "hints", "FSR"], table, "runs"))


def build(out: Path, loaded: list[tuple[RunRow, AgentState | ReplayState | None]], board=None, plots=None) -> Path:
    """Write the site into ``out``; returns the index page."""
    out.mkdir(parents=True, exist_ok=True)
    for _, run in loaded:
        if isinstance(run, AgentState):
            write_text_atomic(out / f"{run.run_id}.html", agent_page(run))
        elif isinstance(run, ReplayState):
            write_text_atomic(out / f"{run.run_id}.html", replay_page(run))
    board_body = html_body(board, plots) if board else "<p>(no agent runs to rank)</p>"
    write_text_atomic(out / LEADERBOARD, page("Leaderboard", board_body))
    write_text_atomic(out / INDEX, index_page([row for row, _ in loaded]))
    return out / INDEX


def serve(folder: Path, port: int) -> None:
    """Serve ``folder`` on localhost until interrupted."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {folder} at http://127.0.0.1:{server.server_address[1]}/{INDEX} (Ctrl-C stops)", flush=True)
        server.serve_forever()
