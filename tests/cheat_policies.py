"""A scripted model that answers each request with the next cheat of tests/cheats.py.

``scripted/cheat_policies:next_cheat`` turns the current script into the next cheat of
``QUEUE`` (tests fill it) with a unified diff, and names the cheat on the reply's first line,
which becomes the summary line of the node's commit. Once the queue is empty it adds a comment.
"""

from __future__ import annotations

import difflib
import re

from agent_policies import current_script

QUEUE: list = []
_NAME = re.compile(r"^Cheat: (\S+)\.$", re.M)


def next_cheat(messages) -> str:
    script = current_script(messages)
    if not QUEUE:
        first = script.splitlines()[0]
        return f"Nothing left.\n\n<<<<<<< SEARCH\n{first}\n=======\n{first}  # reviewed\n>>>>>>> REPLACE\n"
    cheat = QUEUE.pop(0)
    new = cheat.apply(script)
    diff = "".join(
        difflib.unified_diff(script.splitlines(True), new.splitlines(True), "a/train_gpt.py", "b/train_gpt.py")
    )
    return f"Cheat: {cheat.name}.\n\n```diff\n{diff}```\n"


def cheat_of(commit_message: str) -> str | None:
    """The cheat a node's commit carries (from its summary line)."""
    found = _NAME.search(commit_message)
    return found.group(1) if found else None
