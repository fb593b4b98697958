"""``speedrun records renumber``: give imported records their README numbers, once, for tracks
imported before a record's index was its README number.

Older imports numbered records by position, so after a README row without published code every
later record's index trailed its README number (the number its ``notes`` keep: "Imported from
README #N"). Renumbering rewrites the track from the first record whose index differs: the same
files but ``record.toml``'s ``index``, the same authors and dates, the message and tag of the new
number. The branch, the tags and ``refs/renumbered/<track>`` (the old tip, so nothing that was
made from the old commits, such as work-repository branches, loses its objects) move in one
reference transaction (:mod:`replay.records.track_refs`): the track is renumbered whole or not at all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pygit2

from replay import paths
from replay.errors import SpeedrunError
from replay.records.add import commit_message
from replay.records.schema import parse_record_toml
from replay.records.store import Record, RecordsStore, tag_name
from replay.records.track_refs import move_track

_INDEX_LINE = re.compile(r"(?m)^index = \d+$")
# The first words of every imported record's notes (written by replay.importer.modded_nanogpt).
_IMPORTED_FROM = re.compile(r"\bImported from README #(\d+)\b")


def readme_number(record: Record) -> int | None:
    """The README number an imported record's notes give (None for a record not imported)."""
    match = _IMPORTED_FROM.search(record.meta.notes)
    return int(match.group(1)) if match else None


def gap_note(previous: int, number: int) -> str:
    """The sentence that opens the notes of a record after README rows without published code."""
    skipped = ", ".join(f"#{n}" for n in range(previous + 1, number))
    return f"README {skipped} published no code: task {previous} spans to this record."


@dataclass(frozen=True)
class Renumbered:
    """One record given a new number."""

    old: str  # label before
    new: str  # label after
    commit: str  # the rewritten commit


def renumber(store: RecordsStore, track: str) -> list[Renumbered]:
    """Renumber ``track``'s imported records by their README numbers; [] when they already are."""
    records = store.records(track)
    wanted = [readme_number(r) or r.index for r in records]
    if any(b <= a for a, b in zip(wanted, wanted[1:], strict=False)):
        raise SpeedrunError(f"track '{track}': the README numbers in its records' notes do not rise; not renumbered")
    first = next((k for k, (r, n) in enumerate(zip(records, wanted, strict=True)) if r.index != n), None)
    if first is None:
        return []
    repo = store.repo
    parent = [pygit2.Oid(hex=records[first - 1].commit_id)] if first else []
    done = []
    previous = wanted[first - 1] if first else 0
    for record, number in zip(records[first:], wanted[first:], strict=True):
        commit = repo[record.commit_id]
        text, count = _INDEX_LINE.subn(f"index = {number}", (commit.tree / paths.RECORD_TOML).data.decode(), 1)
        if not count:
            raise SpeedrunError(f"{record.label}: its record.toml has no top-level 'index = N' line; not renumbered")
        if previous and number > previous + 1:  # the note a fresh import writes after a gap
            note = json.dumps(gap_note(previous, number))[1:-1]  # escaped as the TOML writer escapes
            text = text.replace('\nnotes = "', f'\nnotes = "{note} ', 1)
        previous = number
        meta = parse_record_toml(text, where=f"{record.label}:{paths.RECORD_TOML}")
        builder = repo.TreeBuilder(commit.tree)
        builder.insert(paths.RECORD_TOML, repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB)
        new = repo.create_commit(None, commit.author, commit.committer, commit_message(meta), builder.write(), parent)
        parent = [new]
        done.append(Renumbered(record.label, tag_name(track, number), str(new)))
    obsolete = {r.old for r in done} - {r.new for r in done}
    tags = {r.new: r.commit for r in done}
    move_track(repo, track, tags, f"refs/renumbered/{track}", f"records renumber {track}", tuple(obsolete))
    store.forget(track)
    return done
