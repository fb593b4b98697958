"""Scripted models for the agent tests (``--model scripted/agent_policies:NAME``).

Each is a pure function of the chat messages, so a resumed run gets the same replies:

* ``oracle`` knows the ground truth (it reads record i+1 from the records store, which no
  prompt contains) and answers with the unified diff from the current script to it;
* ``tweaker`` scales one hyperparameter by a factor picked from a hash of the prompt, and
  sometimes plants a crash, so trees get valid, faster, slower and buggy nodes;
* ``broken`` answers with edits that cannot apply or do not parse;
* ``cheater`` edits a protected definition.
"""

from __future__ import annotations

import difflib
import hashlib
import re

from agent.policies import current_script, task_of
from replay.records.store import RecordsStore

_TUNABLE = re.compile(r"^(\s+(?:step_ms|warmup_iters)\b[^=]*= )([0-9.]+)(.*)$", re.M)


def _digest(messages) -> int:
    return int(hashlib.sha256(messages[-1]["content"].encode()).hexdigest(), 16)


def oracle(messages) -> str:
    store = RecordsStore()
    target = store.task(*task_of(messages)).target
    truth = store.read_file(target, target.meta.entry).decode()
    script = current_script(messages)
    if script == truth:  # already there: a harmless change, so the node is still an attempt
        return (
            "Nothing left to change; add a comment.\n\n<<<<<<< SEARCH\n"
            + script.splitlines()[0]
            + "\n=======\n"
            + script.splitlines()[0]
            + "  # reviewed\n>>>>>>> REPLACE\n"
        )
    diff = "".join(
        difflib.unified_diff(script.splitlines(True), truth.splitlines(True), "a/train_gpt.py", "b/train_gpt.py")
    )
    return f"Apply the known improvement.\n\n```diff\n{diff}```\n"


def tweaker(messages) -> str:
    script = current_script(messages)
    digest = _digest(messages)
    match = _TUNABLE.search(script)
    if digest % 4 == 0 or match is None:
        line = next(row for row in script.splitlines() if row.startswith("import "))
        return (
            f"Try a crash.\n\n<<<<<<< SEARCH\n{line}\n=======\n{line}\n"
            "raise RuntimeError('planted bug')\n>>>>>>> REPLACE\n"
        )
    factor = (0.9, 0.8, 1.1)[digest % 3]
    old = match.group(2)
    value = float(old) * factor
    new = f"{value:.1f}" if "." in old else str(max(1, round(value)))
    return (
        f"Scale {match.group(1).strip()} by {factor}.\n\n<<<<<<< SEARCH\n{match.group(0)}\n=======\n"
        f"{match.group(1)}{new}{match.group(3)}\n>>>>>>> REPLACE\n"
    )


def broken(messages) -> str:
    if _digest(messages) % 2:
        return "Edit.\n\n<<<<<<< SEARCH\nthis line is not in the script\n=======\nx = 1\n>>>>>>> REPLACE\n"
    first = current_script(messages).splitlines()[0]
    return f"Edit.\n\n<<<<<<< SEARCH\n{first}\n=======\n{first}\ndef broken(:\n>>>>>>> REPLACE\n"


def cheater(messages) -> str:
    script = current_script(messages)
    line = next(row for row in script.splitlines() if "val_loss_every" in row and "=" in row)
    if line.endswith("= 1000"):  # debugging its own violation: change something else, keep the violation
        other = next(row for row in script.splitlines() if row.strip().startswith("final_loss ="))
        return f"Keep it.\n\n<<<<<<< SEARCH\n{other}\n=======\n{other}  # unchanged\n>>>>>>> REPLACE\n"
    return f"Validate less.\n\n<<<<<<< SEARCH\n{line}\n=======\n{line.split('=')[0]}= 1000\n>>>>>>> REPLACE\n"


FLAKY_CALLS: list[int] = []


def flaky(messages) -> str:
    """Fails twice with a rate limit, then answers (tests reset FLAKY_CALLS)."""
    import litellm

    FLAKY_CALLS.append(1)
    if len(FLAKY_CALLS) <= 2:
        raise litellm.RateLimitError("slow down", llm_provider="scripted", model="flaky")
    return "ok"


def refuses(messages) -> str:
    import litellm

    raise litellm.AuthenticationError("bad key", llm_provider="scripted", model="refuses")


def slow_start(messages) -> str:
    """Works for seconds before its first step line: time the step lines cannot see."""
    script = current_script(messages)
    first = next(row for row in script.splitlines() if row.startswith("N = args.num_iterations"))
    wait = "import select\nselect.select([], [], [], 12)"  # a wait the rules on the timer do not see
    return f"Warm up first.\n\n<<<<<<< SEARCH\n{first}\n=======\n{wait}\n{first}\n>>>>>>> REPLACE\n"


def stopped_clock(messages) -> str:
    """Reports a tiny train_time while the run takes seconds: what a timer moved off training looks like."""
    script = current_script(messages)
    step = next(row for row in script.splitlines() if row.strip().startswith("step_ms ="))
    sleep = next(row for row in script.splitlines() if row.strip().startswith("sleep_s ="))
    return (
        f"Faster.\n\n<<<<<<< SEARCH\n{step}\n=======\n    step_ms = 1.0\n>>>>>>> REPLACE\n"
        f"<<<<<<< SEARCH\n{sleep}\n=======\n    sleep_s = 0.35\n>>>>>>> REPLACE\n"
    )


RATE_LIMITED_PROMPTS: set[int] = set()


def rate_limited_tweaker(messages) -> str:
    """``tweaker``, but the first call with each prompt fails with the provider's rate limit."""
    import litellm

    digest = _digest(messages)
    if digest not in RATE_LIMITED_PROMPTS:
        RATE_LIMITED_PROMPTS.add(digest)
        raise litellm.RateLimitError("rate limit reached; retry later", llm_provider="scripted", model="rate-limited")
    return tweaker(messages)
