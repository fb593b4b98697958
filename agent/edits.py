"""Edits a model proposes to a script: search/replace blocks, unified diffs, or a whole file.

:func:`apply_reply` finds the edit in a model's reply, in this order: search/replace blocks,
a unified diff (parsed with ``unidiff``), a whole script in a fenced ``python`` block. Matching
is tolerant where models are sloppy — trailing whitespace, a uniformly shifted indentation,
line numbers in diff headers that are off — and strict where being lenient would guess: a
search text that matches twice, or not at all, is an :class:`EditError` whose message (fed
back to the model) says which block failed and shows the closest lines of the script.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from replay.statuses import EditFormat

_BLOCK = re.compile(r"^<{5,9} ?SEARCH[^\n]*\n(.*?)^={5,9}[ \t]*\n(.*?)^>{5,9} ?REPLACE[^\n]*$", re.S | re.M)
_FENCE = re.compile(r"^```([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


class EditError(Exception):
    """The reply's edit cannot be applied; the message is written for the model to act on."""


@dataclass(frozen=True)
class Applied:
    """The new script and how it was obtained."""

    text: str
    format: EditFormat
    blocks: int


def apply_reply(script: str, reply: str) -> Applied:
    """The script after the edit in ``reply``; :class:`EditError` if there is none or it fails."""
    blocks = _BLOCK.findall(reply)
    if blocks:
        text = script
        for number, (search, replace) in enumerate(blocks, start=1):
            text = replace_block(text, search, replace, number)
        return Applied(text, EditFormat.SEARCH_REPLACE, len(blocks))
    diff = _diff_text(reply)
    if diff is not None:
        return Applied(apply_unified_diff(script, diff), EditFormat.UNIFIED_DIFF, diff.count("\n@@"))
    whole = _whole_file(reply, script)
    if whole is not None:
        return Applied(whole, EditFormat.WHOLE_FILE, 1)
    raise EditError(
        "no edit found: reply with SEARCH/REPLACE blocks, a unified diff in a ```diff block, "
        "or the complete script in a ```python block"
    )


# --- search/replace ---------------------------------------------------------------------


def replace_block(text: str, search: str, replace: str, number: int = 1) -> str:
    """Replace the one occurrence of ``search`` (tolerantly matched) with ``replace``."""
    if not search.strip():
        raise EditError(f"block {number}: the SEARCH part is empty; quote the lines to replace")
    count = text.count(search)
    if count == 1:
        return text.replace(search, replace, 1)
    if count > 1:
        raise EditError(f"block {number}: the SEARCH text occurs {count} times; add surrounding lines so it is unique")
    lines = text.splitlines(keepends=True)
    want = search.splitlines()
    span = _find_lines(lines, want, f"block {number}")
    start, end, shift = span
    new = _reindent(replace.splitlines(), shift)
    tail = "" if not lines[end - 1].endswith("\n") and end == len(lines) else "\n"
    return "".join(lines[:start]) + ("\n".join(new) + tail if new else "") + "".join(lines[end:])


def _find_lines(lines: list[str], want: list[str], what: str) -> tuple[int, int, str]:
    """(start, end, indentation to add) of the unique window of ``lines`` equal to ``want``
    up to trailing whitespace, or up to one indentation shift; else :class:`EditError`."""
    n = len(want)
    plain = [line.rstrip("\r\n") for line in lines]
    for mode in ("rstrip", "indent"):
        hits = []
        for start in range(len(plain) - n + 1):
            shift = _window_shift(plain[start : start + n], want, mode)
            if shift is not None:
                hits.append((start, start + n, shift))
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise EditError(
                f"{what}: the lines match {len(hits)} places (lines {', '.join(str(h[0] + 1) for h in hits[:5])}); "
                "add surrounding lines so it is unique"
            )
    raise EditError(f"{what}: the lines were not found in the script.{_closest(plain, want)}")


def _window_shift(window: list[str], want: list[str], mode: str) -> str | None:
    if mode == "rstrip":
        return "" if all(a.rstrip() == b.rstrip() for a, b in zip(window, want, strict=True)) else None
    if [a.strip() for a in window] != [b.strip() for b in want]:
        return None
    shifts = {
        _indent(a)[: len(_indent(a)) - len(_indent(b))] if len(_indent(a)) >= len(_indent(b)) else None
        for a, b in zip(window, want, strict=True)
        if a.strip()
    }
    if len(shifts) != 1 or None in shifts:
        return None
    shift = shifts.pop()
    aligned = all(_indent(a) == shift + _indent(b) for a, b in zip(window, want, strict=True) if a.strip())
    return shift if aligned else None


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(lines: list[str], shift: str) -> list[str]:
    return [shift + line if line.strip() else line for line in lines]


def _closest(plain: list[str], want: list[str]) -> str:
    """A hint naming the script lines most similar to what the model quoted."""
    n = max(1, len(want))
    best, where = 0.0, 0
    target = "\n".join(w.strip() for w in want)
    for start in range(0, max(1, len(plain) - n + 1)):
        ratio = difflib.SequenceMatcher(
            None, "\n".join(p.strip() for p in plain[start : start + n]), target
        ).quick_ratio()
        if ratio > best:
            best, where = ratio, start
    if best < 0.5:
        return " Quote lines exactly as they appear in the current script."
    shown = "\n".join(plain[where : where + n])
    return f" The closest lines are {where + 1}-{where + n}:\n{shown}\nQuote them exactly."


# --- unified diff -----------------------------------------------------------------------


def _diff_text(reply: str) -> str | None:
    for lang, body in _FENCE.findall(reply):
        if lang in ("diff", "patch", "udiff") or ("\n@@" in "\n" + body and re.search(r"^[-+]{3} ", body, re.M)):
            return body
    if re.search(r"^--- .*\n\+\+\+ .*\n@@", reply, re.M):
        return reply[re.search(r"^--- ", reply, re.M).start() :]
    return None


def apply_unified_diff(script: str, diff: str) -> str:
    """Apply every hunk of a one-file unified diff, locating hunks by content, not line numbers."""
    from unidiff import PatchSet
    from unidiff.errors import UnidiffParseError

    if not re.search(r"^--- ", diff, re.M):
        diff = "--- a/script.py\n+++ b/script.py\n" + diff
    try:
        patch = PatchSet(_relax_hunk_counts(diff))
    except UnidiffParseError as exc:
        raise EditError(f"the diff does not parse ({exc}); use standard unified diff hunks") from None
    if len(patch) != 1:
        raise EditError(f"the diff touches {len(patch)} files; edit only the training script")
    lines = script.splitlines(keepends=True)
    offset = 0
    for number, hunk in enumerate(patch[0], start=1):
        old = [line.value.rstrip("\r\n") for line in hunk if line.is_context or line.is_removed]
        new = [line.value.rstrip("\r\n") for line in hunk if line.is_context or line.is_added]
        if not old:  # pure insertion: at the stated line
            at = min(max(hunk.source_start + offset, 0), len(lines))
            lines[at:at] = [x + "\n" for x in new]
            offset += len(new)
            continue
        start, end, shift = _find_lines(lines, old, f"hunk {number}")
        replacement = [x + "\n" for x in _reindent(new, shift)]
        lines[start:end] = replacement
        offset += len(replacement) - (end - start)
    return "".join(lines)


def _relax_hunk_counts(diff: str) -> str:
    """Recompute each hunk header's line counts from its body (models often miscount)."""
    out, i = [], 0
    rows = diff.splitlines()
    while i < len(rows):
        header = re.match(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$", rows[i])
        if not header:
            out.append(rows[i])
            i += 1
            continue
        body = []
        i += 1
        while i < len(rows) and not rows[i].startswith(("@@", "--- ", "diff ")):
            body.append(rows[i] if rows[i] else " ")
            i += 1
        while body and body[-1] == " ":
            body.pop()
        old = sum(1 for b in body if b[0] in " -")
        new = sum(1 for b in body if b[0] in " +")
        out.append(f"@@ -{header.group(1)},{old} +{header.group(2)},{new} @@{header.group(3)}")
        out.extend(b if b[0] in " +-\\" else " " + b for b in body)
    return "\n".join(out) + "\n"


# --- whole file ---------------------------------------------------------------------------


def _whole_file(reply: str, script: str) -> str | None:
    """The longest fenced python block, if it looks like a complete script (at least half as long)."""
    blocks = [body for lang, body in _FENCE.findall(reply) if lang in ("python", "py", "")]
    if not blocks:
        return None
    body = max(blocks, key=len)
    return body if len(body.splitlines()) >= 0.5 * len(script.splitlines()) else None
