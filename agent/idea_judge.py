"""A second opinion on attribution: an LLM asked which of record i+1's innovations a candidate reproduced.

``speedrun attribute --judge MODEL`` shows the model's verdicts beside attribution's own, never in
its score, so users can compare the two (the paper's evaluation asked a model this question).
The model gets record i+1's innovations (names and descriptions) and two unified diffs against
record i: record i+1's own change and the candidate's, each cut at :data:`MAX_DIFF_CHARS` (the
prompt says so). It answers with one JSON object::

    {"verdicts": [{"innovation": "<name>", "reproduced": true, "reason": "<one sentence>"}, ...]}

An answer that is not that object, or names no verdict for an innovation, leaves that verdict
empty and the report says so; the call's tokens, cost and latency are reported as an agent
run's are. Any model :class:`agent.llm.LLMClient` reaches works, ``scripted/...`` ones offline.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re

from agent.llm import LLMClient
from replay.records.schema import Innovation

MAX_DIFF_CHARS = 40_000

SYSTEM = (
    "You review code changes to a GPT training script. A record of a training-speed benchmark introduced "
    "named innovations. Decide, for each innovation, whether a candidate's change to the previous record "
    "implements the same idea. The candidate was written independently: names, structure and spelling may "
    "differ from the record's, and only the idea counts, not the lines. Editing the same places for a "
    "different idea, or only changing unrelated numbers, is not a reproduction."
)


def judge_messages(
    innovations: tuple[Innovation, ...], base: str, target: str, candidate: str, entry: str
) -> list[dict]:
    """The chat messages that put the question to the model."""
    listed = "\n".join(f"- {i.name}: {i.description or '(no description)'}" for i in innovations)
    names = json.dumps([i.name for i in innovations])
    user = (
        f"Innovations of the record:\n{listed}\n\n"
        f"The record's own change to {entry} (the reference implementation):\n{_diff(base, target, entry)}\n\n"
        f"The candidate's change to the same previous script:\n{_diff(base, candidate, entry)}\n\n"
        f"Answer with one JSON object and nothing else: "
        f'{{"verdicts": [{{"innovation": NAME, "reproduced": true or false, "reason": ONE SENTENCE}}]}}, '
        f"one verdict for each of these names: {names}."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_verdicts(text: str, names: list[str]) -> tuple[dict[str, dict], str | None]:
    """Innovation name -> {reproduced, reason} from the model's answer, and what was wrong with the
    answer (None when it gave a verdict for every innovation)."""
    match = re.search(r"\{.*\}", text, flags=re.S)
    try:
        raw = json.loads(match.group(0)) if match else None
        verdicts = raw["verdicts"] if isinstance(raw, dict) else None
    except (ValueError, KeyError, TypeError):
        verdicts = None
    if not isinstance(verdicts, list):
        return {}, "its answer was not the JSON object asked for"
    found = {}
    for v in verdicts:
        if isinstance(v, dict) and v.get("innovation") in names and isinstance(v.get("reproduced"), bool):
            found[v["innovation"]] = {"reproduced": v["reproduced"], "reason": str(v.get("reason", ""))[:500]}
    missing = [n for n in names if n not in found]
    return found, (f"no verdict for {', '.join(missing)}" if missing else None)


def second_opinion(
    client: LLMClient,
    innovations: tuple[Innovation, ...],
    base: str,
    target: str,
    candidate: str,
    entry: str,
    ours: dict,
) -> dict:
    """The report's ``judge`` section: the model's verdict beside ours (``ours``: name -> reproduced)
    for every innovation, how many agree, what was wrong with the answer, and the call's accounting."""
    names = [i.name for i in innovations]
    completion = client.complete(judge_messages(innovations, base, target, candidate, entry))
    found, problem = parse_verdicts(completion.text, names)
    verdicts = [
        {
            "innovation": name,
            "reproduced": found.get(name, {}).get("reproduced"),
            "reason": found.get(name, {}).get("reason", ""),
            "ours": ours[name],
        }
        for name in names
    ]
    return {
        "model": client.model,
        "verdicts": verdicts,
        "agree": sum(v["reproduced"] == v["ours"] for v in verdicts),
        "of": len(verdicts),
        "problem": problem,
        "call": dataclasses.asdict(completion.call),
    }


def judge_client(model: str) -> LLMClient:
    """A client for ``model``, failing as one line now when its provider's key is missing."""
    client = LLMClient(model=model, temperature=0.0)
    client.check_environment()
    return client


def _diff(before: str, after: str, entry: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{entry}", f"b/{entry}", n=3
    )
    text = "".join(lines) or "(no change)"
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS] + f"\n[diff cut at {MAX_DIFF_CHARS} characters]"
    return f"```diff\n{text}\n```"
