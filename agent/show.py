"""Text views of an agent run: the node tree with metrics and validity, and the summary."""

from __future__ import annotations

from agent.scaffolds import best_node
from agent.state import ATTRIBUTION_MD, AgentState, Node, run_folder
from replay.statuses import NodeStage


def node_line(node: Node, label: str) -> str:
    """One row: ``label`` (tree prefix, id, action) padded so metrics line up."""
    e = node.execution
    label = f"{label:<34}"
    if node.stage != NodeStage.DONE:
        return f"{label} ({node.stage}, not finished)"
    time = f"{e.time_s:9.2f} s" if e and e.time_s is not None else f"{'-':>11}"
    loss = f"val {e.val_loss:.4f}" if e and e.val_loss is not None else f"{'':10}"
    verdict = node.outcome + (f" [{node.problem}]" if node.problem and node.problem != node.outcome else "")
    cached = " (cached)" if e and e.cached else ""
    return f"{label} {time}  {loss}  {verdict}{cached}"


def tree_text(state: AgentState) -> str:
    """The node tree, children under their parent in creation order."""
    lines: list[str] = []

    def walk(node: Node, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        lines.append(node_line(node, f"{prefix}{branch}{node.id} {node.action}"))
        kids = state.children(node.id)
        for i, child in enumerate(kids):
            walk(child, prefix + ("" if top else ("   " if last else "│  ")), i == len(kids) - 1, False)

    walk(state.root, "", True, True)
    return "\n".join(lines)


def header_text(state: AgentState) -> str:
    r = state.request
    hints = ",".join(map(str, r.hints)) or "0"
    origin = f", from {r.from_run}" if r.from_run else ""
    return (
        f"run {state.run_id}: {r.track} task {r.task} ({state.start_label} -> {state.target_label}{origin}), "
        f"model {r.model}, scaffold {r.scaffold}, hints {hints}, {len(state.nodes) - 1}/{r.nodes} nodes, "
        f"status {state.status}" + (f" ({state.stop_reason})" if state.stop_reason else "")
    )


def cost_text(state: AgentState) -> str:
    calls = state.calls
    unpriced = f" ({state.unpriced_calls} unpriced)" if state.unpriced_calls else ""
    tokens_in, tokens_out = state.tokens
    latency = sum(c.latency_s for c in calls)
    return (
        f"cost ${state.cost_usd:.4f}{unpriced}; {len(calls)} calls, {tokens_in:,} prompt + {tokens_out:,} completion "
        f"tokens, {latency:.1f} s in the model"
    )


def summary_text(state: AgentState) -> str:
    best = best_node(state)
    lines = [f"sandbox: {state.sandbox}", cost_text(state)]
    if best is None:
        lines.append("best: none (no valid node)")
        return "\n".join(lines)
    lines.append(f"best: {best.id}  branch {best.branch}  train_time {best.execution.time_s:.2f} s")
    s = state.summary or {}
    if s.get("fsr_vs_record") is not None:
        lines.append(
            f"FSR vs record (single runs): {s['fsr_vs_record']:.2f}"
            + (
                f"; from the agent's own start: {s['fsr_vs_own_start']:.2f}"
                if s.get("fsr_vs_own_start") is not None
                else ""
            )
        )
    if s.get("note"):
        lines.append(f"note: {s['note']}")
    attribution = s.get("attribution")
    if attribution:
        lines.append(
            f"innovations reproduced: {len(attribution['reproduced'])}/{len(attribution['innovations'])}"
            + (f" ({', '.join(attribution['reproduced'])})" if attribution["reproduced"] else "")
            + f"; report {run_folder(state.run_id) / ATTRIBUTION_MD}"
        )
    return "\n".join(lines)
