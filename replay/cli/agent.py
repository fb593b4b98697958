"""``speedrun agent ...``: put an LLM agent on a task, resume it, show its tree, name its best
branch (help panel "Agent"). litellm and the runner are imported inside the commands."""

from __future__ import annotations

import sys

import typer

from agent.edits import EditFormat
from agent.scaffolds import ScaffoldName
from replay.cli.console import RichProgress, resumable
from replay.cli.params import (
    cache_option,
    choice_option,
    constraint_option,
    executor_from_options,
    executor_option,
    number_option,
    slurm_option,
    track_option,
    unsandboxed_option,
)
from replay.cli.params import (
    jobs_option as base_jobs_option,
)
from replay.errors import SpeedrunError

PANEL = "Agent"

agent = typer.Typer(
    name="agent",
    no_args_is_help=True,
    help="LLM agents on tasks: every attempt a commit on a branch of the work repository.",
)
groups = (agent,)


def jobs_option() -> typer.Option:
    """``--jobs``: nodes of a batch executing at once (the executor's runs in flight)."""
    return base_jobs_option(
        1,
        help="Nodes of a batch run at once (default 1: concurrent CPU runs would share the cores and slow each "
        "other). The tree does not depend on it.",
    )


def llm_jobs_option() -> typer.Option:
    """``--llm-jobs``: model calls in flight at once."""
    return number_option(
        4, "--llm-jobs", minimum=1, maximum=1024, help="Model calls in flight at once (rate limits are retried)."
    )


def _runner(unsandboxed: bool = False, executor=None, jobs: int = 1, llm_jobs: int = 4):
    from agent.runner import AgentRunner

    return AgentRunner(
        on_event=lambda line: print(line, file=sys.stderr, flush=True),
        unsandboxed=unsandboxed,
        executor=executor,
        jobs=jobs,
        llm_jobs=llm_jobs,
    )


def _execute(runner, state):
    """Run (or resume) an agent run with a progress bar; Ctrl-C names the command that resumes it."""
    print(f"run {state.run_id}", file=sys.stderr, flush=True)
    # The runner prints one line per node; the replay's own per-run line would repeat it.
    with resumable(f"speedrun agent resume {state.run_id}"), RichProgress(announce_runs=False) as progress:
        runner.replayer.progress = progress.callbacks()
        return runner.run(state)


def _report(state) -> None:
    from agent.show import header_text, summary_text, tree_text

    print(header_text(state))
    print(tree_text(state))
    print(summary_text(state))


@agent.command("run")
def run(
    task: int = typer.Argument(..., help="Task number i (record i -> i+1)."),
    track: str = track_option(),
    model: str = typer.Option(
        ..., "--model", "-m", help="A litellm model: openai/gpt-4o, anthropic/..., openai/NAME with --api-base."
    ),
    scaffold: ScaffoldName = choice_option(
        ScaffoldName, ScaffoldName.AIDE, "--scaffold", "-s", help="Search scaffold (the paper's parameters)."
    ),
    hints: str = typer.Option("0", "--hints", help="0, 1, 2, 3, 1,2 or 1,2,3 (pseudocode, description, mini-paper)."),
    nodes: int = number_option(
        20, "--nodes", minimum=1, maximum=10_000, help="Node budget: model-written attempts per run."
    ),
    node_timeout: float | None = number_option(
        None,
        "--node-timeout",
        minimum=1,
        maximum=7 * 24 * 3600,
        kind=float,
        help="Seconds per node run (default: max(600, 4x the record's time)).",
    ),
    budget_usd: float | None = number_option(
        None, "--budget-usd", minimum=0, kind=float, help="Stop asking the model once this much is spent."
    ),
    max_steps: int | None = number_option(
        None, "--max-steps", "-k", minimum=1, help="Stop each node run after step K (a smoke run)."
    ),
    runs: int = number_option(
        1, "--runs", "-n", minimum=1, maximum=1000, help="Independent agent runs (seeds 0..N-1)."
    ),
    from_run: str | None = typer.Option(
        None, "--from", help="Cumulative mode: start from the best node of this earlier run on task i-1."
    ),
    edit_format: EditFormat = choice_option(
        EditFormat, EditFormat.SEARCH_REPLACE, "--edit-format", help="How the model writes its edits."
    ),
    api_base: str | None = typer.Option(None, "--api-base", help="Base URL of an OpenAI-compatible server."),
    temperature: float | None = number_option(
        None, "--temperature", minimum=0, maximum=2, kind=float, help="Sampling temperature (default: the provider's)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the scaffold's random choices (run k uses seed+k)."),
    replay_runs: int = number_option(
        0,
        "--replay",
        minimum=0,
        maximum=1000,
        help="Afterwards, replay the best branch against both records N times each.",
    ),
    cache: bool = cache_option(),
    unsandboxed: bool = unsandboxed_option(),
    jobs: int = jobs_option(),
    llm_jobs: int = llm_jobs_option(),
    executor: str | None = executor_option(),
    slurm: list[str] = slurm_option(),
    constraint: str | None = constraint_option(),
):
    """Put an agent on task i: every node is a commit on agent/<run-id>/<node>; print the tree and the best branch.

    Keys come from the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...).

    Examples:
      speedrun agent run 3 --model openai/gpt-4o-mini --scaffold aide --hints 1,2 --nodes 5 --replay 1
      speedrun agent run 1 --model openai/qwen --api-base http://localhost:8000/v1 --scaffold flat --max-steps 20
      speedrun agent run 2 --from agent-mini-t01-... --model anthropic/claude-sonnet-4-5 --hints 1
      speedrun agent run 3 --model openai/gpt-4o-mini --scaffold multi-aide --jobs 3 --llm-jobs 3
    """
    from agent.hints import parse_hints
    from agent.state import AgentRequest

    if runs < 1:
        raise SpeedrunError("--runs must be at least 1")
    levels = parse_hints(hints)
    for k in range(runs):
        request = AgentRequest(
            track=track,
            task=task,
            model=model,
            scaffold=scaffold,
            hints=levels,
            nodes=nodes,
            node_timeout_s=node_timeout,
            budget_usd=budget_usd,
            max_steps=max_steps,
            seed=seed + k,
            edit_format=edit_format,
            api_base=api_base,
            temperature=temperature,
            from_run=from_run,
            use_cache=cache,
        )
        chosen = executor_from_options(executor, jobs, slurm, constraint, unsandboxed)
        runner = _runner(unsandboxed, chosen, jobs, llm_jobs)
        state = _execute(runner, runner.start(request))
        _report(state)
        if replay_runs and state.summary and state.summary["branch"]:
            _replay_best(state, replay_runs, runner.replayer.executor)


def _replay_best(state, runs: int, executor) -> None:
    """Replay the best branch against record i and i+1 (through the run's executor) and print the table."""
    from replay.cli.replays import print_replay
    from replay.run.replayer import Replayer, ReplayRequest

    replayer = Replayer(executor=executor)
    request = ReplayRequest(
        track=state.request.track,
        task=state.request.task,
        branches=(state.summary["branch"],),
        runs=runs,
        max_steps=state.request.max_steps,
    )
    print_replay(replayer, replayer.start(request))


@agent.command("resume")
def resume(
    run_id: str = typer.Argument(..., help="An agent run's id (a folder under runs/)."),
    unsandboxed: bool = unsandboxed_option(),
    jobs: int = jobs_option(),
    llm_jobs: int = llm_jobs_option(),
    executor: str | None = executor_option(),
    slurm: list[str] = slurm_option(),
    constraint: str | None = constraint_option(),
):
    """Continue a killed or interrupted agent run: finished nodes are neither lost nor repeated, and
    its jobs still queued or running on a cluster are re-attached to (it runs where it ran before
    unless --executor says otherwise).

    Example: speedrun agent resume agent-mini-t03-20261126-190000-ab12 --jobs 2
    """
    from agent.runner import resume_state

    state = resume_state(run_id)
    chosen = executor_from_options(executor, jobs, slurm, constraint, unsandboxed, recorded=state.executor)
    _report(_execute(_runner(unsandboxed, chosen, jobs, llm_jobs), state))


@agent.command("show")
def show(run_id: str = typer.Argument(..., help="An agent run's id.")):
    """Print the node tree with metrics and validity, the best node and the cost (works while a run is going).

    Example: speedrun agent show agent-mini-t03-20261126-190000-ab12
    """
    from agent.state import load_agent_state

    _report(load_agent_state(run_id))


@agent.command("best")
def best(run_id: str = typer.Argument(..., help="An agent run's id.")):
    """Print the branch of the fastest valid node (for `speedrun replay TASK --branch` and `speedrun attribute`).

    Example: speedrun replay 3 --branch $(speedrun agent best agent-mini-t03-20261126-190000-ab12)
    """
    from agent.scaffolds import best_node
    from agent.state import load_agent_state

    node = best_node(load_agent_state(run_id))
    if node is None:
        raise SpeedrunError(f"run {run_id} has no valid node (yet): see `speedrun agent show {run_id}`")
    print(node.branch)


@agent.command("list")
def list_runs():
    """List agent runs under runs/ with their status and best node.

    Example: speedrun agent list
    """
    from agent.state import load_agent_state
    from replay import paths
    from replay.statuses import NodeStage

    for path in sorted(paths.home().glob("agent-*/run.json")):
        run_id = path.parent.name
        try:
            state = load_agent_state(run_id)
        except SpeedrunError as exc:  # one damaged run does not hide the others
            print(f"{run_id:<45} damaged      {exc}")
            continue
        done = sum(1 for n in state.nodes[1:] if n.stage == NodeStage.DONE)
        best = (state.summary or {}).get("best") or "-"
        print(f"{run_id:<45} {state.status:<11} {done:>3}/{state.request.nodes} nodes  best {best}")
