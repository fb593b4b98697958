"""What a sweep will cost before it runs (``speedrun sweep SWEEP.toml --dry-run``).

Assumptions, printed with the estimate:

* **GPU-hours** of a cell = runs × t_i × nproc / 3600, where t_i is record i's official time
  (every node is a version of record i's script), nproc its processes, and runs = nodes + 2
  (the untouched root and one run of record i+1 for the summary) + 3 × ``replay_best``
  (baseline, ground truth and the best branch). With ``max_steps`` a run is cut to that share
  of record i's official steps. On a CPU track (mini) they are CPU-process hours.
* **Dollars** of a cell = nodes model calls at litellm's local price table, each with a prompt
  of the script and the hints (4 characters a token) plus 1,500 tokens of rules and history,
  and a 1,500-token reply. ``None`` where litellm has no price for the model (scripted models,
  local servers). Debug steps repeat less of the script than this, long histories more.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.hints import hint_texts
from agent.llm import import_litellm
from agent.sweep_spec import CellKey, SweepSpec

CHARS_PER_TOKEN = 4
PROMPT_OVERHEAD_TOKENS = 1500
REPLY_TOKENS = 1500
REFERENCE_RUNS = 2  # the root and one run of record i+1
REPLAY_SIDES = 3  # baseline, ground truth, the best branch
ASSUMPTIONS = (
    "GPU-h = runs x record i's official time x nproc, runs = nodes + 2 + 3 x replay_best (max_steps: that share "
    "of the official steps; CPU hours on a CPU track); $ = nodes calls of (script + hints)/4 + 1,500 prompt tokens "
    "and 1,500 reply tokens at litellm's price table, - where the model has no price"
)


@dataclass(frozen=True)
class CellEstimate:
    key: CellKey
    runs: int
    gpu_hours: float
    dollars: float | None


def estimate(spec: SweepSpec, store) -> list[CellEstimate]:
    """One estimate per cell of the grid, in the grid's order."""
    prompt_tokens: dict[tuple, int] = {}
    estimates = []
    for key in spec.cells():
        task = store.task(key.track, key.task)
        start = task.start.meta
        share = 1.0
        if spec.max_steps and start.result.steps:
            share = min(1.0, spec.max_steps / start.result.steps)
        runs = spec.nodes + REFERENCE_RUNS + REPLAY_SIDES * spec.replay_best
        gpu_hours = runs * start.result.time_s * share * start.nproc / 3600
        if (key.task, key.hints) not in prompt_tokens:
            script = store.read_file(task.start, start.entry).decode()
            hints = "".join(text for _, text in hint_texts(store, task, key.hints))
            prompt_tokens[key.task, key.hints] = (len(script) + len(hints)) // CHARS_PER_TOKEN + PROMPT_OVERHEAD_TOKENS
        per_call = call_price(key.model, prompt_tokens[key.task, key.hints], REPLY_TOKENS)
        dollars = None if per_call is None else per_call * spec.nodes
        estimates.append(CellEstimate(key, runs, gpu_hours, dollars))
    return estimates


def call_price(model: str, prompt_tokens: int, reply_tokens: int) -> float | None:
    """One call's price from litellm's local price table, or None where the model has none."""
    try:
        prompt, reply = import_litellm().cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=reply_tokens
        )
    except Exception:  # litellm raises several error types for models it has no price for
        return None
    return float(prompt + reply)
