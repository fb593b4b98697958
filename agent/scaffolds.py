"""Search scaffolds: which nodes to create next, given the tree so far.

A scaffold is (initial drafts, children per step, debug probability, max debug depth), the
paper's parameters: flat = N children of the root (N = the node budget); tree = 1 / 3;
forest = 3 / 3; aide = 3 / 1 / 0.5 / 5; multi-aide = 3 / 3 / 0.5 / 5. Each planning step:

1. while fewer than *initial* drafts exist, draft the missing ones from the root;
2. otherwise, with probability *debug probability*, pick one buggy leaf whose chain of debug
   steps is shorter than *max debug depth* and give it *children* debug nodes;
3. otherwise give the best node (fastest valid one; the root while none is) *children*
   improve nodes.

A batch never exceeds the remaining node budget. The random choices use a generator seeded
by (run seed, number of nodes so far), so a resumed run plans exactly what it would have.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from agent.state import ELIGIBLE, AgentState, Node
from replay.errors import SpeedrunError
from replay.statuses import NodeAction, NodeOutcome


class ScaffoldName(StrEnum):
    """The paper's scaffolds (``--scaffold``)."""

    FLAT = "flat"
    TREE = "tree"
    FOREST = "forest"
    AIDE = "aide"
    MULTI_AIDE = "multi-aide"


@dataclass(frozen=True)
class Scaffold:
    name: ScaffoldName
    initial: int | None  # None: every node is a draft (flat)
    children: int
    debug_prob: float = 0.0
    max_debug_depth: int = 0


SCAFFOLDS = {
    scaffold.name: scaffold
    for scaffold in (
        Scaffold(ScaffoldName.FLAT, None, 0),
        Scaffold(ScaffoldName.TREE, 1, 3),
        Scaffold(ScaffoldName.FOREST, 3, 3),
        Scaffold(ScaffoldName.AIDE, 3, 1, 0.5, 5),
        Scaffold(ScaffoldName.MULTI_AIDE, 3, 3, 0.5, 5),
    )
}


@dataclass(frozen=True)
class Plan:
    """A node to create: its action, parent and debug depth."""

    action: str
    parent: str
    debug_depth: int = 0


def scaffold(name: str) -> Scaffold:
    if name not in SCAFFOLDS:
        raise SpeedrunError(f"unknown scaffold '{name}' (known: {', '.join(SCAFFOLDS)})")
    return SCAFFOLDS[name]


def best_node(state: AgentState, include_root: bool = False) -> Node | None:
    """The fastest node whose outcome makes it eligible (valid; in a --max-steps run, partial)."""
    eligible = [
        n
        for n in state.nodes
        if n.outcome in ELIGIBLE
        and n.execution
        and n.execution.time_s is not None
        and (include_root or n.action != NodeAction.ROOT)
    ]
    return min(eligible, key=lambda n: (n.execution.time_s, n.id)) if eligible else None


def plan_next(state: AgentState, budget_left: int) -> list[Plan]:
    """The next batch of nodes (empty when the budget is spent)."""
    if budget_left <= 0:
        return []
    s = scaffold(state.request.scaffold)
    root = state.root.id
    drafts = sum(1 for n in state.nodes if n.action == NodeAction.DRAFT)
    initial = state.request.nodes if s.initial is None else s.initial
    if drafts < initial:
        return [Plan(NodeAction.DRAFT, root)] * min(initial - drafts, budget_left)
    if s.children == 0:
        return []
    rng = random.Random(f"{state.request.seed}:{len(state.nodes)}")
    buggy = [
        n
        for n in state.nodes
        if n.outcome == NodeOutcome.BUGGY and not state.children(n.id) and n.debug_depth < s.max_debug_depth
    ]
    if buggy and s.debug_prob > 0 and rng.random() < s.debug_prob:
        target = rng.choice(buggy)
        return [Plan(NodeAction.DEBUG, target.id, target.debug_depth + 1)] * min(s.children, budget_left)
    best = best_node(state, include_root=True) or state.root
    return [Plan(NodeAction.IMPROVE, best.id)] * min(s.children, budget_left)
