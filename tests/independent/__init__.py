"""Independently written candidates: the attribution suite that is not cut from the ground truth.

Each ``*.cands`` file holds candidates for one track, written by hand from record i's script and
the task's level-2 hint (never from record i+1's lines), in several styles: helper functions,
folded expressions, equivalent calls, loops instead of unrolled code, other names, partial
implementations, decoys that edit the same places for a different idea, and hyperparameter-only
edits (some of them re-tune the wrong field or move a number the wrong way).

Two sets are kept apart: ``dev-*`` (what attribution was tuned on) and ``heldout-*`` (written
before the tuning and only measured; see the README's attribution section).

File format (markers at the start of a line)::

    track: mini                       # once, at the top
    ### <id>                          # one candidate
    task: 4
    class: full | partial | decoy | hyper
    expect: ReLU squared; QK-norm     # innovations it reproduces; every other one must not be
    unscored: zero-init projections   # optional: innovations left out of the counts
    note: free text                   # optional
    <<<
    text that occurs exactly once in the script so far
    ===
    its replacement
    >>>

Edits apply in order to record i's script. ``expect: -`` means no innovation is reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
CLASSES = ("full", "partial", "decoy", "hyper")


class SuiteError(Exception):
    """A malformed suite file or a candidate whose edits do not apply."""


@dataclass
class Candidate:
    id: str
    track: str
    task: int
    cls: str
    expect: frozenset[str]
    unscored: frozenset[str] = frozenset()
    note: str = ""
    edits: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""  # file:line

    def build(self, base_text: str) -> str:
        """Record i's script with this candidate's edits applied."""
        text = base_text
        for n, (old, new) in enumerate(self.edits, start=1):
            count = text.count(old)
            if count != 1:
                raise SuiteError(f"{self.source} {self.id}: edit {n} matches {count} times, needs exactly 1")
            text = text.replace(old, new)
        return text

    def expected(self, innovations: list[str]) -> dict[str, bool]:
        """Innovation -> expected verdict (unscored ones left out); names are checked."""
        unknown = (self.expect | self.unscored) - set(innovations)
        if unknown:
            raise SuiteError(f"{self.source} {self.id}: no innovation {sorted(unknown)} in task {self.task}")
        return {n: n in self.expect for n in innovations if n not in self.unscored}


def parse(text: str, name: str = "<suite>") -> list[Candidate]:
    lines = text.splitlines()
    track = None
    out: list[Candidate] = []
    cur: Candidate | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        where = f"{name}:{i + 1}"
        if line.startswith("### "):
            cur = Candidate(line[4:].strip(), track or "", 0, "", frozenset(), source=where)
            if not track:
                raise SuiteError(f"{where}: 'track:' must come first")
            out.append(cur)
        elif line == "<<<":
            if cur is None:
                raise SuiteError(f"{where}: edit outside a candidate")
            old, new, j = [], [], i + 1
            while j < len(lines) and lines[j] != "===":
                old.append(lines[j])
                j += 1
            k = j + 1
            while k < len(lines) and lines[k] != ">>>":
                new.append(lines[k])
                k += 1
            if j >= len(lines) or k >= len(lines):
                raise SuiteError(f"{where}: unterminated edit")
            cur.edits.append(("\n".join(old) + "\n", "\n".join(new) + "\n" if new else ""))
            i = k
        elif line.strip() and not line.startswith("#"):
            key, sep, value = line.partition(":")
            if not sep:
                raise SuiteError(f"{where}: expected 'key: value', got {line!r}")
            key, value = key.strip(), value.strip()
            if key == "track" and cur is None:
                track = value
            elif cur is None:
                raise SuiteError(f"{where}: {key!r} outside a candidate")
            elif key == "task":
                cur.task = int(value)
            elif key == "class":
                if value not in CLASSES:
                    raise SuiteError(f"{where}: class must be one of {CLASSES}")
                cur.cls = value
            elif key in ("expect", "unscored"):
                names = frozenset(v.strip() for v in value.split(";") if v.strip() and v.strip() != "-")
                setattr(cur, key, names)
            elif key == "note":
                cur.note = value
            else:
                raise SuiteError(f"{where}: unknown key {key!r}")
        i += 1
    for c in out:
        if not c.task or not c.cls or not c.edits:
            raise SuiteError(f"{c.source} {c.id}: needs task, class and at least one edit")
    ids = [c.id for c in out]
    if len(ids) != len(set(ids)):
        raise SuiteError(f"{name}: duplicate candidate ids")
    return out


def load(kind: str, track: str) -> list[Candidate]:
    """The ``kind`` (dev | heldout) candidates of ``track``."""
    path = HERE / f"{kind}-{track}.cands"
    return parse(path.read_text(), path.name) if path.exists() else []


def sets() -> list[tuple[str, str]]:
    """(kind, track) of every suite file here."""
    out = []
    for path in sorted(HERE.glob("*.cands")):
        kind, _, track = path.stem.partition("-")
        out.append((kind, track))
    return out
