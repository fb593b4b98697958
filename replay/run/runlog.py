"""The run log: one typed, versioned record of a replay or an agent run (``runs/<id>/run.json``).

Both kinds load and save through this module: :func:`save_run` writes any run log atomically,
:func:`load_run` reads one back as its typed model (``kind`` tells which), upgrading files of
an older ``schema`` first. ``schemas/run-log.schema.json`` is the JSON Schema of the current
version (``speedrun runs schema`` prints it; a test keeps the file current).

Why these models are stdlib dataclasses read and written by pydantic (pinned in pyproject):
the replayer and the agent runner build them positionally and mutate them in place as a run
advances, which dataclasses allow and pydantic models would change at every call site; while
pydantic's ``TypeAdapter`` gives, from the same type hints and field docstrings, what
dataclasses lack: validation on load (a damaged file is one clear error, enums and tuples come
back typed, not as strings and lists), serialisation, and the JSON Schema. Per-run entries of a
replay stay dictionaries (:class:`RunEntry`, a ``TypedDict``): code reads them as
``run["side"]``, and keys this version does not know (a job id an executor adds) are kept.

Schema history:

* 1: one hand-written reader per kind; fields added later were absent from older files and
  defaulted by the readers (an agent run's ``measure``, a replay run's ``measured_by``,
  ``cpu_s``, ``reason``, ``reported_*``, ``clock_problems``).
* 2: one model, ``kind`` discriminates; every field is declared and written; an agent run's
  ``accounting`` and both kinds' ``updated`` are fields. :func:`upgrade` fills what schema 1
  left out, as its readers did.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,  # pydantic reads only this TypedDict on Python 3.11
)

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from replay import paths
from replay.atomic import read_json, write_json_atomic
from replay.errors import SpeedrunError
from replay.statuses import (
    EditFormat,
    Failure,
    Measure,
    NodeAction,
    NodeOutcome,
    NodeStage,
    Role,
    RunOutcome,
    RunStatus,
)

RUN_LOG_SCHEMA = 2
DOCUMENTED = ConfigDict(use_attribute_docstrings=True)  # field docstrings become the schema's descriptions


def now() -> str:
    """The current UTC time as run logs write it."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --- replays ------------------------------------------------------------------------------


@with_config(DOCUMENTED)
@dataclass(frozen=True)
class ReplayRequest:
    """What the user asked of ``speedrun replay``; stored so a replay can be resumed."""

    track: str
    """The track (a branch of records.git), e.g. ``mini``."""
    task: int
    """Task i: record i (baseline) -> record i+1 (ground truth)."""
    branches: tuple[str, ...] = ()
    """Work-repo branches replayed as candidates."""
    runs: int = 1
    """Runs per side, interleaved in rounds."""
    max_steps: int | None = None
    """Stop each run after this step (a partial smoke run); None: run to the end."""
    time_limit_s: float | None = None
    """Seconds per run; None: max(600, 4x the record's time)."""
    use_cache: bool = False
    """Reuse cached runs (timed at another moment and load; marked in the report)."""
    python: str | None = None
    """Interpreter for every side; None: each record's own environment."""
    nproc: int | None = None
    """Cap on processes per run; None: the record's nproc, at most the GPUs present."""


@with_config(DOCUMENTED)
@dataclass(frozen=True)
class Side:
    """One thing being replayed: a record or a branch, pinned to a commit."""

    name: str
    """Unique name in this replay (``baseline``, ``ground_truth``, or the branch)."""
    role: Role
    """What the side is: record i, record i+1, or a candidate branch."""
    ref: str
    """The record label or branch it was resolved from."""
    commit: str
    """The commit that ran."""
    tree: str
    """That commit's tree id (what the result cache keys on)."""


@with_config(ConfigDict(extra="allow", use_attribute_docstrings=True))
class RunEntry(TypedDict):
    """One run of one side of a replay (or one agent node's run), graded from its log."""

    side: str
    """The side's name."""
    replicate: int
    """Which round (0-based)."""
    seed: int
    """``SPEEDRUN_SEED`` the run was given."""
    cache_key: str
    """Key of the run's inputs in the result cache."""
    cached: bool
    """Taken from the cache rather than run now."""
    cached_from: dict[str, Any] | None
    """For a cached run: when, where and at what load it was timed."""
    log: str
    """Path of its log, relative to the run folder."""
    exit: dict[str, Any]
    """How its process ended (``replay.score.grading.Exit``)."""
    status: RunOutcome
    """ok, partial (stopped at --max-steps) or failed."""
    failure: Failure | None
    """Why it failed (the machine's fault or the code's); None if it did not."""
    time_s: float | None
    """Training time at the last step reached, seconds."""
    val_loss: float | None
    """Final validation loss; None if it never finished."""
    steps: int | None
    """Last step reached."""
    total_steps: int | None
    """N of the step lines."""
    wall_s: float
    """The harness's wall-clock of the process, seconds."""
    peak_memory_mib: int | None
    """Peak memory the script reported."""
    cpu_s: float | None
    """CPU seconds the harness measured."""
    other_cpus: NotRequired[float | None]
    """CPUs' worth of other processes' work on the machine while the run ran (0: a quiet machine);
    CPU runs only (None for GPU runs; missing in runs recorded before the harness measured it)."""
    measured_by: Measure
    """Who measured time and loss: the harness or the script."""
    reported_time_s: float | None
    """The script's own train_time (informational when the harness measures)."""
    reported_val_loss: float | None
    """The script's own final val loss, if it printed one."""
    reason: str | None
    """Why the harness refused the run's result."""
    clock_problems: tuple[str, ...]
    """Where the harness's stamps of the step lines contradict the script's train_time."""


@with_config(DOCUMENTED)
@dataclass
class ReplayState:
    """The run log of a replay: baseline, ground truth and branches, N runs each."""

    run_id: str
    """The run's id: the name of its folder under runs/."""
    request: ReplayRequest
    """What was asked."""
    sides: list[Side]
    """The sides, pinned to commits, in the order of the first round."""
    target_val_loss: float
    """The task's target validation loss (record i+1's)."""
    status: RunStatus = RunStatus.STARTED
    """Where the replay stands."""
    created: str = field(default_factory=now)
    """When it was planned (UTC, ISO 8601)."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Toolkit git state, packages, hardware, sandbox, who measures."""
    runs: list[RunEntry] = field(default_factory=list)
    """Every run made so far, in the order it ran."""
    summary: dict[str, Any] | None = None
    """The graded summary (report.json's content) once finished."""
    jobs: list[dict[str, Any]] = field(default_factory=list)
    """Jobs submitted and not yet collected (side, replicate, executor, job_id, folder): a resumed
    replay re-attaches to them instead of running them again."""
    executor: dict[str, Any] = field(default_factory=lambda: {"name": "local"})
    """Where its runs go (``name``: local or slurm, and its settings); a resume keeps it."""
    updated: str = field(default_factory=now)
    """When this file was last written."""
    kind: Literal["replay"] = "replay"
    """Which kind of run log this is."""
    schema: Literal[2] = RUN_LOG_SCHEMA
    """Version of the run log's format."""

    def save(self, folder: Path | None = None) -> None:
        save_run(self, folder)


# --- agent runs ---------------------------------------------------------------------------


@with_config(DOCUMENTED)
@dataclass(frozen=True)
class AgentRequest:
    """What the user asked of ``speedrun agent run``."""

    track: str
    """The track the task is on."""
    task: int
    """Task i: the agent starts from record i and aims at record i+1's speed."""
    model: str
    """The model, as litellm names it (``scripted/MODULE:FN`` answers offline)."""
    scaffold: str
    """Search scaffold: flat, tree, forest, aide, multi-aide."""
    hints: tuple[int, ...] = ()
    """Hint levels shown (1 pseudocode, 2 text, 3 mini-paper); empty: none."""
    nodes: int = 20
    """Budget of solution nodes (the root excluded)."""
    node_timeout_s: float | None = None
    """Seconds per node's run; None: the replay default."""
    budget_usd: float | None = None
    """Stop when the priced calls cost this much."""
    max_steps: int | None = None
    """Each node's run stops after this step (a smoke run: no validity, no FSR)."""
    seed: int = 0
    """The run's seed (sweeps declare several)."""
    edit_format: EditFormat = EditFormat.SEARCH_REPLACE
    """How the model is asked to write its edits."""
    api_base: str | None = None
    """Base URL of an OpenAI-compatible server."""
    temperature: float | None = None
    """Sampling temperature; None: the provider's default."""
    from_run: str | None = None
    """Start from this earlier run's best node (the paper's cumulative cascade)."""
    use_cache: bool = False
    """Reuse cached node runs (timed at another moment; marked)."""


@with_config(DOCUMENTED)
@dataclass
class LLMCall:
    """The accounting of one model call (the reply text is kept apart, under replies/)."""

    model: str
    """The model called."""
    prompt_tokens: int | None
    """Prompt tokens, as the provider counted them."""
    completion_tokens: int | None
    """Completion tokens."""
    cost_usd: float | None
    """Cost in USD from litellm's price map; None where it has no price."""
    latency_s: float
    """Seconds from request to reply, retries included."""
    request_sha256: str
    """SHA-256 of the request's parameters."""
    response_sha256: str
    """SHA-256 of the reply text."""
    attempts: int = 1
    """Attempts made (transient errors are retried)."""
    retried_errors: tuple[str, ...] = ()
    """The transient errors that were retried."""


@with_config(DOCUMENTED)
@dataclass
class Execution:
    """A node's run through the replay executor, as graded by the deterministic parser."""

    status: RunOutcome
    """ok, partial or failed."""
    failure: Failure | None
    """Why it failed; None if it did not."""
    time_s: float | None
    """Training time (at step K for a --max-steps run), seconds."""
    val_loss: float | None
    """Final validation loss."""
    steps: int | None
    """Last step reached."""
    wall_s: float
    """The harness's wall-clock, seconds."""
    log: str
    """Log path relative to the run folder."""
    cached: bool
    """Taken from the result cache."""
    reason: str | None = None
    """Why the harness refused the run's model (it looks ahead, keeps state, ...)."""


@with_config(DOCUMENTED)
@dataclass
class Node:
    """One attempt: a commit whose parent is its parent node's commit."""

    id: str
    """``n000`` (the root), ``n001``, ..."""
    parent: str | None
    """The parent node's id; None for the root."""
    action: NodeAction
    """What the node was asked to do."""
    debug_depth: int = 0
    """Consecutive debug steps above and including this node."""
    stage: NodeStage = NodeStage.PLANNED
    """How far it got; a resumed run redoes the later stages."""
    commit: str | None = None
    """Its commit in the work repository."""
    branch: str | None = None
    """Its branch, ``agent/<run-id>/<node>``."""
    llm: LLMCall | None = None
    """The model call that wrote it (the root has none)."""
    edit_format: str | None = None
    """The EditFormat its edit was written in, or ``error`` when none could be applied."""
    execution: Execution | None = None
    """Its run; None if it failed before running."""
    outcome: NodeOutcome | None = None
    """The verdict: valid, partial, missed_target, buggy or invalid."""
    problem: str | None = None
    """edit_error, syntax_error, rule_violation, clock, or a grading failure class."""
    detail: str | None = None
    """What went wrong, as the model is told."""
    batch_start: int | None = None
    """How many nodes existed when this node's batch was planned: its prompt saw only those (its
    siblings run beside it). None in runs from before batches were recorded: the nodes before it."""


@with_config(DOCUMENTED)
@dataclass
class Accounting:
    """Model usage over an agent run's calls."""

    calls: int = 0
    """Model calls made."""
    cost_usd: float = 0.0
    """Cost of the priced calls, USD."""
    unpriced_calls: int = 0
    """Calls litellm could not price (their cost is unknown, not zero)."""
    prompt_tokens: int = 0
    """Prompt tokens over all calls."""
    completion_tokens: int = 0
    """Completion tokens over all calls."""


@with_config(DOCUMENTED)
@dataclass
class AgentState:
    """The run log of an agent run: its request, its tree of nodes, and its summary."""

    run_id: str
    """The run's id: the name of its folder under runs/."""
    request: AgentRequest
    """What was asked."""
    start_label: str
    """Record i's label."""
    target_label: str
    """Record i+1's label."""
    target_val_loss: float
    """The validation loss a node must reach."""
    protected: tuple[str, ...]
    """Names an agent may not change."""
    entry: str
    """The script the agent edits."""
    sandbox: str
    """The confinement nodes ran under."""
    measure: Measure = Measure.SCRIPT
    """Who measures time and loss (the start record's ``measure``)."""
    status: RunStatus = RunStatus.STARTED
    """Where the run stands."""
    stop_reason: str | None = None
    """Why a budget or a failure ended it early."""
    created: str = field(default_factory=now)
    """When it started (UTC, ISO 8601)."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Toolkit git state, packages, hardware."""
    nodes: list[Node] = field(default_factory=list)
    """Every node, the root first, in creation order."""
    references: dict[str, Execution] = field(default_factory=dict)
    """Runs of the records it is scored against (``record_target``, ``record_start``)."""
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Jobs submitted and not yet collected, by the run they are for (a node's id, ``record_target``,
    ...: executor, job_id, folder): a resumed run re-attaches to them instead of running them again."""
    executor: dict[str, Any] = field(default_factory=lambda: {"name": "local"})
    """Where its node runs go (``name``: local or slurm, and its settings); a resume keeps it."""
    summary: dict[str, Any] | None = None
    """Best node, FSR estimates, node outcomes, attribution (agent/judge.py)."""
    accounting: Accounting = field(default_factory=Accounting)
    """Model usage, recomputed from the nodes at every save."""
    updated: str = field(default_factory=now)
    """When this file was last written."""
    kind: Literal["agent"] = "agent"
    """Which kind of run log this is."""
    schema: Literal[2] = RUN_LOG_SCHEMA
    """Version of the run log's format."""

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

    def save(self, folder: Path | None = None) -> None:
        prompt_tokens, completion_tokens = self.tokens
        self.accounting = Accounting(
            len(self.calls), self.cost_usd, self.unpriced_calls, prompt_tokens, completion_tokens
        )
        save_run(self, folder)


RunLog = Annotated[ReplayState | AgentState, Field(discriminator="kind")]
RUN_LOG = TypeAdapter(RunLog)


# --- reading, upgrading, writing ----------------------------------------------------------

V1_RUN_DEFAULTS = {
    "cached_from": None,
    "cpu_s": None,
    "measured_by": Measure.SCRIPT,
    "reported_time_s": None,
    "reported_val_loss": None,
    "reason": None,
    "peak_memory_mib": None,
    "clock_problems": (),
}


def _from_v1(data: dict) -> dict:
    """Schema 1 -> 2: the fields schema 1's readers defaulted, written out."""
    data = dict(data, schema=2)
    if data.get("kind") == "replay":
        data["runs"] = [{**V1_RUN_DEFAULTS, **run} for run in data.get("runs", [])]
    else:
        data.setdefault("measure", Measure.SCRIPT)  # agent runs from before the field were script-measured
    return data


UPGRADES = {1: _from_v1}  # schema N -> N+1


def upgrade(data: dict) -> dict:
    """A run log's JSON brought to the current schema."""
    version = data.get("schema")
    if version not in (*UPGRADES, RUN_LOG_SCHEMA):
        raise SpeedrunError(
            f"run {data.get('run_id')}: run.json has schema {version!r}; this speedrun reads 1..{RUN_LOG_SCHEMA}"
        )
    while data["schema"] != RUN_LOG_SCHEMA:
        data = UPGRADES[data["schema"]](data)
    return data


def validated(adapter: TypeAdapter, data):
    """``data`` validated into ``adapter``'s type; the wrong shape is a ``ValueError`` naming the first
    bad field (:func:`replay.atomic.read_json` adds the file)."""
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def parse_run(data: dict) -> ReplayState | AgentState:
    """A run log from its JSON (any schema version this module reads)."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return validated(RUN_LOG, upgrade(data))


def dump_run(run: ReplayState | AgentState) -> dict:
    """A run log as JSON-ready data (enums as strings, tuples as lists)."""
    return RUN_LOG.dump_python(run, mode="json")


def save_run(run: ReplayState | AgentState, folder: Path | None = None) -> None:
    """Write a run log atomically to ``folder`` (default: the run's folder under runs/)."""
    run.updated = now()
    write_json_atomic(Path(folder or paths.run_dir(run.run_id)) / paths.RUN_JSON, dump_run(run))


def load_run_file(path: Path) -> ReplayState | AgentState:
    return read_json(path, parse_run)


def load_run(run_id: str, kind: str | None = None) -> ReplayState | AgentState:
    """The run log of ``run_id``; with ``kind``, refused unless it is that kind of run."""
    path = paths.run_dir(run_id) / paths.RUN_JSON
    if not path.is_file():
        raise SpeedrunError(f"no run '{run_id}' under {paths.home()} (no {path})")
    run = load_run_file(path)
    if kind and run.kind != kind:
        raise SpeedrunError(f"run {run_id} is a {run.kind} run, not a {kind} run")
    return run


def json_schema_of(adapter: TypeAdapter, title: str) -> dict:
    """The JSON Schema (draft 2020-12) of a typed record, as exported under schemas/."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **adapter.json_schema()}


def run_log_json_schema() -> dict:
    """The JSON Schema of the current run log (``schemas/run-log.schema.json``)."""
    return json_schema_of(RUN_LOG, f"speedrun run log, schema {RUN_LOG_SCHEMA}")
