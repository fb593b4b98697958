"""The prompt of one node: task statement and rules, hints, the node's history, the script.

Deterministic: the same run state gives byte-identical messages (no clock, no randomness),
so a resumed run asks the same questions. It contains the current script (record i's, or an
earlier node's) and record i+1's hint files, never record i+1's code, diff or record.toml.

The history goes beyond the paper's prompts (which showed only buggy descendants): the path
from the root to the current script with each step's measured time and loss, and every
failed attempt made from the current script, with its reason and the tail of its log.
"""

from __future__ import annotations

import re
from pathlib import Path

from agent.edits import EditFormat
from agent.hints import LEVELS
from agent.state import AgentState, Node
from replay.statuses import Measure, NodeAction, NodeOutcome, NodeStage

_SCRATCH_PATH = re.compile(r"""[^\s"']*/scratch/[^/\s"']+/""")
LOG_TAIL_LINES = 30
LOG_LINE_CHARS = 300
LOG_TAIL_BYTES = 64 * 1024  # read from the end of a log for its tail
MAX_FAILED_SHOWN = 5

FORMAT_INSTRUCTIONS = {
    EditFormat.SEARCH_REPLACE: (
        "Reply with a short explanation of your change, then one or more SEARCH/REPLACE blocks:\n\n"
        "<<<<<<< SEARCH\nlines copied exactly from the current script\n=======\nthe new lines\n>>>>>>> REPLACE\n\n"
        "Each SEARCH part must match exactly one place in the script; include enough lines to make it unique."
    ),
    EditFormat.UNIFIED_DIFF: (
        "Reply with a short explanation of your change, then a unified diff of the script in a ```diff block "
        "(--- a/SCRIPT, +++ b/SCRIPT, @@ hunks with a few lines of context)."
    ),
    EditFormat.WHOLE_FILE: "Reply with a short explanation of your change, then the complete new script in one "
    "```python block.",
}

ACTIONS = {
    NodeAction.DRAFT: "Propose one well-founded change to the current script (the starting record) that makes "
    "training reach "
    "the target validation loss in less time.",
    NodeAction.IMPROVE: "The current script is the fastest valid one found so far. Propose one further change that "
    "makes "
    "it reach the target validation loss in less time.",
    NodeAction.DEBUG: "The current script failed (see the history above). Fix the problem while keeping the idea of "
    "the change.",
}


def system_message(edit_format: str) -> str:
    return (
        "You are an expert machine-learning research engineer taking part in the NanoGPT speedrun: making a "
        "GPT training script reach a target validation loss as fast as possible. You edit one Python script. "
        + FORMAT_INSTRUCTIONS[edit_format]
    )


def task_statement(state: AgentState) -> str:
    protected = ", ".join(f"`{n}`" for n in state.protected) or "none listed"
    rules = HARNESS_RULES if state.measure == Measure.HARNESS else SCRIPT_RULES
    return (
        f"# Task\n\nTrack `{state.request.track}`, task {state.request.task}: the script below starts from record "
        f"{state.start_label}. Make it reach a validation loss of at most {state.target_val_loss} in less training "
        f"time on the same hardware. {rules[0]}\n\n"
        "# Rules (checked by the harness; breaking one makes the attempt invalid)\n\n"
        + "".join(f"{k}. {rule}\n" for k, rule in enumerate(rules[1:], start=1))
        + f"{len(rules)}. One script: change only `{state.entry}`; no new files, no downloads (there is no network).\n"
        f"{len(rules) + 1}. These definitions must stay byte-identical: {protected}."
    )


SCRIPT_RULES = (
    "Time is the `train_time` the script reports at its final step.",
    "Keep the log format: the step lines `step:S/N val_loss:X train_time:Tms ...` printed by the script's "
    "printing functions, with the final validation line at step N.",
    "Keep the validation data and the number of validation tokens; evaluate on all of them.",
    "Keep the timer: `train_time` must cover all of training. Its wall-clock is measured independently.",
)
HARNESS_RULES = (
    "Time is the wall-clock of the training process, measured by the harness; the validation loss is computed "
    "by the harness from the model the script saves (the script never sees the validation data).",
    "Save the trained model where the script saves it now, and keep `load_model(path)` able to rebuild it: the "
    "harness calls it in a separate process and `model(idx)` must return logits of shape (batch, T, vocab).",
    "The model must be causal and stateless: the harness checks that a prediction never depends on later tokens "
    "and that the same batch always gets the same predictions.",
)


def hints_section(hints: list[tuple[int, str]]) -> str:
    if not hints:
        return ""
    parts = [f"## Hint level {level} ({LEVELS[level]})\n\n{text}" for level, text in hints]
    return "# Hints about a change that is known to work\n\n" + "\n\n".join(parts)


def _metrics(node: Node) -> str:
    e = node.execution
    if node.outcome == NodeOutcome.BUGGY or node.outcome == NodeOutcome.INVALID:
        return f"{node.outcome}: {node.problem}" + (f" — {node.detail.splitlines()[0]}" if node.detail else "")
    if e is None:
        return "not run"
    time = f"train_time {e.time_s:.2f} s" if e.time_s is not None else "no time"
    loss = f", val loss {e.val_loss:.4f}" if e.val_loss is not None else ""
    steps = f" at step {e.steps}" if node.outcome == NodeOutcome.PARTIAL else ""
    return f"{time}{steps}{loss} ({node.outcome})"


def log_tail(folder: Path, node: Node) -> str:
    """The last lines of a node's log, with the harness's scratch folder cut from paths (it names
    the run, and a cached log names another run's: prompts must not depend on either)."""
    if node.execution is None:
        return ""
    try:
        with open(folder / node.execution.log, "rb") as log:  # only the end: a log may be tens of MiB
            log.seek(max(0, log.seek(0, 2) - LOG_TAIL_BYTES))
            lines = log.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(_SCRATCH_PATH.sub("", line)[:LOG_LINE_CHARS] for line in lines[-LOG_TAIL_LINES:])


def _failure_entry(folder: Path, node: Node) -> str:
    text = f"- {node.id} ({node.action}): {_metrics(node)}"
    if node.detail and "\n" in node.detail:
        text += "\n" + _indent(node.detail)
    tail = log_tail(folder, node)
    if tail:
        text += "\n  Last lines of its log:\n" + _indent(tail)
    return text


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def history_section(state: AgentState, parent: Node, folder: Path) -> str:
    path = []
    node = parent
    while node is not None:
        path.append(node)
        node = state.node(node.parent) if node.parent else None
    lines = ["# History", "", "Path from the starting record to the current script:"]
    for step in reversed(path):
        what = "starting script" if step.action == NodeAction.ROOT else f"{step.action} of {step.parent}"
        lines.append(f"- {step.id} ({what}): {_metrics(step)}")
    best = [n for n in state.nodes if n.outcome == NodeOutcome.VALID and n.execution and n.execution.time_s is not None]
    if best:
        fastest = min(best, key=lambda n: n.execution.time_s)
        lines.append(f"\nFastest valid script so far: {fastest.id}, train_time {fastest.execution.time_s:.2f} s.")
    if parent.outcome in (NodeOutcome.BUGGY, NodeOutcome.INVALID):
        lines += ["", "The current script failed:", _failure_entry(folder, parent)]
    earlier = [c for c in state.children(parent.id) if c.stage == NodeStage.DONE]
    worked = [c for c in earlier if c.outcome not in (NodeOutcome.BUGGY, NodeOutcome.INVALID)]
    failed = [c for c in earlier if c.outcome in (NodeOutcome.BUGGY, NodeOutcome.INVALID)]
    if worked:
        lines += ["", "Earlier attempts from the current script that ran (try something different):"]
        lines += [f"- {c.id} ({c.action}): {_metrics(c)}" for c in worked]
    if failed:
        lines += ["", "Earlier attempts from the current script that failed (do not repeat them):"]
        lines += [_failure_entry(folder, c) for c in failed[-MAX_FAILED_SHOWN:]]
    return "\n".join(lines)


def build_messages(
    state: AgentState,
    action: str,
    parent: Node,
    script: str,
    hints: list[tuple[int, str]],
    folder: Path,
    attempt: tuple[int, int] | None = None,
) -> list[dict]:
    """The chat messages for a node of ``action`` whose parent is ``parent`` (with ``script``);
    ``attempt`` = (k, n): the node is attempt k of the n its batch makes from this script at once,
    which none of them sees the others of (and which keeps their prompts apart)."""
    task = ACTIONS[action]
    if attempt and attempt[1] > 1:
        task += (
            f" This is attempt {attempt[0]} of {attempt[1]} made from the current script at the same time, "
            "independently of each other: take your own direction."
        )
    sections = [
        task_statement(state),
        hints_section(hints),
        history_section(state, parent, folder),
        f"# Current script: `{state.entry}`\n\n```python\n{script.rstrip()}\n```",
        f"# Your task\n\n{task}",
    ]
    user = "\n\n".join(s for s in sections if s)
    return [{"role": "system", "content": system_message(state.request.edit_format)}, {"role": "user", "content": user}]
