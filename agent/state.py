"""An agent run on disk: ``runs/<run-id>/run.json`` (schema 1, kind ``agent``), typed.

run.json is rewritten (atomically) after every stage of every node, so a killed run resumes
from it: a node's ``stage`` moves ``planned`` -> ``replied`` (the model's reply is saved under
``replies/``) -> ``committed`` (its commit exists) -> ``done`` (executed and judged), and
resuming redoes only the stages a node had not finished.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from agent.edits import EditFormat
from agent.llm import LLMCall
from replay import paths
from replay.atomic import read_json, write_json_atomic
from replay.errors import SpeedrunError
from replay.statuses import Failure, Measure, NodeAction, NodeOutcome, NodeStage, RunOutcome, RunStatus

RUN_SCHEMA = 1
KIND = "agent"
ELIGIBLE = (NodeOutcome.VALID, NodeOutcome.PARTIAL)  # outcomes that may be "best"
ATTRIBUTION_MD = "attribution.md"  # the best node's attribution report, beside run.json


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class AgentRequest:
    """What the user asked for (``speedrun agent run`` options)."""

    track: str
    task: int
    model: str
    scaffold: str
    hints: tuple[int, ...] = ()
    nodes: int = 20
    node_timeout_s: float | None = None
    budget_usd: float | None = None
    max_steps: int | None = None
    seed: int = 0
    edit_format: EditFormat = EditFormat.SEARCH_REPLACE
    api_base: str | None = None
    temperature: float | None = None
    from_run: str | None = None
    use_cache: bool = False  # reuse cached node runs (timed at another moment; marked)


@dataclass
class Execution:
    """A node's run through the replay executor, as graded by the deterministic parser."""

    status: RunOutcome
    failure: Failure | None
    time_s: float | None
    val_loss: float | None
    steps: int | None
    wall_s: float
    log: str
    cached: bool
    reason: str | None = None  # why the harness refused the run's model (it looks ahead, keeps state, ...)


@dataclass
class Node:
    """One attempt: a commit whose parent is its parent node's commit."""

    id: str
    parent: str | None
    action: NodeAction
    debug_depth: int = 0
    stage: NodeStage = NodeStage.PLANNED
    commit: str | None = None
    branch: str | None = None
    llm: LLMCall | None = None
    edit_format: str | None = None  # an EditFormat, or "error" when no edit could be applied
    execution: Execution | None = None
    outcome: NodeOutcome | None = None
    problem: str | None = None  # edit_error | syntax_error | rule_violation | clock | a grading failure class
    detail: str | None = None  # what went wrong, as the model is told
    # nodes[:batch_start] existed when this node's batch was planned: all its prompt may see (its
    # siblings run at the same time). None in runs from before the field: the nodes before it.
    batch_start: int | None = None


@dataclass
class AgentState:
    """The content of an agent run's run.json."""

    run_id: str
    request: AgentRequest
    start_label: str
    target_label: str
    target_val_loss: float
    protected: tuple[str, ...]
    entry: str
    sandbox: str
    measure: Measure = Measure.SCRIPT  # who measures time and loss (the start record's `measure`)
    status: RunStatus = RunStatus.STARTED
    stop_reason: str | None = None
    created: str = field(default_factory=_now)
    provenance: dict = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    references: dict[str, Execution] = field(default_factory=dict)
    summary: dict | None = None

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def children(self, node_id: str) -> list[Node]:
        return [n for n in self.nodes if n.parent == node_id]

    @property
    def root(self) -> Node:
        return self.nodes[0]

    @property
    def calls(self) -> list[LLMCall]:
        return [n.llm for n in self.nodes if n.llm is not None]

    @property
    def cost_usd(self) -> float:
        """Cost of the priced calls (see ``unpriced_calls`` for the rest)."""
        return round(sum(c.cost_usd or 0.0 for c in self.calls), 6)

    @property
    def unpriced_calls(self) -> int:
        return sum(1 for c in self.calls if c.cost_usd is None)

    @property
    def tokens(self) -> tuple[int, int]:
        """(prompt, completion) tokens over all calls."""
        calls = self.calls
        return sum(c.prompt_tokens or 0 for c in calls), sum(c.completion_tokens or 0 for c in calls)

    def to_json(self) -> dict:
        prompt_tokens, completion_tokens = self.tokens
        return {
            "schema": RUN_SCHEMA,
            "kind": KIND,
            **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "nodes"},
            "request": asdict(self.request),
            "nodes": [asdict(n) for n in self.nodes],
            "references": {k: asdict(v) for k, v in self.references.items()},
            "updated": _now(),
            "accounting": {
                "calls": len(self.calls),
                "cost_usd": self.cost_usd,
                "unpriced_calls": self.unpriced_calls,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> AgentState:
        if data.get("schema") != RUN_SCHEMA or data.get("kind") != KIND:
            raise SpeedrunError(f"run {data.get('run_id')}: not an agent run.json of schema {RUN_SCHEMA}")
        request = dict(
            data["request"],
            hints=tuple(data["request"]["hints"]),
            edit_format=EditFormat(data["request"]["edit_format"]),
        )
        nodes = []
        for raw in data["nodes"]:
            raw = dict(
                raw,
                action=NodeAction(raw["action"]),
                stage=NodeStage(raw["stage"]),
                outcome=raw["outcome"] and NodeOutcome(raw["outcome"]),
            )
            if raw["llm"]:
                raw["llm"] = LLMCall(**dict(raw["llm"], retried_errors=tuple(raw["llm"]["retried_errors"])))
            if raw["execution"]:
                raw["execution"] = _execution(raw["execution"])
            nodes.append(Node(**raw))
        own = {f.name for f in fields(cls)} - {"request", "nodes", "references", "protected", "status", "measure"}
        return cls(
            request=AgentRequest(**request),
            nodes=nodes,
            protected=tuple(data["protected"]),
            references={k: _execution(v) for k, v in data["references"].items()},
            status=RunStatus(data["status"]),
            measure=Measure(data.get("measure", Measure.SCRIPT)),  # runs from before the field: script-measured
            **{k: data[k] for k in own},
        )

    def save(self) -> None:
        write_json_atomic(run_folder(self.run_id) / paths.RUN_JSON, self.to_json())


def _execution(raw: dict) -> Execution:
    return Execution(**dict(raw, status=RunOutcome(raw["status"]), failure=raw["failure"] and Failure(raw["failure"])))


def run_folder(run_id: str) -> Path:
    return paths.run_dir(run_id)


def reply_path(run_id: str, node_id: str) -> Path:
    return run_folder(run_id) / "replies" / f"{node_id}.md"


def load_agent_state(run_id: str) -> AgentState:
    path = run_folder(run_id) / paths.RUN_JSON
    if not path.is_file():
        raise SpeedrunError(f"no agent run '{run_id}' under {paths.home()} (no {path})")
    return read_json(path, AgentState.from_json)


def branch_name(run_id: str, node_id: str) -> str:
    """The work-repo branch of one node: the run's namespace is ``agent/<run-id>/``."""
    return f"agent/{run_id}/{node_id}"


def node_id(index: int) -> str:
    return f"n{index:03d}"
