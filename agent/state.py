"""An agent run on disk: its run log (``runs/<run-id>/run.json``, kind ``agent``) and the paths beside it.

The typed models (:class:`AgentState`, :class:`Node`, ...) are the run log's, defined with the
replay's in :mod:`replay.run.runlog` and loaded and saved through the same code.

run.json is rewritten (atomically) after every stage of every node, so a killed run resumes
from it: a node's ``stage`` moves ``planned`` -> ``replied`` (the model's reply is saved under
``replies/``) -> ``committed`` (its commit exists) -> ``done`` (executed and judged), and
resuming redoes only the stages a node had not finished.
"""

from __future__ import annotations

from pathlib import Path

from replay import paths
from replay.run.runlog import AgentRequest, AgentState, Execution, Node, load_run
from replay.statuses import NodeOutcome

__all__ = ["AgentRequest", "AgentState", "Execution", "Node"]  # the run log's models, re-exported for agent code

KIND = "agent"
ELIGIBLE = (NodeOutcome.VALID, NodeOutcome.PARTIAL)  # outcomes that may be "best"
ATTRIBUTION_MD = "attribution.md"  # the best node's attribution report, beside run.json


def run_folder(run_id: str) -> Path:
    return paths.run_dir(run_id)


def reply_path(run_id: str, node_id: str) -> Path:
    return run_folder(run_id) / "replies" / f"{node_id}.md"


def load_agent_state(run_id: str) -> AgentState:
    return load_run(run_id, KIND)


def branch_name(run_id: str, node_id: str) -> str:
    """The work-repo branch of one node: the run's namespace is ``agent/<run-id>/``."""
    return f"agent/{run_id}/{node_id}"


def node_id(index: int) -> str:
    return f"n{index:03d}"
