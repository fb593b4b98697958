"""Scripted policies of different skill, for worked examples and sweeps without API keys.

``--model scripted/agent.policies:NAME`` (see :mod:`agent.scripted`). Each is a function of
the chat messages and the run's seed, so a resumed run gets the same replies and two seeds
get different ones:

* ``oracle`` — knows record i+1 (it reads it from the records store; no prompt contains it)
  and applies each hunk of the diff from the current script to record i+1's script with
  probability 0.6: a draft reproduces part of the change, an improve step adds more, and a
  hunk that needs one left out fails the run and leaves a buggy node for a debug step. Its
  skill is the ground truth with noise: once the script is record i+1's it tweaks a number.
* ``tinkerer`` — random, harmless-but-useless edits: scales one float hyperparameter of the
  ``Hyperparameters`` class by a factor between 0.9 and 1.1.
* ``vandal`` — breaks things: a syntax error, a crash at start-up, a run cut to one step (it
  misses the target) or an edit to a protected definition (refused before running).

Scripts and protected names are read from the prompt (:mod:`agent.prompts` writes them).
"""

from __future__ import annotations

import difflib
import hashlib
import random
import re

_SCRIPT = re.compile(r"# Current script: `([^`]+)`\n\n```python\n(.*?)\n```\n\n# Your task", re.S)
_TASK = re.compile(r"Track `([^`]+)`, task (\d+):")
_PROTECTED = re.compile(r"These definitions must stay byte-identical: (.*)\.")
_FLOAT_SETTING = re.compile(r"^(    (\w+): float = )([0-9.eE+-]+)(.*)$", re.M)
_INT_SETTING = re.compile(r"^(    (num_iterations): int = )(\d+)(.*)$", re.M)
_IMPORT = re.compile(r"^(?:import [\w.]+|from [\w.]+ import \S.*)$", re.M)  # not prose that starts with "from"
ORACLE_HUNK_PROBABILITY = 0.6


def current_script(messages) -> str:
    """The script the prompt asks to edit."""
    return _SCRIPT.search(messages[-1]["content"]).group(2) + "\n"


def entry_name(messages) -> str:
    return _SCRIPT.search(messages[-1]["content"]).group(1)


def task_of(messages) -> tuple[str, int]:
    """(track, task number) the prompt is about."""
    track, number = _TASK.search(messages[-1]["content"]).groups()
    return track, int(number)


def rng_for(messages, seed: int | None) -> random.Random:
    """A generator seeded by the run's seed and the prompt: the same question gets the same answer."""
    digest = hashlib.sha256(messages[-1]["content"].encode()).hexdigest()
    return random.Random(f"{seed}:{digest}")


def search_replace(explanation: str, old: str, new: str) -> str:
    return f"{explanation}\n\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n"


def oracle(messages, seed: int | None = None) -> str:
    from replay.records.store import RecordsStore

    track, number = task_of(messages)
    store = RecordsStore()
    target = store.task(track, number).target
    truth = store.read_file(target, target.meta.entry).decode()
    script = current_script(messages)
    rng = rng_for(messages, seed)
    if script == truth:
        return tinkerer(messages, seed)
    name = entry_name(messages)
    lines = difflib.unified_diff(script.splitlines(True), truth.splitlines(True), f"a/{name}", f"b/{name}")
    header, hunks = _split_hunks(list(lines))
    chosen = [h for h in hunks if rng.random() < ORACLE_HUNK_PROBABILITY] or [rng.choice(hunks)]
    body = "".join(header + [line for hunk in chosen for line in hunk])
    return f"Apply {len(chosen)} of the {len(hunks)} parts of a change known to work.\n\n```diff\n{body}```\n"


def _split_hunks(lines: list[str]) -> tuple[list[str], list[list[str]]]:
    """A unified diff's header lines and its hunks (each a list of lines starting with ``@@``)."""
    header, hunks = [], []
    for line in lines:
        if line.startswith("@@"):
            hunks.append([line])
        elif hunks:
            hunks[-1].append(line if line.endswith("\n") else line + "\n")
        else:
            header.append(line)
    return header, hunks


def tinkerer(messages, seed: int | None = None) -> str:
    script = current_script(messages)
    rng = rng_for(messages, seed)
    protected = _protected(messages)
    settings = [m for m in _FLOAT_SETTING.finditer(script) if f"Hyperparameters.{m.group(2)}" not in protected]
    if not settings:
        line = _first_import(script)
        return search_replace("Nothing to tune; add a comment.", line, f"{line}  # reviewed")
    setting = rng.choice(settings)
    factor = round(rng.uniform(0.9, 1.1), 3)
    value = float(setting.group(3)) * factor
    new = f"{setting.group(1)}{value:.6g}{setting.group(4)}"
    return search_replace(f"Scale {setting.group(2)} by {factor}.", setting.group(0), new)


def vandal(messages, seed: int | None = None) -> str:
    script = current_script(messages)
    rng = rng_for(messages, seed)
    first = _first_import(script)
    damage = rng.choice(("syntax", "crash", "one_step", "protected"))
    steps = _INT_SETTING.search(script)
    protected = sorted(_protected(messages))
    if damage == "one_step" and steps:
        return search_replace("Train for one step.", steps.group(0), f"{steps.group(1)}1{steps.group(4)}")
    settings = [name.partition(".")[2] for name in protected if name.startswith("Hyperparameters.")]
    lines = [row for row in script.splitlines() for name in settings if re.match(rf"    {name}\b.*=", row)]
    if damage == "protected" and lines:  # same value, other code: the rules refuse it before it runs
        return search_replace("Make a setting explicit.", lines[0], f"{lines[0]} if True else None")
    if damage == "crash":
        return search_replace("Check the setup.", first, f"{first}\nraise SystemExit('setup check failed')")
    return search_replace("Restructure.", first, f"{first}\ndef restructured(:")


def _protected(messages) -> set[str]:
    found = _PROTECTED.search(messages[-1]["content"])
    return set(re.findall(r"`([^`]+)`", found.group(1))) if found else set()


def _first_import(script: str) -> str:
    """A line of code at the top level (a script's first lines may sit inside its docstring)."""
    return _IMPORT.search(script).group(0)
